"""OAuth2Session: refresh on 401 once and before expiry, rotation persisted before use, one refresh at a time."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from implkit.errors import RuntimeFailure
from implkit.http import MemoryTokenStore, OAuth2Session, TokenSet, Unauthorized

TOKEN_URL = "https://acme.amocrm.ru/oauth2/access_token"
SECRET = "client-secret-value-xyz"


class FakeAmo:
    """An account host: the token endpoint rotates pairs (single-use refresh tokens); the API checks bearer."""

    def __init__(self, access="access-0-aaaaaa", refresh="refresh-0-rrrrrr"):
        self.valid_access = {access}
        self.valid_refresh = {refresh}
        self.generation = 0
        self.token_calls = 0
        self.api_calls: list[str] = []
        self.lock = threading.Lock()
        self.on_api = None  # hook(request) run before answering an API call

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/access_token":
            with self.lock:
                self.token_calls += 1
                body = json.loads(request.content)
                assert body["grant_type"] == "refresh_token" and body["client_secret"] == SECRET
                if body["refresh_token"] not in self.valid_refresh:
                    return httpx.Response(400, json={"title": "Bad Request", "detail": "Token has been revoked",
                                                     "hint": "Refresh token is invalid"})
                self.valid_refresh.discard(body["refresh_token"])  # single use
                self.generation += 1
                access, refresh = f"access-{self.generation}-aaaaaa", f"refresh-{self.generation}-rrrrrr"
                self.valid_access = {access}
                self.valid_refresh.add(refresh)
                return httpx.Response(200, json={"token_type": "Bearer", "expires_in": 86400,
                                                 "access_token": access, "refresh_token": refresh})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.api_calls.append(token)
        if self.on_api:
            self.on_api(request)
        if token not in self.valid_access:
            return httpx.Response(401, json={"title": "Unauthorized", "status": 401, "detail": "Token expired"})
        return httpx.Response(200, json={"id": 42})


def session(amo, store, clock_now=1000.0, tokens=None):
    return OAuth2Session(TOKEN_URL, client_id="cid", client_secret=SECRET, redirect_uri="https://x/cb",
                         store=store, tokens=tokens, transport=httpx.MockTransport(amo), clock=lambda: clock_now)


def test_401_refreshes_once_and_retries(make_client):
    amo = FakeAmo()
    amo.valid_access = {"access-server-side-only"}  # our access token was revoked server-side
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    auth = session(amo, store)
    client = make_client(amo, auth=auth)
    assert client.get("/api/v4/account") == {"id": 42}
    assert amo.token_calls == 1
    assert amo.api_calls == ["access-0-aaaaaa", "access-1-aaaaaa"]
    assert store.tokens.refresh_token == "refresh-1-rrrrrr"
    assert client.stats.refreshes == 1 and client.stats.retries == 0


def test_second_401_after_refresh_is_unauthorized(make_client):
    amo = FakeAmo()
    amo.on_api = lambda r: amo.valid_access.clear()  # every token refused: access revoked
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    client = make_client(amo, auth=session(amo, store))
    with pytest.raises(Unauthorized, match="re-authorize"):
        client.get("/api/v4/account")
    assert amo.token_calls == 1 and len(amo.api_calls) == 2


def test_refresh_before_expiry(make_client):
    amo = FakeAmo()
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=1030.0))
    client = make_client(amo, auth=session(amo, store, clock_now=1000.0))  # 30 s left < 60 s margin
    client.get("/api/v4/account")
    assert amo.token_calls == 1
    assert amo.api_calls == ["access-1-aaaaaa"]  # the old token was never sent


def test_rotation_is_persisted_before_the_new_token_is_used(make_client):
    amo = FakeAmo()
    amo.valid_access = set()
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    seen_in_store = []
    amo.on_api = lambda r: seen_in_store.append((r.headers["Authorization"], store.tokens.refresh_token))
    client = make_client(amo, auth=session(amo, store))
    client.get("/api/v4/account")
    assert seen_in_store[-1] == ("Bearer access-1-aaaaaa", "refresh-1-rrrrrr")


def test_crash_right_after_refresh_keeps_the_only_valid_refresh_token(make_client):
    amo = FakeAmo()
    amo.valid_access = set()
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))

    class Crash(BaseException):
        pass

    def crash_on_new_token(request):
        if request.headers["Authorization"] == "Bearer access-1-aaaaaa":
            raise Crash  # the process dies as the first request with the new token goes out

    amo.on_api = crash_on_new_token
    with pytest.raises(Crash):
        make_client(amo, auth=session(amo, store)).get("/api/v4/account")
    # A new process starts from the store: it holds the rotated pair, and it works.
    amo.on_api = None
    restarted = make_client(amo, auth=session(amo, MemoryTokenStore(store.tokens)))
    assert restarted.get("/api/v4/account") == {"id": 42}
    assert amo.token_calls == 1  # no second refresh was needed, none was burnt


def test_failed_save_means_the_new_token_is_not_used(make_client):
    amo = FakeAmo()
    amo.valid_access = set()

    class BrokenStore(MemoryTokenStore):
        def save(self, tokens):
            raise OSError("disk full")

    store = BrokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    client = make_client(amo, auth=session(amo, store))
    with pytest.raises(RuntimeFailure, match="could not be saved") as err:
        client.get("/api/v4/account")
    assert amo.api_calls == ["access-0-aaaaaa"]  # the unsaved new token never went out
    assert "refresh-1" not in str(err.value) and "access-1" not in str(err.value)


def test_concurrent_401s_refresh_once(make_client):
    amo = FakeAmo()
    amo.valid_access = set()
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    client = make_client(amo, auth=session(amo, store))
    barrier = threading.Barrier(6)
    results, errors = [], []

    def call():
        barrier.wait()
        try:
            results.append(client.get("/api/v4/account"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [{"id": 42}] * 6
    assert amo.token_calls == 1  # two concurrent refreshes would burn the single-use token


def test_pair_rotated_by_another_process_is_adopted_not_refreshed(make_client):
    amo = FakeAmo()
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    auth = session(amo, store)
    # Another process refreshed meanwhile and saved the new pair.
    amo.valid_refresh = {"refresh-9-rrrrrr"}
    amo.valid_access = {"access-9-aaaaaa"}
    store.tokens = TokenSet("access-9-aaaaaa", "refresh-9-rrrrrr", expires_at=99999)
    client = make_client(amo, auth=auth)
    assert client.get("/api/v4/account") == {"id": 42}
    assert amo.token_calls == 0
    assert amo.api_calls == ["access-0-aaaaaa", "access-9-aaaaaa"]


def test_refused_refresh_names_no_secret(make_client):
    amo = FakeAmo()
    amo.valid_access = set()
    amo.valid_refresh = set()  # the refresh token is dead (unused for 3 months)
    store = MemoryTokenStore(TokenSet("access-0-aaaaaa", "refresh-0-rrrrrr", expires_at=99999))
    with pytest.raises(Unauthorized) as err:
        make_client(amo, auth=session(amo, store)).get("/api/v4/account")
    message = str(err.value)
    assert "Refresh token is invalid" in message and "re-authorize" in message
    for secret in ("refresh-0-rrrrrr", "access-0-aaaaaa", SECRET):
        assert secret not in message
        assert secret not in repr(err.value.body)
