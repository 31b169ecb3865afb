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
