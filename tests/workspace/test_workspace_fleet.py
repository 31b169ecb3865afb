"""Many tenants at once: --all / --tenants PATTERN / --shard K/N / --jobs N, one row per tenant, the worst
exit code; shards cover every tenant once; overlapping runs are stopped by the tenants' locks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from implkit.errors import InputError
from implkit.workspace.fleet import parse_shard, select_tenants

NAMES = [f"shop-{i}" for i in range(7)] + ["acme", "beta"]


@pytest.mark.parametrize("jobs", [1, 2, 3, 4, 9, 12])
def test_shards_cover_every_tenant_exactly_once(jobs):
    shards = [select_tenants(NAMES, shard=f"{k}/{jobs}") for k in range(1, jobs + 1)]
    covered = [name for shard in shards for name in shard]
    assert sorted(covered) == sorted(NAMES) and len(covered) == len(set(covered))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    assert shards == [select_tenants(list(reversed(NAMES)), shard=f"{k}/{jobs}") for k in range(1, jobs + 1)]


def test_patterns_then_shard():
    assert select_tenants(NAMES, patterns="shop-*") == [f"shop-{i}" for i in range(7)]
    assert select_tenants(NAMES, patterns="acme, shop-[12]") == ["acme", "shop-1", "shop-2"]
    assert select_tenants(NAMES, patterns="shop-*", shard="2/3") == ["shop-1", "shop-4"]


@pytest.mark.parametrize("shard", ["0/3", "4/3", "a/b", "3", "1/0", "", "-1/2"])
def test_bad_shards_are_bad_input(shard):
    with pytest.raises(InputError) as err:
        parse_shard(shard)
    assert err.value.exit_code == 3 and "--shard" in str(err.value)


@pytest.mark.parametrize("patterns", ["nomatch-*", "acme,typo", " , "])
def test_a_pattern_that_matches_nothing_is_bad_input(patterns):
    with pytest.raises(InputError, match="--tenants"):
        select_tenants(NAMES, patterns=patterns)


@pytest.fixture
def fleet(tmp_path, run_cli, monkeypatch):
    """Four sandbox accounts registered as tenants of one workspace (served over loopback)."""
    from implkit.sandbox import Sandbox, serve_in_thread

    monkeypatch.delenv("IMPLKIT_WORKSPACE", raising=False)
    sandbox = Sandbox(tmp_path / "sandbox.db", integration_rps=1000, account_rps=1000)
    names = ["acme", "shop-1", "shop-2", "shop-3"]
    ws = tmp_path / "ws"
    with serve_in_thread(sandbox) as root:
        assert run_cli("init", ws).exit_code == 0
        for name in names:
            sandbox.create_account(name)
            token = tmp_path / f"{name}.token"
            token.write_text(sandbox.token(name) + "\n")
            token.chmod(0o600)
            added = run_cli("tenant", "add", name, "--workspace", ws, "--provider", "amocrm",
                            "--url", root + sandbox.base_url(name), "--token-file", token)
            assert added.exit_code == 0, added.output
        yield ws, sandbox, names
    sandbox.close()


def _rows(output: str) -> dict[str, str]:
    lines = output.strip().splitlines()
    return {line.split()[0]: line.split()[1] for line in lines[2:]}


def _synced(ws, names):
    return {n for n in names if (ws / ".implkit" / "tenants" / n / "snapshot.sqlite").exists()}


def test_sync_all_with_jobs_prints_one_row_per_tenant(fleet, run_cli):
    ws, sandbox, names = fleet
    result = run_cli("sync", "--all", "--jobs", "2", "--workspace", ws)
    assert result.exit_code == 0, result.output
    assert _rows(result.stdout) == {name: "0" for name in names}
    assert _synced(ws, names) == set(names)


def test_sync_shards_split_the_tenants(fleet, run_cli):
    ws, sandbox, names = fleet
    first = run_cli("sync", "--shard", "1/2", "--workspace", ws)
    assert first.exit_code == 0 and set(_rows(first.stdout)) == {"acme", "shop-2"}
    assert _synced(ws, names) == {"acme", "shop-2"}
    second = run_cli("sync", "--shard", "2/2", "--workspace", ws)
    assert set(_rows(second.stdout)) == {"shop-1", "shop-3"} and _synced(ws, names) == set(names)
    empty = run_cli("sync", "--shard", "4/5", "--tenants", "shop-*", "--workspace", ws)
    assert empty.exit_code == 0 and "no tenants in this selection" in empty.output


def test_plan_over_a_pattern_and_the_worst_exit_code(fleet, run_cli, tmp_path):
    ws, sandbox, names = fleet
    from implkit.data import blueprints_dir

    preset = sorted((blueprints_dir() / "presets").glob("*.yaml"))[0]
    planned = run_cli("plan", "--tenants", "shop-*", "-b", preset, "--workspace", ws)
    assert planned.exit_code == 2, planned.output  # changes on every shop
    assert _rows(planned.stdout) == {"shop-1": "2", "shop-2": "2", "shop-3": "2"}
    (tmp_path / "shop-2.token").write_text("not-a-valid-token-000000\n")  # one tenant fails
    worst = run_cli("plan", "--tenants", "shop-*", "-b", preset, "--workspace", ws)
    assert worst.exit_code == 1 and _rows(worst.stdout) == {"shop-1": "2", "shop-2": "1", "shop-3": "2"}


@pytest.mark.parametrize("args", [
    ("plan", "acme", "--all"),
    ("plan", "acme", "--shard", "1/2"),
    ("plan", "--shard", "3/2"),
    ("plan", "--tenants", "nomatch"),
    ("sync", "--jobs", "0", "--all"),
    ("sync",),
])
def test_bad_fleet_usage_is_bad_input(fleet, run_cli, args):
    ws, _sandbox, names = fleet
    result = run_cli(*args, "--workspace", ws)
    assert result.exit_code == 3, result.output
    assert _synced(ws, names) == set()


def test_overlapping_runs_are_stopped_by_the_locks_on_postgres(fleet, run_cli, pg_cluster, monkeypatch):
    """A CI job given the same shard twice: the tenant another job holds is refused, naming the holder."""
    ws, _sandbox, names = fleet
    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    import uuid

    config = ws / "implkit.yaml"
    config.write_text(config.read_text().replace("id: ", f"id: {uuid.uuid4()}-", 1) + "state: {backend: postgres}\n")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from implkit.workspace import Workspace
        with Workspace.load(sys.argv[1]).lock("shop-3", "sync"):
            print("locked", flush=True)
            time.sleep(60)
    """), str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_cli("sync", "--all", "--lock-timeout", "0", "--workspace", ws)
        assert result.exit_code == 1
        assert _rows(result.stdout) == {"acme": "0", "shop-1": "0", "shop-2": "0", "shop-3": "1"}
        assert f"pid {holder.pid}" in result.stdout and "locked: sync by" in result.stdout
        assert _synced(ws, names) == {"acme", "shop-1", "shop-2"}
    finally:
        holder.kill()
        holder.wait()


def test_sync_json_rows_and_drift_over_the_fleet(fleet, run_cli):
    import json

    ws, sandbox, names = fleet
    rows = json.loads(run_cli("sync", "--tenants", "shop-1,acme", "--json", "--workspace", ws).stdout)
    assert [(r["tenant"], r["exit"]) for r in rows] == [("acme", 0), ("shop-1", 0)]
    assert all("records in" in r["result"] for r in rows)
    from implkit.data import blueprints_dir

    preset = sorted((blueprints_dir() / "presets").glob("*.yaml"))[0]
    assert run_cli("apply", "shop-1", "--yes", "-b", preset, "--workspace", ws).exit_code == 0
    clean = run_cli("drift", "--tenants", "shop-1", "--workspace", ws)
    assert clean.exit_code == 0 and _rows(clean.stdout) == {"shop-1": "0"}
    worst = run_cli("drift", "--all", "--jobs", "3", "--workspace", ws)  # the others were never applied: bad input
    assert worst.exit_code == 3
    assert _rows(worst.stdout) == {"acme": "3", "shop-1": "0", "shop-2": "3", "shop-3": "3"}
