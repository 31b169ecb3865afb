"""Tenant locks: one run per tenant, waiting with a message, --no-wait, stale locks after kill -9, unlock."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from implkit.workspace import CredentialSource, LockHeld, StaleLock, Workspace


@pytest.fixture
def ws(workspace, token_file):
    ws = Workspace.load(workspace)
    for name in ("acme", "other"):
        ws.add_tenant(name, provider="amocrm", url=f"https://{name}.amocrm.ru",
                      credentials=CredentialSource("file", path=token_file))
    return ws


@pytest.fixture
def any_ws(workspace, token_file, backend_env):
    """The same tenants on either state backend (local lock files, or PostgreSQL lock rows)."""
    backend_env(workspace)
    ws = Workspace.load(workspace)
    for name in ("acme", "other"):
        ws.add_tenant(name, provider="amocrm", url=f"https://{name}.amocrm.ru",
                      credentials=CredentialSource("file", path=token_file))
    return ws


def test_lock_records_its_holder_and_is_released(any_ws):
    with any_ws.lock("acme", "apply") as info:
        held = any_ws.lock_info("acme")
        assert held == info
        assert held.operation == "apply" and "@" in held.holder and str(held.pid) in held.holder
    assert any_ws.lock_info("acme") is None


def test_a_held_lock_file_is_private_to_its_owner(ws):
    """The lock names a user, a host and a command: 0600 like every tenant file (issue 15)."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        with ws.lock("acme", "apply"):
            path = ws.lock_for("acme").path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(previous)


def test_no_wait_fails_naming_the_holder(any_ws):
    with any_ws.lock("acme", "apply"):
        with pytest.raises(LockHeld) as err:
            with any_ws.lock("acme", "plan", wait=False):
                pass  # pragma: no cover
    assert err.value.exit_code == 1
    assert "locked: apply by" in str(err.value) and "pid" in str(err.value)


def test_different_tenants_lock_independently(any_ws):
    with any_ws.lock("acme", "apply"):
        with any_ws.lock("other", "apply", wait=False) as other:
            assert other.operation == "apply"


def test_second_run_waits_for_the_first(any_ws):
    events: list[str] = []
    waiting = threading.Event()

    def second():
        def told(holder):
            events.append(f"waiting for {holder.operation}")
            waiting.set()
        with any_ws.lock("acme", "apply", on_wait=told):
            events.append("second acquired")

    with any_ws.lock("acme", "apply-first"):
        events.append("first acquired")
        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(10)
        events.append("first released")
    thread.join(10)
    assert events == ["first acquired", "waiting for apply-first", "first released", "second acquired"]


def test_waiting_message_goes_to_stderr(any_ws, capsys):
    with any_ws.lock("acme", "apply"):
        with pytest.raises(LockHeld):
            with any_ws.lock("acme", "plan", timeout=0.2):
                pass  # pragma: no cover
    err = capsys.readouterr().err
    assert "waiting for the lock on tenant 'acme': held by apply" in err


def test_timeout_says_how_long_it_waited(any_ws):
    with any_ws.lock("acme", "apply"):
        with pytest.raises(LockHeld, match=r"gave up after waiting 0.1s"):
            with any_ws.lock("acme", "plan", timeout=0.1, on_wait=lambda h: None):
                pass  # pragma: no cover


