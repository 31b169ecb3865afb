"""A token refresh that meets a transient fault is retried; only a refused grant says "re-authorize".

Each case feeds the token endpoint one kind of trouble — a 503, a dropped
connection, a connection never made, a 429, a refusal (400 invalid_grant,
401 invalid_client) — first through a scripted token server, then through
the amoCRM sandbox's own fault injection and in front of the Bitrix24
sandbox's oauth.bitrix.info stand-in.
"""

from __future__ import annotations

import random

import httpx
import pytest

from implkit.http import HttpClient, MemoryTokenStore, OAuth2Session, TokenSet, TransportError, Unauthorized

from test_http_auth import SECRET, TOKEN_URL, FakeAmo

EXPIRED = TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999)


class Troubled(FakeAmo):
    """FakeAmo whose token endpoint first answers with the scripted troubles, then works."""

    def __init__(self, *troubles):
        super().__init__()
        self.valid_access = set()  # our access token is refused: the first call draws a 401
        self.troubles = list(troubles)
        self.token_requests = 0

    def __call__(self, request):
        if request.url.path == "/oauth2/access_token":
            self.token_requests += 1
            if self.troubles:
                return next_trouble(self.troubles)
        return super().__call__(request)


def next_trouble(troubles: list):
    """The next scripted trouble: raised when it is an exception, else the response answered."""
    trouble = troubles.pop(0)
    if isinstance(trouble, Exception):
        raise trouble
    return trouble


def session(amo, store, clock):
    return OAuth2Session(TOKEN_URL, client_id="cid", client_secret=SECRET, store=store,
                         transport=httpx.MockTransport(amo), clock=lambda: clock.now, sleep=clock.sleep,
                         rng=random.Random(3))


def dropped():
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize("troubles", [
    [httpx.Response(503)],
    [httpx.Response(500, json={"title": "Internal Server Error"})],
    [dropped()],
    [httpx.ReadTimeout("timed out")],
    [httpx.ConnectError("connection refused")],
    [httpx.Response(429, json={"retry_after": 300})],
    [httpx.Response(502), dropped(), httpx.Response(504)],
], ids=["503", "500", "dropped", "read-timeout", "not-connected", "429", "three-in-a-row"])
def test_transient_refresh_failures_are_retried(make_client, clock, troubles):
    amo = Troubled(*troubles)
    store = MemoryTokenStore(EXPIRED)
    auth = session(amo, store, clock)
    assert make_client(amo, auth=auth).get("/api/v4/account") == {"id": 42}
    assert amo.token_requests == len(troubles) + 1
    assert amo.token_calls == 1  # the one refresh that reached the grant logic
    assert auth.transient_failures == len(troubles)
    assert store.tokens.refresh_token == "refresh-1-rrrrrr" and store.saves == 1
    assert len(clock.sleeps) == len(troubles)
    assert max(clock.sleeps) <= 8.0  # seconds, not the 300 s the 429 body names


def test_a_refresh_that_keeps_failing_says_transient_not_reauthorize(make_client, clock):
    amo = Troubled(*[httpx.Response(503)] * 10)
    store = MemoryTokenStore(EXPIRED)
    with pytest.raises(TransportError) as err:
        make_client(amo, auth=session(amo, store, clock)).get("/api/v4/account")
    message = str(err.value)
    assert "transient" in message and "re-authorize" not in message
    assert "6 attempt" in message and amo.token_requests == 6
    assert store.tokens == EXPIRED and store.saves == 0  # the stored refresh token is untouched
    assert SECRET not in message and "refresh-0-rrrrrr" not in message


