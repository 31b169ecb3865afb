"""Records: deals, contacts, stage history, moves between pipelines, activities, tasks, users, duplicates."""

from __future__ import annotations

from b24_helpers import NOW


def test_stage_moves_write_history(acme, sandbox):
    deal = acme.ok("crm.deal.add", {"fields": {"TITLE": "x"}})["result"]
    sandbox.clock.advance(60)
    acme.ok("crm.deal.update", {"id": deal, "fields": {"STAGE_ID": "EXECUTING"}})
    sandbox.clock.advance(60)
    acme.ok("crm.deal.update", {"id": deal, "fields": {"STAGE_ID": "WON", "COMMENTS": "оплачено"}})
    record = acme.ok("crm.deal.get", {"id": deal})["result"]
    assert record["STAGE_SEMANTIC_ID"] == "S" and record["CLOSED"] == "Y"
    history = acme.ok("crm.stagehistory.list", {"entityTypeId": 2, "filter": {"OWNER_ID": deal},
                                                "order": {"ID": "ASC"}})
    items = history["result"]["items"]
    assert [(i["TYPE_ID"], i["STAGE_ID"], i["STAGE_SEMANTIC_ID"]) for i in items] == [
        (1, "NEW", "P"), (2, "EXECUTING", "P"), (2, "WON", "S")]
    assert history["total"] == 3 and isinstance(items[0]["ID"], int) and items[0]["CATEGORY_ID"] == 0
    unsupported = acme.call("crm.stagehistory.list", {"entityTypeId": 3})
    assert unsupported.status_code == 400 and unsupported.json() == {
        "error": 0, "error_description": "CONTACT entity is not supported"}


def test_category_is_immutable_in_legacy_update_but_item_update_moves(acme):
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт"}})["result"]["category"]
    deal = acme.ok("crm.deal.add", {"fields": {"TITLE": "x", "STAGE_ID": "PREPARATION"}})["result"]
    acme.ok("crm.deal.update", {"id": deal, "fields": {"CATEGORY_ID": made["id"]}})
    assert acme.ok("crm.deal.get", {"id": deal})["result"]["CATEGORY_ID"] == "0"
    moved = acme.ok("crm.item.update", {"entityTypeId": 2, "id": deal,
                                        "fields": {"categoryId": made["id"], "stageId": "PREPARATION"}})
    item = moved["result"]["item"]
    assert item["categoryId"] == made["id"]
    assert item["stageId"] == f"C{made['id']}:NEW"      # first stage of the same (in-progress) semantics
    won = acme.ok("crm.deal.add", {"fields": {"TITLE": "y", "STAGE_ID": "WON"}})["result"]
    item = acme.ok("crm.item.update", {"entityTypeId": 2, "id": won, "fields": {"categoryId": made["id"]}})
    assert item["result"]["item"]["stageId"] == f"C{made['id']}:WON"


def test_new_deal_in_a_pipeline_takes_its_first_stage(acme):
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт"}})["result"]["category"]
    deal = acme.ok("crm.deal.add", {"fields": {"TITLE": "x", "CATEGORY_ID": made["id"], "STAGE_ID": "NEW"}})["result"]
    assert acme.ok("crm.deal.get", {"id": deal})["result"]["STAGE_ID"] == f"C{made['id']}:NEW"


def test_multifield_update_replaces_deletes_and_adds(acme):
    contact = acme.ok("crm.contact.add", {"fields": {"NAME": "Анна", "PHONE": [
        {"VALUE": "+7 900 000-00-01", "VALUE_TYPE": "WORK"}, {"VALUE": "+7 900 000-00-02", "VALUE_TYPE": "HOME"},
        {"VALUE": "+7 900 000-00-03", "VALUE_TYPE": "MOBILE"}]}})["result"]
    phones = acme.ok("crm.contact.get", {"id": contact})["result"]["PHONE"]
    acme.ok("crm.contact.update", {"id": contact, "fields": {"PHONE": [
        {"ID": phones[0]["ID"], "VALUE": "+7 900 999-99-99"}, {"ID": phones[1]["ID"], "DELETE": "Y"},
        {"ID": phones[2]["ID"], "VALUE": ""}, {"VALUE": "+7 900 000-00-04", "VALUE_TYPE": "WORK"}]}})
    after = acme.ok("crm.contact.get", {"id": contact})["result"]["PHONE"]
    assert [(p["ID"] == phones[0]["ID"], p["VALUE"]) for p in after] == [(True, "+7 900 999-99-99"),
                                                                        (False, "+7 900 000-00-04")]
    listed = acme.ok("crm.contact.list", {"select": ["ID", "PHONE"]})["result"]
    assert [p["VALUE"] for p in listed[0]["PHONE"]] == ["+7 900 999-99-99", "+7 900 000-00-04"]
    plain = acme.ok("crm.contact.list", {"select": ["*"]})["result"]
    assert "PHONE" not in plain[0] and plain[0]["NAME"] == "Анна"


