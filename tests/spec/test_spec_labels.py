"""No raw keys in a client's document: every setting name and enum value has a ru and en label.

Two checks: the data (every key and identifier-like value the presets, feature
modules and fixtures use is in blueprints/schema/labels.yaml or names an object
of the blueprint), and the output (every preset × language × format rendered,
and no raw key printed, except the names the blueprint itself gives its objects).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from implkit.data import blueprints_dir
from implkit.model import Blueprint
from implkit.spec.labels import RAW_KEY, label_settings, labels, unlabelled
from implkit.yamlio import load_yaml, to_plain

from spec_helpers import FIXTURES

PRESETS = sorted((blueprints_dir() / "presets").glob("*.yaml"))
SOURCES = PRESETS + sorted((blueprints_dir() / "features").glob("*.yaml")) + [FIXTURES / "b2b.yaml"]
FILE_NAME = re.compile(r"\.(docx|pdf|xlsx)$")


def _settings(document: dict):
    for items in (document.get("integrations") or {}).values():
        for item in items or ():
            yield item.get("settings") or {}
    for pipeline in document.get("pipelines") or ():
        for automation in pipeline.get("automations") or ():
            yield automation.get("params") or {}


def _object_keys(node):
    if isinstance(node, dict):
        if isinstance(node.get("key"), str):
            yield node["key"]
        for value in node.values():
            yield from _object_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _object_keys(value)


def _walk(settings):
    for key, value in settings.items():
        yield "key", key
        if key in ("pipeline", "stage"):  # where the lead lands: printed as the pipeline's and stage's names
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, dict):
                yield from _walk(v)
            else:
                yield "value", v


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_key_and_enum_value_has_a_label(source: Path):
    document = to_plain(load_yaml(source))
    # the keys of the document's own objects (a template, a rule, a pipeline) print as those objects' names
    names = {key: key for key in _object_keys(document)}
    missing = set()
    for settings in _settings(document):
        for kind, item in _walk(settings):
            if kind == "key" and item not in labels()["keys"]:
                missing.add(f"key {item}")
            if (kind == "value" and unlabelled(item, names) and not FILE_NAME.search(str(item))
                    and not str(item).startswith(("field.", "role.", "contact."))):
                missing.add(f"value {item}")
    assert not missing, f"add labels to blueprints/schema/labels.yaml: {sorted(missing)}"


def test_every_label_has_both_languages():
    for section in ("keys", "values"):
        for key, label in labels()[section].items():
            assert set(label) == {"ru", "en"} and all(isinstance(v, str) and v for v in label.values()), key


def test_settings_are_worded():
    assert label_settings({"channel": "same_as_incoming", "working_hours_only": False}, "ru") == (
        "Канал ответа: тот же канал, откуда пришло обращение; Только в рабочее время: нет")
    assert label_settings({"to": "role.head", "after": "24h"}, "en", {"role.head": "Head of sales"}) == (
        "To: Head of sales; after: 24 h")


def _text(path: Path, fmt: str) -> str:
    if fmt == "docx":
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            xml = archive.read("word/document.xml").decode("utf-8")
        return " ".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml))
    text = path.read_text(encoding="utf-8")
    if fmt == "html":
        text = re.sub(r"<style>.*?</style>", " ", text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
    return text.replace("\\", "")  # Markdown escapes: utm\_source is utm_source


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_no_unlabelled_value_in_a_rendered_spec(run_cli, tmp_path, preset, lang, fmt):
    output = tmp_path / f"spec.{fmt}"
    result = run_cli("spec", "render", "-b", preset, "--lang", lang, "--date", "2026-01-15", "-o", output)
    assert result.exit_code == 0, result.output
    blueprint = Blueprint.from_dict(to_plain(load_yaml(preset)))
    own_names = {f.name for entity in ("leads", "contacts", "companies") for f in blueprint.fields_of(entity)}
    raw = {token for token in RAW_KEY.findall(_text(output, fmt))
           if token not in own_names and not FILE_NAME.search(token)}
    assert not raw, f"raw keys in the {lang} {fmt} spec of {preset.stem}: {sorted(raw)}"