@pytest.mark.parametrize("status, body, code", [
    (400, {"title": "Bad Request", "detail": "Token has been revoked", "hint": "Refresh token is invalid"},
     "Refresh token is invalid"),
    (400, {"error": "invalid_grant", "error_description": "Invalid grant"}, "invalid_grant"),
    (401, {"error": "invalid_client", "error_description": "Invalid client"}, "invalid_client"),
])
def test_a_refused_grant_says_reauthorize_at_once(make_client, clock, status, body, code):
    amo = Troubled(httpx.Response(status, json=body))
    with pytest.raises(Unauthorized) as err:
        make_client(amo, auth=session(amo, MemoryTokenStore(EXPIRED), clock)).get("/api/v4/account")
    assert "re-authorize" in str(err.value) and code in str(err.value)
    assert amo.token_requests == 1 and clock.sleeps == []  # a refusal is not retried


def test_a_refusal_after_a_lost_answer_says_the_pair_may_have_rotated(make_client, clock):
    amo = Troubled(dropped(), httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(Unauthorized) as err:
        make_client(amo, auth=session(amo, MemoryTokenStore(EXPIRED), clock)).get("/api/v4/account")
    assert "re-authorize" in str(err.value) and "earlier attempt got no answer" in str(err.value)
    assert amo.token_requests == 2


def test_an_early_refresh_that_fails_keeps_the_still_valid_token(make_client, clock):
    amo = Troubled(*[httpx.Response(503)] * 6)
    amo.valid_access = {"access-0-aaaaaa"}
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=clock.now + 30))
    client = make_client(amo, auth=session(amo, store, clock))  # 30 s left < the 60 s margin
    assert client.get("/api/v4/account") == {"id": 42}
    assert amo.api_calls == ["access-0-aaaaaa"] and amo.token_requests == 6
    assert store.saves == 0


# ---- against the sandboxes --------------------------------------------------------------------

sandbox_mod = pytest.importorskip("implkit.sandbox", reason="the sandbox is not available")


def _seed_where(spec_text: str, key: str, wanted) -> int:
    """The first fault seed whose decisions for requests 1, 2, … match `wanted` (predicates)."""
    from implkit.sandbox.faults import decide, parse_faults

    spec = parse_faults(spec_text)
    for seed in range(10_000):
        if all(ok(decide(spec, seed, key, n)) for n, ok in enumerate(wanted, start=1)):
            return seed
    raise AssertionError("no seed found")


def _clean(d):
    return not (d.drop or d.server_error or d.expire_tokens)


@pytest.mark.parametrize("fault", ["server_error", "drop"])
def test_amocrm_sandbox_refresh_survives_its_own_faults(tmp_path, fault):
    from implkit.http.asgi import SyncASGITransport
    from implkit.sandbox.app import Clock

    clock = Clock()
    clock.freeze(1_800_000_000.0)
    sandbox = sandbox_mod.Sandbox(tmp_path / "sandbox.db", clock=clock)
    sandbox.create_account("acme")
    transport = SyncASGITransport(sandbox.app)
    base = "http://127.0.0.1" + sandbox.base_url("acme")
    try:
        integration = sandbox.oauth_client("acme")
        with httpx.Client(transport=transport, base_url=base) as raw:
            pair = raw.post("/oauth2/access_token", json={
                "client_id": integration["client_id"], "client_secret": integration["client_secret"],
                "grant_type": "authorization_code", "code": integration["code"],
                "redirect_uri": integration["redirect_uri"]}).json()
        store = MemoryTokenStore(TokenSet(pair["access_token"], pair["refresh_token"], clock.now() + 86400))
        sleeps: list[float] = []
        auth = OAuth2Session(base + "/oauth2/access_token", client_id=integration["client_id"],
                             client_secret=integration["client_secret"], redirect_uri=integration["redirect_uri"],
                             store=store, transport=transport, clock=clock.now, sleep=sleeps.append)
        http = HttpClient(base, auth=auth, transport=transport, clock=clock.now, sleep=clock.advance)
        # requests after the fault spec is set: 1 = the refresh (faulted), 2 = its retry, 3 = the GET
        spec = "5xx=0.5" if fault == "server_error" else "drop=0.5"
        seed = _seed_where(spec, "acme", [lambda d: bool(getattr(d, fault)), _clean, _clean])
        clock.advance(86400)  # the access token has expired: refreshed before the next call
        sandbox.set_faults("acme", spec, seed=seed)
        assert http.get("/api/v4/account")["subdomain"] == "acme"
        assert auth.refreshes == 2 and auth.transient_failures == 1 and store.saves == 1
        log = [r for r in sandbox.request_log("acme") if r["path"].endswith("/oauth2/access_token")]
        assert log[-1]["status"] == 200
        assert log[-2]["status"] in ((0,) if fault == "drop" else (500, 502, 503, 504))
        assert len(sleeps) == 1
    finally:
        transport.shutdown()
        sandbox.close()