def test_duplicate_findbycomm(acme):
    first = acme.ok("crm.contact.add", {"fields": {"NAME": "А", "PHONE": [{"VALUE": "+7 (900) 123-45-67"}],
                                                   "EMAIL": [{"VALUE": "Anna@Mail.ru"}]}})["result"]
    second = acme.ok("crm.contact.add", {"fields": {"NAME": "Б", "PHONE": [{"VALUE": "79001234567"}]}})["result"]
    company = acme.ok("crm.company.add", {"fields": {"TITLE": "ООО", "PHONE": [{"VALUE": "+79001234567"}]}})["result"]
    found = acme.ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+7 900 123 45 67"]})["result"]
    assert found == {"CONTACT": [first, second], "COMPANY": [company]}
    only = acme.ok("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["anna@mail.ru"],
                                                "entity_type": "CONTACT"})["result"]
    assert only == {"CONTACT": [first]}
    assert acme.ok("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["nobody@x.ru"]})["result"] == []
    missing = acme.call("crm.duplicate.findbycomm", {"values": ["1"]})
    assert missing.json() == {"error": "Communication type is not defined",
                              "error_description": "Parameter 'type' is required."}


def test_users_departments_and_current_user(acme, sandbox):
    users = acme.ok("user.get")
    assert users["total"] == 1 and users["result"][0]["ID"] == "1" and users["result"][0]["ACTIVE"] is True
    assert acme.ok("user.get", {"FILTER": {"UF_DEPARTMENT": 1}})["total"] == 1
    assert acme.ok("user.get", {"ACTIVE": False})["total"] == 0
    departments = acme.ok("department.get")
    assert departments["result"] == [{"ID": "1", "NAME": "ООО Акме", "SORT": 500, "UF_HEAD": "1"}]
    assert acme.ok("department.get", {"ID": 2})["result"] == []


def test_activities_tasks_and_seeded_lists(acme, sandbox):
    from implkit.sandbox.bitrix24.seed import seed_portal
    acme.unlimited()
    seed_portal(sandbox.store, sandbox.portal_id("acme"), deals=150, seed=5, now=NOW)
    open_overdue = acme.ok("crm.activity.list", {"filter": {"COMPLETED": "N", "<DEADLINE": "2026-01-01T03:00:00+03:00",
                                                            "OWNER_TYPE_ID": 2}, "select": ["ID", "DEADLINE"]})
    assert open_overdue["total"] >= 1
    assert all(set(r) == {"ID", "DEADLINE"} and r["DEADLINE"] < "2026-01-01T03" for r in open_overdue["result"])
    tasks = acme.ok("tasks.task.list", {"filter": {"!STATUS": 5}, "select": ["ID", "TITLE", "STATUS", "UF_CRM_TASK"]})
    assert tasks["total"] >= 1 and all(t["status"] != "5" for t in tasks["result"]["tasks"])
    # group: always (tasks.task.list.response); a UF_ in select brings the task's user fields (tasks.task.get's
    # example prints ufMailMessage, which it did not select)
    assert all({k for k in t if not k.startswith("uf")} <= {"id", "title", "status", "group"} and "ufCrmTask" in t
               for t in tasks["result"]["tasks"])
    ids = [int(t["id"]) for t in tasks["result"]["tasks"]]
    assert ids == sorted(ids, reverse=True)                          # default order: ID desc
    bound = tasks["result"]["tasks"][0]["ufCrmTask"][0]
    assert acme.ok("tasks.task.list", {"filter": {"UF_CRM_TASK": bound}})["total"] >= 1
    inactive = acme.ok("user.get", {"FILTER": {"ACTIVE": False}})
    assert inactive["total"] >= 1 and all(u["ACTIVE"] is False for u in inactive["result"])
