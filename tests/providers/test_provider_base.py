"""Helpers every provider shares: grouping child operations under their parent's remote id."""

from __future__ import annotations

import pytest

from implkit.providers.base import Operation, by_parent, required_id

IDS = {"pipeline.sales": "11", "pipeline.repeat": "22"}


def _stage(pipeline: str, key: str) -> Operation:
    return Operation(f"{pipeline}.stage.{key}", "stage", key, parent=pipeline)


def test_stages_are_grouped_under_their_pipelines_remote_id_in_first_seen_order():
    ops = [_stage("pipeline.repeat", "a"), _stage("pipeline.sales", "b"), _stage("pipeline.repeat", "c")]
    groups = by_parent(ops, IDS.get)
    assert [(pid, [op.name for op in group]) for pid, group in groups] == [("22", ["a", "c"]), ("11", ["b"])]


def test_a_parent_not_created_yet_names_both_addresses():
    with pytest.raises(LookupError, match=r"pipeline\.new\.stage\.x: pipeline\.new has no remote id yet"):
        by_parent([_stage("pipeline.new", "x")], IDS.get)
    assert required_id(IDS.get, "pipeline.sales", "field.leads.source") == "11"
