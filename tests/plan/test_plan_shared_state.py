"""Two implkit processes on one tenant whose state and lock live in PostgreSQL (the shared backend).

The first apply is SIGKILLed mid-way; meanwhile a second run is refused naming the holder; once the killed
run's lease runs out (the database's clock), the second run proceeds and finishes the apply: nothing created
twice (the sandbox's own tables), nothing lost (plan shows no changes, every binding points at a live object).
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from plan_rig import ROOT, writes
from test_plan_cli import FIXTURE, Served
from test_plan_sandbox import configuration


def _implkit(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "implkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_second_runner_is_refused_then_takes_over_after_the_lease(tmp_path, run_cli, pg_cluster, monkeypatch):
    s = Served(tmp_path, run_cli, rate=3.0)  # slow enough for the second runner to meet the first
    try:
        config = s.ws / "implkit.yaml"
        config.write_text(config.read_text() + "state: {backend: postgres, url_env: FLEET_STATE_URL, "
                                               "lock_lease: 2}\n")
        monkeypatch.setenv("FLEET_STATE_URL", pg_cluster.url)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # every answer takes a second while the first run applies, so it is still applying however long the
        # second process takes to start on a loaded machine (a rate limit alone let it finish first)
        s.sandbox.app.latency_ms = (1000, 1000)
        first = _implkit("apply", "acme", "--yes", "--workspace", str(s.ws), env=env)
        deadline = time.monotonic() + 60
        while len(writes(s.log())) < 1 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert first.poll() is None, first.communicate()

        refused = _implkit("plan", "acme", "--lock-timeout", "0", "--workspace", str(s.ws), env=env)
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1, out + err
        assert first.poll() is None  # refused while the first run was still applying
        user = getpass.getuser()
        assert f"locked: apply by {user}@{socket.gethostname()} (pid {first.pid}) since" in err

        first.send_signal(signal.SIGKILL)
        first.wait()
        s.sandbox.app.latency_ms = (0, 0)
        killed_at = len(writes(s.log()))

        second = _implkit("apply", "acme", "--yes", "--lock-timeout", "60", "--workspace", str(s.ws), env=env)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, out + err
        assert f"pid {first.pid}" in err and "lease of 2 s ran out" in err
        assert len(writes(s.log())) > killed_at  # the second run finished the work

        assert s.cli("plan", "acme").exit_code == 0  # nothing lost: the tenant matches the blueprint

        class View:  # configuration() reads the sandbox's own tables
            sandbox = s.sandbox
        for kind, names in configuration(View, "acme").items():
            assert all(count == 1 for count in names.values()), (kind, names)  # nothing created twice
        from implkit.workspace import Workspace

        with Workspace.load(s.ws).state("acme") as state:
            assert state.backend == "postgres"
            bindings = state.get_ids()
            # one binding per remote object of a kind (pipeline.sales.stage.new is of kind pipeline/stage)
            kinds = {(tuple(address.split(".")[0::2]), str(remote)) for address, remote in bindings.items()}
            assert len(kinds) == len(bindings) > 0
        assert not (s.ws / ".implkit" / "tenants" / "acme" / "state.db").exists()  # nothing went to SQLite

        # The request log agrees: both runs together created exactly what one clean apply of the same blueprint
        # creates on a fresh account (a duplicate would add entities, a lost binding would re-create some).
        s.sandbox.create_account("ref")
        token = tmp_path / "ref.token"
        token.write_text(s.sandbox.token("ref") + "\n")
        token.chmod(0o600)
        added = s.run_cli("tenant", "add", "ref", "--workspace", s.ws, "--provider", "amocrm",
                          "--url", s.url.replace("/acme", "/ref"), "--token-file", token, "--blueprint", FIXTURE)
        assert added.exit_code == 0, added.output
        assert s.cli("apply", "ref", "--yes").exit_code == 0

        def created(log):
            return sum(r["entities_written"] or 0 for r in log if r["method"] == "POST" and r["status"] < 300)
        assert created(s.log()) == created(s.sandbox.request_log("ref")) > 0
    finally:
        s.close()
