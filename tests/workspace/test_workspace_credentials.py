"""Credentials resolution (env, token file, keyring) and atomic 0600 rotation through the token file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

from implkit.errors import InputError
from implkit.http import BearerToken, HttpClient, OAuth2Session, TokenSet
from implkit.workspace import CredentialSource, KeyringTokenStore, TokenFileStore, Workspace
from implkit.workspace.credentials import write_token_file

SECRET = "oauth-client-secret-0000"


def oauth_file(path, access="access-0-aaaaaa", refresh="refresh-0-rrrrrr", expires_at=9_999_999_999, **extra):
    write_token_file(path, TokenSet(access, refresh, expires_at), extra=extra)
    return path


def add(ws: Workspace, source: CredentialSource, **kw):
    return ws.add_tenant("acme", provider="amocrm", url="https://acme.amocrm.ru", credentials=source, **kw)


class RotatingServer:
    """Token endpoint with single-use refresh tokens; the API accepts only the newest access token."""

    def __init__(self):
        self.generation = 0
        self.refresh = "refresh-0-rrrrrr"
        self.access = "access-server-side"
        self.on_api = None

    def __call__(self, request):
        if request.url.path == "/oauth2/access_token":
            body = json.loads(request.content)
            if body["refresh_token"] != self.refresh:
                return httpx.Response(400, json={"title": "Bad Request", "hint": "Refresh token is invalid"})
            self.generation += 1
            self.access = f"access-{self.generation}-aaaaaa"
            self.refresh = f"refresh-{self.generation}-rrrrrr"
            return httpx.Response(200, json={"access_token": self.access, "refresh_token": self.refresh,
                                             "expires_in": 86400, "token_type": "Bearer"})
        if self.on_api:
            self.on_api(request)
        if request.headers.get("Authorization") != f"Bearer {self.access}":
            return httpx.Response(401, json={"title": "Unauthorized", "status": 401})
        return httpx.Response(200, json={"id": 1})


def test_one_line_token_file_gives_a_bearer_token(workspace, token_file, token):
    ws = Workspace.load(workspace)
    add(ws, CredentialSource("file", path=token_file))
    creds = ws.credentials("acme")
    assert creds.token == token and not creds.is_oauth
    auth = creds.auth()
    assert isinstance(auth, BearerToken) and auth.headers() == {"Authorization": f"Bearer {token}"}
    assert token not in repr(creds) and token not in repr(auth)


def test_env_token(workspace, token):
    ws = Workspace.load(workspace)
    add(ws, CredentialSource("env", var="ACME_TOKEN"))
    assert ws.credentials("acme", environ={"ACME_TOKEN": token}).token == token
    with pytest.raises(InputError, match="ACME_TOKEN, which is not set") as err:
        ws.credentials("acme", environ={})
    assert err.value.exit_code == 3


def test_missing_or_broken_token_file(workspace):
    ws = Workspace.load(workspace)
    path = workspace / ".implkit" / "acme.token"
    add(ws, CredentialSource("file", path=path))
    with pytest.raises(InputError, match="not found"):
        ws.credentials("acme")
    write_token_file(path, "{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        ws.credentials("acme")
    write_token_file(path, json.dumps({"refresh_token": "r"}))
    with pytest.raises(InputError, match="no access_token"):
        ws.credentials("acme")


def test_oauth_token_file_builds_a_rotating_session(workspace, monkeypatch):
    ws = Workspace.load(workspace)
    path = oauth_file(workspace / ".implkit" / "acme.json")
    add(ws, CredentialSource("file", path=path), client_id="cid", client_secret_env="ACME_SECRET",
        redirect_uri="https://example.org/cb")
    monkeypatch.setenv("ACME_SECRET", SECRET)
    creds = ws.credentials("acme")
    assert creds.is_oauth and creds.client_secret == SECRET
    auth = creds.auth(token_url="https://acme.amocrm.ru/oauth2/access_token")
    assert isinstance(auth, OAuth2Session) and auth.redirect_uri == "https://example.org/cb"
    assert SECRET not in repr(creds) and SECRET not in (workspace / "implkit.yaml").read_text()


def test_oauth_without_client_secret_is_bad_input(workspace):
    ws = Workspace.load(workspace)
    add(ws, CredentialSource("file", path=oauth_file(workspace / ".implkit" / "acme.json")), client_id="cid")
    with pytest.raises(InputError, match="no client secret"):
        ws.credentials("acme").auth(token_url="https://acme.amocrm.ru/oauth2/access_token")


def test_rotation_rewrites_the_file_0600_and_keeps_other_fields(workspace):
    path = oauth_file(workspace / ".implkit" / "acme.json", client_secret=SECRET)
    os.chmod(path, 0o600)
    store = TokenFileStore(path)
    store.save(TokenSet("access-1-aaaaaa", "refresh-1-rrrrrr", 123.0))
    data = json.loads(path.read_text())
    assert data == {"client_secret": SECRET, "access_token": "access-1-aaaaaa",
                    "refresh_token": "refresh-1-rrrrrr", "expires_at": 123.0}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_crash_after_refresh_leaves_the_new_refresh_token_on_disk(workspace):
    """The process dies as the first request with the new access token leaves: the file already has the pair."""
    ws = Workspace.load(workspace)
    path = oauth_file(workspace / ".implkit" / "acme.json", client_secret=SECRET)
    add(ws, CredentialSource("file", path=path), client_id="cid")
    server = RotatingServer()

    class Crash(BaseException):
        pass

    def crash(request):
        if request.headers["Authorization"] == "Bearer access-1-aaaaaa":
            raise Crash

    server.on_api = crash
    auth = ws.credentials("acme").auth(token_url="https://acme.amocrm.ru/oauth2/access_token",
                                      transport=httpx.MockTransport(server))
    client = HttpClient("https://acme.amocrm.ru", auth=auth, transport=httpx.MockTransport(server))
    with pytest.raises(Crash):
        client.get("/api/v4/account")
    on_disk = json.loads(path.read_text())
    assert on_disk["refresh_token"] == server.refresh == "refresh-1-rrrrrr"
    assert path.stat().st_mode & 0o777 == 0o600

    server.on_api = None  # "restart": a new process reads the workspace again
    auth = Workspace.load(workspace).credentials("acme").auth(
        token_url="https://acme.amocrm.ru/oauth2/access_token", transport=httpx.MockTransport(server))
    again = HttpClient("https://acme.amocrm.ru", auth=auth, transport=httpx.MockTransport(server))
    assert again.get("/api/v4/account") == {"id": 1}
    assert server.generation == 1  # the stored pair was valid: no refresh needed


def test_token_file_lock_serialises_processes(workspace, tmp_path):
    path = oauth_file(workspace / ".implkit" / "acme.json")
    log = tmp_path / "log"
    code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from implkit.workspace import TokenFileStore
        with TokenFileStore(Path(sys.argv[1])).locked():
            with open(sys.argv[2], "a") as f:
                f.write("in\\n"); f.flush(); time.sleep(0.1); f.write("out\\n")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(log)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert log.read_text().split() == ["in", "out"] * 3


def test_keyring_store_round_trip(fake_keyring):
    store = KeyringTokenStore("implkit", "acme@ws")
    assert store.load() is None
    fake_keyring.set_password("implkit", "acme@ws", json.dumps({"access_token": "a-000000", "client_secret": "s"}))
    store.save(TokenSet("a-111111", "r-111111", 5.0))
    saved = json.loads(fake_keyring.data[("implkit", "acme@ws")])
    assert saved == {"client_secret": "s", "access_token": "a-111111", "refresh_token": "r-111111",
                     "expires_at": 5.0}
    assert store.load() == TokenSet("a-111111", "r-111111", 5.0)


def test_keyring_missing_entry_is_bad_input(workspace, fake_keyring):
    ws = Workspace.load(workspace)
    add(ws, CredentialSource("keyring", service="implkit", username="acme@x"))
    with pytest.raises(InputError, match="no token in the keyring"):
        ws.credentials("acme")
    fake_keyring.set_password("implkit", "acme@x", "kr-token-123456")
    assert ws.credentials("acme").token == "kr-token-123456"


