"""Workspace fixtures: a fresh workspace, an in-memory keyring backend, a private token file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

TOKEN = "long-lived-amo-token-0123456789abcdef"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


@pytest.fixture
def fake_keyring():
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch):
    """An initialised workspace folder (IMPLKIT_WORKSPACE cleared so discovery is explicit)."""
    from implkit.workspace import init_workspace

    monkeypatch.delenv("IMPLKIT_WORKSPACE", raising=False)
    root = tmp_path / "ws"
    init_workspace(root)
    return root


@pytest.fixture
def token_file(workspace: Path) -> Path:
    path = workspace / ".implkit" / "acme.token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def token() -> str:
    return TOKEN


class Stores:
    """Opens tenants' StateStores on one backend: `local` (SQLite files) or `postgres` (the session's server,
    a namespace of this test's own, so tests never see each other's tenants)."""

    def __init__(self, kind: str, tmp_path: Path, url: str | None):
        import uuid

        self.kind = kind
        self.tmp_path = tmp_path
        self.url = url
        self.namespace = uuid.uuid4().hex

    def code(self, name: str) -> str:
        """Python source that opens tenant `name`'s store (for the tests' subprocesses)."""
        if self.kind == "local":
            return (f"__import__('implkit.workspace.state', fromlist=['x']).StateStore("
                    f"{str(self.tmp_path / name / 'state.db')!r})")
        return (f"__import__('implkit.workspace.postgres', fromlist=['x']).PgStateStore({self.url!r}, "
                f"__import__('implkit.workspace.postgres', fromlist=['x']).schema_for({self.namespace!r}, "
                f"{name!r}), tenant={name!r}, backup_dir=__import__('pathlib').Path({str(self.tmp_path / name)!r}))")

    def open(self, name: str = "t"):
        return eval(self.code(name))  # the same construction the subprocesses run


@pytest.fixture(params=["local", "postgres"])
def stores(request, tmp_path: Path) -> Stores:
    """The same test on both state backends (postgres skips with the reason where no server can start)."""
    url = request.getfixturevalue("pg_cluster").url if request.param == "postgres" else None
    return Stores(request.param, tmp_path, url)


@pytest.fixture(params=["local", "postgres"])
def backend_env(request, monkeypatch):
    """Configure a workspace for a backend: returns `configure(ws_root)` that writes implkit.yaml's `state:`
    (postgres: the URL in IMPLKIT_STATE_URL, a key in IMPLKIT_STATE_KEY, a namespace of this test's own)."""
    import uuid

    kind = request.param
    url = request.getfixturevalue("pg_cluster").url if kind == "postgres" else None
    if url:
        monkeypatch.setenv("IMPLKIT_STATE_URL", url)
        monkeypatch.setenv("IMPLKIT_STATE_KEY", "test-key-" + uuid.uuid4().hex)

    def configure(root: Path, **extra) -> None:
        from implkit.yamlio import dump_yaml, load_yaml

        if kind == "local":
            return
        config = load_yaml(root / "implkit.yaml")
        config["state"] = {"backend": "postgres", "url_env": "IMPLKIT_STATE_URL", **extra}
        config["id"] = str(uuid.uuid4())  # a fresh namespace: tests never share tenants
        (root / "implkit.yaml").write_text(dump_yaml(config))

    configure.kind = kind  # type: ignore[attr-defined]
    return configure
