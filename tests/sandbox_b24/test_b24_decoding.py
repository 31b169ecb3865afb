"""Request decoding: JSON, form bodies and query strings with PHP bracket keys give one structure."""

from __future__ import annotations

from implkit.sandbox.bitrix24.decode import decode_body, decode_query


def test_bracket_keys_nest_like_php():
    decoded = decode_query("filter[>ID]=5&select[]=ID&select[]=TITLE&fields[TITLE]=x"
                           "&fields[PHONE][0][VALUE]=112233&fields[PHONE][0][VALUE_TYPE]=WORK&order[ID]=ASC")
    assert decoded == {"filter": {">ID": "5"}, "select": ["ID", "TITLE"],
                       "fields": {"TITLE": "x", "PHONE": [{"VALUE": "112233", "VALUE_TYPE": "WORK"}]},
                       "order": {"ID": "ASC"}}


def test_numbered_keys_read_as_lists_and_form_equals_json():
    form = decode_body(b"select%5B0%5D=ID&select%5B1%5D=TITLE&filter%5B%3EID%5D=5",
                       "application/x-www-form-urlencoded")
    assert form == decode_body(b'{"select": ["ID", "TITLE"], "filter": {">ID": "5"}}', "application/json")


def test_the_three_encodings_select_the_same_deals(acme):
    for i in range(3):
        acme.ok("crm.deal.add", {"FIELDS": {"TITLE": f"Сделка {i}"}})
    http, hook = acme.http, acme.hook
    as_json = http.post(hook + "crm.deal.list", json={"filter": {">ID": 1}, "select": ["ID", "TITLE"]}).json()
    as_form = http.post(hook + "crm.deal.list", data={"filter[>ID]": "1", "select[]": ["ID", "TITLE"]}).json()
    as_query = http.get(hook + "crm.deal.list", params={"filter[>ID]": "1", "select[]": ["ID", "TITLE"]}).json()
    expected = [{"ID": "2", "TITLE": "Сделка 1"}, {"ID": "3", "TITLE": "Сделка 2"}]
    assert as_json["result"] == as_form["result"] == as_query["result"] == expected


def test_legacy_parameter_names_in_either_case(acme):
    upper = acme.ok("crm.deal.add", {"FIELDS": {"TITLE": "A"}})["result"]
    lower = acme.ok("crm.deal.add", {"fields": {"TITLE": "B"}})["result"]
    assert acme.ok("crm.deal.get", {"ID": upper})["result"]["TITLE"] == "A"
    assert acme.ok("crm.deal.get", {"id": lower})["result"]["TITLE"] == "B"
    listed = acme.ok("crm.deal.list", {"SELECT": ["ID"], "FILTER": {"TITLE": "B"}, "ORDER": {"ID": "DESC"}})
    assert listed["result"] == [{"ID": str(lower)}]


def test_form_multifield_reaches_the_record(acme):
    response = acme.http.post(acme.hook + "crm.contact.add", data={
        "fields[NAME]": "Ирина", "fields[PHONE][0][VALUE]": "+7 900 111-22-33",
        "fields[PHONE][0][VALUE_TYPE]": "WORK"})
    contact = acme.ok("crm.contact.get", {"id": response.json()["result"]})["result"]
    assert [(p["VALUE"], p["VALUE_TYPE"], p["TYPE_ID"]) for p in contact["PHONE"]] == [("+7 900 111-22-33", "WORK",
                                                                                        "PHONE")]
    assert contact["HAS_PHONE"] == "Y"


def test_invalid_json_body_is_refused(acme):
    response = acme.http.post(acme.hook + "crm.deal.list", content=b"{oops",
                              headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error", "error_description"}


def test_non_array_filter_is_the_documented_error(acme):
    response = acme.call("crm.deal.list", {"filter": "ID=1"})
    assert response.status_code == 400
    assert response.json() == {"error": "", "error_description": "Parameter 'filter' must be array."}
