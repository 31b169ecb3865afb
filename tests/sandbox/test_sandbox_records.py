"""Behaviour of the emulated endpoints: defaults, rules, filters, order, embedded data."""

from __future__ import annotations

import pytest


def _pipeline(c):
    return c.get("/leads/pipelines").json()["_embedded"]["pipelines"][0]


def _ids(answer, key):
    return [item["id"] for item in answer.json()["_embedded"][key]]


def test_new_account_looks_like_amocrm_after_sign_up(alpha):
    pipelines = alpha.get("/leads/pipelines").json()["_embedded"]["pipelines"]
    assert len(pipelines) == 1 and pipelines[0]["name"] == "Воронка" and pipelines[0]["is_main"]
    statuses = pipelines[0]["_embedded"]["statuses"]
    assert statuses[0]["type"] == 1 and statuses[0]["is_editable"] is False
    assert [s["id"] for s in statuses[-2:]] == [142, 143]
    assert [s["sort"] for s in statuses[-2:]] == [10000, 11000]
    fields = alpha.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
    by_code = {f["code"]: f for f in fields}
    assert {"PHONE", "EMAIL", "POSITION"} <= set(by_code)
    assert [e["value"] for e in by_code["PHONE"]["enums"]] == ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]
    assert by_code["EMAIL"]["is_deletable"] is False and by_code["EMAIL"]["is_predefined"] is True
    groups = alpha.get("/leads/custom_fields/groups").json()["_embedded"]["custom_field_groups"]
    assert [g["id"] for g in groups] == ["default", "statistic"]
    users = alpha.get("/users").json()["_embedded"]["users"]
    assert len(users) == 1 and users[0]["rights"]["is_admin"] is True


def test_lead_lands_in_the_first_stage_of_the_main_pipeline(alpha):
    pipeline = _pipeline(alpha)
    lead_id = _ids(alpha.post("/leads", json=[{"name": "a"}]), "leads")[0]
    lead = alpha.get(f"/leads/{lead_id}").json()
    assert (lead["pipeline_id"], lead["status_id"]) == (pipeline["id"], pipeline["_embedded"]["statuses"][1]["id"])


def test_lead_status_must_belong_to_its_pipeline_and_not_be_unsorted(alpha):
    pipeline = _pipeline(alpha)
    other = alpha.post("/leads/pipelines", json=[{"name": "B", "sort": 2, "is_main": False, "is_unsorted_on": False,
                                                  "_embedded": {"statuses": [{"name": "S", "sort": 20}]}}])
    other = other.json()["_embedded"]["pipelines"][0]
    foreign = other["_embedded"]["statuses"][1]["id"]
    unsorted = pipeline["_embedded"]["statuses"][0]["id"]
    for item in ({"pipeline_id": pipeline["id"], "status_id": foreign}, {"status_id": unsorted},
                 {"status_id": 12345}):
        answer = alpha.post("/leads", json=[{"name": "x", **item}])
        assert answer.status_code == 400
        assert answer.json()["validation-errors"][0]["errors"][0]["path"] == "status_id"
    ok = alpha.post("/leads", json=[{"name": "x", "status_id": foreign}])    # pipeline found from the status
    assert alpha.get(f"/leads/{_ids(ok, 'leads')[0]}").json()["pipeline_id"] == other["id"]


def test_closing_a_lead_sets_closed_at_and_logs_a_status_event(alpha):
    lead_id = _ids(alpha.post("/leads", json=[{"name": "a"}]), "leads")[0]
    assert alpha.patch(f"/leads/{lead_id}", json={"status_id": 142}).status_code == 200
    lead = alpha.get(f"/leads/{lead_id}").json()
    assert lead["status_id"] == 142 and lead["closed_at"] is not None
    events = alpha.get("/events", params={"filter[type][]": "lead_status_changed"}).json()["_embedded"]["events"]
    assert events[0]["value_after"][0]["lead_status"]["id"] == 142
    assert events[0]["entity_type"] == "lead" and isinstance(events[0]["id"], str)
    entered = alpha.get("/events", params={"filter[value_after][leads_statuses][0][pipeline_id]": lead["pipeline_id"],
                                           "filter[value_after][leads_statuses][0][status_id]": 142})
    assert len(entered.json()["_embedded"]["events"]) == 1


