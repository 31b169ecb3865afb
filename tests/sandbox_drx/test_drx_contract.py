"""The Directum emulator against the reference fixtures (../shared/reference/fixtures/directum).

Each test skips when the fixtures are absent. What is compared is shape: property names and types,
envelopes, status codes and bodies the references record; never values the emulator chose.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from implkit.sandbox.directum.models import instance as inst
from implkit.sandbox.directum.models.schema import SETS, TYPES, Model

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
KIND_EDM = {"String": "Edm.String", "Text": "Edm.String", "Enum": "Edm.String", "Boolean": "Edm.Boolean",
            "DateTime": "Edm.DateTimeOffset", "Integer": "Edm.Int32", "LongInteger": "Edm.Int64"}


def _types(xml_text: str) -> tuple[dict, dict]:
    root = ET.fromstring(xml_text)
    types, sets = {}, {}
    for schema in root.iter(f"{EDM}Schema"):
        for entity in schema.findall(f"{EDM}EntityType"):
            qualified = f"{schema.get('Namespace')}.{entity.get('Name')}"
            types[qualified] = {
                "base": entity.get("BaseType"), "abstract": entity.get("Abstract") == "true",
                "props": {p.get("Name"): (p.get("Type"), p.get("MaxLength")) for p in entity.findall(f"{EDM}Property")},
                "navs": {p.get("Name"): p.get("Type") for p in entity.findall(f"{EDM}NavigationProperty")}}
        for container in schema.findall(f"{EDM}EntityContainer"):
            sets.update({s.get("Name"): s.get("EntityType") for s in container.findall(f"{EDM}EntitySet")})
    return types, sets


def test_metadata_agrees_with_the_csdl_sketch(drx, fixtures):
    sketch_types, sketch_sets = _types((fixtures / "emulator_csdl_sketch.xml").read_text(encoding="utf-8"))
    response = drx.get("/odata/$metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    ours_types, ours_sets = _types(response.text)
    shared = set(sketch_sets) & set(ours_sets)
    assert {"ICounterparties", "ICompanies", "IPersons", "IBanks", "IContacts", "IEmployees"} <= shared
    for name in shared:
        assert ours_sets[name] == sketch_sets[name], name
    for qualified, sketch in sketch_types.items():
        if qualified not in ours_types:
            continue
        ours = ours_types[qualified]
        assert (ours["base"], ours["abstract"]) == (sketch["base"], sketch["abstract"]), qualified
        for prop, (edm, length) in sketch["props"].items():
            # the sketch is constructed: its types hold; a MaxLength it gives must match, where it gives
            # none the RX 4.8 metadata (the next test) is the authority
            assert ours["props"].get(prop, (None,))[0] == edm, (qualified, prop)
            if length:
                assert ours["props"][prop][1] == length, (qualified, prop)
        for nav, target in sketch["navs"].items():
            assert ours["navs"].get(nav) == target, (qualified, nav)


def test_types_carry_every_property_of_the_rx48_metadata(fixtures):
    extract = json.loads((fixtures / "rx48_parties_metadata_extract.json").read_text(encoding="utf-8"))["entities"]
    model = Model()
    checked = 0
    for type_name, entity in extract.items():
        if type_name not in TYPES:
            continue
        props, navs = model.properties(type_name), model.navigation(type_name)
        for prop in entity["properties"]:
            if prop["kind"] == "Navigation":
                if prop.get("target") and prop["target"] not in TYPES:
                    continue          # a type the emulator does not serve (identity document kinds, ...)
                if not prop.get("target") and (entity.get("base") or "").split(" ")[0] not in TYPES:
                    continue          # an override of a property inherited from a type not served (Login)
                assert prop["name"] in navs, (type_name, prop["name"])
                if prop.get("target"):
                    assert navs[prop["name"]] == prop["target"], (type_name, prop["name"])
            elif prop["kind"] in KIND_EDM:
                assert props.get(prop["name"]) == KIND_EDM[prop["kind"]], (type_name, prop["name"])
            else:
                continue
            checked += 1
    assert checked >= 40


def _insert_fixture_rows(drx, fixture: dict, type_name: str) -> list[int]:
    model = Model()
    rows = []
    for row in fixture["value"]:
        data = {k: v for k, v in row.items() if k in model.properties(type_name) and k != "Id"}
        rows.append((type_name, data, {}))
    return inst.insert(drx.sandbox.store, drx.created["id"], rows)


def test_companies_collection_has_the_illustrated_shape(drx, fixtures):
    fixture = json.loads((fixtures / "icompanies_collection_response.illustrative.json").read_text(encoding="utf-8"))
    _insert_fixture_rows(drx, fixture, "Company")
    response = drx.get("/odata/ICompanies", params={"$filter": "Status eq 'Active'", "$orderby": "Id", "$top": "2",
                                                    "$count": "true"})
    assert response.status_code == 200
    body = response.json()
    assert [k for k in body] == [k for k in fixture if not k.startswith("_")]
    assert body["@odata.context"].endswith("/Integration/odata/$metadata#ICompanies")
    assert body["@odata.count"] == fixture["@odata.count"]
    for ours, theirs in zip(body["value"], fixture["value"]):
        assert set(ours) == set(theirs)                     # navigation properties left out unless expanded
        assert {k: ours[k] for k in theirs if k != "Id"} == {k: v for k, v in theirs.items() if k != "Id"}


def test_contacts_expand_has_the_illustrated_shape(drx, fixtures):
    fixture = json.loads((fixtures / "icontacts_expand.illustrative.json").read_text(encoding="utf-8"))
    company = inst.insert(drx.sandbox.store, drx.created["id"], [("Company", {"Name": "Ромашка ООО", "TIN": "7701000001",
                                                                             "Status": "Active"}, {})])[0]
    person = inst.insert(drx.sandbox.store, drx.created["id"], [("Person", {"Name": "Иванов Иван Иванович",
                                                                            "LastName": "Иванов", "FirstName": "Иван",
                                                                            "MiddleName": "Иванович"}, {})])[0]
    row = fixture["value"][0]
    inst.insert(drx.sandbox.store, drx.created["id"],
                [("Contact", {k: v for k, v in row.items() if not isinstance(v, dict) and k != "Id"},
                  {"Company": company, "Person": person})])
    response = drx.get("/odata/IContacts", params={
        "$filter": f"Company/Id eq {company}",
        "$expand": "Company($select=Id,Name,TIN),Person($select=Id,LastName,FirstName,MiddleName)"})
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].split("#")[1] == fixture["@odata.context"].split("#")[1]
    ours = body["value"][0]
    assert set(ours) == set(row)
    assert set(ours["Company"]) - {"@odata.type"} == set(row["Company"])
    assert ours["Company"]["@odata.type"].endswith(".ICompanyDto")   # Company is declared as CompanyBase
    assert set(ours["Person"]) == set(row["Person"])
    assert ours["Company"]["TIN"] == row["Company"]["TIN"] and ours["Person"]["LastName"] == "Иванов"


def test_error_and_empty_shapes_are_the_observed_ones(drx, fixtures):
    observed = json.loads((fixtures / "odata_errors_observed.json").read_text(encoding="utf-8"))
    empty = drx.get("/odata/ICompanies", params={"$filter": "TIN eq 'none'"})
    assert empty.status_code == observed["empty_result"]["status"] and empty.content == b""
    empty_count = drx.get("/odata/ICompanies/$count", params={"$filter": "TIN eq 'none'"})
    assert empty_count.status_code == 204
    inst.insert(drx.sandbox.store, drx.created["id"], [("Company", {"Name": f"C{i}", "Status": "Active"}, {})
                                                       for i in range(51)])
    counted = drx.get("/odata/ICompanies/$count", params={"$filter": "Status eq 'Active'"})
    assert (counted.status_code, counted.text) == (observed["count_path"]["status"], "51")
    assert counted.headers["content-type"].startswith(observed["count_path"]["content_type"])
    too_many = drx.get("/odata/ICompanies")                      # the instance's cap is 50
    assert too_many.status_code == observed["too_many_entities"]["status"]
    assert too_many.json() == observed["too_many_entities"]["body"]
    unauthorized = drx.get("/odata/ICompanies", auth=("Integration Service", "wrong"))
    assert (unauthorized.status_code, unauthorized.text) == (observed["unauthorized"]["status"],
                                                             observed["unauthorized"]["body"])
    assert drx.get("/odata/ICompanies(999999)").status_code == observed["not_found"]["status"]
    assert drx.get("/odata/INoSuchSet").status_code == observed["not_found"]["status"]
    bad = drx.get("/odata/ICompanies", params={"$filter": "Nope eq 1"})
    assert bad.status_code == 400 and isinstance(bad.json()["error"]["message"], str)


def test_the_import_tools_configured_url_reaches_the_service(drx, fixtures):
    config = ET.fromstring((fixtures / "importdata_ConfigSettings.xml").read_bytes())
    url = next(v.get("value") for v in config.iter("var") if v.get("name") == "INTEGRATION_SERVICE_URL")
    tail = url.split("://", 1)[1].split("/", 1)[1]              # "integration/odata": another case
    base = drx.base.rsplit("/", 1)[0]                            # /directum/acme
    drx_base, drx.base = drx.base, base
    try:
        response = drx.get("/" + tail + "/")
    finally:
        drx.base = drx_base
    assert response.status_code == 200 and "ICompanies" in {s["name"] for s in response.json()["value"]}
    assert set(SETS) == {s["name"] for s in response.json()["value"]}
