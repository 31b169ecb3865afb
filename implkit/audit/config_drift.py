"""Configuration checks against the tenant's blueprint (U01 rights drift, F02 configuration drift).

Both compare what the snapshot holds (users, roles, pipelines, stages,
fields, loss reasons) with the blueprint by *name*, as a curator would read
them; the failing "records" are users (U01) or blueprint addresses (F02).
"""

from __future__ import annotations

import json
from typing import Any

from implkit.audit.snapshot import Snapshot
from implkit.model import Blueprint

# Neutral right levels (model.RIGHT_LEVELS) ↔ amoCRM letters.
LEVEL_LETTER = {"all": "A", "group": "G", "own": "M", "none": "D"}


def rights_drift(snapshot: Snapshot, blueprint: Blueprint | None) -> tuple[list, int, dict[str, Any]]:
    from implkit.audit.engine import RecordRef

    roles = {r.name.strip().lower(): r for r in (blueprint.roles if blueprint else ())}
    remote_roles = {rid: name for rid, name in snapshot.db.execute("SELECT id, name FROM roles")}
    failing, differences = [], {}
    population = 0
    for user_id, role_id, rights_json in snapshot.db.execute(
            "SELECT id, role_id, rights FROM users WHERE is_active = 1 AND is_admin = 0 ORDER BY id"):
        population += 1
        role_name = remote_roles.get(role_id)
        expected = roles.get((role_name or "").strip().lower())
        if expected is None:
            failing.append(RecordRef("users", user_id))
            differences[str(user_id)] = [f"role {role_name!r} is not in the blueprint" if role_name
                                         else "the user has no role"]
            continue
        rights = json.loads(rights_json or "{}")
        diffs = [f"{entity}.{action}: {rights.get(entity, {}).get(action)} ≠ {LEVEL_LETTER.get(level, level)}"
                 for entity, actions in expected.rights_dict().items()
                 for action, level in actions.items()
                 if rights.get(entity, {}).get(action) != LEVEL_LETTER.get(level, level)]
        if diffs:
            failing.append(RecordRef("users", user_id))
            differences[str(user_id)] = diffs
    return failing, population, {"differences": differences}


def blueprint_drift(snapshot: Snapshot, blueprint: Blueprint | None) -> tuple[list, int, dict[str, Any]]:
    from implkit.audit.engine import RecordRef

    assert blueprint is not None
    missing: list[str] = []
    extra: list[str] = []
    pipelines = {name.strip().lower(): pid for pid, name in snapshot.db.execute("SELECT id, name FROM pipelines")}
    expected = 0
    for pipeline in blueprint.pipelines:
        expected += 1 + len(pipeline.stages)
        pid = pipelines.get(pipeline.name.strip().lower())
        if pid is None:
            missing.append(pipeline.address)
            missing.extend(s.address(pipeline.key) for s in pipeline.stages)
            continue
        live = {name.strip().lower(): name for (name,) in snapshot.db.execute(
            "SELECT name FROM stages WHERE pipeline_id = ? AND kind = 'open'", (pid,))}
        wanted = {s.name.strip().lower() for s in pipeline.stages}
        missing.extend(s.address(pipeline.key) for s in pipeline.stages if s.name.strip().lower() not in live)
        extra.extend(f"{pipeline.address}.stage?{live[n]}" for n in sorted(set(live) - wanted))
    fields = {(e, n.strip().lower()) for e, n in snapshot.db.execute("SELECT entity_type, name FROM custom_fields")}
    for f in blueprint.fields:
        expected += 1
        if (f.entity, f.name.strip().lower()) not in fields:
            missing.append(f.address)
    reasons = {n.strip().lower() for (n,) in snapshot.db.execute("SELECT name FROM loss_reasons")}
    for lr in blueprint.loss_reasons:
        expected += 1
        if lr.name.strip().lower() not in reasons:
            missing.append(lr.address)
    failing = [RecordRef("config", address) for address in missing + extra]
    return failing, expected, {"missing": missing, "extra": extra}
