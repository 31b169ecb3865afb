"""The Directum emulator's query options, auth and errors (reference/directum-rx.md §1, §3, §7.2)."""

from __future__ import annotations

import base64

import pytest

from implkit.sandbox.directum.models import instance as inst


@pytest.fixture
def rows(drx):
    store, account = drx.sandbox.store, drx.created["id"]
    ids = inst.insert(store, account, [
        ("Company", {"Name": "ООО \"Альфа\"", "TIN": "7701000001", "TRRC": "770101001", "Status": "Active"}, {"Responsible": 1}),
        ("Company", {"Name": "Бета", "TIN": "7702000002", "TRRC": None, "Status": "Closed"}, {}),
        ("Bank", {"Name": "Банк О'Нил", "TIN": "7703000003", "BIC": "044525225", "Status": "Active"}, {}),
        ("Person", {"Name": "Иванов Иван", "LastName": "Иванов", "FirstName": "Иван", "Status": "Active"}, {}),
    ])
    contacts = inst.insert(store, account, [("Contact", {"Name": "Пётр", "Status": "Active"}, {"Company": ids[0]}),
                                            ("Contact", {"Name": "Анна", "Status": "Active"}, {"Company": ids[2]})])
    return ids, contacts


def _ids(response):
    assert response.status_code == 200, response.text
    return [r["Id"] for r in response.json()["value"]]


def test_counterparties_is_polymorphic_and_typed(drx, rows):
    ids, _ = rows
    body = drx.get("/odata/ICounterparties", params={"$orderby": "Id"}).json()
    assert [r["Id"] for r in body["value"]] == ids
    types = [r["@odata.type"].rsplit(".", 1)[1] for r in body["value"]]
    assert types == ["ICompanyDto", "ICompanyDto", "IBankDto", "IPersonDto"]
    assert "BIC" in body["value"][2] and "LastName" in body["value"][3] and "TRRC" not in body["value"][3]
    assert _ids(drx.get("/odata/ICompanies")) == ids[:2]                # a bank is not a Company
    assert _ids(drx.get("/odata/IBanks")) == [ids[2]]
    assert "@odata.type" not in drx.get("/odata/ICompanies").json()["value"][0]
    assert drx.get(f"/odata/ICounterparties({ids[3]})").json()["@odata.type"].endswith("IPersonDto")
    assert drx.get(f"/odata/ICompanies({ids[3]})").status_code == 404   # a person is not in ICompanies


@pytest.mark.parametrize("expr, picks", [
    ("Status eq 'Active'", [0, 2, 3]),
    ("Status ne 'Active'", [1]),
    ("TIN gt '7701000001' and TIN lt '7703000003'", [1]),
    ("TIN ge '7702000002' or Name eq 'Иванов Иван'", [1, 2, 3]),
    ("not (Status eq 'Active')", [1]),
    ("contains(Name,'Альфа')", [0]),
    ("startswith(Name,'Бе')", [1]),
    ("endswith(Name,'Нил')", [2]),
    ("Name eq 'Банк О''Нил'", [2]),
    ("tolower(Name) eq 'бета'", [1]),
    ("Responsible/Id eq 1", [0]),
    ("Id gt {1}", [2, 3]),
])
def test_filter_operators(drx, rows, expr, picks):
    ids, _ = rows
    response = drx.get("/odata/ICounterparties", params={"$filter": expr.replace("{1}", str(ids[1])),
                                                         "$orderby": "Id"})
    assert _ids(response) == [ids[i] for i in picks]


def test_derived_properties_need_the_derived_set(drx, rows):
    ids, _ = rows
    assert drx.get("/odata/ICounterparties", params={"$filter": "TRRC eq null"}).status_code == 400
    assert _ids(drx.get("/odata/ICompanies", params={"$filter": "TRRC eq null"})) == [ids[1]]
    assert _ids(drx.get("/odata/ICompanies", params={"$filter": "TRRC ne null"})) == [ids[0]]


def test_navigation_filter_on_contacts(drx, rows):
    ids, contacts = rows
    assert _ids(drx.get("/odata/IContacts", params={"$filter": f"Company/Id eq {ids[2]}"})) == [contacts[1]]
    assert _ids(drx.get("/odata/IContacts", params={"$filter": "Company/TIN eq '7701000001'"})) == [contacts[0]]


def test_select_orderby_top_skip_count(drx, rows):
    ids, _ = rows
    response = drx.get("/odata/ICounterparties", params={"$select": "Id,Name", "$orderby": "Status desc,Name asc",
                                                         "$top": "2", "$skip": "1", "$count": "true"})
    body = response.json()
    assert body["@odata.count"] == 4
    assert body["@odata.context"].endswith("#ICounterparties(Id,Name)")
    assert [set(r) - {"@odata.type"} for r in body["value"]] == [{"Id", "Name"}, {"Id", "Name"}]
    # Status desc: Closed after Active... desc puts Closed first, then Active by name
    assert [r["Id"] for r in body["value"]] == [ids[2], ids[3]]


def test_keyset_paging_reads_everything_once(drx, rows):
    ids, _ = rows
    seen, last = [], 0
    while True:
        response = drx.get("/odata/ICounterparties", params={"$filter": f"Id gt {last}", "$orderby": "Id", "$top": "3"})
        if response.status_code == 204:
            break
        page = _ids(response)
        seen += page
        last = page[-1]
    assert seen == ids


