"""A workspace outlives its sandbox: serving the database again takes the port it was served on, so the
tenants' URLs lead to it again; while it is down, a command says so in one line at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from implkit.sandbox import Sandbox
from implkit.sandbox.server import DEFAULT_PORT, last_port

BLUEPRINT = Path(__file__).resolve().parent.parent / "plan" / "fixtures" / "blueprint.yaml"


def _account_answers(url: str, token: str) -> int:
    return httpx.get(f"{url}/amocrm/shop/api/v4/account", headers={"Authorization": f"Bearer {token}"}).status_code


def test_serving_a_database_again_takes_its_recorded_port(tmp_path):
    db = tmp_path / "s.db"
    with Sandbox(db) as box:
        box.create_account("shop")
        token = box.token("shop")
        assert last_port(box.store) is None
        with box.serve(port=0) as first:          # a free port, as the demo takes
            assert _account_answers(first, token) == 200
        with pytest.raises(httpx.ConnectError):   # stopped: nothing listens there
            _account_answers(first, token)
    with Sandbox(db) as box, box.serve() as again:  # no port: the recorded one
        assert again == first and _account_answers(again, token) == 200
    with Sandbox(db) as box:
        assert last_port(box.store) == int(first.rsplit(":", 1)[1])


def test_a_database_never_served_takes_the_default_port(tmp_path):
    from implkit.sandbox.server import port_to_serve

    with Sandbox(tmp_path / "s.db") as box:
        assert port_to_serve(box.store, None) == DEFAULT_PORT
        assert port_to_serve(box.store, 0) == 0 and port_to_serve(box.store, 9000) == 9000


def _serve_cli(db: Path, *args: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "IMPLKIT_LANG": "en"}
    process = subprocess.Popen([sys.executable, "-m", "implkit", "sandbox", "serve", "--db", str(db), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while not any(line.startswith("stop with") for line in lines) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
    return process, lines


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=15)


@pytest.mark.slow
def test_a_stopped_sandbox_fails_in_one_line_and_serve_db_brings_the_workspace_back(tmp_path, run_cli, monkeypatch):
    db = tmp_path / "sandbox.db"
    ws = tmp_path / "ws"
    token_file = tmp_path / "shop.token"
    with Sandbox(db) as box:
        box.create_account("shop")
        token_file.write_text(box.token("shop") + "\n")
        token_file.chmod(0o600)
        with box.serve(port=0) as root:           # the demo's run: a random port
            assert run_cli("init", ws).exit_code == 0
            added = run_cli("tenant", "add", "shop", "-w", ws, "--provider", "amocrm", "--url",
                            root + box.base_url("shop"), "--token-file", token_file, "--blueprint", BLUEPRINT)
            assert added.exit_code == 0, added.output
            assert run_cli("plan", "shop", "-w", ws).exit_code == 2

    # the sandbox stopped: one line, in the user's language, exit 1, at once (tests/http counts the attempts)
    for lang, words in (("ru", "в соединении отказано"), ("en", "connection refused")):
        monkeypatch.setenv("IMPLKIT_LANG", lang)
        down = run_cli("plan", "shop", "-w", ws)
        assert down.exit_code == 1
        assert len(down.stderr.strip().splitlines()) == 1, down.stderr
        assert words in down.stderr and root.split("//")[1] in down.stderr
        assert "implkit sandbox serve --db" in down.stderr and "Traceback" not in down.output
    monkeypatch.setenv("IMPLKIT_LANG", "en")

    process, lines = _serve_cli(db)                # no --port: the one the database recorded
    try:
        assert any(line.startswith(f"sandbox listening on {root} ") for line in lines), lines
        assert run_cli("plan", "shop", "-w", ws).exit_code == 2
        taken, taken_lines = _serve_cli(db)        # a second server on the same port: one clear line
        assert taken.wait(timeout=30) == 1
        error = taken.stderr.read()
        assert "could not listen on" in error and "--port" in error and "Traceback" not in error
    finally:
        _stop(process)
    assert process.returncode == 0