class FailTokenEndpoint(httpx.BaseTransport):
    """In front of the sandbox: the first `n` requests to the token endpoint fail before reaching it."""

    def __init__(self, inner, troubles):
        self.inner, self.troubles, self.token_requests = inner, list(troubles), 0

    def handle_request(self, request):
        if "/oauth/token" in request.url.path:
            self.token_requests += 1
            if self.troubles:
                return next_trouble(self.troubles)
        return self.inner.handle_request(request)


def _b24(tmp_path):
    from implkit.http.asgi import SyncASGITransport

    sandbox = sandbox_mod.Sandbox(tmp_path / "sandbox.db")
    sandbox.create_portal("acme")
    return sandbox, SyncASGITransport(sandbox.app)


def test_bitrix24_refresh_retries_a_dropped_connection_and_a_503(tmp_path):
    from implkit.providers import open_provider
    from implkit.sandbox.bitrix24 import portal as portals

    sandbox, inner = _b24(tmp_path)
    try:
        app = sandbox.portal_oauth("acme")
        transport = FailTokenEndpoint(inner, [dropped(), httpx.Response(503, text="Service Unavailable")])
        store = MemoryTokenStore(TokenSet(app["access_token"], app["refresh_token"]))
        sleeps: list[float] = []
        auth = OAuth2Session("http://sandbox" + app["token_endpoint"], client_id="local.sandbox",
                             client_secret="s3cr3t-x", store=store, transport=transport, sleep=sleeps.append)
        provider = open_provider("bitrix24", "http://sandbox/bitrix24/acme", auth, transport=inner)
        portals.expire_access_tokens(sandbox.store, portals.portal_by_name(sandbox.store, "acme")["id"],
                                     at=sandbox.clock.now() + 10)
        sandbox.clock.advance(20)
        assert provider.read_config().pipelines  # 401 expired_token → refresh (retried twice) → the call
        provider.close()
        assert transport.token_requests == 3 and auth.transient_failures == 2 and len(sleeps) == 2
        assert store.saves == 1 and store.tokens.refresh_token != app["refresh_token"]
    finally:
        inner.shutdown()
        sandbox.close()


def test_bitrix24_refused_grant_says_reauthorize(tmp_path):
    from implkit.sandbox.bitrix24 import portal as portals

    sandbox, inner = _b24(tmp_path)
    try:
        app = sandbox.portal_oauth("acme")
        burnt = TokenSet("expired-access-xx", app["refresh_token"])
        with httpx.Client(transport=inner) as raw:  # someone else spent the single-use refresh token
            assert raw.get("http://sandbox" + app["token_endpoint"], params={
                "grant_type": "refresh_token", "client_id": "local.sandbox",
                "refresh_token": app["refresh_token"]}).status_code == 200
        portals.expire_access_tokens(sandbox.store, portals.portal_by_name(sandbox.store, "acme")["id"],
                                     at=sandbox.clock.now() + 10)
        auth = OAuth2Session("http://sandbox" + app["token_endpoint"], client_id="local.sandbox",
                             client_secret="s3cr3t-x", store=MemoryTokenStore(burnt), transport=inner,
                             sleep=lambda s: pytest.fail("a refusal must not be retried"))
        with pytest.raises(Unauthorized) as err:
            auth.refresh({"Authorization": "Bearer expired-access-xx"})
        assert "invalid_grant" in str(err.value) and "re-authorize" in str(err.value)
        assert auth.refreshes == 1
    finally:
        inner.shutdown()
        sandbox.close()
