"""Every check on a small hand-built snapshot: records in → failing ids out.

The cases live in `cases/<CHECK>.yaml` (one file per check, sqlfluff-style),
so adding a case needs no Python. A case names the records it adds to the
base snapshot (conftest.py: one pipeline, three users, NOW), optional
parameter overrides, and the ids expected to fail (`entity:id` for checks
that span entities), or `raises`: the text of the bad-input error expected;
`values` (id → the value column) where a check says what failed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.errors import InputError
from implkit.model import Blueprint
from implkit.yamlio import load_yaml, to_plain

CASES_DIR = Path(__file__).parent / "cases"
CHECKS = {c.id: c for c in load_checks()}


def _cases():
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = to_plain(load_yaml(path))
        for case in data["cases"]:
            yield pytest.param(data["check"], case, id=f"{data['check']}-{case['name']}")


@pytest.mark.usefixtures("english")  # reads English refusals
@pytest.mark.parametrize(("check_id", "case"), list(_cases()))
def test_check_case(make_snapshot, check_id, case):
    check = CHECKS[check_id]
    if case.get("parameters"):
        check = dataclasses.replace(check, parameters={**check.parameters, **case["parameters"]})
    snap = make_snapshot(case.get("records"), **({"users": case["users"]} if "users" in case else {}))
    blueprint = Blueprint.from_dict(case["blueprint"]) if case.get("blueprint") else None
    options = AuditOptions(exempt_stages=tuple(case.get("exempt_stages") or ()), blueprint=blueprint,
                           bindings=case.get("bindings") or {})
    if "raises" in case:
        with pytest.raises(InputError) as caught:
            run_checks(snap, [check], options)
        assert case["raises"] in str(caught.value)
        return
    result = run_checks(snap, [check], options).results[0]
    qualified = any(":" in str(x) for x in case["fail"])
    got = sorted(f"{r.entity}:{r.id}" if qualified else str(r.id) for r in result.failing)
    assert got == sorted(str(x) for x in case["fail"])
    if "population" in case:
        assert result.population == case["population"]
    if "status" in case:
        assert result.status == case["status"]
    if "values" in case:
        assert {str(r.id): r.value for r in result.failing if str(r.id) in map(str, case["values"])} == \
            {str(k): v for k, v in case["values"].items()}
    if "groups" in case:
        got_groups = [{"keep": g["keep"], "merge": g["merge"]} for g in result.details["duplicate_groups"]]
        assert got_groups == case["groups"]
    if "shared" in case:  # C14: per shared channel, the people on it (each a list of records)
        assert [s["people"] for s in result.details["shared_channels"]] == case["shared"]


def test_every_supported_check_has_cases():
    covered = {path.stem for path in CASES_DIR.glob("*.yaml")}
    supported = {c.id for c in CHECKS.values() if not c.unsupported_reason("amocrm")}
    assert supported - covered == set()