def test_filters_by_id_updated_at_range_and_statuses(alpha, harness):
    clock = harness.sandbox.clock
    clock.freeze(1_700_000_000)
    first = _ids(alpha.post("/leads", json=[{"name": "old"}]), "leads")
    clock.advance(100)
    second = _ids(alpha.post("/leads", json=[{"name": "new1"}, {"name": "new2"}]), "leads")
    recent = alpha.get("/leads", params={"filter[updated_at][from]": 1_700_000_050})
    assert _ids(recent, "leads") == second
    window = alpha.get("/leads", params={"filter[updated_at][from]": 1_699_999_999,
                                         "filter[updated_at][to]": 1_700_000_001})
    assert _ids(window, "leads") == first
    by_id = alpha.get("/leads", params=[("filter[id][]", first[0]), ("filter[id][]", second[1])])
    assert _ids(by_id, "leads") == [first[0], second[1]]
    alpha.patch("/leads", json=[{"id": second[0], "status_id": 143}])
    pipeline_id = _pipeline(alpha)["id"]
    lost = alpha.get("/leads", params={"filter[statuses][0][pipeline_id]": pipeline_id,
                                       "filter[statuses][0][status_id]": 143})
    assert _ids(lost, "leads") == [second[0]]
    assert alpha.get("/leads", params={"filter[id]": 999999}).status_code == 204


def test_order_and_query(alpha, harness):
    harness.sandbox.clock.freeze(1_700_000_000)
    ids = _ids(alpha.post("/contacts", json=[{"name": "Анна"}, {"name": "Борис"}, {"name": "Анатолий"}]), "contacts")
    harness.sandbox.clock.advance(10)
    alpha.patch("/contacts", json=[{"id": ids[0], "name": "Анна К."}])
    newest_first = alpha.get("/contacts", params={"order[updated_at]": "desc"})
    assert _ids(newest_first, "contacts")[0] == ids[0]
    assert _ids(alpha.get("/contacts", params={"order[id]": "desc"}), "contacts") == ids[::-1]
    assert _ids(alpha.get("/contacts", params={"query": "Ана"}), "contacts") == [ids[2]]


def test_custom_field_filter_and_values_validation(alpha):
    field = alpha.post("/leads/custom_fields", json=[{"type": "select", "name": "Источник",
                                                      "enums": [{"value": "Сайт", "sort": 1},
                                                                {"value": "Звонок", "sort": 2}]}]).json()
    field = field["_embedded"]["custom_fields"][0]
    site, call = field["enums"]
    ids = _ids(alpha.post("/leads", json=[
        {"name": "a", "custom_fields_values": [{"field_id": field["id"], "values": [{"enum_id": site["id"]}]}]},
        {"name": "b", "custom_fields_values": [{"field_id": field["id"], "values": [{"value": "Звонок"}]}]},
    ]), "leads")
    found = alpha.get("/leads", params={f"filter[custom_fields_values][{field['id']}][]": call["id"]})
    assert _ids(found, "leads") == [ids[1]]
    bad = alpha.post("/leads", json=[{"custom_fields_values": [{"field_id": field["id"], "values": [{"enum_id": 1}]}]},
                                     {"custom_fields_values": "nope", "request_id": "mine"}])
    errors = {e["request_id"]: e["errors"][0]["path"] for e in bad.json()["validation-errors"]}
    assert errors == {"0": "custom_fields_values.0.values.0.enum_id", "mine": "custom_fields_values"}


def test_multitext_phone_by_code_and_embedded_links(alpha):
    company = _ids(alpha.post("/companies", json=[{"name": "ООО Ромашка"}]), "companies")[0]
    contact = _ids(alpha.post("/contacts", json=[{
        "first_name": "Иван", "last_name": "Петров", "_embedded": {"companies": [{"id": company}]},
        "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+79991234567", "enum_code": "MOB"}]}],
    }]), "contacts")[0]
    lead = _ids(alpha.post("/leads", json=[{"name": "Сделка", "_embedded": {"contacts": [{"id": contact,
                                                                                         "is_main": True}]}}]),
                "leads")[0]
    shown = alpha.get(f"/contacts/{contact}", params={"with": "leads"}).json()
    assert shown["name"] == "Иван Петров"
    phone = shown["custom_fields_values"][0]["values"][0]
    mob = next(e for e in alpha.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
               if e["code"] == "PHONE")["enums"][2]
    assert phone == {"value": "+79991234567", "enum_id": mob["id"], "enum_code": "MOB"}
    assert [c["id"] for c in shown["_embedded"]["companies"]] == [company]
    assert [l["id"] for l in shown["_embedded"]["leads"]] == [lead]
    with_contacts = alpha.get(f"/leads/{lead}", params={"with": "contacts"}).json()["_embedded"]
    assert with_contacts["contacts"][0]["is_main"] is True
    assert "contacts" not in alpha.get(f"/leads/{lead}").json()["_embedded"]


def _phone_field(alpha):
    return next(f for f in alpha.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
                if f["code"] == "PHONE")


