"""Contract tests: every emulated endpoint against the documentation's own examples.

Shapes, not values (the doc's request and response examples are independent
samples): the envelope's meta keys must match the example exactly, and every
key the example shows on an item must be in ours. Where the emulator knowingly
omits something, `NOT_EMULATED` says what and why. Skipped when ../shared is absent.
"""

from __future__ import annotations

import pytest

# keys the doc examples show that the sandbox doesn't produce, with the reason
NOT_EMULATED = {
    "catalog_elements": "catalogs (lists) are not emulated",
    "catalog_id": "catalogs (lists) are not emulated (links to catalog elements carry it)",
    "quantity": "catalogs (lists) are not emulated (links to catalog elements carry it)",
    "customers": "customers are not emulated",
}
META = ("_page", "_total_items", "_page_count")

# Key paths a documentation example prints that live accounts answer under another name, with the evidence.
DOC_ERRATA = {
    # The official PHP SDK reads multitext values as `enum_code` + `enum_id` since 2020-06-02 (commit 2f9ea95,
    # MultitextCustomFieldValueModel::fromArray) and sends `enum_code`; sending `enum` is refused with
    # FieldNotExpected (amocrm-api-php#4). The doc's contact/company examples still print `enum`.
    "custom_fields_values[].values[].enum": "custom_fields_values[].values[].enum_code",
}


def _items(body: dict) -> tuple[str, list]:
    key, items = next(iter(body["_embedded"].items()))
    return key, items


