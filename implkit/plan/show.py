"""Render a Plan for people (text) and machines (JSON). Renderers never recompute: they read the Plan.

The text is in the user's language (`implkit.lang`); addresses, attribute names and values are shown as
they are written in the blueprint, in either language. JSON is for machines and stays as it is.
"""

from __future__ import annotations

import json
from typing import Any

from implkit.lang import count_noun, say
from implkit.plan.changes import CREATE, DELETE, REPLACE, UPDATE, Change, Plan, kind_name

SYMBOLS = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", DELETE: "-"}
_MESSAGES = {
    CREATE: {"ru": "— создать", "en": "will be created"},
    UPDATE: {"ru": "— изменить на месте", "en": "will be updated in place"},
    REPLACE: {"ru": "— заменить (удалить и создать заново)", "en": "must be replaced"},
    DELETE: {"ru": "— удалить", "en": "will be deleted"},
    "legend": {"ru": "Обозначения: + создать   ~ изменить на месте   -/+ заменить (удалить, затем создать)   "
                     "- удалить   ! вручную",
               "en": "Legend: + create   ~ update in place   -/+ replace (delete, then create)   - delete   "
                     "! manual step"},
    "drift_title": {"ru": "Объекты, изменённые в обход implkit после последнего применения:",
                    "en": "Objects changed outside implkit since the last apply:"},
    "drift_title_plan": {"ru": "Объекты, изменённые в обход implkit после последнего применения "
                               "(изменения выше возвращают их к описанию):",
                         "en": "Objects changed outside implkit since the last apply "
                               "(the changes above restore the blueprint):"},
    "will_delete": {"ru": "Будет удалено ({count}):", "en": "Will delete ({count}):"},
    "destructive": {"ru": "Изменения с потерей данных (apply нужен --allow-destroy):",
                    "en": "Destructive changes (apply needs --allow-destroy):"},
    "manual": {"ru": "Ручные шаги: API этой CRM их не выполняет ({count}):",
               "en": "Manual steps: the CRM's API cannot do these ({count}):"},
    "manual_not_counted": {"ru": "Выполняются вручную и не считаются изменениями: {steps} (см. выше).",
                           "en": "{steps} listed above are done by hand and are not counted as changes."},
    "plan": {"ru": "План", "en": "Plan"},
    "drift": {"ru": "Расхождения", "en": "Drift"},
    "for_tenant": {"ru": " для клиента {tenant}", "en": " for tenant {tenant}"},
    "header": {"ru": "{what}{tenant} (аккаунт {account}), описание {name} {version}",
               "en": "{what}{tenant} (account {account}), blueprint {name} {version}"},
    "prune_on": {"ru": " — с удалением лишнего (--prune)", "en": " — prune on"},
    "id": {"ru": " (id {id})", "en": " (id {id})"},
    "adopted": {"ru": " — найдено по названию и взято под управление", "en": " — found by name, adopted"},
    "destroys": {"ru": "    ! данные будут потеряны: {why}", "en": "    ! destroys data: {why}"},
    "unchanged_hidden": {"ru": "      (скрыто: {attrs} без изменений)", "en": "      ({attrs} hidden)"},
    "deleted_in_crm": {"ru": "  - {address}{id}: удалено в CRM", "en": "  - {address}{id}: deleted in the CRM"},
    "was_now": {"ru": "      {attr}: {before} (при применении) → {after} (сейчас)",
                "en": "      {attr}: {before} (last applied) → {after} (now)"},
    "unmanaged": {"ru": "Нет в описании ({count}): внутри объектов под управлением implkit, оставлены как есть; "
                        "`apply --prune` удаляет их:",
                  "en": "Not described in the blueprint ({count}): inside objects implkit manages, left alone; "
                        "`apply --prune` deletes them:"},
    "by_hand": {"ru": " — API этой CRM не удаляет его: удалите вручную или опишите его",
                "en": " — the CRM's API cannot delete it: remove it by hand, or describe it"},
    "none": {"ru": "(нет)", "en": "(none)"},
}
_MANUAL = (("ручной шаг", "ручных шага", "ручных шагов"), ("manual step", "manual steps"))
_UNCHANGED = (("атрибут", "атрибута", "атрибутов"), ("unchanged attribute", "unchanged attributes"))