def test_multitext_is_written_by_enum_id_or_enum_code_and_read_back_with_both(alpha):
    field = _phone_field(alpha)
    home = next(e for e in field["enums"] if e["value"] == "HOME")
    contact = _ids(alpha.post("/contacts", json=[{"name": "A", "custom_fields_values": [{"field_id": field["id"], "values": [
        {"value": "+79121234567", "enum_id": home["id"]},
        {"value": "+74991234567", "enum_code": "WORK"},
        {"value": "+74990000000"},                                         # no enum at all: WORK
        {"value": "+74991111111", "enum_id": None, "enum_code": "FAX"},   # what the PHP SDK's toApi() sends
    ]}]}]), "contacts")[0]
    values = alpha.get(f"/contacts/{contact}").json()["custom_fields_values"][0]["values"]
    assert [(v["enum_code"], v["value"]) for v in values] == [("HOME", "+79121234567"), ("WORK", "+74991234567"),
                                                              ("WORK", "+74990000000"), ("FAX", "+74991111111")]
    assert all(set(v) == {"value", "enum_id", "enum_code"} for v in values)
    # a read-modify-write of what was read back is accepted as is
    again = alpha.patch(f"/contacts/{contact}", json={"custom_fields_values": [
        {"field_id": field["id"], "values": [{k: v[k] for k in ("value", "enum_id", "enum_code")} for v in values]}]})
    assert again.status_code == 200


def test_writes_the_real_api_refuses_are_refused_with_field_not_expected(alpha, doc):
    field = _phone_field(alpha)
    text = alpha.post("/leads/custom_fields", json=[{"type": "text", "name": "Комментарий"}]).json()
    text_id = text["_embedded"]["custom_fields"][0]["id"]
    cases = [   # (entity, item, path of the refused key)
        ("contacts", {"custom_fields_values": [{"field_id": field["id"], "values": [{"value": "+7912", "enum": "WORK"}]}]},
         "custom_fields_values.0.values.0.enum"),
        ("leads", {"custom_fields_values": [{"field_id": text_id, "values": [{"value": "x", "enum_code": "WORK"}]}]},
         "custom_fields_values.0.values.0.enum_code"),
        ("leads", {"name": "a", "account_id": 1}, "account_id"),
        ("leads", {"name": "a", "_links": {}}, "_links"),
        ("contacts", {"name": "a", "price": 5}, "price"),
        ("companies", {"name": "a", "first_name": "x"}, "first_name"),
    ]
    before = {e: alpha.get(f"/{e}").status_code for e in ("leads", "contacts", "companies")}
    theirs = doc("error_validation.response")
    for entity, item, path in cases:
        answer = alpha.post(f"/{entity}", json=[item])
        assert answer.status_code == 400, path
        body = answer.json()
        assert {k: v for k, v in body.items() if k != "validation-errors"} == \
            {k: v for k, v in theirs.items() if k != "validation-errors"}
        assert body["validation-errors"] == [{"request_id": "0", "errors": [
            {"code": "FieldNotExpected", "path": path, "detail": "This field was not expected."}]}]
    lead = _ids(alpha.post("/leads", json=[{"name": "kept"}]), "leads")[0]
    refused = alpha.patch("/leads", json=[{"id": lead, "name": "changed", "is_deleted": False}])
    assert refused.status_code == 400 and refused.json()["validation-errors"][0]["errors"][0]["path"] == "is_deleted"
    assert alpha.get(f"/leads/{lead}").json()["name"] == "kept"   # nothing of a refused batch is written
    assert before == {"leads": 204, "contacts": 204, "companies": 204}
    assert len(alpha.get("/leads").json()["_embedded"]["leads"]) == 1


def test_tags_by_name_are_created_once_and_can_be_removed(alpha):
    ids = _ids(alpha.post("/leads", json=[{"name": "a", "tags_to_add": [{"name": "vip"}]},
                                          {"name": "b", "_embedded": {"tags": [{"name": "vip"}, {"name": "new"}]}}]),
               "leads")
    tags = alpha.get("/leads/tags").json()["_embedded"]["tags"]
    assert sorted(t["name"] for t in tags) == ["new", "vip"]
    alpha.patch("/leads", json=[{"id": ids[1], "tags_to_delete": [{"name": "vip"}]}])
    assert [t["name"] for t in alpha.get(f"/leads/{ids[1]}").json()["_embedded"]["tags"]] == ["new"]
    again = alpha.post("/leads/tags", json=[{"name": "vip"}]).json()["_embedded"]["tags"][0]
    assert again["id"] == next(t["id"] for t in tags if t["name"] == "vip")
    assert alpha.post("/contacts/tags", json=[{"name": "x", "color": "DDEBB5"}]).status_code == 400
    assert alpha.post("/leads/tags", json=[{"name": "x", "color": "123456"}]).status_code == 400


