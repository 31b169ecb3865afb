"""Configuration: pipelines (crm.category), stages (crm.status), user fields (crm.*.userfield)."""

from __future__ import annotations

from b24_helpers import add_deals


def _stages(portal, entity_id: str) -> list[dict]:
    return portal.ok("crm.status.list", {"filter": {"ENTITY_ID": entity_id}, "order": {"SORT": "ASC"}})["result"]


def test_default_pipeline_zero_and_its_stages(acme):
    body = acme.ok("crm.category.list", {"entityTypeId": 2})
    assert body["total"] == 1
    assert body["result"]["categories"] == [{"id": 0, "name": "Общая", "sort": 300, "entityTypeId": 2,
                                             "isDefault": "Y"}]
    stages = _stages(acme, "DEAL_STAGE")
    assert [s["STATUS_ID"] for s in stages][:2] == ["NEW", "PREPARATION"]
    assert [(s["STATUS_ID"], s["SEMANTICS"], s["EXTRA"]["SEMANTICS"]) for s in stages if s["SEMANTICS"]] == [
        ("WON", "S", "success"), ("LOSE", "F", "failure"), ("APOLOGY", "F", "apology")]
    assert all(s["CATEGORY_ID"] is None for s in stages)


def test_new_pipeline_gets_prefixed_default_stages(acme):
    category = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт", "sort": -5}})
    made = category["result"]["category"]
    assert made["name"] == "Опт" and made["sort"] == 0 and made["isDefault"] == "N" and isinstance(made["id"], int)
    stages = _stages(acme, f"DEAL_STAGE_{made['id']}")
    prefix = f"C{made['id']}:"
    assert stages[0]["STATUS_ID"] == prefix + "NEW" and all(s["STATUS_ID"].startswith(prefix) for s in stages)
    assert [s["SEMANTICS"] for s in stages].count("S") == 1
    assert {s["CATEGORY_ID"] for s in stages} == {str(made["id"])}
    again = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт"}})["result"]["category"]
    assert again["id"] != made["id"]           # no de-duplication by name


def test_category_errors(acme):
    assert acme.call("crm.category.list", {"entityTypeId": 1}).json()["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    assert acme.call("crm.category.get", {"entityTypeId": 2, "id": 99}).json() == {
        "error": "NOT_FOUND", "error_description": "Element not found"}
    assert acme.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": " "}}).json()["error_description"] \
        == "Field 'NAME' is required"
    assert acme.call("crm.category.delete", {"entityTypeId": 2, "id": 0}).json()["error_description"] == \
        "Default deal category cannot be deleted"
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Сервис"}})["result"]["category"]
    add_deals(acme, 1, CATEGORY_ID=made["id"])
    refused = acme.call("crm.category.delete", {"entityTypeId": 2, "id": made["id"]})
    assert refused.status_code == 400 and refused.json()["error_description"] == "Deals related to the funnel Сервис found"


def test_category_update_and_delete(acme):
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Старая"}})["result"]["category"]
    updated = acme.ok("crm.category.update", {"entityTypeId": 2, "id": made["id"],
                                              "fields": {"name": "Новая", "isDefault": "Y"}})["result"]["category"]
    assert updated["name"] == "Новая" and updated["isDefault"] == "N" and updated["sort"] == 500
    assert acme.ok("crm.category.delete", {"entityTypeId": 2, "id": made["id"]})["result"] is None
    assert _stages(acme, f"DEAL_STAGE_{made['id']}") == []


def test_status_add_prefixes_and_rules(acme):
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "B2B"}})["result"]["category"]
    entity = f"DEAL_STAGE_{made['id']}"
    new_id = acme.ok("crm.status.add", {"fields": {"ENTITY_ID": entity, "STATUS_ID": "DECISION", "NAME": "Решение",
                                                   "SORT": 55, "COLOR": "#FFA900"}})["result"]
    record = acme.ok("crm.status.get", {"id": new_id})["result"]
    assert record["STATUS_ID"] == f"C{made['id']}:DECISION" and record["SORT"] == "55" and record["SYSTEM"] == "N"
    duplicate = acme.call("crm.status.add", {"fields": {"ENTITY_ID": entity, "STATUS_ID": "DECISION", "NAME": "x"}})
    assert duplicate.json() == {"error": "ERROR_CORE", "error_description": "The specified status ID already exists."}
    after_won = acme.call("crm.status.add", {"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LATE", "NAME": "x",
                                                        "SORT": 65}})
    assert after_won.json()["error_description"].startswith("Cannot create more stages after the final stage")
    failure = acme.ok("crm.status.add", {"fields": {"ENTITY_ID": entity, "STATUS_ID": "NO_BUDGET", "NAME": "Нет денег",
                                                    "SORT": 90, "SEMANTICS": "F"}})["result"]
    assert acme.ok("crm.status.get", {"id": failure})["result"]["EXTRA"]["SEMANTICS"] == "apology"
    missing = acme.call("crm.status.add", {"fields": {"NAME": "x"}})
    assert missing.json()["error_description"] == "The field ENTITY_ID is required., The field STATUS_ID is required."
    unknown = acme.call("crm.status.add", {"fields": {"ENTITY_ID": "DEAL_STAGE_77", "STATUS_ID": "X", "NAME": "x"}})
    assert unknown.json()["error_description"] == "Specified entity type is not supported."


