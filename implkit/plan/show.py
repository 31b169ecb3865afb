"""Render a Plan for people (text) and machines (JSON). Renderers never recompute: they read the Plan."""

from __future__ import annotations

import json
from typing import Any

from implkit.plan.changes import CREATE, DELETE, REPLACE, UPDATE, Change, Plan

SYMBOLS = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", DELETE: "-"}
VERBS = {CREATE: "will be created", UPDATE: "will be updated in place", REPLACE: "must be replaced",
         DELETE: "will be deleted"}
LEGEND = "Legend: + create   ~ update in place   -/+ replace (delete, then create)   - delete   ! manual step"


def render_text(plan: Plan, *, show_unchanged: bool = False) -> str:
    lines: list[str] = [_header(plan), ""]
    if plan.mode == "drift":
        lines += _drift_block(plan, title="Objects changed outside implkit since the last apply:")
        lines += _unmanaged_block(plan)
        lines.append(plan.summary())
        return "\n".join(lines) + "\n"
    if plan.changes or plan.manual:
        lines += [LEGEND, ""]
    deletions = [c for c in plan.changes if c.action in (DELETE, REPLACE)]
    if deletions:  # deletions first, where a reviewer cannot miss them
        lines.append(f"Will delete ({len(deletions)}):")
        lines += [f"  {SYMBOLS[c.action]} {c.address} {_value(c.name)}" for c in deletions]
        lines.append("")
    destructive = plan.destructive
    if destructive:
        lines.append("Destructive changes (apply needs --allow-destroy):")
        lines += [f"  {SYMBOLS[c.action]} {c.address}: {c.destructive}" for c in destructive]
        lines.append("")
    for change in plan.changes:
        lines += _change_block(change, show_unchanged)
    if plan.drift:
        lines += _drift_block(plan, title="Objects changed outside implkit since the last apply "
                                          "(the changes above restore the blueprint):")
    lines += _unmanaged_block(plan)
    if plan.manual:
        lines.append(f"Manual steps: the CRM's API cannot do these ({len(plan.manual)}):")
        for row in plan.manual:
            lines.append(f"  ! {row.address}")
            lines.append(f"      {row.title}")
            if row.details:
                lines.append(f"      {row.details}")
        lines.append("")
    lines.append(plan.summary())
    if not plan.changes and plan.manual:
        lines.append(f"{len(plan.manual)} manual step(s) listed above are done by hand and are not counted "
                     "as changes.")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json_dict(), ensure_ascii=False, indent=2) + "\n"


def _header(plan: Plan) -> str:
    what = "Drift" if plan.mode == "drift" else "Plan"
    tenant = f" for tenant {plan.tenant}" if plan.tenant else ""
    return (f"{what}{tenant} (account {plan.account_id}), blueprint {plan.blueprint_name} "
            f"{plan.blueprint_version}".rstrip() + (" — prune on" if plan.prune else ""))


def _change_block(c: Change, show_unchanged: bool) -> list[str]:
    symbol = SYMBOLS[c.action]
    rid = f" (id {c.remote_id})" if c.remote_id else ""
    adopted = " — found by name, adopted" if c.adopted and not c.note else ""  # a note says how it was found
    lines = [f"# {c.address} {VERBS[c.action]}{rid}{adopted}", f"{symbol} {c.kind} {_value(c.name)}"]
    if c.destructive:
        lines.append(f"    ! destroys data: {c.destructive}")
    if c.note:
        lines.append(f"    ({c.note})")
    if c.action == CREATE:
        lines += [f"    + {k}: {_value(v)}" for k, v in c.attrs if v is not None and v != ()]
    elif c.action == DELETE:
        lines += [f"    - {k}: {_value(v)}" for k, v in c.attrs if v is not None and v != ()]
    else:
        changed = {d.attr for d in c.diffs}
        lines += [f"    ~ {d.attr}: {_value(d.before)} → {_value(d.after)}" for d in c.diffs]
        unchanged = [(k, v) for k, v in c.attrs if k not in changed and v is not None]
        if show_unchanged:
            lines += [f"      {k}: {_value(v)}" for k, v in unchanged]
        elif unchanged:
            lines.append(f"      ({len(unchanged)} unchanged attribute{'s' if len(unchanged) != 1 else ''} hidden)")
    lines.append("")
    return lines


def _drift_block(plan: Plan, title: str) -> list[str]:
    if not plan.drift:
        return []
    lines = [title]
    for d in plan.drift:
        rid = f" (id {d.remote_id})" if d.remote_id else ""
        if d.gone:
            lines.append(f"  - {d.address}{rid}: deleted in the CRM")
            continue
        lines.append(f"  ~ {d.address}{rid}")
        lines += [f"      {x.attr}: {_value(x.before)} (last applied) → {_value(x.after)} (now)" for x in d.diffs]
    lines.append("")
    return lines


def _unmanaged_block(plan: Plan) -> list[str]:
    if not plan.unmanaged:
        return []
    lines = [f"Not described in the blueprint ({len(plan.unmanaged)}): inside objects implkit manages, "
             "left alone; `apply --prune` deletes them:"]
    for u in plan.unmanaged:
        rid = f" (id {u.remote_id})" if u.remote_id else ""
        by_hand = "" if u.prunable else " — the CRM's API cannot delete it: remove it by hand, or describe it"
        lines.append(f"  ? {u.address} {_value(u.name)}{rid}{by_hand}")
    lines.append("")
    return lines


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False)