def test_pipeline_delete_rules(alpha):
    main = _pipeline(alpha)
    assert alpha.delete(f"/leads/pipelines/{main['id']}").status_code == 400          # the last one
    extra = alpha.post("/leads/pipelines", json=[{"name": "B", "sort": 2, "is_main": False,
                                                  "is_unsorted_on": True}]).json()["_embedded"]["pipelines"][0]
    lead = _ids(alpha.post("/leads", json=[{"pipeline_id": extra["id"]}]), "leads")[0]
    assert alpha.delete(f"/leads/pipelines/{extra['id']}").status_code == 400         # has leads
    alpha.patch(f"/leads/{lead}", json={"pipeline_id": main["id"]})
    assert alpha.delete(f"/leads/pipelines/{extra['id']}").status_code == 204
    assert alpha.get(f"/leads/pipelines/{extra['id']}").status_code == 404


def test_setting_another_main_pipeline_clears_the_old_one(alpha):
    old = _pipeline(alpha)
    new = alpha.post("/leads/pipelines", json=[{"name": "B", "sort": 2, "is_main": True, "is_unsorted_on": True,
                                                "_embedded": {"statuses": [{"id": 142, "name": "Оплачено"}]}}])
    new = new.json()["_embedded"]["pipelines"][0]
    assert new["is_main"] and not alpha.get(f"/leads/pipelines/{old['id']}").json()["is_main"]
    assert next(s for s in new["_embedded"]["statuses"] if s["id"] == 142)["name"] == "Оплачено"
    assert [s["type"] for s in new["_embedded"]["statuses"]][0] == 1


def test_status_rules(alpha):
    pipeline = _pipeline(alpha)
    pid = pipeline["id"]
    first, second = pipeline["_embedded"]["statuses"][1:3]
    lead = _ids(alpha.post("/leads", json=[{"status_id": second["id"]}]), "leads")[0]
    assert alpha.delete(f"/leads/pipelines/{pid}/statuses/{second['id']}").status_code == 204
    assert alpha.get(f"/leads/{lead}").json()["status_id"] == first["id"]            # moved to the first stage
    assert alpha.delete(f"/leads/pipelines/{pid}/statuses/142").status_code == 400
    assert alpha.patch(f"/leads/pipelines/{pid}/statuses/142", json={"sort": 5}).status_code == 400
    assert alpha.patch(f"/leads/pipelines/{pid}/statuses/142", json={"name": "Оплачено"}).status_code == 200
    bad_colour = alpha.post(f"/leads/pipelines/{pid}/statuses", json=[{"name": "x", "sort": 60, "color": "#123456"}])
    assert bad_colour.json()["validation-errors"][0]["errors"][0]["path"] == "color"
    assert alpha.get("/leads/pipelines/0/statuses").json()["detail"] == "Pipeline not found"


def test_field_rules(alpha):
    phone = next(f for f in alpha.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
                 if f["code"] == "PHONE")
    assert alpha.delete(f"/contacts/custom_fields/{phone['id']}").status_code == 400
    assert alpha.post("/leads/custom_fields", json=[{"type": "multitext", "name": "x"}]).status_code == 400
    assert alpha.post("/leads/custom_fields", json=[{"type": "select", "name": "no enums"}]).status_code == 400
    field = alpha.post("/leads/custom_fields", json=[{"type": "multiselect", "name": "m", "enums": [
        {"value": "a", "sort": 1}, {"value": "b", "sort": 2}]}]).json()["_embedded"]["custom_fields"][0]
    a, b = field["enums"]
    patched = alpha.patch(f"/leads/custom_fields/{field['id']}", json={"enums": [{"id": a["id"], "value": "A",
                                                                                  "sort": 1}, {"value": "c",
                                                                                               "sort": 3}]})
    enums = patched.json()["enums"]
    assert [e["value"] for e in enums] == ["A", "c"] and enums[0]["id"] == a["id"]     # omitted "b" is gone
    lead = _ids(alpha.post("/leads", json=[{"custom_fields_values": [{"field_id": field["id"],
                                                                     "values": [{"enum_id": a["id"]}]}]}]), "leads")[0]
    assert alpha.delete(f"/leads/custom_fields/{field['id']}").status_code == 204
    assert alpha.get(f"/leads/{lead}").json()["custom_fields_values"] is None          # values went with it


def test_group_rules(alpha):
    assert alpha.delete("/leads/custom_fields/groups/default").status_code == 400
    group = alpha.post("/leads/custom_fields/groups", json=[{"name": "Доставка", "sort": 3}]).json()
    group_id = group["_embedded"]["custom_field_groups"][0]["id"]
    assert isinstance(group_id, str) and group_id.startswith("leads_")
    assert alpha.delete(f"/leads/custom_fields/groups/{group_id}").status_code == 204


