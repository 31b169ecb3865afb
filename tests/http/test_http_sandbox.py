"""HttpClient against the amoCRM sandbox in-process (SyncASGITransport), on the sandbox's frozen clock.

The sandbox answers as the documentation says (50 custom fields a page, 429
with retry_after 300 over 7 req/s, faults, single-use refresh tokens); these
tests check the client copes with the real shapes, not with mocks it wrote.
"""

from __future__ import annotations

import pytest

sandbox_mod = pytest.importorskip("implkit.sandbox", reason="the sandbox is not available")

from implkit.http import (  # noqa: E402
    AMOCRM_RATE,
    AccountBlocked,
    BearerToken,
    HttpClient,
    MemoryTokenStore,
    NoAuth,
    OAuth2Session,
    RateLimited,
    RateLimiter,
    TokenSet,
    WriteOutcomeUnknown,
)
from implkit.http.asgi import SyncASGITransport  # noqa: E402
from implkit.http.ratelimit import max_in_window  # noqa: E402


@pytest.fixture
def rig(tmp_path):
    from implkit.sandbox.app import Clock

    clock = Clock()
    clock.freeze(1_800_000_000.0)
    sandbox = sandbox_mod.Sandbox(tmp_path / "sandbox.db", clock=clock)
    sandbox.create_account("acme")
    transport = SyncASGITransport(sandbox.app)
    yield sandbox, clock, transport
    transport.shutdown()
    sandbox.close()


def client(sandbox, clock, transport, *, auth=None, rate=True, **kw):
    limiter = RateLimiter(AMOCRM_RATE, clock=clock.now, sleep=clock.advance) if rate else None
    kw.setdefault("sleep", clock.advance)
    kw.setdefault("clock", clock.now)
    return HttpClient("http://127.0.0.1" + sandbox.base_url("acme"),
                      auth=auth or BearerToken(sandbox.token("acme")), rate=limiter, transport=transport, **kw)


def test_custom_fields_are_read_past_the_50_per_page_cap(rig):
    sandbox, clock, transport = rig
    http = client(sandbox, clock, transport)
    for start in range(0, 120, 40):
        http.post("/api/v4/leads/custom_fields",
                  json=[{"name": f"Field {i}", "type": "text"} for i in range(start, start + 40)])
    names = [f["name"] for f in http.paginate("/api/v4/leads/custom_fields", {"limit": 250}, "custom_fields")]
    assert {f"Field {i}" for i in range(120)} <= set(names)
    pages = http.stats.by_endpoint["GET /api/v4/leads/custom_fields"]
    assert pages == -(-len(names) // 50)  # every page followed, none stopped short


def test_limiter_keeps_the_sandbox_from_refusing(rig):
    sandbox, clock, transport = rig
    http = client(sandbox, clock, transport)
    for _ in range(60):
        http.get("/api/v4/account")
    assert http.stats.by_status == {200: 60}
    arrivals = [entry["at"] for entry in sandbox.request_log("acme")]
    assert len(arrivals) == 60 and max_in_window(arrivals, 1.0) == 7  # saturated, never over


def test_without_the_limiter_a_429_costs_seconds_not_the_bodys_300(rig):
    sandbox, clock, transport = rig
    http = client(sandbox, clock, transport, rate=False, max_wait=60)
    start = clock.now()
    for _ in range(20):
        assert http.get("/api/v4/account")["subdomain"] == "acme"
    refused = http.stats.by_status[429]
    assert refused >= 1  # 20 unpaced requests did cross the 7/s window…
    assert clock.now() - start < 5 * refused  # …and each refusal cost seconds (Kommo's body says 300)
    assert all(r["status"] != 403 for r in sandbox.request_log("acme"))


def test_the_sandboxs_block_stops_the_client(rig):
    sandbox, clock, transport = rig
    sandbox.set_faults("acme", "block_after=2")
    http = client(sandbox, clock, transport, rate=False, sleep=lambda s: None)  # the clock never moves
    with pytest.raises(AccountBlocked) as err:
        for _ in range(20):
            http.get("/api/v4/account")
    assert err.value.refusals == 2
    sent = len(sandbox.request_log("acme"))
    with pytest.raises(AccountBlocked):
        http.get("/api/v4/leads")
    assert len(sandbox.request_log("acme")) == sent  # stopped: nothing more reached the account


def test_faults_reads_retried_writes_never_repeated(rig):
    sandbox, clock, transport = rig
    sandbox.set_faults("acme", "5xx=0.3,drop=0.1", seed=5)
    http = client(sandbox, clock, transport, max_retries=10)
    for _ in range(20):
        http.get("/api/v4/leads/pipelines")
    assert http.stats.by_status[200] >= 20 and http.stats.retries > 0
    unknown = 0
    for i in range(20):
        try:
            http.post("/api/v4/leads", json=[{"name": f"Lead {i}"}])
        except WriteOutcomeUnknown:
            unknown += 1
    assert 0 < unknown < 20
    assert http.stats.by_endpoint["POST /api/v4/leads"] == 20  # each write sent exactly once


def test_oauth_refresh_against_the_sandbox(rig):
    sandbox, clock, transport = rig
    integration = sandbox.oauth_client("acme")
    token_url = "http://127.0.0.1" + sandbox.base_url("acme") + "/oauth2/access_token"
    bootstrap = HttpClient("http://127.0.0.1" + sandbox.base_url("acme"), auth=NoAuth(), transport=transport)
    pair = bootstrap.post("/oauth2/access_token", json={"client_id": integration["client_id"],
                                    "client_secret": integration["client_secret"],
                                    "grant_type": "authorization_code", "code": integration["code"],
                                    "redirect_uri": integration["redirect_uri"]})
    store = MemoryTokenStore(TokenSet(pair["access_token"], pair["refresh_token"],
                                      clock.now() + pair["expires_in"]))
    auth = OAuth2Session(token_url, client_id=integration["client_id"],
                         client_secret=integration["client_secret"], redirect_uri=integration["redirect_uri"],
                         store=store, transport=transport, clock=clock.now)
    http = client(sandbox, clock, transport, auth=auth)
    assert http.get("/api/v4/account")["subdomain"] == "acme"
    clock.advance(86400)  # the access token has expired: refreshed before the next call
    assert http.get("/api/v4/account")["subdomain"] == "acme"
    assert auth.refreshes == 1 and store.saves == 1
    assert store.tokens.refresh_token != pair["refresh_token"]

    sandbox.set_faults("acme", "expire_token_after=5")  # the server revokes live tokens now and then
    for _ in range(12):
        assert http.get("/api/v4/account")["subdomain"] == "acme"
    assert http.stats.by_status[401] == auth.refreshes - 1 >= 2  # each 401 → one refresh → one retry
    assert store.saves == auth.refreshes