def assert_same_shape(ours, theirs, where: str = "") -> None:
    """Every key of `theirs` (recursively for dicts and first list items) is in `ours`."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        missing = set(theirs) - set(ours) - set(NOT_EMULATED)
        assert not missing, f"{where or 'top'}: missing {sorted(missing)}"
        for key, value in theirs.items():
            if key in ours and key not in ("_links", "custom_fields_values", "params", "metadata", "value_after",
                                           "value_before", "settings", "services", "entity_names"):
                assert_same_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list) and theirs and isinstance(ours, list) and ours:
        assert_same_shape(ours[0], theirs[0], f"{where}[0]")


def assert_collection_like(ours: dict, theirs: dict) -> None:
    """Same meta keys and link kinds as the example, same embedded key, items of the same shape."""
    assert {k for k in ours if k in META} == {k for k in theirs if k in META}
    assert ("_links" in ours) == ("_links" in theirs)
    if "_links" in theirs:
        assert set(ours["_links"]) == set(theirs["_links"])
    key, items = _items(ours)
    their_key, their_items = _items(theirs)
    assert key == their_key
    assert_same_shape(items, their_items, key)


@pytest.fixture
def world(alpha, doc):
    """An account with a little of everything, created through the API."""
    c = alpha
    pipeline = c.get("/leads/pipelines").json()["_embedded"]["pipelines"][0]
    stage = pipeline["_embedded"]["statuses"][1]
    field = c.post("/leads/custom_fields", json=[{"type": "select", "name": "Источник",
                                                  "enums": [{"value": "Сайт", "sort": 1}]}]).json()
    field_id = field["_embedded"]["custom_fields"][0]["id"]
    companies = c.post("/companies", json=[{"name": f"Co {i}"} for i in range(3)]).json()["_embedded"]["companies"]
    contacts = c.post("/contacts", json=[{"name": f"Contact {i}", "_embedded": {"companies": [{"id": companies[0]["id"]}]},
                                          "custom_fields_values": [{"field_code": "PHONE",
                                                                    "values": [{"value": f"+7999000000{i}"}]}]}
                                         for i in range(3)]).json()["_embedded"]["contacts"]
    leads = c.post("/leads", json=[{"name": f"Lead {i}", "price": 100 * i, "status_id": stage["id"],
                                    "pipeline_id": pipeline["id"], "tags_to_add": [{"name": "web"}],
                                    "custom_fields_values": [{"field_id": field_id, "values": [{"value": "Сайт"}]}],
                                    "_embedded": {"contacts": [{"id": contacts[0]["id"], "is_main": True}],
                                                  "companies": [{"id": companies[0]["id"]}]}}
                                   for i in range(5)]).json()["_embedded"]["leads"]
    tasks = c.post("/tasks", json=[{"text": f"Call {i}", "complete_till": 1_900_000_000 + i, "entity_id": leads[0]["id"],
                                    "entity_type": "leads", "task_type_id": 1} for i in range(3)]).json()
    notes = c.post("/leads/notes", json=[{"entity_id": leads[0]["id"], "note_type": "common",
                                          "params": {"text": f"n{i}"}} for i in range(3)]).json()
    role = c.post("/roles", json=doc("POST_roles.request") | {"rights": {
        k: v for k, v in doc("POST_roles.request")["rights"].items() if k != "status_rights"}}).json()
    c.post("/users", json=[{"name": "Ivan", "email": "ivan@example.test", "password": "Secret12",
                            "rights": {"role_id": role["_embedded"]["roles"][0]["id"]}}])
    c.post("/webhooks", json=doc("POST_webhooks.request"))
    c.post("/leads/custom_fields/groups", json=doc("POST_leads_custom_fields_groups.request"))
    c.post("/leads/tags", json=[{"name": "Tag 1", "color": "DDEBB5"}, {"name": "Tag 2"}])
    return {"client": c, "pipeline": pipeline, "stage": stage, "field_id": field_id, "leads": leads,
            "contacts": contacts, "companies": companies, "tasks": tasks["_embedded"]["tasks"],
            "notes": notes["_embedded"]["notes"]}


# -- reads: collections ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, path, params", [
    ("GET_leads", "/leads", {"limit": 2, "page": 2}),
    ("GET_contacts", "/contacts", {"limit": 2}),
    ("GET_companies", "/companies", {"limit": 2}),
    ("GET_tasks", "/tasks", {"limit": 2}),
    ("GET_events", "/events", {"limit": 1}),
    ("GET_leads_notes", "/leads/notes", {"limit": 2}),
    ("GET_leads_tags", "/leads/tags", {"limit": 1}),
    ("GET_users", "/users", {"with": "role,group"}),
    ("GET_roles", "/roles", {"with": "users"}),
    ("GET_leads_pipelines", "/leads/pipelines", {}),
    ("GET_leads_custom_fields_groups", "/leads/custom_fields/groups", {}),
    ("GET_webhooks", "/webhooks", {}),
    ("GET_events_types", "/events/types", {}),
])
def test_collections_have_the_documented_envelope(world, name, path, params, doc):
    answer = world["client"].get(path, params=params)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/hal+json"
    assert_collection_like(answer.json(), doc(f"{name}.response"))


def test_custom_fields_collection_shows_total_pages_and_last(world, doc):
    c = world["client"]
    c.post("/leads/custom_fields", json=[{"type": "text", "name": f"f{i}"} for i in range(60)])
    assert_collection_like(c.get("/leads/custom_fields").json(), doc("GET_leads_custom_fields.response"))


def test_statuses_and_links_collections(world, doc):
    c, pipeline, lead = world["client"], world["pipeline"], world["leads"][0]
    # the doc's list example shows `descriptions`, which only with=descriptions adds
    assert_collection_like(c.get(f"/leads/pipelines/{pipeline['id']}/statuses",
                                 params={"with": "descriptions"}).json(),
                           doc("GET_leads_pipelines_id_statuses.response"))
    assert_collection_like(c.get(f"/leads/{lead['id']}/links").json(), doc("GET_leads_id_links.response"))
    assert_collection_like(c.get("/leads/links", params={"filter[entity_id][]": lead["id"]}).json(),
                           doc("GET_leads_links.response"))
    assert_collection_like(c.get(f"/leads/{lead['id']}/notes", params={"limit": 2}).json(),
                           doc("GET_leads_id_notes.response"))


def test_sources_collection(world, doc):
    c = world["client"]
    request = doc("POST_sources.request")
    request[0]["pipeline_id"] = world["pipeline"]["id"]
    created = c.post("/sources", json=request)
    assert_collection_like(created.json(), doc("POST_sources.response"))
    assert_collection_like(c.get("/sources").json(), doc("GET_sources.response"))
    source_id = created.json()["_embedded"]["sources"][0]["id"]
    assert_same_shape(c.get(f"/sources/{source_id}").json(), doc("GET_sources_id.response"))
    patched = c.patch("/sources", json=[{"id": source_id, "name": "Renamed"}])
    assert_collection_like(patched.json(), doc("PATCH_sources.response"))


# -- reads: single objects -------------------------------------------------------------------------
def test_single_objects_have_the_documented_keys(world, doc):
    c = world["client"]
    lead, contact, company = world["leads"][0], world["contacts"][0], world["companies"][0]
    pipeline, stage = world["pipeline"], world["stage"]
    account = c.get("/account", params={"with": "amojo_id,amojo_rights,users_groups,task_types,version,"
                                                "entity_names,datetime_settings,drive_url,is_api_filter_enabled"})
    assert_same_shape(account.json(), doc("GET_account.response"))
    assert_same_shape(c.get(f"/leads/{lead['id']}", params={"with": "contacts,loss_reason,source,"
                                                                   "is_price_modified_by_robot"}).json(),
                      {k: v for k, v in doc("GET_leads_id.response").items() if k != "_embedded"})
    assert_same_shape(c.get(f"/contacts/{contact['id']}", params={"with": "leads"}).json(),
                      doc("GET_contacts_id.response"))
    assert_same_shape(c.get(f"/companies/{company['id']}").json(), doc("GET_companies_id.response"))
    assert_same_shape(c.get(f"/leads/pipelines/{pipeline['id']}").json(), doc("GET_leads_pipelines_id.response"))
    assert_same_shape(c.get(f"/leads/pipelines/{pipeline['id']}/statuses/{stage['id']}").json(),
                      doc("GET_leads_pipelines_id_statuses_id.response"))
    phone = next(f for f in c.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
                 if f["code"] == "PHONE")
    assert_same_shape(c.get(f"/contacts/custom_fields/{phone['id']}").json(),
                      doc("GET_contacts_custom_fields_id.response"))
    group = c.get("/leads/custom_fields/groups").json()["_embedded"]["custom_field_groups"][-1]
    assert_same_shape(c.get(f"/leads/custom_fields/groups/{group['id']}").json(),
                      doc("GET_leads_custom_fields_groups_id.response"))
    # GET /users/{id}: test_contract_share_per_endpoint, with a user who has stage rights as the example's has
    role = c.get("/roles").json()["_embedded"]["roles"][0]
    assert_same_shape(c.get(f"/roles/{role['id']}").json(), doc("GET_roles_id.response"))
    assert_same_shape(c.get(f"/tasks/{world['tasks'][0]['id']}").json(), doc("GET_tasks_id.response"))
    note = world["notes"][0]
    assert_same_shape(c.get(f"/leads/notes/{note['id']}").json(), doc("GET_leads_notes_id.response"))
    event = c.get("/events").json()["_embedded"]["events"][0]
    assert_same_shape(c.get(f"/events/{event['id']}").json(), doc("GET_events_id.response"))


def test_lead_embedded_parts_have_the_documented_shape(world, doc):
    c = world["client"]
    ours = c.get(f"/leads/{world['leads'][0]['id']}", params={"with": "contacts"}).json()["_embedded"]
    theirs = doc("GET_leads_id.response")["_embedded"]
    for key in ("tags", "companies", "contacts"):
        assert_same_shape(ours[key], theirs[key], key)


def test_custom_field_values_read_back_as_documented(world, doc):
    contact = world["client"].get(f"/contacts/{world['contacts'][0]['id']}").json()
    ours = contact["custom_fields_values"][0]
    theirs = doc("GET_contacts_id.response")["custom_fields_values"][0]
    assert set(ours) == set(theirs)
    # the example's `enum` is what live accounts call `enum_code` (DOC_ERRATA)
    assert set(ours["values"][0]) == {DOC_ERRATA.get(f"custom_fields_values[].values[].{k}", k).rsplit(".", 1)[-1]
                                      for k in theirs["values"][0]}


# -- writes ----------------------------------------------------------------------------------------
def _write_items(body: dict) -> list:
    return _items(body)[1]


def test_record_write_answers_carry_only_ids(world, doc):
    c = world["client"]
    for entity in ("leads", "contacts", "companies"):
        posted = c.post(f"/{entity}", json=[{"name": "x"}, {"name": "y"}]).json()
        assert_collection_like(posted, doc(f"POST_{entity}.response"))
        assert set(_write_items(posted)[0]) == set(_write_items(doc(f"POST_{entity}.response"))[0])
        ids = [item["id"] for item in _write_items(posted)]
        patched = c.patch(f"/{entity}", json=[{"id": i, "name": "z"} for i in ids]).json()
        assert set(_write_items(patched)[0]) == set(_write_items(doc(f"PATCH_{entity}.response"))[0])
    one = c.patch(f"/leads/{world['leads'][1]['id']}", json={"_embedded": {"tags": None}}).json()
    assert set(one) == set(doc("PATCH_leads.tags_clear.response"))


def test_task_and_note_write_answers(world, doc):
    c = world["client"]
    request = doc("POST_tasks.request")
    request[0]["entity_id"] = world["leads"][0]["id"]
    posted = c.post("/tasks", json=request).json()
    assert set(_write_items(posted)[0]) == set(_write_items(doc("POST_tasks.response"))[0])
    ids = [t["id"] for t in world["tasks"][:2]]
    patched = c.patch("/tasks", json=[{"id": i, "text": "t", "request_id": str(n)} for n, i in enumerate(ids)]).json()
    assert set(_write_items(patched)[0]) == set(_write_items(doc("PATCH_tasks.response"))[0])
    complete = doc("PATCH_tasks_id.complete.request")
    done = c.patch(f"/tasks/{ids[0]}", json={**complete, "request_id": "0"}).json()
    assert set(done) == set(doc("PATCH_tasks_id.complete.response"))
    notes = doc("POST_leads_notes.request")
    for note in notes:
        note["entity_id"] = world["leads"][0]["id"]
        note.pop("responsible_user_id", None)
    posted = c.post("/leads/notes", json=notes).json()
    assert set(_write_items(posted)[0]) == set(_write_items(doc("POST_leads_notes.response"))[0])
    patched = c.patch("/leads/notes", json=[{"id": n["id"], "params": {"text": "new"}} for n in world["notes"]]).json()
    assert set(_write_items(patched)[0]) == set(_write_items(doc("PATCH_leads_notes.response"))[0])


def test_configuration_write_answers(world, doc):
    c, pipeline = world["client"], world["pipeline"]
    created = c.post("/leads/pipelines", json=doc("POST_leads_pipelines.request")).json()
    assert_collection_like(created, doc("POST_leads_pipelines.response"))
    statuses = c.post(f"/leads/pipelines/{pipeline['id']}/statuses",
                      json=doc("POST_leads_pipelines_id_statuses.request")).json()
    assert_collection_like(statuses, doc("POST_leads_pipelines_id_statuses.response"))
    patched = c.patch(f"/leads/pipelines/{pipeline['id']}", json=doc("PATCH_leads_pipelines_id.request"))
    assert_same_shape(patched.json(), doc("PATCH_leads_pipelines_id.response"))
    status_id = _write_items(statuses)[0]["id"]
    status = c.patch(f"/leads/pipelines/{pipeline['id']}/statuses/{status_id}",
                     json=doc("PATCH_leads_pipelines_id_statuses_id.request"))
    assert status.status_code == 200
    assert_same_shape(status.json(), doc("PATCH_leads_pipelines_id_statuses_id.response"))
    assert len(status.json()["descriptions"]) == 3
    field_request = doc("POST_leads_custom_fields.request")
    field_request[0]["required_statuses"] = [{"pipeline_id": pipeline["id"], "status_id": status_id}]
    field = c.post("/leads/custom_fields", json=field_request)
    assert field.status_code == 201
    assert_collection_like({k: v for k, v in field.json().items()},
                           {**doc("POST_leads_custom_fields.response")})
    groups = c.post("/leads/custom_fields/groups", json=doc("POST_leads_custom_fields_groups.request"))
    assert groups.status_code == 201
    assert_collection_like(groups.json(), doc("POST_leads_custom_fields_groups.response"))
    group_id = _write_items(groups.json())[0]["id"]
    moved = c.patch(f"/leads/custom_fields/groups/{group_id}",
                    json={"sort": 6, "fields": [_write_items(field.json())[0]["id"]]}).json()
    assert_same_shape(moved, doc("PATCH_leads_custom_fields_groups_id.response"))
    roles = c.post("/roles", json=doc("POST_roles.request") | {"name": "role 4"}).json()
    assert_collection_like(roles, doc("POST_roles.response"))
    role_id = _write_items(roles)[0]["id"]
    assert_same_shape(c.patch(f"/roles/{role_id}", json=doc("PATCH_roles_id.request")).json(),
                      doc("PATCH_roles_id.response"))
    users = c.post("/users", json=doc("POST_users.request")).json()
    assert_collection_like(users, doc("POST_users.response"))
    hook = c.post("/webhooks", json={**doc("POST_webhooks.request"), "destination": "https://other.test"})
    assert hook.status_code == 201
    assert set(hook.json()) == set(doc("POST_webhooks.response"))
    tags = c.post("/leads/tags", json=doc("POST_leads_tags.request")).json()
    assert_collection_like(tags, doc("POST_leads_tags.response"))
    assert set(_write_items(tags)[0]) == set(_write_items(doc("POST_leads_tags.response"))[0])


def test_link_answers(world, doc):
    c = world["client"]
    lead, contact = world["leads"][1], world["contacts"][1]
    single = c.post(f"/leads/{lead['id']}/link", json=[{"to_entity_id": contact["id"], "to_entity_type": "contacts",
                                                        "metadata": {"is_main": True}}]).json()
    assert_collection_like(single, doc("POST_leads_id_link.response"))
    batch = c.post("/leads/link", json=[{"entity_id": lead["id"], "to_entity_id": world["companies"][1]["id"],
                                         "to_entity_type": "companies"}]).json()
    assert_collection_like(batch, doc("POST_leads_link.response"))
    gone = c.post(f"/leads/{lead['id']}/unlink", json=[{"to_entity_id": contact["id"], "to_entity_type": "contacts"}])
    assert gone.status_code == 204 and gone.content == b""


def test_oauth_answer_matches_the_documented_one(harness, doc):
    harness.sandbox.create_account("alpha")
    info = harness.sandbox.oauth_client("alpha")
    body = doc("POST_oauth2_access_token.authorization_code.request")
    request = {**body, "client_id": info["client_id"], "client_secret": info["client_secret"], "code": info["code"],
               "redirect_uri": info["redirect_uri"]}
    answer = harness.client("alpha", api=False).post("/oauth2/access_token", json=request).json()
    assert set(answer) == set(doc("POST_oauth2_access_token.authorization_code.response"))


# -- errors ------------------------------------------------------------------------------------
def test_error_bodies_match_the_documented_ones(world, doc):
    c = world["client"]
    cases = [
        (c.post("/leads", json=[{"custom_fields_values": [{"field_id": 1, "values": [{"value": "x"}]}]}]),
         "error_validation", 400),
        (c.post("/leads", json=[]), "kommo.error_400_empty_body", 400),
        (c.get("/leads/999999999"), "kommo.error_404", 404),
        (c.get("/no/such/path"), "kommo.error_404", 404),
        (c.delete("/leads"), "kommo.error_405", 405),
        (c.delete(f"/tasks/{world['tasks'][0]['id']}"), "kommo.error_405", 405),
        (c.post("/leads", json=[{}] * 251), "kommo.error_422_limit", 422),
    ]
    for answer, name, status in cases:
        theirs = doc(f"{name}.response")
        assert answer.status_code == status == theirs["status"], name
        assert answer.headers["content-type"] == "application/problem+json"
        assert set(answer.json()) == set(theirs), name
    validation = cases[0][0].json()
    assert validation == doc("error_validation.response") | {"validation-errors": validation["validation-errors"]}
    assert validation["validation-errors"][0]["errors"][0]["path"] == "custom_fields_values.0.field_id"
    assert cases[1][0].json()["detail"] == doc("kommo.error_400_empty_body.response")["detail"]


def test_unknown_source_delete_uses_the_other_400_shape(world, doc):
    answer = world["client"].request("DELETE", "/sources", json=[{"id": 31075178}])
    theirs = doc("DELETE_sources.error_400_not_found.response")
    assert answer.status_code == 400
    assert set(answer.json()) == set(theirs)
    assert set(answer.json()["errors"][0]["errors"]) == set(theirs["errors"][0]["errors"])


# -- unsorted ------------------------------------------------------------------------------------
def _unsorted_request(name: str, pipeline_id: int, doc) -> list:
    request = doc(name)
    for item in request:
        item["pipeline_id"] = pipeline_id
        for contact in item["_embedded"]["contacts"]:   # the forms example sends numbers as names
            contact.update({k: str(v) for k, v in contact.items() if k in ("name", "first_name", "last_name")})
        for lead in item["_embedded"]["leads"]:
            lead.pop("custom_fields_values", None)
            lead["_embedded"]["tags"] = [{"name": "Тег для примера"}]
    return request


def test_unsorted_answers(world, doc):
    c, pipeline = world["client"], world["pipeline"]
    forms = c.post("/leads/unsorted/forms",
                   json=_unsorted_request("POST_leads_unsorted_forms.request", pipeline["id"], doc))
    assert forms.status_code == 200
    assert_collection_like(forms.json(), doc("POST_leads_unsorted_forms.response"))
    sip = c.post("/leads/unsorted/sip",
                 json=_unsorted_request("POST_leads_unsorted_sip.request", pipeline["id"], doc))
    assert_collection_like(sip.json(), doc("POST_leads_unsorted_sip.response"))
    uid = _write_items(forms.json())[0]["uid"]
    assert_collection_like(c.get("/leads/unsorted", params={"filter[uid]": uid}).json(),
                           {**doc("GET_leads_unsorted.response")})
    assert_same_shape(c.get(f"/leads/unsorted/{uid}").json(), doc("GET_leads_unsorted_uid.response"))
    accepted = c.post(f"/leads/unsorted/{uid}/accept", json={})
    assert_same_shape(accepted.json(), doc("POST_leads_unsorted_uid_accept.response"))
    other = _write_items(sip.json())[0]["uid"]
    declined = c.request("DELETE", f"/leads/unsorted/{other}/decline", json={})
    assert set(declined.json()) == set(doc("DELETE_leads_unsorted_uid_decline.response"))
    summary = c.get("/leads/unsorted/summary").json()
    theirs = doc("GET_leads_unsorted_summary.response")
    assert set(summary) == set(theirs) and set(summary["categories"]) == set(theirs["categories"])


def test_unsorted_link_answer(world, doc):
    c, pipeline = world["client"], world["pipeline"]
    request = _unsorted_request("POST_leads_unsorted_sip.request", pipeline["id"], doc)
    uid = _write_items(c.post("/leads/unsorted/sip", json=request).json())[0]["uid"]
    linked = c.post(f"/leads/unsorted/{uid}/link", json={"link": {"entity_id": world["leads"][2]["id"],
                                                                  "entity_type": "leads"}})
    assert set(linked.json()) == set(doc("POST_leads_unsorted_uid_link.response"))


def test_complex_add_answers_a_bare_array(world, doc):
    c = world["client"]
    request = doc("POST_leads_complex.request")
    for item in request:
        for key in ("custom_fields_values", "status_id", "pipeline_id", "responsible_user_id"):
            item.pop(key, None)
        for kind in ("contacts", "companies"):
            for record in item["_embedded"].get(kind, []):
                record.pop("custom_fields_values", None)
                record.pop("responsible_user_id", None)
    answer = c.post("/leads/complex", json=request)
    assert answer.status_code == 200
    theirs = doc("POST_leads_complex.response")
    assert isinstance(answer.json(), list) and len(answer.json()) == len(request)
    assert set(answer.json()[0]) == set(theirs[0])
    assert isinstance(answer.json()[0]["request_id"], list)


# -- the share of documented key paths, per endpoint -----------------------------------------------
def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def key_paths(body, prefix: str = "") -> dict[str, set[str]]:
    """Every key path of a JSON body (`a.b`, list items as `a[]`), with the JSON types seen there."""
    paths: dict[str, set[str]] = {}

    def walk(value, path: str) -> None:
        if path:
            paths.setdefault(path, set()).add(json_type(value))
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    walk(body, prefix)
    return paths


# Keys whose content depends on a type the example picked (an event's type); checked per type elsewhere.
BY_TYPE = {"value_after": "per event type, against event_values.* (test_sandbox_records)",
           "value_before": "per event type, against event_values.* (test_sandbox_records)"}


def _skipped(path: str) -> str | None:
    parts = path.replace("[]", "").split(".")
    return next(({**NOT_EMULATED, **BY_TYPE}[p] for p in parts if p in NOT_EMULATED or p in BY_TYPE), None)


def contract_share(ours, theirs) -> tuple[float, list[str], int]:
    """(matched / documented, the documented paths not matched, paths left out as NOT_EMULATED).

    A documented path matches when ours has it (or its DOC_ERRATA name) with the same JSON type; a path the
    example shows as null matches any type (the example just had no value there)."""
    documented = {p: t for p, t in key_paths(theirs).items() if not _skipped(p)}
    left_out = len(key_paths(theirs)) - len(documented)
    mine = key_paths(ours)
    missing = []
    for path, types in sorted(documented.items()):
        path_ours = path
        for wrong, right in DOC_ERRATA.items():
            if path == wrong or path.endswith("." + wrong) or path.startswith(wrong + "."):
                path_ours = path.replace(wrong, right)
        found = mine.get(path_ours)
        if found is None or not (types == {"null"} or types & found):
            missing.append(f"{path} {sorted(types)} ours {sorted(found) if found else 'absent'}")
    share = 1.0 if not documented else (len(documented) - len(missing)) / len(documented)
    return share, missing, left_out


def _fill_what_the_examples_show(world, harness, doc) -> dict:
    """Data the examples carry and `world` lacks: closed leads with a loss reason and a source, a company
    phone, stage descriptions, a required field, a group and a role with stage rights, the doc's own note types,
    a completed task, sip and forms unsorted leads."""
    c, pipeline, stage = world["client"], world["pipeline"], world["stage"]
    request = doc("POST_sources.request")
    request[0]["pipeline_id"] = pipeline["id"]
    source = c.post("/sources", json=request).json()["_embedded"]["sources"][0]
    sandbox = harness.sandbox
    account_id = sandbox.account_id("alpha")   # loss reasons and user groups are made in the UI only
    sandbox.store.bulk_insert("loss_reasons", [{"account_id": account_id, "name": "Дорого", "sort": 1,
                                                "created_at": 1, "updated_at": 1}])
    sandbox.store.bulk_insert("user_groups", [{"account_id": account_id, "id": 267688, "name": "Менеджеры"}])
    reason = c.get("/leads/loss_reasons").json()["_embedded"]["loss_reasons"][0]
    for lead in world["leads"]:
        assert c.patch(f"/leads/{lead['id']}", json={"status_id": 143, "loss_reason_id": reason["id"], "_embedded": {
            "source": {"external_id": source["external_id"], "type": "widget"}}}).status_code == 200
    assert c.patch(f"/companies/{world['companies'][0]['id']}", json={"custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+74951234567", "enum_code": "WORK"}]}]}).status_code == 200
    for status in pipeline["_embedded"]["statuses"]:
        c.patch(f"/leads/pipelines/{pipeline['id']}/statuses/{status['id']}",
                json=doc("PATCH_leads_pipelines_id_statuses_id.request") | {"name": status["name"]})
    c.post("/leads/custom_fields", json=[{"type": "text", "name": f"Поле {i}"} for i in range(3)])
    for field in c.get("/leads/custom_fields").json()["_embedded"]["custom_fields"]:
        c.patch(f"/leads/custom_fields/{field['id']}",
                json={"required_statuses": [{"pipeline_id": pipeline["id"], "status_id": stage["id"]}]})
    rights = doc("POST_roles.request")["rights"] | {"status_rights": [
        {"entity_type": "leads", "pipeline_id": pipeline["id"], "status_id": stage["id"],
         "rights": {"view": "A", "edit": "A", "delete": "A", "export": "A"}}]}
    for role in c.get("/roles").json()["_embedded"]["roles"]:
        c.patch(f"/roles/{role['id']}", json={"rights": rights})
    grouped = c.post("/users", json=[{"name": "Grouped", "email": "grouped@example.test", "password": "Secret12",
                                      "rights": {"group_id": 267688, "status_rights": rights["status_rights"]}}])
    assert grouped.status_code == 200, grouped.text
    user = grouped.json()["_embedded"]["users"][0]
    notes = [{"entity_id": world["leads"][0]["id"], "note_type": n["note_type"], "params": n["params"]}
             for n in doc("GET_leads_notes.response")["_embedded"]["notes"]]
    first_notes = c.post("/leads/notes", json=notes).json()["_embedded"]["notes"]
    task = world["tasks"][0]
    c.patch(f"/tasks/{task['id']}", json=doc("PATCH_tasks_id.complete.request"))
    c.post("/leads/unsorted/sip", json=_unsorted_request("POST_leads_unsorted_sip.request", pipeline["id"], doc))
    forms = _unsorted_request("POST_leads_unsorted_forms.request", pipeline["id"], doc)
    unsorted = c.post("/leads/unsorted/forms", json=forms).json()["_embedded"]["unsorted"][0]
    return {"source": source, "unsorted": unsorted, "note": first_notes[0], "task": task, "user": user}


def test_contract_share_per_endpoint(world, harness, doc, record_property):
    """Each endpoint with a documentation example, requested with the example's own `with=`/filters;
    the share of the example's key paths we answer with the same JSON type (the terminal summary prints it)."""
    c = world["client"]
    more = _fill_what_the_examples_show(world, harness, doc)
    lead, contact, company = world["leads"][0], world["contacts"][0], world["companies"][0]
    pipeline, stage, note, task = world["pipeline"], world["stage"], more["note"], more["task"]
    source, unsorted = more["source"], more["unsorted"]
    phone = next(f for f in c.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]
                 if f["code"] == "PHONE")
    group = c.get("/leads/custom_fields/groups").json()["_embedded"]["custom_field_groups"][-1]
    user = more["user"]
    role = c.get("/roles").json()["_embedded"]["roles"][0]
    event = c.get("/events", params={"filter[type][]": "lead_added"}).json()["_embedded"]["events"][0]
    gets = {   # fixture → (path, params as the example was requested)
        "GET_account": ("/account", {"with": "amojo_id,amojo_rights,users_groups,task_types,version,entity_names,"
                                             "datetime_settings,drive_url,is_api_filter_enabled"}),
        "GET_leads": ("/leads", {"limit": 2, "page": 2}),
        "GET_leads_id": (f"/leads/{lead['id']}", {"with": "contacts,loss_reason,source,catalog_elements,"
                                                          "is_price_modified_by_robot"}),
        "GET_contacts": ("/contacts", {"limit": 2}),
        "GET_contacts_id": (f"/contacts/{contact['id']}", {"with": "leads,customers,catalog_elements"}),
        "GET_companies": ("/companies", {"limit": 2}),
        "GET_companies_id": (f"/companies/{company['id']}", {}),
        "GET_leads_pipelines": ("/leads/pipelines", {}),
        "GET_leads_pipelines_id": (f"/leads/pipelines/{pipeline['id']}", {}),
        "GET_leads_pipelines_id_statuses": (f"/leads/pipelines/{pipeline['id']}/statuses", {"with": "descriptions"}),
        "GET_leads_pipelines_id_statuses_id": (f"/leads/pipelines/{pipeline['id']}/statuses/{stage['id']}",
                                               {"with": "descriptions"}),
        "GET_leads_custom_fields": ("/leads/custom_fields", {"limit": 2}),
        "GET_contacts_custom_fields_id": (f"/contacts/custom_fields/{phone['id']}", {}),
        "GET_leads_custom_fields_groups": ("/leads/custom_fields/groups", {}),
        "GET_leads_custom_fields_groups_id": (f"/leads/custom_fields/groups/{group['id']}", {}),
        "GET_users": ("/users", {"with": "role,group"}),
        "GET_users_id": (f"/users/{user['id']}", {}),
        "GET_roles": ("/roles", {"with": "users"}),
        "GET_roles_id": (f"/roles/{role['id']}", {}),
        "GET_tasks": ("/tasks", {"limit": 2}),
        "GET_tasks_id": (f"/tasks/{task['id']}", {}),
        "GET_leads_notes": ("/leads/notes", {"limit": 2, "order[id]": "desc"}),   # the example's two note types
        "GET_leads_id_notes": (f"/leads/{lead['id']}/notes", {"limit": 2}),
        "GET_leads_notes_id": (f"/leads/notes/{note['id']}", {}),
        "GET_events": ("/events", {"limit": 2}),
        "GET_events_id": (f"/events/{event['id']}", {}),
        "GET_events_types": ("/events/types", {}),
        "GET_leads_tags": ("/leads/tags", {"limit": 2}),
        "GET_leads_id_links": (f"/leads/{lead['id']}/links", {}),
        "GET_leads_links": ("/leads/links", {"filter[entity_id][]": lead["id"]}),
        "GET_webhooks": ("/webhooks", {}),
        "GET_sources": ("/sources", {}),
        "GET_sources_id": (f"/sources/{source['id']}", {}),
        "GET_leads_unsorted": ("/leads/unsorted", {"filter[category][]": "sip"}),   # the example is a call
        "GET_leads_unsorted_uid": (f"/leads/unsorted/{unsorted['uid']}", {}),
        "GET_leads_unsorted_summary": ("/leads/unsorted/summary", {}),
    }
    table, failures = [], []
    for name, (path, params) in gets.items():
        answer = c.get(path, params=params)
        assert answer.status_code == 200, (name, answer.status_code)
        share, missing, left_out = contract_share(answer.json(), doc(f"{name}.response"))
        table.append((name, share, len(missing), left_out))
        if missing:
            failures.append(f"{name}: " + "; ".join(missing))
    record_property("contract_share", table)
    assert not failures, "\n".join(failures)