def test_processes_never_overlap_on_one_tenant(any_ws, tmp_path):
    log = tmp_path / "log"
    code = textwrap.dedent("""
        import sys, time
        from implkit.workspace import Workspace
        any_ws = Workspace.load(sys.argv[1])
        with any_ws.lock("acme", "apply", on_wait=lambda h: None):
            with open(sys.argv[2], "a") as f:
                f.write("start\\n"); f.flush(); time.sleep(0.15); f.write("end\\n")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(any_ws.root), str(log)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert log.read_text().split() == ["start", "end"] * 3


def _hold_in_subprocess(ws):
    code = textwrap.dedent("""
        import sys, time
        from implkit.workspace import Workspace
        ws = Workspace.load(sys.argv[1])
        with ws.lock("acme", "apply"):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(ws.root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_of_a_killed_process_is_stale_until_unlocked(ws, run_cli):
    proc = _hold_in_subprocess(ws)
    with pytest.raises(LockHeld):  # alive: a plain conflict
        with ws.lock("acme", "plan", wait=False):
            pass  # pragma: no cover
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.raises(StaleLock) as err:  # dead: reported, not broken silently (even when waiting)
        with ws.lock("acme", "apply"):
            pass  # pragma: no cover
    assert f"pid {proc.pid}" in str(err.value) and "implkit tenant unlock acme" in str(err.value)
    assert ws.lock_info("acme") is not None

    listed = run_cli("tenant", "list", "--workspace", ws.root)
    assert "apply (stale)" in listed.output
    result = run_cli("tenant", "unlock", "acme", "--workspace", ws.root)
    assert result.exit_code == 0 and f"pid {proc.pid}" in result.output
    with ws.lock("acme", "apply", wait=False):
        pass


def test_unlock_refuses_a_live_holder_without_force(any_ws, run_cli):
    proc = _hold_in_subprocess(any_ws)
    try:
        refused = run_cli("tenant", "unlock", "acme", "--workspace", any_ws.root)
        assert refused.exit_code == 1 and "locked: apply" in refused.output
        assert any_ws.lock_info("acme") is not None
        forced = run_cli("tenant", "unlock", "acme", "--force", "--workspace", any_ws.root)
        assert forced.exit_code == 0 and any_ws.lock_info("acme") is None
    finally:
        proc.kill()
        proc.wait()


def test_unlock_when_free(any_ws, run_cli):
    result = run_cli("tenant", "unlock", "acme", "--workspace", any_ws.root)
    assert result.exit_code == 0 and "not locked" in result.output


def test_remove_refused_while_locked(any_ws, run_cli):
    with any_ws.lock("acme", "apply"):
        result = run_cli("tenant", "remove", "acme", "--workspace", any_ws.root)
    assert result.exit_code == 3 and "locked" in result.output
    assert "acme" in Workspace.load(any_ws.root).tenant_names()


# ---- breaking stale locks (--break-stale-lock, for CI) ---------------------------------------------

def _killed_holder(ws):
    proc = _hold_in_subprocess(ws)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


def test_break_stale_takes_a_killed_holders_lock_and_says_what_it_broke(any_ws):
    proc = _killed_holder(any_ws)
    broken = []
    with any_ws.lock_for("acme").hold("apply", break_stale=True,
                                  on_break=lambda holder, why: broken.append((holder, why))) as mine:
        assert any_ws.lock_info("acme") == mine
    assert len(broken) == 1
    holder, why = broken[0]
    assert holder.pid == proc.pid and holder.operation == "apply" and "no longer running" in why
    assert any_ws.lock_info("acme") is None


def test_break_stale_prints_on_stderr(any_ws, capsys):
    proc = _killed_holder(any_ws)
    with any_ws.lock("acme", "plan", break_stale=True):
        pass
    err = capsys.readouterr().err
    assert "broke the stale lock of tenant 'acme'" in err and f"pid {proc.pid}" in err


def test_stale_lock_error_names_the_flag(ws):
    _killed_holder(ws)
    with pytest.raises(StaleLock) as err:
        with ws.lock("acme", "apply"):
            pass  # pragma: no cover
    assert "--break-stale-lock" in str(err.value)


def test_break_stale_never_breaks_a_live_holder(any_ws):
    proc = _hold_in_subprocess(any_ws)
    try:
        with pytest.raises(LockHeld):
            with any_ws.lock("acme", "plan", wait=False, break_stale=True):
                pass  # pragma: no cover
        assert any_ws.lock_info("acme").pid == proc.pid
    finally:
        proc.kill()
        proc.wait()


def _foreign_lock(ws, renewed_ago: float | None, lease: float | None = 300.0):
    import json
    import time

    path = ws.lock_for("acme").path
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"id": "f" * 32, "operation": "apply", "user": "ci", "host": "runner-7.example", "pid": 4242,
              "pid_started": None, "since": "2026-01-01T00:00:00+00:00",
              "renewed": None if renewed_ago is None else time.time() - renewed_ago, "lease": lease}
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("renewed_ago, lease, stale", [
    (1000.0, 300.0, True),    # no renewal for 1000 s: the other machine is gone
    (10.0, 300.0, False),     # renewed 10 s ago: alive somewhere else
    (None, None, False),      # an old lock without a lease: cannot be judged, never broken
])
def test_another_hosts_lock_is_stale_only_when_its_lease_expired(ws, renewed_ago, lease, stale):
    _foreign_lock(ws, renewed_ago, lease)
    info = ws.lock_info("acme")
    assert info.is_stale() is stale
    if stale:
        broken = []
        with ws.lock_for("acme").hold("apply", break_stale=True, on_break=lambda h, why: broken.append(why)):
            pass
        assert len(broken) == 1 and "lease expired" in broken[0] and "runner-7.example" in broken[0]
    else:
        with pytest.raises(LockHeld):
            with ws.lock("acme", "apply", wait=False, break_stale=True):
                pass  # pragma: no cover
        assert ws.lock_info("acme").host == "runner-7.example"


def test_a_held_lock_renews_its_lease():
    import tempfile
    import time
    from pathlib import Path

    from implkit.workspace.lock import TenantLock

    lock = TenantLock(Path(tempfile.mkdtemp()) / "lock.json", "acme", lease=0.2)
    with lock.hold("sync") as mine:
        first = lock.read().renewed
        deadline = time.monotonic() + 10
        while lock.read().renewed == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock.read().renewed > first and lock.read().id == mine.id


def test_breaking_puts_back_a_lock_taken_meanwhile(any_ws):
    """Two CI jobs see the same stale lock: the second must not remove the lock the first just took."""
    proc = _killed_holder(any_ws)
    lock = any_ws.lock_for("acme")
    stale = lock.read()
    assert stale.pid == proc.pid
    assert lock._break(stale) is True          # the first job breaks it…
    fresh = lock.try_acquire("apply")          # …and takes the lock
    assert lock._break(stale) is False         # the second job's break finds another lock: puts it back
    assert lock.read() == fresh


def test_cli_break_stale_lock_on_plan(ws, run_cli, tmp_path):
    from implkit.data import blueprints_dir
    from implkit.sandbox import Sandbox, serve_in_thread

    sandbox = Sandbox(tmp_path / "sandbox.db", integration_rps=1000, account_rps=1000)
    sandbox.create_account("shop")
    token_file = tmp_path / "shop.token"
    token_file.write_text(sandbox.token("shop") + "\n")
    token_file.chmod(0o600)
    preset = sorted((blueprints_dir() / "presets").glob("*.yaml"))[0]
    try:
        with serve_in_thread(sandbox) as root:
            added = run_cli("tenant", "add", "shop", "--workspace", ws.root, "--provider", "amocrm",
                            "--url", root + sandbox.base_url("shop"), "--token-file", token_file,
                            "--blueprint", preset)
            assert added.exit_code == 0, added.output
            ws = Workspace.load(ws.root)
            code = textwrap.dedent("""
                import sys, time
                from implkit.workspace import Workspace
                with Workspace.load(sys.argv[1]).lock("shop", "apply"):
                    print("locked", flush=True)
                    time.sleep(60)
            """)
            proc = subprocess.Popen([sys.executable, "-c", code, str(ws.root)], stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "locked"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            refused = run_cli("plan", "shop", "--workspace", ws.root)
            assert refused.exit_code == 1 and "--break-stale-lock" in refused.output
            assert ws.lock_info("shop").pid == proc.pid
            planned = run_cli("plan", "shop", "--workspace", ws.root, "--break-stale-lock")
            assert planned.exit_code == 2, planned.output  # the plan ran: changes to make
            assert "broke the stale lock of tenant 'shop'" in planned.output and f"pid {proc.pid}" in planned.output
            assert ws.lock_info("shop") is None
    finally:
        sandbox.close()
    from implkit.workspace.lock import _break_stale
    assert _break_stale is False  # the flag ended with its command


# ---- the shared lock on PostgreSQL: a lease the database enforces --------------------------------------

@pytest.fixture
def pg_ws(workspace, token_file, pg_cluster, monkeypatch):
    """Tenants on the postgres backend with a short lease (1.5 s), so a killed holder is outlived quickly."""
    import uuid

    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text().replace("id: ", f"id: {uuid.uuid4()}-", 1)
                    + "state: {backend: postgres, lock_lease: 1.5}\n")
    ws = Workspace.load(workspace)
    ws.add_tenant("acme", provider="amocrm", url="https://acme.amocrm.ru",
                  credentials=CredentialSource("file", path=token_file))
    return ws


def test_pg_killed_holder_is_refused_by_name_then_outlived_by_its_lease(pg_ws, capsys):
    proc = _killed_holder(pg_ws)
    with pytest.raises(LockHeld) as err:  # its row is still there: the lease has not run out
        with pg_ws.lock("acme", "plan", wait=False):
            pass  # pragma: no cover
    assert f"apply by {err.value.info.user}@{err.value.info.host} (pid {proc.pid}) since" in str(err.value)
    with pg_ws.lock("acme", "plan", timeout=30) as mine:  # waits, and the database lets the lease expire
        assert pg_ws.lock_info("acme") == mine
    err_text = capsys.readouterr().err
    assert "waiting for the lock on tenant 'acme': held by apply" in err_text
    assert f"pid {proc.pid}" in err_text and "lease of 1.5 s ran out" in err_text
    assert pg_ws.lock_info("acme") is None


def test_pg_lease_is_judged_by_the_database_clock(pg_ws):
    """A row renewed 'long ago' by the database's own clock is no lock, whatever this machine's clock says."""
    import psycopg

    from implkit.workspace.postgres import schema_for

    lock = pg_ws.lock_for("acme")
    mine = lock.try_acquire("apply")
    with psycopg.connect(lock.url, autocommit=True) as db:
        db.execute(f'UPDATE "{schema_for(pg_ws._config["id"], "acme")}".lock '
                   "SET renewed_at = now() - interval '1 hour', host = 'runner-7.example'")
    assert pg_ws.lock_info("acme") is None
    other = pg_ws.lock_for("acme").try_acquire("plan")
    assert other is not None and other.id != mine.id
    assert lock.renew(mine) is False  # the old holder learns it lost the lock


def test_pg_unlock_of_a_killed_holder(pg_ws, run_cli):
    proc = _killed_holder(pg_ws)
    listed = run_cli("tenant", "list", "--workspace", pg_ws.root)
    assert "apply" in listed.output
    result = run_cli("tenant", "unlock", "acme", "--workspace", pg_ws.root)
    assert result.exit_code == 0 and f"pid {proc.pid}" in result.output
    assert pg_ws.lock_info("acme") is None


def test_lock_timeout_option_waits_then_names_the_holder(any_ws, run_cli):
    proc = _hold_in_subprocess(any_ws)
    try:
        from implkit.workspace import lock as lock_module

        lock_module.set_lock_timeout(0.3)
        try:
            with pytest.raises(LockHeld, match=r"gave up after waiting 0.3s") as err:
                with any_ws.lock("acme", "plan", timeout=300):
                    pass  # pragma: no cover
        finally:
            lock_module.set_lock_timeout(None)
        assert err.value.info.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_pg_lease_renewal_survives_a_dropped_connection(pg_ws):
    import psycopg

    lock = pg_ws.lock_for("acme")
    mine = lock.try_acquire("apply")
    with psycopg.connect(lock.url, autocommit=True) as admin:  # the server drops the holder's connection
        pid = lock._db.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(OSError, match="lease renewal failed"):
        lock.renew(mine)
    assert lock.renew(mine) is True  # the next beat goes through on a new connection
    assert pg_ws.lock_info("acme").id == mine.id
