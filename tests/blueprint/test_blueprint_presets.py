"""Presets and shipped modules: valid, round-trip through the model, amoCRM-safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from implkit.blueprint import load_blueprint, validate_file
from implkit.blueprint.compose import load_modules
from implkit.data import blueprints_dir
from implkit.model import Blueprint
from implkit.yamlio import load_yaml, to_plain

PRESETS = sorted((blueprints_dir() / "presets").glob("*.yaml"))
# amocrm-api.md §7.2: the documented status palette.
AMOCRM_PALETTE = {"#fffeb2", "#fffd7f", "#fff000", "#ffeab2", "#ffdc7f", "#ffce5a", "#ffdbdb", "#ffc8c8", "#ff8f92",
                  "#d6eaff", "#c1e0ff", "#98cbff", "#ebffb1", "#deff81", "#87f2c0", "#f9deff", "#f3beff", "#ccc8f9",
                  "#eb93ff", "#f2f3f4", "#e6e8ea"}


def test_the_three_presets_exist():
    assert [p.stem for p in PRESETS] == ["b2b-services", "manufacturer", "retail"]


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_validates_and_round_trips(path: Path):
    assert validate_file(path) == []
    bp = load_blueprint(path)
    assert Blueprint.from_dict(bp.to_dict()) == bp
    # The canonical form carries everything the file says.
    assert bp.to_dict() == to_plain(load_yaml(path))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_is_amocrm_safe(path: Path):
    bp = load_blueprint(path)
    for pipeline in bp.pipelines:
        assert len(pipeline.stages) <= 97
        for stage in pipeline.stages:
            assert stage.color is None or stage.color.lower() in AMOCRM_PALETTE, (pipeline.key, stage.key)
    for role in bp.roles:
        for entity, actions in role.rights_dict().items():
            assert actions.get("add", "all") in ("all", "none"), (role.key, entity)
    assert sum(p.is_main for p in bp.pipelines) == 1


def test_presets_fit_their_seller_groups():
    sizes = {p.stem: load_blueprint(p) for p in PRESETS}
    assert 6 <= sizes["b2b-services"].sellers <= 10
    assert 3 <= sizes["retail"].sellers <= 5
    assert 31 <= sizes["manufacturer"].sellers <= 100
    manufacturer = sizes["manufacturer"]
    assert len(manufacturer.pipelines) >= 4 and len(manufacturer.groups) >= 4
    assert manufacturer.distribution and manufacturer.integrations


def test_shipped_modules_are_amocrm_safe():
    for module in load_modules().values():
        for pipeline in module.data.get("pipelines", []):
            for stage in pipeline.get("stages", []):
                assert stage.get("color", "#c1e0ff") in AMOCRM_PALETTE, (module.feature, stage["key"])
        for role in module.data.get("roles", []):
            for entity, actions in role.get("rights", {}).items():
                assert actions.get("add", "all") in ("all", "none"), (module.feature, role["key"], entity)
