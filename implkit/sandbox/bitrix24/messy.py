"""The messy account (`implkit.sandbox.messy`) written into a Bitrix24 portal, through its store.

The same facts as on amoCRM, in the portal's shapes, the way `implkit.sandbox.bitrix24.seed` writes a
portal: final records (deal stage and pipeline, links as CONTACT_ID / COMPANY_ID, DATE_MODIFY — the
future one an import left included), the stage history of every move, activities («дела») for the
tasks and the calls. What a portal cannot hold is left out and has no truth there: reminders bound to
no record (an activity always has an owner), loss reasons, task results.
"""

from __future__ import annotations

from typing import Any

from implkit.sandbox.bitrix24.portal import DEAL_STAGES, insert_stages, iso, next_ids, stage_entity, stage_prefix, \
    user_record
from implkit.sandbox.messy import OPEN_STAGES, Card, MessyAccount, timeline
from implkit.sandbox.names import format_phone, translit

OPEN_CODES = [s[0] for s in DEAL_STAGES if s[3] is None][:OPEN_STAGES]


def write_bitrix24(store, portal_id: int, account: MessyAccount) -> dict[str, dict[int, int]]:
    """Write the facts into a portal made by `bootstrap_portal`; return the portal id of every fact."""
    acc, now = portal_id, account.now
    ids: dict[str, dict[int, int]] = {"users": {}, "companies": {}, "cards": {}, "deals": {}, "tasks": {}}
    rows: dict[str, list[dict[str, Any]]] = {}

    def add(table: str, row: dict[str, Any]) -> None:
        rows.setdefault(table, []).append(row)

    with store.transaction() as db:
        first = next_ids(db, acc, "user", len(account.users))
        second = next_ids(db, acc, "category")
        db.execute("INSERT INTO b24_categories (account_id, entity_type_id, id, name, sort, is_default) "
                   "VALUES (?, 2, ?, 'Повторные продажи', 400, 0)", (acc, second))
        insert_stages(db, acc, stage_entity(second), second, stage_prefix(second), DEAL_STAGES)
        for at, pipeline, stage, name in account.renames:
            category = second if pipeline else 0
            db.execute("UPDATE b24_statuses SET name=? WHERE account_id=? AND entity_id=? AND status_id=?",
                       (name, acc, stage_entity(category), stage_prefix(category) + OPEN_CODES[stage]))
        company_ids = next_ids(db, acc, "crm4", len(account.companies))
        card_ids = next_ids(db, acc, "crm3", len(account.cards))
        deal_ids = next_ids(db, acc, "crm2", len(account.deals))
        fm = [next_ids(db, acc, "fm", 4 * len(account.cards) + len(account.companies) + 1)]
        history = [next_ids(db, acc, "stagehistory", sum(len(d.moves) for d in account.deals) + 1)]
        activity = [next_ids(db, acc, "activity", len(account.tasks) + sum(len(d.calls) for d in account.deals) + 1)]
    for u in account.users:
        ids["users"][u.key] = first + u.key
        add("b24_users", {"account_id": acc, "id": first + u.key, "active": int(u.active), "data": user_record(
            first + u.key, u.first, u.last, f"{translit(u.first)}.{u.key}@messy.example", [1], u.active,
            now - 400 * 86400, position="Менеджер по продажам")})
    user = ids["users"]

    def multi(kind: str, values: list[str]) -> list[dict[str, str]]:
        out = []
        for value in values:
            out.append({"ID": str(fm[0]), "VALUE_TYPE": "WORK", "VALUE": value, "TYPE_ID": kind})
            fm[0] += 1
        return out

    def record(entity: int, record_id: int, owner: int, created: int, modified: int, **fields) -> None:
        data = {"ID": str(record_id), "ASSIGNED_BY_ID": str(user[owner]), "CREATED_BY_ID": str(user[owner]),
                "MODIFY_BY_ID": str(user[owner]), "DATE_CREATE": iso(created), "DATE_MODIFY": iso(modified),
                "OPENED": "Y", **fields}
        add("b24_crm", {"account_id": acc, "entity_type_id": entity, "id": record_id,
                        "category_id": fields.get("CATEGORY_ID"), "stage_id": fields.get("STAGE_ID"),
                        "assigned_by_id": user[owner], "date_create": data["DATE_CREATE"],
                        "date_modify": data["DATE_MODIFY"], "data": data})

    for c in account.companies:
        ids["companies"][c.key] = company_ids + c.key
        phones = multi("PHONE", [format_phone(c.office, 0)]) if c.office_on_card else []
        record(4, company_ids + c.key, c.owner, c.created, c.created, TITLE=c.name, COMPANY_TYPE="CUSTOMER",
               PHONE=phones, HAS_PHONE="Y" if phones else "N", HAS_EMAIL="N")
    for c in account.cards:
        ids["cards"][c.key] = card_ids + c.key
        person = account.people[c.person]
        first_name, last = _names(c, person.first, person.last)
        company = ids["companies"][person.company] if c.company_linked else None
        record(3, card_ids + c.key, c.owner, c.created, c.created, NAME=first_name, LAST_NAME=last, TYPE_ID="CLIENT",
               COMPANY_ID=str(company) if company else None, PHONE=multi("PHONE", c.phones),
               EMAIL=multi("EMAIL", c.emails), HAS_PHONE="Y" if c.phones else "N", HAS_EMAIL="Y" if c.emails else "N")

    # pipeline key -> the stages' CRM ids (crm.status.list ID, what the snapshot and a tenant's settings use)
    ids["stages"] = {p: [store.query("SELECT id FROM b24_statuses WHERE account_id=? AND entity_id=? AND status_id=?",
                                     (acc, stage_entity(c), stage_prefix(c) + code))[0][0] for code in OPEN_CODES]
                     for p, c in ((0, 0), (1, second))}

    def stage_code(pipeline: int, stage: Any) -> tuple[int, str, str]:
        category = second if pipeline else 0
        code = {"won": "WON", "lost": "LOSE"}.get(stage) or OPEN_CODES[stage]
        return category, stage_prefix(category) + code, {"won": "S", "lost": "F"}.get(stage, "P")

    def activity_row(owner_deal: int, responsible: int, fields: dict[str, Any]) -> int:
        activity_id = activity[0]
        activity[0] += 1
        data = {"ID": str(activity_id), "OWNER_ID": str(owner_deal), "OWNER_TYPE_ID": "2",
                "RESPONSIBLE_ID": str(responsible), "AUTHOR_ID": str(responsible), "EDITOR_ID": str(responsible),
                "PRIORITY": "2", "DESCRIPTION": "", "DESCRIPTION_TYPE": "1", "DIRECTION": "2", "SETTINGS": [],
                **fields}
        add("b24_activities", {"account_id": acc, "id": activity_id, "owner_type_id": 2, "owner_id": owner_deal,
                               "responsible_id": responsible, "completed": data["COMPLETED"],
                               "deadline": data["DEADLINE"], "start_time": data["START_TIME"], "data": data})
        return activity_id

    touched: dict[int, int] = {}
    for at, _, what, fact in timeline(account):
        deal = fact[0] if isinstance(fact, tuple) and what in ("move", "edit") else fact
        if what in ("move", "edit", "link_card", "link_company", "future"):
            touched[deal.key] = at if what != "future" else deal.future_updated_at
    for d in account.deals:
        deal_id = deal_ids + d.key
        ids["deals"][d.key] = deal_id
        category, code, semantic = stage_code(*d.state)
        card = ids["cards"][d.card] if d.card is not None and d.card_linked_at is not None else None
        company = ids["companies"][d.company] if d.company is not None and d.company_linked_at is not None else None
        record(2, deal_id, d.owner, d.created, touched.get(d.key, d.created), TITLE=d.title, TYPE_ID="SALE",
               CATEGORY_ID=category, STAGE_ID=code, STAGE_SEMANTIC_ID=semantic, CLOSED="N" if semantic == "P" else "Y",
               OPPORTUNITY=f"{d.price:.2f}", CURRENCY_ID="RUB", CONTACT_ID=str(card) if card else None,
               CONTACT_IDS=[card] if card else [], COMPANY_ID=str(company) if company else None,
               BEGINDATE=iso(d.created), CLOSEDATE=iso(d.moves[-1][0]))
        for index, (at, pipeline, stage) in enumerate(d.moves):
            category, code, semantic = stage_code(pipeline, stage)
            history_id = history[0]
            history[0] += 1
            add("b24_stage_history", {"account_id": acc, "entity_type_id": 2, "id": history_id, "owner_id": deal_id,
                                      "created_time": iso(at), "data": {
                                          "ID": history_id, "TYPE_ID": 1 if index == 0 else 2, "OWNER_ID": deal_id,
                                          "CREATED_TIME": iso(at), "CATEGORY_ID": category,
                                          "STAGE_SEMANTIC_ID": semantic, "STAGE_ID": code}})
        for at in d.calls:
            activity_row(deal_id, user[d.owner], {
                "TYPE_ID": "2", "PROVIDER_ID": "VOXIMPLANT_CALL", "PROVIDER_TYPE_ID": "CALL", "SUBJECT": "Звонок",
                "CREATED": iso(at), "LAST_UPDATED": iso(at), "START_TIME": iso(at), "END_TIME": iso(at + 60),
                "DEADLINE": iso(at + 60), "COMPLETED": "Y", "STATUS": "2"})
    for t in account.tasks:
        if t.deal is None:
            continue  # a portal's activity always has an owner: the reminder has no place here
        done = t.done_at is not None
        ids["tasks"][t.key] = activity_row(ids["deals"][t.deal], user[t.owner], {
            "TYPE_ID": "6", "PROVIDER_ID": "CRM_TODO", "PROVIDER_TYPE_ID": "TODO", "SUBJECT": "Перезвонить клиенту",
            "CREATED": iso(t.created), "LAST_UPDATED": iso(t.done_at or t.created), "START_TIME": iso(t.due - 3600),
            "END_TIME": iso(t.due), "DEADLINE": iso(t.due), "COMPLETED": "Y" if done else "N",
            "STATUS": "2" if done else "1"})
    for table, batch in rows.items():
        store.bulk_insert(table, batch)
    return ids


def _names(card: Card, first: str, last: str) -> tuple[str, str]:
    """An integration fills NAME and LAST_NAME; a person typing often puts the whole name into NAME."""
    return (first, last) if not card.by_hand else (card.name, "")
