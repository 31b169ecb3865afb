"""The two dialects: legacy UPPER_CASE with string numbers, crm.item/crm.category camelCase with numbers."""

from __future__ import annotations


def test_legacy_strings_versus_item_numbers(acme):
    deal_id = acme.ok("crm.deal.add", {"fields": {"TITLE": "Станок", "OPPORTUNITY": 19999.99,
                                                  "ASSIGNED_BY_ID": 1}})["result"]
    legacy = acme.ok("crm.deal.get", {"id": deal_id})["result"]
    assert legacy["ID"] == str(deal_id) and legacy["OPPORTUNITY"] == "19999.99"
    assert legacy["CATEGORY_ID"] == "0" and legacy["ASSIGNED_BY_ID"] == "1"
    assert legacy["STAGE_ID"] == "NEW" and legacy["STAGE_SEMANTIC_ID"] == "P" and legacy["CLOSED"] == "N"
    item = acme.ok("crm.item.get", {"entityTypeId": 2, "id": deal_id})["result"]["item"]
    assert item["id"] == deal_id and item["opportunity"] == 19999.99 and item["categoryId"] == 0
    assert item["assignedById"] == 1 and item["stageId"] == "NEW" and item["title"] == "Станок"
    assert "createdTime" in item and "DATE_CREATE" not in item


def test_item_add_and_list_in_camel_case(acme):
    made = acme.ok("crm.item.add", {"entityTypeId": 3, "fields": {"name": "Олег", "lastName": "Петров",
                                                                 "fm": [{"typeId": "PHONE", "valueType": "WORK",
                                                                         "value": "+79001234567"}]}})
    item = made["result"]["item"]
    assert item["name"] == "Олег" and isinstance(item["id"], int)
    assert [f["value"] for f in item["fm"]] == ["+79001234567"]
    legacy = acme.ok("crm.contact.get", {"id": item["id"]})["result"]
    assert legacy["LAST_NAME"] == "Петров" and legacy["PHONE"][0]["VALUE"] == "+79001234567"
    listed = acme.ok("crm.item.list", {"entityTypeId": 3, "select": ["id", "name"]})
    assert listed["result"] == {"items": [{"id": item["id"], "name": "Олег"}]} and listed["total"] == 1


def test_item_errors_use_codes_legacy_errors_do_not(acme):
    missing = acme.call("crm.item.get", {"entityTypeId": 2, "id": 999})
    assert missing.status_code == 400
    assert missing.json() == {"error": "NOT_FOUND", "error_description": "Element not found"}
    legacy = acme.call("crm.deal.get", {"id": 999})
    assert legacy.status_code == 400 and legacy.json() == {"error": "", "error_description": "Not found"}
    bad_id = acme.call("crm.deal.get", {"id": "abc"})
    assert bad_id.json() == {"error": "", "error_description": "ID is not defined or invalid."}
    bad_filter = acme.call("crm.item.list", {"entityTypeId": 2, "filter": {"FIELD": 1}})
    assert bad_filter.status_code == 400
    assert bad_filter.json() == {"error": "INVALID_ARG_VALUE",
                                 "error_description": "Invalid filter: field 'FIELD' is not allowed in filter"}
    spa = acme.call("crm.item.list", {"entityTypeId": 177})
    assert spa.json() == {"error": "NOT_FOUND", "error_description": "SPA not found"}


def test_item_list_nested_or_filter(acme):
    ids = [acme.ok("crm.item.add", {"entityTypeId": 2, "fields": {"title": t, "opportunity": o}})["result"]["item"]["id"]
           for t, o in (("A", 100), ("B", 200), ("C", 300))]
    body = acme.ok("crm.item.list", {"entityTypeId": 2, "select": ["id"], "order": {"id": "ASC"},
                                     "filter": {"0": {"logic": "OR", "0": {"title": "A"}, "1": {">opportunity": 250}}}})
    assert [i["id"] for i in body["result"]["items"]] == [ids[0], ids[2]]


def test_empty_maps_serialise_as_php_arrays(acme):
    body = acme.ok("batch", {"halt": 0, "cmd": {"a": "crm.deal.list"}})
    assert body["result"]["result_error"] == [] and body["result"]["result_next"] == []
    assert body["result"]["result"] == {"a": []}


def test_list_without_matches_still_has_total(acme):
    body = acme.ok("crm.deal.list", {"filter": {"TITLE": "nothing"}})
    assert body["result"] == [] and body["total"] == 0 and "next" not in body


def test_item_order_and_history_filter_errors(acme):
    unknown = acme.call("crm.item.list", {"entityTypeId": 2, "order": {"nope": "ASC"}})
    assert unknown.json() == {"error": "INVALID_ARG_VALUE",
                              "error_description": "Invalid order: field 'nope' is not allowed in order"}
    direction = acme.call("crm.item.list", {"entityTypeId": 2, "order": {"id": "UP"}})
    assert direction.json()["error_description"] == \
        "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'id'"
    history = acme.call("crm.stagehistory.list", {"entityTypeId": 2, "filter": {"TITLE": "x"}})
    assert history.status_code == 400 and history.json()["error"] == "INVALID_ARG_VALUE"
    legacy = acme.call("crm.deal.list", {"filter": {"NO_SUCH_FIELD": 1}})
    assert legacy.status_code == 200      # the legacy list ignores fields it does not know [unverified]


def test_item_user_fields_camel_or_original_names(acme):
    acme.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "1721244482250", "USER_TYPE_ID": "string"}})
    acme.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "HELLO_WORLD", "USER_TYPE_ID": "string"}})
    made = acme.ok("crm.item.add", {"entityTypeId": 2, "fields": {"title": "x", "ufCrm_1721244482250": "a",
                                                                  "ufCrmHelloWorld": "b"}})["result"]["item"]
    assert made["ufCrm_1721244482250"] == "a" and made["ufCrmHelloWorld"] == "b"
    legacy = acme.ok("crm.deal.get", {"id": made["id"]})["result"]
    assert legacy["UF_CRM_1721244482250"] == "a" and legacy["UF_CRM_HELLO_WORLD"] == "b"
    original = acme.ok("crm.item.list", {"entityTypeId": 2, "useOriginalUfNames": "Y",
                                         "select": ["id", "UF_CRM_HELLO_WORLD"], "filter": {"UF_CRM_HELLO_WORLD": "b"}})
    assert original["result"]["items"] == [{"id": made["id"], "UF_CRM_HELLO_WORLD": "b"}]
