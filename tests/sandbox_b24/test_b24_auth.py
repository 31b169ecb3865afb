"""Addresses and authentication: webhooks, OAuth tokens, cross-portal refusal, method names, logging."""

from __future__ import annotations

from b24_helpers import NOW, TCP_TOO


@TCP_TOO
def test_webhook_call_answers_json_with_time(acme):
    response = acme.call("crm.deal.add", {"fields": {"TITLE": "Первая сделка"}})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["result"], int) and body["result"] > 0
    assert {"start", "finish", "duration", "processing", "date_start", "date_finish", "operating",
            "operating_reset_at"} <= set(body["time"])


@TCP_TOO
def test_secret_of_one_portal_is_refused_by_another(harness, acme):
    stolen = acme.hook.replace("/bitrix24/acme/", "/bitrix24/other/")
    response = harness.http().post(stolen + "crm.deal.list", json={})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


@TCP_TOO
def test_wrong_secret_and_wrong_user_are_refused_as_a_real_portal_refuses_them(harness, acme):
    """A webhook address that names no webhook: 401 INVALID_CREDENTIALS (docs/sandbox.md, "Authentication")."""
    http = harness.http()
    prefix, user, secret, _ = acme.hook.rsplit("/", 3)
    for path in (f"{prefix}/{user}/{'x' * len(secret)}/crm.deal.list", f"{prefix}/7/{secret}/crm.deal.list"):
        response = http.post(path)
        assert response.status_code == 401
        assert response.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
    assert http.post(f"{prefix}/{user}/{secret}/crm.deal.list").status_code == 200


def test_unknown_portal_is_refused(harness):
    response = harness.http().post("/bitrix24/nowhere/rest/1/abc/crm.deal.list")
    assert response.status_code == 404
    assert response.json()["error"] == "NO_AUTH_FOUND"


def test_method_names_are_case_insensitive_and_take_json_suffix(acme):
    for method in ("crm.deal.list", "CRM.Deal.List", "crm.deal.list.json", "Crm.Deal.List.json"):
        assert acme.call(method).status_code == 200, method


def test_unknown_method_is_404(acme):
    response = acme.call("crm.deal.teleport")
    assert response.status_code == 404
    assert response.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


def test_webhook_scope_is_enforced(harness, sandbox):
    http = harness.http()
    hook = sandbox.webhook_url("acme", scope=("user",))
    assert http.post(hook + "user.current").status_code == 200
    response = http.post(hook + "crm.deal.list")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


@TCP_TOO
def test_oauth_token_in_query_or_body(harness, sandbox):
    http = harness.http()
    app = sandbox.portal_oauth("acme")
    endpoint = app["client_endpoint"]
    assert endpoint == "/bitrix24/acme/rest/"
    assert http.get(endpoint + "crm.deal.list", params={"auth": app["access_token"]}).status_code == 200
    assert http.post(endpoint + "crm.deal.list.json", json={"auth": app["access_token"]}).status_code == 200
    assert http.post(endpoint + "crm.deal.list", data={"auth": app["access_token"]}).status_code == 200
    missing = http.post(endpoint + "crm.deal.list", json={})
    assert missing.status_code == 401 and missing.json()["error"] == "NO_AUTH_FOUND"
    foreign = http.post("/bitrix24/other/rest/crm.deal.list", json={"auth": app["access_token"]})
    assert foreign.status_code == 401 and foreign.json()["error"] == "NO_AUTH_FOUND"


def test_expired_token_then_refresh(harness, sandbox):
    http = harness.http()
    app = sandbox.portal_oauth("acme")
    sandbox.clock.advance(3601)
    expired = http.post(app["client_endpoint"] + "crm.deal.list", json={"auth": app["access_token"]})
    assert expired.status_code == 401
    assert expired.json() == {"error": "expired_token", "error_description": "The access token provided has expired"}
    wrong_app = http.get(app["token_endpoint"], params={"grant_type": "refresh_token", "client_id": "other.app",
                                                        "refresh_token": app["refresh_token"]})
    assert wrong_app.status_code == 401 and wrong_app.json()["error"] == "invalid_client"
    refreshed = http.get(app["token_endpoint"], params={"grant_type": "refresh_token", "client_id": "local.sandbox",
                                                        "client_secret": "s", "refresh_token": app["refresh_token"]})
    assert refreshed.status_code == 200
    pair = refreshed.json()
    assert pair["expires_in"] == 3600 and pair["refresh_token"] != app["refresh_token"]
    assert pair["client_endpoint"].endswith("/bitrix24/acme/rest/")
    assert http.post(app["client_endpoint"] + "crm.deal.list", json={"auth": pair["access_token"]}).status_code == 200
    reused = http.get(app["token_endpoint"], params={"grant_type": "refresh_token", "refresh_token": app["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_request_log_masks_webhook_secret_and_auth(harness, sandbox, acme):
    app = sandbox.portal_oauth("acme")
    acme.call("crm.deal.list")
    harness.http().get(app["client_endpoint"] + "crm.deal.list", params={"auth": app["access_token"]})
    from implkit.sandbox.bitrix24 import operations
    log = operations.request_log(sandbox.bitrix24, "acme")
    secret = acme.hook.rstrip("/").rsplit("/", 1)[1]
    assert len(log) == 2 and all(entry["status"] == 200 for entry in log)
    text = repr(log)
    assert secret not in text and app["access_token"] not in text
    assert log[0]["path"] == "/bitrix24/acme/rest/1/***/crm.deal.list"
    assert log[0]["at"] == NOW


def test_an_emulator_fault_still_answers_json(acme, monkeypatch):
    from implkit.sandbox.bitrix24 import methods

    def broken(params, portal):
        raise RuntimeError("bug")
    monkeypatch.setitem(methods.REGISTRY, "user.current", ("user", broken))
    response = acme.call("user.current")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "INTERNAL_SERVER_ERROR"