def test_contract_share_of_write_answers(world, harness, doc, record_property):
    """The documentation's own request bodies (ids swapped for ours) are accepted, and each answer has every
    key path of the documented answer with its JSON type."""
    c, pipeline, stage = world["client"], world["pipeline"], world["stage"]
    leads, contacts, companies = world["leads"], world["contacts"], world["companies"]
    account_id = harness.sandbox.account_id("alpha")
    harness.sandbox.store.bulk_insert("loss_reasons", [{"account_id": account_id, "name": "Дорого", "sort": 1,
                                                        "created_at": 1, "updated_at": 1}])
    reason = c.get("/leads/loss_reasons").json()["_embedded"]["loss_reasons"][0]["id"]
    text = c.post("/leads/custom_fields", json=[{"type": "text", "name": "Текст"}]).json()
    text_id = text["_embedded"]["custom_fields"][0]["id"]
    contact_fields = {f["code"]: f for f in c.get("/contacts/custom_fields").json()["_embedded"]["custom_fields"]}
    lead_tag = c.post("/leads/tags", json=[{"name": "Первый тег"}]).json()["_embedded"]["tags"][0]["id"]
    contact_tag = c.post("/contacts/tags", json=[{"name": "Тег"}]).json()["_embedded"]["tags"][0]["id"]
    admin = c.get("/account").json()["current_user_id"]

    post_leads = doc("POST_leads.request")
    post_leads[0]["custom_fields_values"][0]["field_id"] = text_id
    post_leads[0]["tags_to_add"][1]["id"] = lead_tag
    post_leads[1]["_embedded"]["tags"][0]["id"] = lead_tag
    post_contacts = doc("POST_contacts.request")
    post_contacts[0]["custom_fields_values"][0]["field_id"] = contact_fields["POSITION"]["id"]
    post_contacts[1]["created_by"] = admin
    patch_leads = doc("PATCH_leads.request")
    for item, lead in zip(patch_leads, leads):
        item.update(id=lead["id"], pipeline_id=pipeline["id"])
    patch_leads[0]["loss_reason_id"] = reason
    patch_leads[1]["status_id"] = stage["id"]
    tags_add = doc("PATCH_leads.tags_add.request")
    for item, lead in zip(tags_add, leads[2:]):
        item["id"] = lead["id"]
    tags_add[0]["_embedded"]["tags"][0]["id"] = lead_tag
    patch_contact = doc("PATCH_contacts.request")   # printed as one object under PATCH /contacts (a batch)
    patch_contact["custom_fields_values"][0]["field_id"] = contact_fields["PHONE"]["id"]
    patch_contact["tags_to_delete"][0]["id"] = contact_tag
    patch_companies = doc("PATCH_companies.request")
    patch_companies[0]["id"] = companies[0]["id"]
    tasks = doc("POST_tasks.request")
    tasks[0]["entity_id"] = leads[0]["id"]
    notes = doc("POST_leads_notes.request")
    for note in notes:
        note["entity_id"] = leads[0]["id"]
        note.pop("responsible_user_id", None)
    statuses = c.get(f"/leads/pipelines/{pipeline['id']}/statuses").json()["_embedded"]["statuses"]
    writes = [   # fixture of the answer, method, path, body
        ("POST_leads", "POST", "/leads", post_leads),
        ("POST_contacts", "POST", "/contacts", post_contacts),
        ("POST_companies", "POST", "/companies", doc("POST_companies.request")),
        ("PATCH_leads", "PATCH", "/leads", patch_leads),
        ("PATCH_leads.tags_add", "PATCH", "/leads", tags_add),
        ("PATCH_leads.tags_clear", "PATCH", f"/leads/{leads[4]['id']}", doc("PATCH_leads.tags_clear.request")),
        ("PATCH_contacts", "PATCH", "/contacts", [patch_contact | {"id": contacts[0]["id"]}]),
        ("PATCH_companies", "PATCH", "/companies", patch_companies),
        ("POST_tasks", "POST", "/tasks", tasks),
        ("PATCH_tasks", "PATCH", "/tasks", [{"id": t["id"], "text": "t", "request_id": str(n)}
                                            for n, t in enumerate(world["tasks"][:2])]),
        ("PATCH_tasks_id.complete", "PATCH", f"/tasks/{world['tasks'][2]['id']}",
         {**doc("PATCH_tasks_id.complete.request"), "request_id": "0"}),
        ("POST_leads_notes", "POST", "/leads/notes", notes),
        ("PATCH_leads_notes", "PATCH", "/leads/notes", [{"id": n["id"], "params": {"text": "new"}}
                                                        for n in world["notes"]]),
        ("POST_leads_pipelines", "POST", "/leads/pipelines", doc("POST_leads_pipelines.request")),
        ("PATCH_leads_pipelines_id", "PATCH", f"/leads/pipelines/{pipeline['id']}",
         doc("PATCH_leads_pipelines_id.request")),
        ("POST_leads_pipelines_id_statuses", "POST", f"/leads/pipelines/{pipeline['id']}/statuses",
         doc("POST_leads_pipelines_id_statuses.request")),
        ("PATCH_leads_pipelines_id_statuses_id", "PATCH", f"/leads/pipelines/{pipeline['id']}/statuses/"
                                                          f"{statuses[2]['id']}",
         doc("PATCH_leads_pipelines_id_statuses_id.request")),
        ("POST_leads_custom_fields_groups", "POST", "/leads/custom_fields/groups",
         doc("POST_leads_custom_fields_groups.request")),
        ("POST_roles", "POST", "/roles", doc("POST_roles.request") | {"rights": doc("POST_roles.request")["rights"] | {
            "status_rights": [{"entity_type": "leads", "pipeline_id": pipeline["id"], "status_id": stage["id"],
                               "rights": {"edit": "A", "view": "A", "delete": "A", "export": "A"}}]}}),
        ("POST_users", "POST", "/users", doc("POST_users.request")),
        ("POST_webhooks", "POST", "/webhooks", {**doc("POST_webhooks.request"), "destination": "https://x.test"}),
        ("POST_leads_tags", "POST", "/leads/tags", doc("POST_leads_tags.request")),
        ("POST_leads_id_link", "POST", f"/leads/{leads[1]['id']}/link",
         [{"to_entity_id": contacts[1]["id"], "to_entity_type": "contacts", "metadata": {"is_main": True}}]),
        ("POST_leads_link", "POST", "/leads/link", [{"entity_id": leads[2]["id"], "to_entity_type": "contacts",
                                                     "to_entity_id": contacts[2]["id"], "metadata": {"is_main": True}}]),
    ]
    table, failures = [], []

    def check(name: str, answer) -> dict | list | None:
        if answer.status_code >= 300:
            failures.append(f"{name}: {answer.status_code} {answer.text[:300]}")
            return None
        share, missing, left_out = contract_share(answer.json(), doc(f"{name}.response"))
        table.append((name, share, len(missing), left_out))
        if missing:
            failures.append(f"{name}: " + "; ".join(missing))
        return answer.json()

    for name, method, path, body in writes:
        check(name, c.request(method, path, json=body))
    # answers that need ids from earlier ones
    field_request = doc("POST_leads_custom_fields.request")
    field_request[0]["required_statuses"] = [{"pipeline_id": pipeline["id"], "status_id": stage["id"]}]
    field = check("POST_leads_custom_fields", c.post("/leads/custom_fields", json=field_request))
    group = c.post("/leads/custom_fields/groups", json=[{"name": "Группа", "sort": 5}]).json()
    group_id = group["_embedded"]["custom_field_groups"][0]["id"]
    check("PATCH_leads_custom_fields_groups_id", c.patch(f"/leads/custom_fields/groups/{group_id}", json={
        "sort": 6, "fields": [field["_embedded"]["custom_fields"][0]["id"]] if field else []}))
    role = c.post("/roles", json=doc("POST_roles.request") | {"name": "Ещё роль"}).json()
    check("PATCH_roles_id", c.patch(f"/roles/{role['_embedded']['roles'][0]['id']}",
                                    json=doc("PATCH_roles_id.request")))
    sources = doc("POST_sources.request")
    sources[0]["pipeline_id"] = pipeline["id"]
    created = check("POST_sources", c.post("/sources", json=sources))
    if created:
        check("PATCH_sources", c.patch("/sources", json=[{"id": created["_embedded"]["sources"][0]["id"],
                                                          "name": "Renamed"}]))
    forms = check("POST_leads_unsorted_forms", c.post("/leads/unsorted/forms", json=_unsorted_request(
        "POST_leads_unsorted_forms.request", pipeline["id"], doc)))
    sip = check("POST_leads_unsorted_sip", c.post("/leads/unsorted/sip", json=_unsorted_request(
        "POST_leads_unsorted_sip.request", pipeline["id"], doc)))
    if forms and sip:
        uid, other = forms["_embedded"]["unsorted"][0]["uid"], sip["_embedded"]["unsorted"][0]["uid"]
        check("POST_leads_unsorted_uid_accept", c.post(f"/leads/unsorted/{uid}/accept", json={}))
        check("DELETE_leads_unsorted_uid_decline", c.request("DELETE", f"/leads/unsorted/{other}/decline", json={}))
        third = c.post("/leads/unsorted/sip", json=_unsorted_request("POST_leads_unsorted_sip.request",
                                                                     pipeline["id"], doc)).json()
        check("POST_leads_unsorted_uid_link", c.post(
            f"/leads/unsorted/{third['_embedded']['unsorted'][0]['uid']}/link",
            json={"link": {"entity_id": leads[3]["id"], "entity_type": "leads"}}))
    complex_request = doc("POST_leads_complex.request")
    for item in complex_request:
        for key in ("custom_fields_values", "status_id", "pipeline_id", "responsible_user_id"):
            item.pop(key, None)
        for kind in ("contacts", "companies"):
            for record in item["_embedded"].get(kind, []):
                record.pop("responsible_user_id", None)
                for value in record.get("custom_fields_values", []):   # the doc's field ids are its account's
                    value.pop("field_id", None)
                    value["field_code"] = value.get("field_code") or ("EMAIL" if "@" in value["values"][0]["value"]
                                                                      else "PHONE")
                    for v in value["values"]:
                        v.pop("enum_id", None)
    check("POST_leads_complex", c.post("/leads/complex", json=complex_request))
    record_property("contract_share", table)
    assert not failures, "\n".join(failures)