def render_text(plan: Plan, *, show_unchanged: bool = False) -> str:
    lines: list[str] = [_header(plan), ""]
    if plan.mode == "drift":
        lines += _drift_block(plan, title=say(_MESSAGES, "drift_title"))
        lines += _unmanaged_block(plan)
        lines.append(plan.summary())
        return "\n".join(lines) + "\n"
    if plan.changes or plan.manual:
        lines += [say(_MESSAGES, "legend"), ""]
    deletions = [c for c in plan.changes if c.action in (DELETE, REPLACE)]
    if deletions:  # deletions first, where a reviewer cannot miss them
        lines.append(say(_MESSAGES, "will_delete", count=len(deletions)))
        lines += [f"  {SYMBOLS[c.action]} {c.address} {_value(c.name)}" for c in deletions]
        lines.append("")
    destructive = plan.destructive
    if destructive:
        lines.append(say(_MESSAGES, "destructive"))
        lines += [f"  {SYMBOLS[c.action]} {c.address}: {c.destructive}" for c in destructive]
        lines.append("")
    for change in plan.changes:
        lines += _change_block(change, show_unchanged)
    if plan.drift:
        lines += _drift_block(plan, title=say(_MESSAGES, "drift_title_plan"))
    lines += _unmanaged_block(plan)
    if plan.manual:
        lines.append(say(_MESSAGES, "manual", count=len(plan.manual)))
        for row in plan.manual:
            lines.append(f"  ! {row.address}")
            lines.append(f"      {row.title}")
            if row.details:
                lines.append(f"      {row.details}")
        lines.append("")
    lines.append(plan.summary())
    if not plan.changes and plan.manual:
        lines.append(say(_MESSAGES, "manual_not_counted", steps=count_noun(len(plan.manual), *_MANUAL)))
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json_dict(), ensure_ascii=False, indent=2) + "\n"


def _header(plan: Plan) -> str:
    what = say(_MESSAGES, "drift" if plan.mode == "drift" else "plan")
    tenant = say(_MESSAGES, "for_tenant", tenant=plan.tenant) if plan.tenant else ""
    return (say(_MESSAGES, "header", what=what, tenant=tenant, account=plan.account_id, name=plan.blueprint_name,
                version=plan.blueprint_version).rstrip() + (say(_MESSAGES, "prune_on") if plan.prune else ""))


def _change_block(c: Change, show_unchanged: bool) -> list[str]:
    symbol = SYMBOLS[c.action]
    rid = say(_MESSAGES, "id", id=c.remote_id) if c.remote_id else ""
    adopted = say(_MESSAGES, "adopted") if c.adopted and not c.note else ""  # a note says how it was found
    lines = [f"# {c.address} {say(_MESSAGES, c.action)}{rid}{adopted}",
             f"{symbol} {kind_name(c.kind)} {_value(c.name)}"]
    if c.destructive:
        lines.append(say(_MESSAGES, "destroys", why=c.destructive))
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
            lines.append(say(_MESSAGES, "unchanged_hidden", attrs=count_noun(len(unchanged), *_UNCHANGED)))
    lines.append("")
    return lines


def _drift_block(plan: Plan, title: str) -> list[str]:
    if not plan.drift:
        return []
    lines = [title]
    for d in plan.drift:
        rid = say(_MESSAGES, "id", id=d.remote_id) if d.remote_id else ""
        if d.gone:
            lines.append(say(_MESSAGES, "deleted_in_crm", address=d.address, id=rid))
            continue
        lines.append(f"  ~ {d.address}{rid}")
        lines += [say(_MESSAGES, "was_now", attr=x.attr, before=_value(x.before), after=_value(x.after))
                  for x in d.diffs]
    lines.append("")
    return lines


def _unmanaged_block(plan: Plan) -> list[str]:
    if not plan.unmanaged:
        return []
    lines = [say(_MESSAGES, "unmanaged", count=len(plan.unmanaged))]
    for u in plan.unmanaged:
        rid = say(_MESSAGES, "id", id=u.remote_id) if u.remote_id else ""
        by_hand = "" if u.prunable else say(_MESSAGES, "by_hand")
        lines.append(f"  ? {u.address} {_value(u.name)}{rid}{by_hand}")
    lines.append("")
    return lines


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return say(_MESSAGES, "none")
    return json.dumps(value, ensure_ascii=False)