def test_tasks_filters_completion_and_closest_task(alpha):
    lead = _ids(alpha.post("/leads", json=[{"name": "a"}]), "leads")[0]
    tasks = _ids(alpha.post("/tasks", json=[
        {"text": "call", "complete_till": 2_000_000_000, "entity_id": lead, "entity_type": "leads"},
        {"text": "meet", "complete_till": 1_900_000_000, "entity_id": lead, "entity_type": "leads",
         "task_type_id": 2},
        {"text": "alone", "complete_till": 1_800_000_000},
    ]), "tasks")
    assert alpha.get(f"/leads/{lead}").json()["closest_task_at"] == 1_900_000_000
    alpha.patch(f"/tasks/{tasks[1]}", json={"is_completed": True, "result": {"text": "done"}})
    assert alpha.get(f"/leads/{lead}").json()["closest_task_at"] == 2_000_000_000
    done = alpha.get("/tasks", params={"filter[is_completed]": 1})
    assert _ids(done, "tasks") == [tasks[1]]
    on_lead = alpha.get("/tasks", params={"filter[entity_type]": "leads", "filter[entity_id][]": lead,
                                          "order[complete_till]": "asc"})
    assert _ids(on_lead, "tasks") == [tasks[1], tasks[0]]
    bad = alpha.post("/tasks", json=[{"text": "x"}, {"text": "y", "complete_till": 1, "entity_type": "leads",
                                                     "entity_id": 999999}])
    paths = {e["request_id"]: [x["path"] for x in e["errors"]] for e in bad.json()["validation-errors"]}
    assert paths == {"0": ["complete_till"], "1": ["entity_id"]}
    kinds = {e["type"] for e in alpha.get("/events", params={"filter[entity][]": "task"}).json()["_embedded"]["events"]}
    assert kinds == {"task_added", "task_completed"}


def test_notes_per_entity(alpha):
    leads = _ids(alpha.post("/leads", json=[{"name": "a"}, {"name": "b"}]), "leads")
    alpha.post(f"/leads/{leads[0]}/notes", json=[{"note_type": "common", "params": {"text": "hi"}}])
    alpha.post("/leads/notes", json=[{"entity_id": leads[1], "note_type": "call_in",
                                      "params": {"uniq": "x", "duration": 5, "source": "pbx", "phone": "+7999"}}])
    assert len(alpha.get(f"/leads/{leads[0]}/notes").json()["_embedded"]["notes"]) == 1
    calls = alpha.get("/leads/notes", params={"filter[note_type]": "call_in"}).json()["_embedded"]["notes"]
    assert [n["entity_id"] for n in calls] == [leads[1]]
    assert alpha.post("/leads/notes", json=[{"entity_id": leads[0], "note_type": "common"}]).status_code == 400
    assert alpha.post("/leads/notes", json=[{"entity_id": leads[0], "note_type": "nope"}]).status_code == 400
    assert alpha.get("/contacts/notes").status_code == 204


def test_notes_and_links_on_a_record_that_does_not_exist_name_the_item(alpha):
    (lead,) = _ids(alpha.post("/leads", json=[{"name": "a"}]), "leads")
    (contact,) = _ids(alpha.post("/contacts", json=[{"name": "c"}]), "contacts")
    for path, items in (
            ("/leads/notes", [{"entity_id": lead, "note_type": "common", "params": {"text": "ok"}},
                              {"entity_id": 999999999, "note_type": "common", "params": {"text": "x"}}]),
            ("/leads/link", [{"entity_id": lead, "to_entity_id": contact, "to_entity_type": "contacts"},
                             {"entity_id": "x", "to_entity_id": contact, "to_entity_type": "contacts"}])):
        bad = alpha.post(path, json=items)
        assert bad.status_code == 400, path
        errors = {e["request_id"]: e["errors"] for e in bad.json()["validation-errors"]}
        assert list(errors) == ["1"], path  # the good item is not blamed, and nothing was written
        assert errors["1"] == [{"code": "NotSupportedChoice", "path": "entity_id",
                                "detail": "The value you selected is not a valid choice."}]
    assert alpha.get(f"/leads/{lead}/notes").status_code == 204
    assert alpha.get(f"/leads/{lead}/links").status_code == 204