def test_status_update_keeps_immutable_fields_and_delete_rules(acme):
    stages = {s["STATUS_ID"]: s for s in _stages(acme, "DEAL_STAGE")}
    won = stages["WON"]
    acme.ok("crm.status.update", {"id": won["ID"], "fields": {"NAME": "Оплачено", "SEMANTICS": "F",
                                                               "STATUS_ID": "PAID", "ENTITY_ID": "STATUS"}})
    after = acme.ok("crm.status.get", {"id": won["ID"]})["result"]
    assert (after["NAME"], after["SEMANTICS"], after["STATUS_ID"], after["ENTITY_ID"]) == ("Оплачено", "S", "WON",
                                                                                            "DEAL_STAGE")
    system = acme.call("crm.status.delete", {"id": stages["NEW"]["ID"]})
    assert system.status_code == 400 and "FORCED" in system.json()["error_description"]
    add_deals(acme, 1, STAGE_ID="PREPARATION")
    busy = acme.call("crm.status.delete", {"id": stages["PREPARATION"]["ID"]})
    assert busy.json()["error_description"] == "There are active items in this status."
    assert acme.ok("crm.status.delete", {"id": stages["EXECUTING"]["ID"]})["result"] is True
    invalid = acme.call("crm.status.update", {"id": "abc", "fields": {"NAME": "x"}})
    assert invalid.json() == {"error": "Invalid identifier.", "error_description": "An incorrect identifier was passed."}


def test_userfield_names_are_normalised(acme):
    for given in ("MANAGER_NOTE", "UF_MANAGER_NOTE2", "uf_crm_manager_note3"):
        field_id = acme.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": given, "USER_TYPE_ID": "string",
                                                                 "LABEL": "Заметка"}})["result"]
        record = acme.ok("crm.deal.userfield.get", {"id": field_id})["result"]
        assert record["FIELD_NAME"].startswith("UF_CRM_MANAGER_NOTE") and record["ENTITY_ID"] == "CRM_DEAL"
        assert record["EDIT_FORM_LABEL"]["ru"] == "Заметка"
    names = [f["FIELD_NAME"] for f in acme.ok("crm.deal.userfield.list")["result"]]
    assert names == ["UF_CRM_MANAGER_NOTE", "UF_CRM_MANAGER_NOTE2", "UF_CRM_MANAGER_NOTE3"]
    bad = acme.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "ЗАМЕТКА", "USER_TYPE_ID": "string"}})
    assert bad.json()["error"] == "ERROR_CORE" and "invalid characters" in bad.json()["error_description"]
    long = acme.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "X" * 44, "USER_TYPE_ID": "string"}})
    assert long.json()["error_description"] == "Field name is too long (more than 50 characters)."
    assert acme.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "Y" * 43, "USER_TYPE_ID": "string"}})
    no_type = acme.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "Z"}})
    assert no_type.json() == {"error": "", "error_description": "The 'USER_TYPE_ID' field is not found."}


def test_enumeration_items_by_id_with_del(acme):
    field_id = acme.ok("crm.deal.userfield.add", {"fields": {
        "FIELD_NAME": "SOURCE", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "Сайт", "SORT": 10}, {"VALUE": "Звонок", "SORT": 20}, {"VALUE": ""}]}})["result"]
    items = acme.ok("crm.deal.userfield.get", {"id": field_id})["result"]["LIST"]
    assert [i["VALUE"] for i in items] == ["Сайт", "Звонок"]
    site, call = items
    acme.ok("crm.deal.userfield.update", {"id": field_id, "fields": {"LIST": [
        {"ID": site["ID"], "DEL": "Y"}, {"ID": call["ID"], "VALUE": "Телефон"}, {"VALUE": "Авито"}],
        "EDIT_FORM_LABEL": {"en": "Source"}}})
    after = acme.ok("crm.deal.userfield.get", {"id": field_id})["result"]
    assert [(i["ID"], i["VALUE"]) for i in after["LIST"][:1]] == [(call["ID"], "Телефон")]
    assert [i["VALUE"] for i in after["LIST"]] == ["Телефон", "Авито"]
    assert after["EDIT_FORM_LABEL"]["en"] == "Source" and after["EDIT_FORM_LABEL"]["ru"] == ""
    deal = acme.ok("crm.deal.add", {"fields": {"TITLE": "x", "UF_CRM_SOURCE": call["ID"]}})["result"]
    assert acme.ok("crm.deal.get", {"id": deal})["result"]["UF_CRM_SOURCE"] == call["ID"]
    item = acme.ok("crm.item.get", {"entityTypeId": 2, "id": deal})["result"]["item"]
    assert item["ufCrmSource"] == int(call["ID"])
    fields = acme.ok("crm.deal.fields")["result"]
    assert fields["UF_CRM_SOURCE"]["isDynamic"] is True and fields["STAGE_ID"]["statusType"] == "DEAL_STAGE"
    assert acme.ok("crm.deal.userfield.delete", {"id": field_id})["result"] is True
    assert acme.call("crm.deal.userfield.get", {"id": field_id}).status_code == 400


def test_number_parameters_read_like_php_casts(acme):
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "X", "sort": "abc"}})
    assert made["result"]["category"]["sort"] == 0
    made = acme.ok("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Y", "sort": "70px"}})
    assert made["result"]["category"]["sort"] == 70


def test_a_pipeline_keeps_one_stage_of_each_group(acme):
    stages = {s["STATUS_ID"]: s for s in _stages(acme, "DEAL_STAGE")}
    refused = acme.call("crm.status.delete", {"id": stages["WON"]["ID"], "params": {"FORCED": "Y"}})
    assert refused.status_code == 400 and refused.json()["error_description"] == "Error on deleting status."
    assert acme.ok("crm.status.delete", {"id": stages["APOLOGY"]["ID"]})["result"] is True
    refused = acme.call("crm.status.delete", {"id": stages["LOSE"]["ID"], "params": {"FORCED": "Y"}})
    assert refused.status_code == 400
    assert acme.ok("crm.status.delete", {"id": stages["NEW"]["ID"], "params": {"FORCED": "Y"}})["result"] is True
