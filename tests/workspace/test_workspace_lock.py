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


def test_lock_records_its_holder_and_is_released(ws):
    with ws.lock("acme", "apply") as info:
        held = ws.lock_info("acme")
        assert held == info
        assert held.operation == "apply" and "@" in held.holder and str(held.pid) in held.holder
    assert ws.lock_info("acme") is None


def test_no_wait_fails_naming_the_holder(ws):
    with ws.lock("acme", "apply"):
        with pytest.raises(LockHeld) as err:
            with ws.lock("acme", "plan", wait=False):
                pass  # pragma: no cover
    assert err.value.exit_code == 1
    assert "locked: apply by" in str(err.value) and "pid" in str(err.value)


def test_different_tenants_lock_independently(ws):
    with ws.lock("acme", "apply"):
        with ws.lock("other", "apply", wait=False) as other:
            assert other.operation == "apply"


def test_second_run_waits_for_the_first(ws):
    events: list[str] = []
    waiting = threading.Event()

    def second():
        def told(holder):
            events.append(f"waiting for {holder.operation}")
            waiting.set()
        with ws.lock("acme", "apply", on_wait=told):
            events.append("second acquired")

    with ws.lock("acme", "apply-first"):
        events.append("first acquired")
        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(10)
        events.append("first released")
    thread.join(10)
    assert events == ["first acquired", "waiting for apply-first", "first released", "second acquired"]


def test_waiting_message_goes_to_stderr(ws, capsys):
    with ws.lock("acme", "apply"):
        with pytest.raises(LockHeld):
            with ws.lock("acme", "plan", timeout=0.2):
                pass  # pragma: no cover
    err = capsys.readouterr().err
    assert "waiting for the lock on tenant 'acme': held by apply" in err


def test_timeout_says_how_long_it_waited(ws):
    with ws.lock("acme", "apply"):
        with pytest.raises(LockHeld, match=r"gave up after waiting 0.1s"):
            with ws.lock("acme", "plan", timeout=0.1, on_wait=lambda h: None):
                pass  # pragma: no cover


def test_processes_never_overlap_on_one_tenant(ws, tmp_path):
    log = tmp_path / "log"
    code = textwrap.dedent("""
        import sys, time
        from implkit.workspace import Workspace
        ws = Workspace.load(sys.argv[1])
        with ws.lock("acme", "apply", on_wait=lambda h: None):
            with open(sys.argv[2], "a") as f:
                f.write("start\\n"); f.flush(); time.sleep(0.15); f.write("end\\n")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws.root), str(log)]) for _ in range(3)]
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


def test_unlock_refuses_a_live_holder_without_force(ws, run_cli):
    proc = _hold_in_subprocess(ws)
    try:
        refused = run_cli("tenant", "unlock", "acme", "--workspace", ws.root)
        assert refused.exit_code == 1 and "locked: apply" in refused.output
        assert ws.lock_info("acme") is not None
        forced = run_cli("tenant", "unlock", "acme", "--force", "--workspace", ws.root)
        assert forced.exit_code == 0 and ws.lock_info("acme") is None
    finally:
        proc.kill()
        proc.wait()


def test_unlock_when_free(ws, run_cli):
    result = run_cli("tenant", "unlock", "acme", "--workspace", ws.root)
    assert result.exit_code == 0 and "not locked" in result.output


def test_remove_refused_while_locked(ws, run_cli):
    with ws.lock("acme", "apply"):
        result = run_cli("tenant", "remove", "acme", "--workspace", ws.root)
    assert result.exit_code == 3 and "locked" in result.output
    assert "acme" in Workspace.load(ws.root).tenant_names()
