"""Configuration checks (F02 configuration drift, U01 rights drift): what `implkit drift` reports.

The audit does not compare configuration itself. `implkit sync` asks the plan layer for its
comparison of the tenant (`implkit.plan.run.config_comparison`: exactly `drift` once something
was applied, the plan against the blueprint before) and stores that Plan in the snapshot's meta
(`config_comparison`), as of the sync. F02 counts every difference it shows except roles' (drift,
objects gone, objects inside managed pipelines or lists the blueprint does not describe, and
before a first apply what apply would create or change); U01 counts the roles' (rights changed
by hand). So the audit, `plan` and `drift` can never disagree: there is one comparison.
"""

from __future__ import annotations

import json
from typing import Any

from implkit.audit.records import RecordRef
from implkit.audit.snapshot import Snapshot
from implkit.lang import say
from implkit.model import Blueprint

META_KEY = "config_comparison"
RIGHTS_KINDS = frozenset({"role"})


class NoComparison(Exception):
    """The snapshot holds no configuration comparison (the check is skipped, with this reason)."""


def store_comparison(snapshot: Snapshot, plan: Any) -> None:
    """Keep `plan` (an `implkit.plan.changes.Plan`, passed in by the command layer: the audit does not
    import the plan layer) as the snapshot's configuration comparison: its differences, one row each,
    and the addresses it compared."""
    from dataclasses import asdict

    value = {"mode": plan.mode, "tenant": plan.tenant, "account_id": plan.account_id,
             "blueprint": {"name": plan.blueprint_name, "version": plan.blueprint_version},
             "discrepancies": [asdict(d) for d in plan.discrepancies()],
             "compared": sorted({a for a, _ in plan.bindings} | {d.address for d in plan.discrepancies()})}
    snapshot.set_meta(**{META_KEY: json.dumps(value, ensure_ascii=False, sort_keys=True)})


def clear_comparison(snapshot: Snapshot) -> None:
    with snapshot.transaction() as db:
        db.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))

_MESSAGES = {"no_comparison": {"ru": "в снимке нет сравнения настройки: выполните `implkit sync` для клиента с "
                                     "описанием",
                               "en": "the snapshot holds no configuration comparison: run `implkit sync` on a tenant "
                                     "with a blueprint"}}


def load_comparison(snapshot: Snapshot) -> dict[str, Any]:
    text = snapshot.get_meta(META_KEY)
    if not text:
        raise NoComparison(say(_MESSAGES, "no_comparison"))
    return json.loads(text)


def _counted(snapshot: Snapshot, rights: bool) -> tuple[list, int, dict[str, Any]]:
    comparison = load_comparison(snapshot)
    rows = [d for d in comparison["discrepancies"] if (d["kind"] in RIGHTS_KINDS) == rights]
    population = sum(1 for a in comparison["compared"] if (a.split(".", 1)[0] in RIGHTS_KINDS) == rights)
    failing = [RecordRef("config", d["address"]) for d in rows]
    return failing, population, {"mode": comparison["mode"], "differences": rows}


def blueprint_drift(snapshot: Snapshot, blueprint: Blueprint | None) -> tuple[list, int, dict[str, Any]]:
    """F02: every configuration difference `drift` shows, roles aside."""
    return _counted(snapshot, rights=False)


def rights_drift(snapshot: Snapshot, blueprint: Blueprint | None) -> tuple[list, int, dict[str, Any]]:
    """U01: the roles whose rights `drift` shows changed (or gone, or undescribed)."""
    return _counted(snapshot, rights=True)