def test_webhooks_upsert_and_delete(alpha):
    first = alpha.post("/webhooks", json={"destination": "https://hook.test/a", "settings": ["add_lead"]}).json()
    again = alpha.post("/webhooks", json={"destination": "https://hook.test/a", "settings": ["status_lead"]}).json()
    assert again["id"] == first["id"] and again["settings"] == ["status_lead"]
    assert alpha.get("/webhooks").json()["_total_items"] == 1
    assert alpha.request("DELETE", "/webhooks", json={"destination": "https://hook.test/a"}).status_code == 204
    assert alpha.request("DELETE", "/webhooks", json={"destination": "https://hook.test/a"}).status_code == 404
    assert alpha.post("/webhooks", json={"destination": "ftp://x", "settings": []}).status_code == 400


def test_roles_and_users_validation(alpha):
    bad_role = alpha.post("/roles", json={"name": "r", "rights": {"leads": {"view": "X", "add": "M"}}})
    paths = sorted(e["path"] for e in bad_role.json()["validation-errors"][0]["errors"])
    assert paths == ["rights.leads.add", "rights.leads.view"]
    role = alpha.post("/roles", json={"name": "r", "rights": {"leads": {"view": "M"}}}).json()["_embedded"]["roles"][0]
    user = alpha.post("/users", json=[{"name": "Oleg", "email": "o@example.test", "password": "Abcdef1",
                                       "rights": {"role_id": role["id"]}}])
    assert user.status_code == 200
    assert alpha.get("/roles", params={"with": "users"}).json()["_embedded"]["roles"][0]["_embedded"]["users"] == \
        [user.json()["_embedded"]["users"][0]["id"]]
    weak = alpha.post("/users", json=[{"name": "P", "email": "p@example.test", "password": "abc"},
                                      {"name": "Q", "email": "o@example.test", "password": "Abcdef1"}])
    assert {e["request_id"]: e["errors"][0]["path"] for e in weak.json()["validation-errors"]} == \
        {"0": "password", "1": "email"}
    assert alpha.delete(f"/roles/{role['id']}").status_code == 204


def test_loss_reasons_are_read_only_and_seeded_rows_are_served(alpha, harness):
    assert alpha.get("/leads/loss_reasons").status_code == 204
    assert alpha.post("/leads/loss_reasons", json=[{"name": "Дорого"}]).status_code == 405
    account_id = harness.sandbox.account_id("alpha")
    harness.sandbox.store.bulk_insert("loss_reasons", [{"account_id": account_id, "name": "Дорого", "sort": 1,
                                                        "created_at": 1, "updated_at": 1}])
    reasons = alpha.get("/leads/loss_reasons").json()["_embedded"]["loss_reasons"]
    assert [r["name"] for r in reasons] == ["Дорого"]
    lead = _ids(alpha.post("/leads", json=[{"status_id": 143, "loss_reason_id": reasons[0]["id"]}]), "leads")[0]
    shown = alpha.get(f"/leads/{lead}", params={"with": "loss_reason"}).json()
    assert shown["_embedded"]["loss_reason"][0]["name"] == "Дорого"


def test_rows_inserted_straight_into_the_store_are_served(alpha, harness):
    """The seed helper writes rows directly; the API must read them like its own."""
    sandbox = harness.sandbox
    account_id = sandbox.account_id("alpha")
    phone = next(f for f in alpha.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
                 if f["code"] == "PHONE")
    sandbox.store.bulk_insert("contacts", [{"account_id": account_id, "name": f"Seeded {i}", "created_at": 1,
                                            "updated_at": 1 + i, "custom_fields_values": [
                                                {"field_id": phone["id"], "field_name": "Телефон", "field_code": "PHONE",
                                                 "field_type": "multitext",
                                                 "values": [{"value": f"+7999{i}", "enum_id": phone["enums"][0]["id"],
                                                             "enum_code": "WORK"}]}]} for i in range(3)])
    listed = alpha.get("/contacts", params={"filter[updated_at][from]": 2}).json()["_embedded"]["contacts"]
    assert [c["name"] for c in listed] == ["Seeded 1", "Seeded 2"]
    assert listed[0]["custom_fields_values"][0]["values"][0]["value"] == "+79991"


@pytest.mark.parametrize("method", ["DELETE"])
@pytest.mark.parametrize("path", ["/leads/{id}", "/contacts", "/companies", "/tasks"])
def test_records_cannot_be_deleted(alpha, method, path):
    lead = _ids(alpha.post("/leads", json=[{"name": "a"}]), "leads")[0]
    answer = alpha.request(method, path.format(id=lead))
    assert answer.status_code == 405
    assert alpha.get(f"/leads/{lead}").status_code == 200


