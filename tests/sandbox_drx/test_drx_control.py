"""The Directum instances' control routes (/directum/_sandbox): create and list over HTTP, as another
process would, and the instance so made answers OData reads with the login and password it returned."""

from __future__ import annotations

from implkit.sandbox import Sandbox
from tests.sandbox_drx.conftest import Client


def test_an_instance_created_over_http_is_listed_and_answers_with_its_password():
    with Sandbox() as sandbox:
        control = Client(sandbox.app, "/directum/_sandbox", None)
        try:
            made = control.request("POST", "/instances", json={"name": "beta", "service": "DrxIntegration",
                                                                "max_entities": 3})
            assert made.status_code == 201
            created = made.json()
            assert created["base_path"] == "/directum/beta/DrxIntegration"
            assert created["login"] == "Integration Service" and len(created["password"]) >= 12
            listed = control.get("/instances", auth=False).json()
            assert listed == [{"id": created["id"], "name": "beta", "base_path": "/directum/beta/DrxIntegration"}]
            reader = Client(sandbox.app, created["base_path"], (created["login"], created["password"]))
            try:
                employees = reader.get("/odata/IEmployees")
                assert employees.status_code == 200
                assert [e["Name"] for e in employees.json()["value"]] == ["Администратор"]
                assert reader.get("/odata/IEmployees", auth=("Integration Service", "wrong")).status_code == 401
            finally:
                reader.close()
            # control calls are the sandbox's own: the instance's request log holds only the reads above
            assert [r["status"] for r in sandbox.store.query(
                "SELECT status FROM request_log WHERE account_id=? ORDER BY seq", (created["id"],))] == [200, 401]
        finally:
            control.close()


def test_bad_control_requests_answer_400_or_404_and_create_nothing():
    with Sandbox() as sandbox:
        control = Client(sandbox.app, "/directum/_sandbox", None)
        try:
            assert control.request("POST", "/instances", json={"name": "Bad Name"}).status_code == 400
            assert control.request("POST", "/instances", json={"name": "ok", "service": "Nope"}).status_code == 400
            assert control.request("POST", "/instances", json={"name": "ok", "max_entities": "many"}).status_code == 400
            assert control.request("POST", "/instances", content=b"[1, 2]").status_code == 400
            assert control.request("DELETE", "/instances").status_code == 404
            assert control.get("/nothing", auth=False).status_code == 404
            assert control.get("/instances", auth=False).json() == []
            sandbox.create_directum("acme")
            assert control.request("POST", "/instances", json={"name": "acme"}).status_code == 400
            assert len(control.get("/instances", auth=False).json()) == 1
        finally:
            control.close()
