"""bench/chaos.py, a fast subset: one seed of each mode; the rest (more seeds, kill points, Bitrix24 kills) is slow.

The bench itself decides "converged" and "stray" against fault-free twins;
these tests check that its verdicts hold on the cases that are fixed, and
that faults really were served (a run without faults proves nothing).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chaos():
    spec = importlib.util.spec_from_file_location("chaos_bench", ROOT / "bench" / "chaos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos_bench"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def preset(chaos):
    from implkit.blueprint import load_blueprint

    path = chaos.largest_preset()
    return path, load_blueprint(str(path))


def test_help_describes_both_modes():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "--mode" in result.stdout and "SIGKILL" in result.stdout and "5xx=0.2,drop=0.08" in result.stdout


def test_largest_preset_is_the_one_with_most_objects(chaos):
    from implkit.blueprint import load_blueprint
    from implkit.data import blueprints_dir

    def objects(path):
        bp = load_blueprint(str(path))
        return len(bp.pipelines) + sum(len(p.stages) for p in bp.pipelines)

    paths = sorted((blueprints_dir() / "presets").glob("*.yaml"))
    assert objects(chaos.largest_preset()) == max(objects(p) for p in paths)


@pytest.mark.parametrize("profile", ["light", pytest.param("heavy", marks=pytest.mark.slow)])
def test_amocrm_converges_under_faults_with_nothing_stray(chaos, preset, tmp_path, profile):
    path, desired = preset
    twin = chaos.twin_view(tmp_path / "twin", "amocrm", 1, 20, desired)
    out = chaos.faults_case(tmp_path / "case", "amocrm", profile, 1, 20, 25, desired, twin)
    assert out.faults_served > 0  # the faults were there
    assert out.converged and out.stray == [] and out.snapshot_diff == {}, (out.stray, out.snapshot_diff)
    # the audit's tables sync stores were among those compared, and hold rows (they follow from the records)
    from implkit.audit.snapshot import AUDIT_TABLES

    assert all(out.compared.get(name, 0) > 0 for name in AUDIT_TABLES), out.compared


def test_bitrix24_converges_under_faults_and_its_snapshot_is_exact(chaos, preset, tmp_path):
    path, desired = preset
    twin = chaos.twin_view(tmp_path / "twin", "bitrix24", 2, 20, desired)
    out = chaos.faults_case(tmp_path / "case", "bitrix24", "light", 2, 20, 25, desired, twin)
    assert out.faults_served > 0
    assert out.converged and out.snapshot_diff == {}
    # nothing pending, no field/role/pipeline/stage duplicated, missing or left over (issue 15's stray stages)
    assert out.stray == []


def test_bitrix24_leaves_no_stray_stages_under_faults(chaos, preset, tmp_path):
    path, desired = preset
    twin = chaos.twin_view(tmp_path / "twin", "bitrix24", 2, 20, desired)
    out = chaos.faults_case(tmp_path / "case", "bitrix24", "light", 2, 20, 25, desired, twin)
    assert out.stray == []


def test_amocrm_apply_killed_midway_converges(chaos, preset, tmp_path):
    path, desired = preset
    twin = chaos.twin_view(tmp_path / "twin", "amocrm", 1, 20, desired)
    sizes = chaos.count_requests(tmp_path / "count", "amocrm", 1, 20, path, commands=("apply",))
    k = chaos.kill_points(sizes["apply"], 1)[0]
    out = chaos.kill_case(tmp_path / "kill", "amocrm", 1, 20, k, "apply", path, desired, twin, 10)
    assert not any(reason.startswith("not killed") for reason in out.failures)  # it did die at request k
    assert out.converged and out.stray == [] and out.snapshot_diff == {}, (out.stray, out.failures)


@pytest.mark.parametrize("crm", ["amocrm", pytest.param("bitrix24", marks=pytest.mark.slow)])
def test_the_sync_count_is_exact_for_the_cli_that_is_killed(chaos, preset, tmp_path, crm):
    """The kill points are spread over the count: killed at its last answer the CLI sync dies there, and
    one answer later it is no longer killed (it has finished)."""
    path, desired = preset
    sizes = chaos.count_requests(tmp_path / "count", crm, 1, 20, path)
    for kill_at, expected in ((sizes["sync"], {-9, 137}), (sizes["sync"] + 1, {0})):
        with chaos.served(tmp_path / f"at-{kill_at}", crm, 1, 20, path) as (tenant, ws):
            assert chaos._cli(ws, chaos.COMMANDS["apply"]) == 0, chaos.LAST_OUTPUT[0]
            before = len(tenant.log())
            assert chaos._cli(ws, chaos.COMMANDS["sync"], die_after=kill_at) in expected, (kill_at, sizes)
            assert len(tenant.log()) - before == sizes["sync"]  # the sandbox saw the same number of requests


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_sync_killed_at_each_point_converges(chaos, preset, tmp_path, crm):
    path, desired = preset
    twin = chaos.twin_view(tmp_path / "twin", crm, 1, 20, desired)
    sizes = chaos.count_requests(tmp_path / "count", crm, 1, 20, path)
    for k in chaos.kill_points(sizes["sync"], 3):
        out = chaos.kill_case(tmp_path / f"kill-{k}", crm, 1, 20, k, "sync", path, desired, twin, 10)
        assert not any(reason.startswith("not killed") for reason in out.failures), (k, out.failures)
        assert out.converged and out.snapshot_diff == {}, (k, out.snapshot_diff, out.failures)
