"""The messy account (`implkit.sandbox.messy`) written into an amoCRM account, through the emulator's API
handlers (`AmoAccount`, what an HTTP request reaches), each write at its moment and by its user; the
configuration a person sets up in the interface goes to the store, as the seeder does.
"""

from __future__ import annotations

from typing import Any

from implkit.sandbox import names as N
from implkit.sandbox.messy import DAY, OPEN_STAGES, Card, MessyAccount, timeline
from implkit.sandbox.names import format_phone


def write_amocrm(store, account_id: int, account: MessyAccount, *, base: str = "http://sandbox",
                 until: int | None = None, ids: dict[str, dict] | None = None) -> dict[str, dict]:
    """Replay the history into an amoCRM account made by `bootstrap_account`, through the emulator's API
    handlers (`AmoAccount`, what an HTTP request reaches), each write at its moment and by its user.
    Configuration a person sets up in the interface (users, the second pipeline, loss reasons, a user
    leaving) goes to the store, as the seeder does. Returns the CRM id of every fact.

    In two halves if wanted: `until=T` writes what happened before T and returns the ids so far; a
    second call with those `ids` writes the rest — a sync in between sees the account as it was at T."""
    from implkit.sandbox.amocrm.models import AmoAccount

    if ids is None:
        ids = _configure_amocrm(store, account_id, account)
    config = ids["_config"]
    pipelines, stages, reason, done = config["pipelines"], config["stages"], config["reason"], config["until"]
    config["until"] = until

    def api(at: int, user: int | None = None) -> AmoAccount:
        return AmoAccount(store, account_id, base, at, user_id=ids["users"].get(user) if user is not None else None)

    def channels(card: Card) -> list[dict]:
        out = []
        if card.phones:
            out.append({"field_code": "PHONE", "values": [{"value": v, "enum_code": "WORK"} for v in card.phones]})
        if card.emails:
            out.append({"field_code": "EMAIL", "values": [{"value": v, "enum_code": "WORK"} for v in card.emails]})
        return out

    def status(pipeline: int, stage: Any) -> dict:
        if stage == "won":
            return {"pipeline_id": pipelines[pipeline], "status_id": 142}
        if stage == "lost":
            return {"pipeline_id": pipelines[pipeline], "status_id": 143}
        return {"pipeline_id": pipelines[pipeline], "status_id": stages[pipelines[pipeline]][stage]}

    for at, _, what, fact in timeline(account):
        if (done is not None and at < done) or (until is not None and at >= until):
            continue
        if what == "company":
            body = {"name": fact.name, "responsible_user_id": ids["users"][fact.owner], "created_at": at}
            if fact.office_on_card:
                body["custom_fields_values"] = [{"field_code": "PHONE", "values": [
                    {"value": format_phone(fact.office, 0), "enum_code": "WORK"}]}]
            ids["companies"][fact.key] = api(at, fact.owner).add_records("companies", [body])[0]["id"]
        elif what == "card":
            person = account.people[fact.person]
            body = {"name": fact.name, "responsible_user_id": ids["users"][fact.owner],
                    "custom_fields_values": channels(fact) or None}
            if fact.company_linked:
                body["_embedded"] = {"companies": [{"id": ids["companies"][person.company]}]}
            ids["cards"][fact.key] = api(at, fact.owner).add_records("contacts", [
                {k: v for k, v in body.items() if v is not None}])[0]["id"]
        elif what == "deal":
            embedded = {}
            if fact.card_linked_at == fact.created:
                embedded["contacts"] = [{"id": ids["cards"][fact.card], "is_main": True}]
            if fact.company_linked_at == fact.created:
                embedded["companies"] = [{"id": ids["companies"][fact.company]}]
            body = {"name": fact.title, "price": fact.price, "responsible_user_id": ids["users"][fact.owner],
                    **status(*fact.moves[0][1:]), **({"_embedded": embedded} if embedded else {})}
            ids["deals"][fact.key] = api(at, fact.owner).add_records("leads", [body])[0]["id"]
        elif what == "move":
            deal, pipeline, stage = fact
            body = {"id": ids["deals"][deal.key], **status(pipeline, stage)}
            if stage == "lost" and deal.loss_reason:
                body["loss_reason_id"] = reason
            api(at, deal.owner).update_records("leads", [body])
        elif what in ("link_card", "link_company"):
            target = ({"to_entity_id": ids["cards"][fact.card], "to_entity_type": "contacts",
                       "metadata": {"is_main": True}} if what == "link_card" else
                      {"to_entity_id": ids["companies"][fact.company], "to_entity_type": "companies"})
            api(at, fact.owner).link("leads", [target], ids["deals"][fact.key])
        elif what == "call":
            api(at, fact.owner).add_notes("leads", [{"entity_id": ids["deals"][fact.key], "note_type": "call_out",
                                                     "params": {"uniq": f"call-{fact.key}-{at}", "duration": 60,
                                                                "source": "messy", "phone": "+79000000000"}}])
        elif what == "edit":
            deal, user = fact
            api(at, user).update_records("leads", [{"id": ids["deals"][deal.key], "price": deal.price,
                                                    "updated_by": ids["users"][user]}])
        elif what == "task":
            body = {"text": "Перезвонить клиенту", "complete_till": fact.due,
                    "responsible_user_id": ids["users"][fact.owner]}
            if fact.deal is not None:
                body.update(entity_id=ids["deals"][fact.deal], entity_type="leads")
            ids["tasks"][fact.key] = api(at, fact.owner).add_tasks([body])[0]["id"]
        elif what == "task_done":
            body = {"id": ids["tasks"][fact.key], "is_completed": True}
            if fact.result:
                body["result"] = {"text": fact.result}
            api(at, fact.owner).update_tasks([body])
        elif what == "rename":
            pipeline, stage, name = fact
            api(at).update_status(pipelines[pipeline], stages[pipelines[pipeline]][stage], {"name": name})
        elif what == "deactivate":
            with store.transaction() as db:
                db.execute("UPDATE users SET is_active=0, rights=json_set(rights, '$.is_active', json('false')) "
                           "WHERE account_id=? AND id=?", (account_id, ids["users"][fact]))
        elif what == "future":
            api(at).update_records("leads", [{"id": ids["deals"][fact.key], "updated_at": fact.future_updated_at}])
    return ids


