"""The portals' control routes (/bitrix24/_sandbox) and reset: what a client in another process uses."""

from __future__ import annotations

from b24_helpers import TCP_TOO


@TCP_TOO
def test_create_portal_webhook_and_oauth_over_http(harness):
    http = harness.http()
    made = http.post("/bitrix24/_sandbox/portals", json={"name": "shop", "title": "Магазин", "enterprise": True})
    assert made.status_code == 201 and made.json()["base_path"] == "/bitrix24/shop" and made.json()["enterprise"]
    assert http.post("/bitrix24/_sandbox/portals", json={"name": "shop"}).status_code == 400
    assert http.post("/bitrix24/_sandbox/portals", json={"name": "Bad_Name"}).status_code == 400
    names = [p["name"] for p in http.get("/bitrix24/_sandbox/portals").json()]
    assert names == ["acme", "other", "shop"]
    hook = http.post("/bitrix24/_sandbox/shop/webhook", json={}).json()["path"]
    assert hook.startswith("/bitrix24/shop/rest/1/")
    assert http.post(hook + "department.get").json()["result"][0]["NAME"] == "Магазин"
    app = http.post("/bitrix24/_sandbox/shop/oauth", json={"client_id": "app.1"}).json()
    assert http.post(app["client_endpoint"] + "user.current", json={"auth": app["access_token"]}).status_code == 200
    log = http.get("/bitrix24/_sandbox/shop/requests").json()
    assert [entry["client"] for entry in log][0].startswith("webhook:1:") and log[1]["client"] == "app:app.1"
    assert http.post("/bitrix24/_sandbox/nowhere/webhook", json={}).status_code == 404


def test_enterprise_portal_from_control_has_the_larger_bucket(harness):
    http = harness.http()
    http.post("/bitrix24/_sandbox/portals", json={"name": "big", "enterprise": True})
    hook = http.post("/bitrix24/_sandbox/big/webhook", json={}).json()["path"]
    statuses = [http.post(hook + "user.current").status_code for _ in range(251)]
    assert statuses == [200] * 250 + [503]
    http.put("/bitrix24/_sandbox/big/plan", json={"enterprise": False})
    http.post("/bitrix24/_sandbox/big/reset")
    statuses = [http.post(hook + "user.current").status_code for _ in range(51)]
    assert statuses == [200] * 50 + [503]


def test_faults_through_control_and_bad_spec(harness):
    http = harness.http()
    assert http.put("/bitrix24/_sandbox/acme/faults", json={"spec": "5xx=2"}).status_code == 400
    set_ = http.put("/bitrix24/_sandbox/acme/faults", json={"spec": "5xx=1", "seed": 3})
    assert set_.json()["spec"] == "5xx=1" and set_.json()["seed"] == 3
    hook = http.post("/bitrix24/_sandbox/acme/webhook", json={}).json()["path"]
    assert http.post(hook + "user.current").status_code >= 500
    assert http.post(hook.replace("/acme/", "/other/") + "user.current").status_code == 401   # other portal: no fault


def test_reset_with_data_keeps_credentials_and_id(acme, sandbox):
    from implkit.sandbox.bitrix24 import operations
    acme.ok("crm.deal.add", {"fields": {"TITLE": "x"}})
    acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "y"}})
    portal_id = sandbox.portal_id("acme")
    operations.reset(sandbox.bitrix24, "acme", data=True)
    assert sandbox.portal_id("acme") == portal_id
    assert acme.ok("crm.deal.list")["total"] == 0
    assert acme.ok("crm.category.list", {"entityTypeId": 2})["total"] == 1
    assert acme.ok("crm.deal.add", {"fields": {"TITLE": "again"}})["result"] == 1
    assert operations.request_log(sandbox.bitrix24, "acme")[0]["path"].endswith("/crm.deal.list")


def test_webhook_with_an_expiry_and_of_an_unknown_user(harness, sandbox):
    http = harness.http()
    hook = http.post("/bitrix24/_sandbox/acme/webhook", json={"expires_in": 60}).json()["path"]
    assert http.post(hook + "user.current").status_code == 200
    sandbox.clock.advance(60)
    expired = http.post(hook + "user.current")
    assert expired.status_code == 401 and expired.json()["error"] == "INVALID_CREDENTIALS"
    assert http.post("/bitrix24/_sandbox/acme/webhook", json={"user_id": 42}).status_code == 400
