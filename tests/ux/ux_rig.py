"""A seeded sandbox served on loopback with a workspace naming it, and a way to run implkit under a
pseudo-terminal (a pty is what a user's terminal is to a program: isatty() is true)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

BLUEPRINT = Path(__file__).resolve().parent.parent / "plan" / "fixtures" / "blueprint.yaml"


class World:
    """Sandbox account `shop` seeded with `contacts` contacts, served over TCP; workspace `ws` with the
    tenant `shop` (its blueprint: the plan tests' fixture)."""

    def __init__(self, tmp: Path, run_cli, contacts: int = 60):
        from implkit.sandbox import Sandbox
        from implkit.sandbox.amocrm.seed import seed_account

        self.tmp = tmp
        self.db = tmp / "sandbox.db"
        self.sandbox = Sandbox(self.db, integration_rps=1000, account_rps=1000)
        account = self.sandbox.create_account("shop")
        seed_account(self.sandbox.store, account, contacts=contacts, seed=3)
        self._serving = self.sandbox.serve(port=0)
        root = self._serving.__enter__()
        self.ws = tmp / "ws"
        token = tmp / "shop.token"
        token.write_text(self.sandbox.token("shop") + "\n")
        token.chmod(0o600)
        assert run_cli("init", self.ws).exit_code == 0
        added = run_cli("tenant", "add", "shop", "-w", self.ws, "--provider", "amocrm", "--url",
                        root + self.sandbox.base_url("shop"), "--token-file", token, "--blueprint", BLUEPRINT,
                        "--rate-limit", "200")
        assert added.exit_code == 0, added.output

    def close(self) -> None:
        self._serving.__exit__(None, None, None)
        self.sandbox.close()


def run_piped(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """implkit with stdout and stderr piped (as in a script or CI log)."""
    return subprocess.run([sys.executable, "-m", "implkit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "IMPLKIT_LANG": "en", **(env or {})}, timeout=300)


def run_in_pty(*args: str, env: dict | None = None) -> tuple[int, str]:
    """implkit with stdout and stderr on a pseudo-terminal; returns its exit code and all it wrote."""
    master, slave = pty.openpty()
    full_env = {**os.environ, "IMPLKIT_LANG": "en", "TERM": "xterm-256color", "COLUMNS": "120", **(env or {})}
    for key in [k for k, v in full_env.items() if v is None]:
        del full_env[key]
    process = subprocess.Popen([sys.executable, "-m", "implkit", *map(str, args)], stdin=subprocess.DEVNULL,
                               stdout=slave, stderr=slave, env=full_env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:   # the child closed its side: EIO on Linux
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=300)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")
