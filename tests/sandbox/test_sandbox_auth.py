"""Tokens, OAuth grants and account isolation — over both transports."""

from __future__ import annotations

from implkit.sandbox.amocrm.models import ACCESS_TOKEN_LIFETIME

UNAUTHORIZED = {"title": "Unauthorized", "type": "https://httpstatus.es/401", "status": 401,
                "detail": "Invalid user name or password"}


def test_long_lived_token_opens_its_account_only(harness_both):
    sandbox = harness_both.sandbox
    sandbox.create_account("alpha")
    sandbox.create_account("beta")
    token_a = sandbox.token("alpha")
    own = harness_both.client("alpha", token_a).get("/account")
    assert own.status_code == 200
    assert own.json()["subdomain"] == "alpha"
    assert own.json()["_links"]["self"]["href"].endswith("/amocrm/alpha/api/v4/account")
    other = harness_both.client("beta", token_a).get("/leads/pipelines")
    assert other.status_code == 401
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json() == UNAUTHORIZED


def test_links_are_absolute_and_point_at_the_sandbox_account(harness_both):
    harness_both.sandbox.create_account("alpha")
    client = harness_both.client("alpha", harness_both.sandbox.token("alpha"))
    pipeline = client.get("/leads/pipelines").json()["_embedded"]["pipelines"][0]
    href = pipeline["_links"]["self"]["href"]
    assert href == f"{harness_both.server_url}/amocrm/alpha/api/v4/leads/pipelines/{pipeline['id']}"


def test_missing_bad_and_unknown_account_answer_401(harness):
    harness.sandbox.create_account("alpha")
    assert harness.client("alpha").get("/account").status_code == 401
    assert harness.client("alpha", "not-a-token").get("/account").json() == UNAUTHORIZED
    assert harness.client("nobody", harness.sandbox.token("alpha")).get("/account").status_code == 401


def test_records_of_one_account_are_invisible_to_another(harness):
    sandbox = harness.sandbox
    sandbox.create_account("alpha")
    sandbox.create_account("beta")
    a = harness.client("alpha", sandbox.token("alpha"))
    b = harness.client("beta", sandbox.token("beta"))
    lead_id = a.post("/leads", json=[{"name": "secret"}]).json()["_embedded"]["leads"][0]["id"]
    assert b.get("/leads").status_code == 204
    assert b.get(f"/leads/{lead_id}").status_code == 404
    assert b.patch("/leads", json=[{"id": lead_id, "name": "stolen"}]).status_code == 400
    assert a.get(f"/leads/{lead_id}").json()["name"] == "secret"


def _oauth(harness, subdomain="alpha"):
    client_info = harness.sandbox.oauth_client(subdomain)
    root = harness.client(subdomain, api=False)
    form = {"client_id": client_info["client_id"], "client_secret": client_info["client_secret"],
            "grant_type": "authorization_code", "code": client_info["code"],
            "redirect_uri": client_info["redirect_uri"]}
    return client_info, root, form


