"""What the period reports (sales, load, feed, goals) share: the tenant's people, a manager named on the
command line, the moment a deal was won or lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from implkit.audit.snapshot import Snapshot
from implkit.errors import InputError
from implkit.lang import say_in

MESSAGES: dict[str, dict[str, str]] = {
    "unknown_manager": {"ru": "{option} {value!r}: нет такого пользователя (известны: {known})",
                        "en": "{option} {value!r}: no such user (known: {known})"},
}


def users(snapshot: Snapshot) -> dict[int, str]:
    return {uid: name for uid, name in snapshot.db.execute("SELECT id, name FROM users")}


def user_name(people: dict[int, str], uid: Any) -> str:
    """A user's name; "#17" for one the snapshot does not know, «—» for a record nobody is responsible for."""
    return "—" if uid is None else people.get(uid, f"#{uid}")


def sellers(snapshot: Snapshot) -> list[int]:
    """Active users who are not administrators (the effect table's sellers)."""
    return [r[0] for r in snapshot.db.execute("SELECT id FROM users WHERE is_active = 1 AND is_admin = 0 ORDER BY id")]


def resolve_manager(snapshot: Snapshot, value: str, lang: str, option: str = "--manager") -> int:
    """A user by id or by name (case-insensitive, whole name); an unknown one is bad input."""
    people = users(snapshot)
    text = str(value).strip()
    if text.isdigit() and int(text) in people:
        return int(text)
    matches = [uid for uid, name in people.items() if name.strip().casefold() == text.casefold()]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(people.values())) or "—"
    raise InputError(say_in(MESSAGES, "unknown_manager", lang, option=option, value=value, known=known))


# When a closed deal was won or lost: its last stage change into the stage it stands in now (both CRMs'
# stage history says when), else the CRM's closing date (amoCRM's `closed_at`; Bitrix24's CLOSEDATE is a
# planned date a user may edit, and it follows the closing only where the portal syncs it).
CLOSED_AT_SQL = """coalesce(
    (SELECT max(e.created_at) FROM events e WHERE e.entity_type = 'lead' AND e.entity_id = {lead}.id
       AND e.type = 'lead_status_changed' AND e.status_after = {lead}.status_id),
    {lead}.closed_at)"""


def closed_at_sql(alias: str = "l") -> str:
    return CLOSED_AT_SQL.format(lead=alias)


def period_title(key: str, catalog: dict, report: dict[str, Any], lang: str, tenant: str, tz: ZoneInfo) -> str:
    """A report's title with its period in the tenant's local time."""
    def local(ts: int) -> str:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")

    return say_in(catalog, key, lang, tenant=tenant, tz=tz.key, start=local(report["period"]["start"]),
                  end=local(report["period"]["end"]))