def test_nested_expand(drx, rows):
    _, contacts = rows
    body = drx.get(f"/odata/IContacts({contacts[0]})", params={
        "$select": "Id,Name", "$expand": "Company($select=Id,Name;$expand=Responsible($select=Name))"}).json()
    assert body["Company"]["Responsible"] == {"Name": "Администратор"}
    assert set(body) == {"@odata.context", "Id", "Name", "Company"}


def test_username_password_headers_and_basic(drx, rows):
    login, password = drx.created["login"], drx.created["password"]
    assert drx.get("/odata/ICompanies", auth=None, headers={"Username": login, "Password": password}).status_code == 200
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    assert drx.get("/odata/ICompanies", auth=None, headers={"Authorization": f"Basic {token}"}).status_code == 200
    for headers in ({}, {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"},
                    {"Username": login, "Password": "nope"}, {"Username": login}):
        response = drx.get("/odata/ICompanies", auth=None, headers=headers)
        assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]


@pytest.mark.parametrize("params", [
    {"$filter": "Name eq"}, {"$filter": "Name eq 1"}, {"$filter": "Id eq 'x'"}, {"$filter": "Name gt null"},
    {"$filter": "frobnicate(Name)"}, {"$filter": "contains(Name)"}, {"$filter": "(Name eq 'a'"},
    {"$filter": "Bogus/Id eq 1"}, {"$select": "Nope"}, {"$expand": "Nope"}, {"$expand": "Responsible($top=1)"},
    {"$orderby": "Name sideways"}, {"$top": "-1"}, {"$skip": "x"}, {"$count": "yes"}, {"$search": "a"},
    {"$ref": ""}, {"$crossjoin": "x"}, {"$all": ""}, {"$entity": ""}, {"$format": "json"},
])
def test_bad_queries_answer_400(drx, rows, params):
    response = drx.get("/odata/ICompanies", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_unknown_instance_service_and_writes(drx, rows):
    assert drx.get("/odata/ICompanies", auth=None).status_code == 401
    base = drx.base
    drx.base = "/directum/nope/Integration"
    assert drx.get("/odata/ICompanies").status_code == 404
    drx.base = "/directum/acme/Elsewhere"
    assert drx.get("/odata/ICompanies").status_code == 404
    drx.base = base
    assert drx.request("POST", "/odata/ICompanies", json={"Name": "x"}).status_code == 405
    assert drx.request("DELETE", f"/odata/ICompanies({rows[0][0]})").status_code == 405


def test_entity_cap_needs_a_filter_not_just_top(drx):
    inst.insert(drx.sandbox.store, drx.created["id"], [("Person", {"Name": f"P{i}", "Status": "Active"}, {})
                                                       for i in range(60)])
    assert drx.get("/odata/IPersons").status_code == 400
    assert len(_ids(drx.get("/odata/IPersons", params={"$top": "50"}))) == 50
    assert len(_ids(drx.get("/odata/IPersons", params={"$filter": "Id gt 0"}))) == 60


def test_override_moves_the_type_and_adds_properties():
    from implkit.sandbox import Sandbox
    with Sandbox() as sandbox:
        sandbox.create_directum("dirrx", service="DrxIntegration", overrides={
            "Company": {"layer": "DirRX", "properties": [["DoubleStatusDirRX", "Edm.String"]]}})
        from implkit.sandbox.directum.models.instance import instance_by_name, model_of
        model = model_of(instance_by_name(sandbox.store, "dirrx"))
        csdl = model.csdl()
        assert 'Namespace="Sungero.IntegrationService.Models.Generated.DirRX"' in csdl
        assert '<EntitySet Name="ICompanies" EntityType="Sungero.IntegrationService.Models.Generated.DirRX.ICompanyDto"/>' in csdl
        assert "DoubleStatusDirRX" in model.properties("Company")
        with pytest.raises(ValueError):
            sandbox.create_directum("bad", overrides={"Deal": {}})
        with pytest.raises(ValueError):
            sandbox.create_directum("Bad Name")


def test_date_filters_compare_with_and_without_offsets(drx):
    ids = inst.insert(drx.sandbox.store, drx.created["id"], [
        ("Person", {"Name": "A", "Status": "Active", "DateOfBirth": "1990-05-01T00:00:00+03:00"}, {}),
        ("Person", {"Name": "B", "Status": "Active", "DateOfBirth": "2001-01-01T00:00:00Z"}, {}),
        ("Person", {"Name": "C", "Status": "Active", "DateOfBirth": None}, {})])
    assert _ids(drx.get("/odata/IPersons", params={"$filter": "DateOfBirth lt 2000-01-01"})) == [ids[0]]
    assert _ids(drx.get("/odata/IPersons", params={"$filter": "DateOfBirth ge 2000-01-01T00:00:00Z"})) == [ids[1]]
    assert _ids(drx.get("/odata/IPersons", params={"$filter": "DateOfBirth eq null"})) == [ids[2]]
    assert drx.get("/odata/IPersons", params={"$filter": "DateOfBirth lt 2000-13-01"}).status_code == 400
    assert drx.get("/odata/IPersons", params={"$filter": "DateOfBirth lt 'x'"}).status_code == 400