def test_authorization_code_grant_then_refresh_rotation(harness_both):
    harness_both.sandbox.create_account("alpha")
    info, root, form = _oauth(harness_both)
    first = root.post("/oauth2/access_token", json=form)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/json")
    pair = first.json()
    assert set(pair) == {"token_type", "expires_in", "server_time", "access_token", "refresh_token"}
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == ACCESS_TOKEN_LIFETIME
    assert root.post("/oauth2/access_token", json=form).status_code == 400   # a code works once

    refresh = {**form, "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    refresh.pop("code")
    second = root.post("/oauth2/access_token", json=refresh)
    assert second.status_code == 200
    assert second.json()["refresh_token"] != pair["refresh_token"]
    again = root.post("/oauth2/access_token", json=refresh)           # the old refresh token died
    assert again.status_code == 400
    assert {"title", "detail", "hint"} <= set(again.json())
    api = harness_both.client("alpha", second.json()["access_token"])
    assert api.get("/account").status_code == 200


def test_access_token_expires_after_a_day(harness):
    harness.sandbox.create_account("alpha")
    harness.sandbox.clock.freeze()
    _, root, form = _oauth(harness)
    access = root.post("/oauth2/access_token", json=form).json()["access_token"]
    api = harness.client("alpha", access)
    assert api.get("/account").status_code == 200
    harness.sandbox.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    assert api.get("/account").status_code == 401


def test_oauth_rejects_wrong_secret_redirect_and_grant(harness):
    harness.sandbox.create_account("alpha")
    _, root, form = _oauth(harness)
    assert root.post("/oauth2/access_token", json={**form, "client_secret": "x"}).status_code == 401
    assert root.post("/oauth2/access_token", json={**form, "redirect_uri": "https://evil.test"}).status_code == 400
    assert root.post("/oauth2/access_token", json={**form, "grant_type": "password"}).status_code == 400
    assert root.post("/oauth2/access_token", json={k: v for k, v in form.items() if k != "client_id"}
                     ).status_code == 400
    assert root.post("/oauth2/access_token", content=b"{not json").status_code == 400
    # none of the refusals consumed the code
    assert root.post("/oauth2/access_token", json=form).status_code == 200


def test_a_code_of_another_account_is_refused(harness):
    harness.sandbox.create_account("alpha")
    harness.sandbox.create_account("beta")
    _, _, form = _oauth(harness, "alpha")
    beta_root = harness.client("beta", api=False)
    assert beta_root.post("/oauth2/access_token", json=form).status_code == 401


def test_request_log_records_requests_but_never_tokens(harness):
    sandbox = harness.sandbox
    sandbox.create_account("alpha")
    token = sandbox.token("alpha")
    client = harness.client("alpha", token)
    client.post("/leads", json=[{"name": "a"}, {"name": "b"}])
    client.get("/leads")
    log = sandbox.request_log("alpha")
    assert [(e["method"], e["status"], e["entities_written"]) for e in log] == [("POST", 200, 2), ("GET", 200, 0)]
    assert all(token not in str(e) for e in log)
    assert log[0]["path"] == "/amocrm/alpha/api/v4/leads"


def _claims(token: str) -> dict:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_access_tokens_carry_api_domain_and_the_moved_account_lookup_answers_there(harness_both, doc):
    sandbox = harness_both.sandbox
    account_id = sandbox.create_account("alpha")
    info = sandbox.oauth_client("alpha")
    grant = {k: info[k] for k in ("client_id", "client_secret", "redirect_uri", "code")}
    tokens = harness_both.client("alpha", api=False).post(
        "/oauth2/access_token", json={**grant, "grant_type": "authorization_code"}).json()
    claims = _claims(tokens["access_token"])
    host = harness_both.server_url.split("://", 1)[1]
    assert claims["api_domain"] == f"{host}/amocrm/alpha"
    assert claims["account_id"] == account_id and claims["aud"] == info["client_id"]
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_LIFETIME
    assert _claims(sandbox.token("alpha"))["api_domain"].endswith("/amocrm/alpha")
    lookup = harness_both.client()          # what a client does: https://{api_domain}/oauth2/account/current/...
    url = f"{harness_both.server_url.split('://')[0]}://{claims['api_domain']}/oauth2/account/current/subdomain"
    answer = lookup.get(url, headers={"X-Refresh-Token": tokens["refresh_token"]})
    assert answer.status_code == 200
    assert set(answer.json()) == set(doc("GET_oauth2_account_current_subdomain.response"))
    assert answer.json() == {"id": account_id, "subdomain": "alpha", "domain": "alpha.amocrm.ru",
                             "top_level_domain": "ru"}
    for bad in ({}, {"X-Refresh-Token": "nope"}, {"X-Refresh-Token": tokens["access_token"]}):
        assert lookup.get(url, headers=bad).status_code == 401
    harness_both.client("alpha", api=False).post("/oauth2/access_token", json={
        **grant, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert lookup.get(url, headers={"X-Refresh-Token": tokens["refresh_token"]}).status_code == 401   # spent
