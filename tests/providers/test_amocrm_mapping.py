"""amoCRM payloads ↔ the neutral model: rights letters, types, enums, batching, colours, what amoCRM refuses."""

from __future__ import annotations

import pytest

from implkit.model import Blueprint
from implkit.providers.amocrm import mapping as amo
from implkit.providers.base import LiveOption, Operation


def op(address="field.leads.x", kind="field", changed=(), **attrs):
    return Operation(address=address, kind=kind, name=str(attrs.get("name", "")), attrs=tuple(sorted(attrs.items())),
                     remote_id="77", changed=tuple(changed))


def test_rights_levels_map_to_letters_and_back():
    payload = amo.rights_payload({"rights.leads.view": "group", "rights.leads.edit": "own",
                                  "rights.leads.add": "all", "rights.tasks.delete": "none"})
    assert payload == {"leads": {"view": "G", "edit": "M", "add": "A"}, "tasks": {"delete": "D"}}
    back = dict(amo.rights_from(payload))
    assert dict(back["leads"]) == {"view": "group", "edit": "own", "add": "all"}


def test_role_update_keeps_unmanaged_live_rights():
    live = {"leads": {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"},
            "status_rights": [{"status_id": 1}], "mail_access": True}
    body = amo.role_update_payload(op("role.m", "role", changed=("rights.leads.view",), **{"rights.leads.view": "own"}),
                                   live)
    assert body == {"rights": {"leads": {"view": "M", "edit": "A", "add": "A", "delete": "A", "export": "A"}}}


def test_add_right_other_than_all_or_none_is_refused():
    bp = Blueprint.from_dict({"apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "x", "version": "1.0.0"},
                              "roles": [{"key": "m", "name": "M", "rights": {"leads": {"add": "own", "view": "group"}}}]})
    [(path, message)] = amo.blueprint_problems(bp)
    assert path == ("roles", 0, "rights", "leads", "add") and "all or none" in message


def test_stage_colour_outside_the_palette_is_refused_and_default_colours_cycle_the_palette():
    bp = Blueprint.from_dict({"apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "x", "version": "1.0.0"},
                              "pipelines": [{"key": "p", "name": "P", "stages": [{"key": "a", "name": "A",
                                                                                 "color": "#123456"}]}]})
    assert [p for p, _ in amo.blueprint_problems(bp)] == [("pipelines", 0, "stages", 0, "color")]
    colours = [amo.status_payload(op("pipeline.p.stage.s", "stage", name="S", sort=20), i)["color"]
               for i in range(len(amo.STATUS_PALETTE) + 1)]
    assert colours[:len(amo.STATUS_PALETTE)] == list(amo.STATUS_PALETTE) and colours[-1] == amo.STATUS_PALETTE[0]


@pytest.mark.parametrize("entity, neutral, native", [
    ("contacts", "phone", "multitext"), ("companies", "email", "multitext"), ("leads", "phone", "text"),
    ("leads", "select", "select"), ("leads", "date_time", "date_time")])
def test_field_types(entity, neutral, native):
    assert amo.native_field_type(entity, neutral) == native


def test_multitext_reads_back_as_phone_or_email_by_code():
    assert amo.field_type_from("multitext", "PHONE") == "phone"
    assert amo.field_type_from("multitext", "EMAIL") == "email"
    assert amo.field_type_from("multitext", "IM") == "other:multitext"
    assert amo.field_type_from("smart_address", None) == "other:smart_address"


def test_field_create_payload_resolves_group_and_required_stages():
    ids = {"field_group.leads.G": "leads_1", "pipeline.p": "5", "pipeline.p.stage.s": "55"}
    body = amo.field_create_payload("leads", op(name="Источник", type="select", options=("A", "B"),
                                                group="field_group.leads.G", required_at=("pipeline.p.stage.s",)),
                                    ids.get, sort=10)
    assert body["enums"] == [{"value": "A", "sort": 10}, {"value": "B", "sort": 20}]
    assert body["group_id"] == "leads_1"
    assert body["required_statuses"] == [{"pipeline_id": 5, "status_id": 55}]
    assert body["request_id"] == "field.leads.x"


def test_enum_update_keeps_the_ids_of_existing_options_so_their_values_survive():
    live = (LiveOption("901", "Сайт", 1), LiveOption("902", "Звонок", 2))
    assert amo.enums_payload(("Звонок", "Сайт", "Выставка"), live) == [
        {"value": "Звонок", "sort": 10, "id": 902}, {"value": "Сайт", "sort": 20, "id": 901},
        {"value": "Выставка", "sort": 30}]


def test_batches_respect_the_documented_limits():
    items = list(range(120))
    assert [len(c) for c in amo.chunks(items)] == [50, 50, 20]
    assert [len(c) for c in amo.chunks(items, 1000)] == [120]
    assert max(len(c) for c in amo.chunks(list(range(600)), 1000)) == amo.MAX_BATCH


def test_pipeline_create_payload_embeds_stages_and_renames_won_lost():
    child = op("pipeline.p.stage.a", "stage", name="A", sort=20, color="#fff000", description="Позвонить")
    pipeline = Operation("pipeline.p", "pipeline", "P", attrs=(("is_main", True), ("lost_name", "Отказ"),
                                                                ("name", "P"), ("won_name", "Оплачено")),
                         children=(child,))
    body = amo.pipeline_create_payload(pipeline, sort=10)
    statuses = body["_embedded"]["statuses"]
    assert statuses[0] == {"name": "A", "sort": 20, "color": "#fff000", "request_id": "pipeline.p.stage.a",
                           "descriptions": [{"level": "newbie", "description": "Позвонить"}]}
    assert {"id": 142, "name": "Оплачено"} in statuses and {"id": 143, "name": "Отказ"} in statuses
    assert body["is_main"] is True and body["request_id"] == "pipeline.p"


def test_required_statuses_resolve_keyless_addresses_by_their_id():
    ids = {"pipeline.p": "5", "pipeline.p.stage.s": "55"}
    body = amo.field_update_payload(op(changed=("required_at",), required_at=(
        "pipeline.p.stage.s", "pipeline.p.stage.#66", "pipeline.#7.stage.#77")), ids.get, None)
    assert body["required_statuses"] == [{"pipeline_id": 5, "status_id": 55}, {"pipeline_id": 5, "status_id": 66},
                                         {"pipeline_id": 7, "status_id": 77}]
