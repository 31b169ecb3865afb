"""A server nobody runs (a stopped sandbox, a wrong port) is told in one line at once, not after seconds
of retries; a server that answered and then refuses (a restart) is still retried."""

from __future__ import annotations

import random
import socket

import httpx
import pytest

from implkit.http import BearerToken, HttpClient, MemoryTokenStore, OAuth2Session, ServerDown, TokenSet


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _refused() -> httpx.ConnectError:
    """What httpx raises for a real refused connection: ConnectError caused by ConnectionRefusedError."""
    error = httpx.ConnectError("[Errno 111] Connection refused")
    error.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return error


def test_a_refused_first_connection_fails_at_once_with_one_attempt(clock, monkeypatch):
    monkeypatch.setenv("IMPLKIT_LANG", "en")
    port = _closed_port()
    client = HttpClient(f"http://127.0.0.1:{port}/amocrm/shop", auth=BearerToken("secret-token-0123456789"),
                        sleep=clock.sleep, rng=random.Random(1))
    with pytest.raises(ServerDown) as raised:
        client.get("/api/v4/account")
    assert client.stats.total == 1 and client.stats.retries == 0   # one attempt over real TCP
    assert clock.sleeps == []                                      # and no backoff before giving up
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and raised.value.exit_code == 1
    assert f"http://127.0.0.1:{port}" in message and "implkit sandbox serve --db" in message  # loopback hint
    assert "secret-token" not in message


def test_the_message_is_russian_by_default_and_a_remote_host_gets_no_sandbox_hint(clock, monkeypatch, make_client,
                                                                                   script):
    monkeypatch.setenv("IMPLKIT_LANG", "ru")
    client = make_client(script(_refused()), base_url="https://shop.amocrm.ru")
    with pytest.raises(ServerDown) as raised:
        client.get("/api/v4/account")
    message = str(raised.value)
    assert "https://shop.amocrm.ru:443 не отвечает" in message and "в соединении отказано" in message
    assert "sandbox" not in message and clock.sleeps == []


def test_a_refusal_after_the_server_answered_is_a_restart_and_is_retried(make_client, script, clock):
    ok = httpx.Response(200, json={"id": 1})
    s = script(ok, _refused(), _refused(), ok)
    client = make_client(s)
    assert client.get("/api/v4/account") == {"id": 1}
    assert client.get("/api/v4/account") == {"id": 1}
    assert len(s.requests) == 4 and len(clock.sleeps) == 2


def test_a_connect_error_that_is_not_a_refusal_is_still_retried(make_client, script, clock):
    s = script(httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), httpx.Response(200, json={}))
    assert make_client(s).get("/x") == {}
    assert len(s.requests) == 2 and len(clock.sleeps) == 1


def test_a_token_server_that_is_down_fails_the_refresh_at_once(clock):
    store = MemoryTokenStore(TokenSet("access-aaaaaaaaaaaa", "refresh-bbbbbbbbbbbb", expires_at=0.0))
    session = OAuth2Session(f"http://127.0.0.1:{_closed_port()}/oauth2/access_token", client_id="c",
                            client_secret="client-secret-cccccccc", store=store, clock=clock, sleep=clock.sleep)
    with pytest.raises(ServerDown) as raised:
        session.headers()
    assert session.refreshes == 1 and clock.sleeps == []
    assert "client-secret" not in str(raised.value) and "refresh-bbbb" not in str(raised.value)