def _configure_amocrm(store, account_id: int, account: MessyAccount) -> dict[str, dict]:
    """What a person sets up in the interface first: the managers, a second pipeline, a loss reason."""
    from implkit.sandbox.amocrm.models import create_pipeline_rows

    ids: dict[str, dict] = {"users": {}, "companies": {}, "cards": {}, "deals": {}, "tasks": {}}
    first_user = (store.query("SELECT max(id) FROM users")[0][0] or 0) + 1
    for u in account.users:
        ids["users"][u.key] = first_user + u.key
        rights = {"leads": {"view": "A", "edit": "A", "add": "A", "delete": "D", "export": "D"},
                  "is_admin": False, "is_free": False, "is_active": True, "group_id": None, "role_id": None}
        store.bulk_insert("users", [{"account_id": account_id, "id": first_user + u.key,
                                     "name": f"{u.first} {u.last}",
                                     "email": f"{N.translit(u.first)}.{u.key}@messy.example", "lang": "ru",
                                     "is_active": 1, "is_admin": 0, "is_free": 0, "group_id": 0, "role_id": None,
                                     "rights": rights}])
    with store.transaction() as db:
        main = db.execute("SELECT id FROM pipelines WHERE account_id=? AND is_main=1", (account_id,)).fetchone()[0]
        second = create_pipeline_rows(db, account_id, "Повторные продажи", sort=2, is_main=False, is_unsorted_on=True,
                                      statuses=[{"name": s, "sort": 20 + 10 * i} for i, s in
                                                enumerate(["Новый запрос", "Расчёт", "КП отправлено", "Счёт"])])
        reason = (db.execute("SELECT max(id) FROM loss_reasons").fetchone()[0] or 0) + 1
        db.execute("INSERT INTO loss_reasons (account_id, id, name, sort, created_at, updated_at) "
                   "VALUES (?, ?, 'Дорого', 10, ?, ?)", (account_id, reason, account.now - 400 * DAY,
                                                          account.now - 400 * DAY))
    pipelines = [main, second]
    stages = {p: [r[0] for r in store.query(
        "SELECT id FROM statuses WHERE account_id=? AND pipeline_id=? AND type=0 AND id NOT IN (142, 143) "
        "ORDER BY sort, id", (account_id, p))][:OPEN_STAGES] for p in pipelines}

    ids["_config"] = {"pipelines": pipelines, "stages": stages, "reason": reason, "until": None}
    ids["stages"] = {index: stages[p] for index, p in enumerate(pipelines)}  # pipeline key -> stage ids by index
    return ids
