"""C13 on amoCRM: an incoming call note with no conversation (params.duration 0) is a missed call."""

from __future__ import annotations

from implkit.providers.amocrm.records import note_row


def test_a_zero_length_incoming_call_is_stored_as_missed():
    call = {"id": 1, "entity_id": 5, "note_type": "call_in", "created_at": 10,
            "params": {"uniq": "x", "duration": 0, "source": "onlinePBX", "phone": "+79999999999"}}
    assert note_row("contacts", call)["note_type"] == "call_missed"
    assert note_row("contacts", {**call, "params": {**call["params"], "duration": 60}})["note_type"] == "call_in"
    assert note_row("contacts", {**call, "params": {}})["note_type"] == "call_in"  # no duration: unknown
    assert note_row("leads", {**call, "note_type": "call_out"})["note_type"] == "call_out"