def test_event_filters_follow_the_documented_rules(alpha):
    leads = _ids(alpha.post("/leads", json=[{"name": "a"}, {"name": "b"}]), "leads")
    alpha.post("/contacts", json=[{"name": "c"}])
    one = alpha.get("/events", params={"filter[entity][]": "lead", "filter[entity_id][]": leads[1]})
    assert [(e["type"], e["entity_id"]) for e in one.json()["_embedded"]["events"]] == [("lead_added", leads[1])]
    kinds = {e["entity_type"] for e in alpha.get("/events").json()["_embedded"]["events"]}
    assert kinds == {"lead", "contact"}
    assert alpha.get("/events", params={"filter[entity_id][]": leads[0]}).status_code == 400     # no entity
    assert alpha.get("/events", params=[("filter[entity][]", "lead"), ("filter[entity][]", "contact"),
                                        ("filter[entity_id][]", leads[0])]).status_code == 400
    too_many = [("filter[entity][]", "lead")] + [("filter[entity_id][]", i) for i in range(1, 12)]
    assert alpha.get("/events", params=too_many).status_code == 400
    assert alpha.get("/events", params={"filter[entity][]": "planet"}).status_code == 400


def test_malformed_bodies_are_400(alpha):
    assert alpha.post("/leads", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert alpha.post("/leads", json={"name": "not an array"}).status_code == 400
    assert alpha.post("/leads", json=["not an object"]).status_code == 400
    assert alpha.patch("/leads", json=[{"name": "no id"}]).json()["validation-errors"][0]["errors"][0]["path"] == "id"
    assert alpha.post("/leads", json=[{"price": "100"}]).json()["validation-errors"][0]["errors"][0]["path"] == "price"


def test_deleted_records_are_hidden_and_deleted_leads_listed_on_request(alpha, harness):
    leads = _ids(alpha.post("/leads", json=[{"name": "kept"}, {"name": "gone"}]), "leads")
    contacts = _ids(alpha.post("/contacts", json=[{"name": "kept"}, {"name": "gone"}]), "contacts")
    with harness.sandbox.store.transaction() as db:     # as the UI (or the seed) deletes them
        db.execute("UPDATE leads SET is_deleted=1 WHERE id=?", (leads[1],))
        db.execute("UPDATE contacts SET is_deleted=1 WHERE id=?", (contacts[1],))
    assert _ids(alpha.get("/leads"), "leads") == [leads[0]]
    assert _ids(alpha.get("/contacts"), "contacts") == [contacts[0]]
    assert alpha.get(f"/contacts/{contacts[1]}").status_code == 404
    deleted = alpha.get("/leads", params={"with": "only_deleted"}).json()["_embedded"]["leads"]
    assert [(l["id"], l["is_deleted"]) for l in deleted] == [(leads[1], True)]


def test_lead_source_by_external_id(alpha):
    alpha.post("/sources", json=[{"name": "Сайт", "external_id": "site-1"}])
    lead = _ids(alpha.post("/leads", json=[{"name": "a", "_embedded": {"source": {"external_id": "site-1",
                                                                                  "type": "widget"}}}]), "leads")[0]
    shown = alpha.get(f"/leads/{lead}", params={"with": "source"}).json()
    assert shown["source_id"] is not None and shown["_embedded"]["source"]["name"] == "Сайт"
    bad = alpha.post("/leads", json=[{"_embedded": {"source": {"external_id": "nope"}}}])
    assert bad.json()["validation-errors"][0]["errors"][0]["path"] == "_embedded.source.external_id"


def _incoming(alpha, category="forms", **extra):
    body = [{"source_name": "Сайт", "source_uid": "form-1", "metadata": {"form_id": "f"},
             "_embedded": {"leads": [{"name": "Заявка"}], "contacts": [{"name": "Иван"}]}, **extra}]
    return alpha.post(f"/leads/unsorted/{category}", json=body)


def test_unsorted_lead_waits_in_the_unsorted_stage_until_accepted(alpha, harness):
    pipeline = _pipeline(alpha)
    unsorted_stage, first_stage = pipeline["_embedded"]["statuses"][:2]
    answer = _incoming(alpha).json()["_embedded"]["unsorted"][0]
    lead_id = answer["_embedded"]["leads"][0]["id"]
    assert alpha.get(f"/leads/{lead_id}").json()["status_id"] == unsorted_stage["id"]
    assert alpha.get(f"/leads/{lead_id}", params={"with": "contacts"}).json()["_embedded"]["contacts"][0]["is_main"]
    harness.sandbox.clock.advance(60)
    accepted = alpha.post(f"/leads/unsorted/{answer['uid']}/accept", json={})
    assert accepted.status_code == 200
    assert alpha.get(f"/leads/{lead_id}").json()["status_id"] == first_stage["id"]
    assert alpha.get(f"/leads/unsorted/{answer['uid']}").status_code == 404
    assert alpha.post(f"/leads/unsorted/{answer['uid']}/accept", json={}).status_code == 404
    summary = alpha.get("/leads/unsorted/summary").json()
    assert (summary["total"], summary["accepted"], summary["declined"]) == (1, 1, 0)
    assert summary["categories"]["forms"]["total"] == 1 and summary["average_sort_time"] >= 60


def test_declined_unsorted_lead_is_deleted_and_filters_apply(alpha):
    forms = _incoming(alpha).json()["_embedded"]["unsorted"][0]
    sip = _incoming(alpha, "sip").json()["_embedded"]["unsorted"][0]
    assert [u["uid"] for u in alpha.get("/leads/unsorted", params={"filter[category][]": "sip"}).json()
            ["_embedded"]["unsorted"]] == [sip["uid"]]
    lead_id = forms["_embedded"]["leads"][0]["id"]
    assert alpha.request("DELETE", f"/leads/unsorted/{forms['uid']}/decline").status_code == 200
    assert alpha.get(f"/leads/{lead_id}").status_code == 404
    assert alpha.get("/leads/unsorted/summary").json()["declined"] == 1


def test_unsorted_bad_input(alpha):
    assert alpha.post("/leads/unsorted/mail", json=[{}]).status_code == 405          # only sip and forms
    missing = alpha.post("/leads/unsorted/forms", json=[{"source_name": "x"}])
    assert sorted(e["path"] for e in missing.json()["validation-errors"][0]["errors"]) == ["metadata", "source_uid"]
    assert _incoming(alpha, pipeline_id=999).status_code == 400
    numeric_name = alpha.post("/leads/unsorted/sip", json=[{
        "source_name": "x", "source_uid": "y", "metadata": {},
        "_embedded": {"leads": [{"name": "ok"}], "contacts": [{"name": 234}]}}])
    assert numeric_name.json()["validation-errors"][0]["errors"][0]["path"] == "_embedded.contacts.0.name"
    assert alpha.get("/contacts").status_code == 204 and alpha.get("/leads").status_code == 204   # rolled back
    uid = _incoming(alpha).json()["_embedded"]["unsorted"][0]["uid"]
    assert alpha.post(f"/leads/unsorted/{uid}/accept", json={"status_id": 1}).status_code == 400
    assert alpha.post(f"/leads/unsorted/{uid}/link", json={"link": {"entity_type": "leads"}}).status_code == 400


def test_complex_add_creates_and_links_everything_or_nothing(alpha):
    existing = _ids(alpha.post("/contacts", json=[{"name": "Старый"}]), "contacts")[0]
    answer = alpha.post("/leads/complex", json=[
        {"name": "new all", "_embedded": {"contacts": [{"first_name": "Катя"}], "companies": [{"name": "ООО"}]}},
        {"name": "old contact", "request_id": "r2", "_embedded": {"contacts": [{"id": existing}]}},
        {"name": "incoming", "_embedded": {"metadata": {"category": "forms", "source_uid": "s", "source_name": "n",
                                                        "form_id": "f"}}},
    ]).json()
    assert [a["request_id"] for a in answer] == [["0"], ["r2"], ["2"]]
    first, second, third = answer
    lead = alpha.get(f"/leads/{first['id']}", params={"with": "contacts"}).json()["_embedded"]
    assert lead["contacts"][0]["id"] == first["contact_id"] and lead["companies"][0]["id"] == first["company_id"]
    contact = alpha.get(f"/contacts/{first['contact_id']}").json()
    assert contact["_embedded"]["companies"][0]["id"] == first["company_id"]
    assert second["contact_id"] == existing and second["company_id"] is None
    unsorted = alpha.get("/leads/unsorted").json()["_embedded"]["unsorted"]
    assert [u["_embedded"]["leads"][0]["id"] for u in unsorted] == [third["id"]]

    before = len(alpha.get("/contacts").json()["_embedded"]["contacts"])
    bad = alpha.post("/leads/complex", json=[{"name": "x", "_embedded": {"contacts": [{"first_name": 5}]}}])
    assert bad.json()["validation-errors"][0]["errors"][0]["path"] == "_embedded.contacts.0.first_name"
    bad_company = alpha.post("/leads/complex", json=[{"name": "x", "_embedded": {
        "contacts": [{"first_name": "ok"}], "companies": [{"name": 7}]}}])
    assert bad_company.status_code == 400
    assert len(alpha.get("/contacts").json()["_embedded"]["contacts"]) == before       # nothing half-written
    assert alpha.post("/leads/complex", json=[{"name": "x"}] * 51).status_code == 422
    too_many = alpha.post("/leads/complex", json=[{"_embedded": {"contacts": [{"name": "a"}, {"name": "b"}]}}])
    assert too_many.json()["validation-errors"][0]["errors"][0]["path"] == "_embedded.contacts"
