"""Human labels of setting names and enum values (`blueprints/schema/labels.yaml`), for the spec.

`label_settings({"channel": "same_as_incoming"}, "ru")` gives
"Канал ответа: тот же канал, откуда пришло обращение". Addresses of the
blueprint's own objects (`field.leads.need`, `role.head`, a document
template's key) are printed by the object's name: the caller passes them in
`names` (see `object_names`). A value that is neither labelled nor a known
object is free text (a connector's name, a file name) and printed as written;
`unlabelled(value)` tells a test whether a value looks like a raw key.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Mapping

from implkit.blueprint.manual import format_duration
from implkit.data import blueprints_dir
from implkit.model import Blueprint
from implkit.yamlio import load_yaml, to_plain

# A raw key: a lower-case identifier with "_" or "." inside (same_as_incoming, role.head, field.leads.need).
RAW_KEY = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+(?![\w/-])")
_DURATION = re.compile(r"\d+\s*[mhd]")
_ROLE_WORDS = {"head": ("руководитель", "head"), "manager": ("менеджер", "manager")}


@cache
def labels() -> dict[str, dict[str, dict[str, str]]]:
    data = to_plain(load_yaml(blueprints_dir() / "schema" / "labels.yaml"))
    return {"keys": data.get("keys") or {}, "values": data.get("values") or {}}


def key_label(key: str, lang: str) -> str:
    found = labels()["keys"].get(key)
    return found[lang] if found else key


def value_label(value: Any, lang: str, names: Mapping[str, str] | None = None) -> str:
    if isinstance(value, bool):
        return ("да" if value else "нет") if lang == "ru" else ("yes" if value else "no")
    if isinstance(value, list):
        return ", ".join(value_label(v, lang, names) for v in value)
    if isinstance(value, dict):
        return label_settings(value, lang, names)
    text = str(value)
    if names and text in names:
        return names[text]
    found = labels()["values"].get(text)
    if found:
        return found[lang]
    if _DURATION.fullmatch(text):
        return format_duration(text, lang)
    return text


def label_settings(settings: Any, lang: str, names: Mapping[str, str] | None = None) -> str:
    """Settings as "Label: value; Label: value" (a nested mapping in parentheses)."""
    if not isinstance(settings, dict):
        return value_label(settings, lang, names)
    parts = []
    for key, value in settings.items():
        shown = value_label(value, lang, names)
        if isinstance(value, dict):
            shown = f"({shown})"
        parts.append(f"{key_label(str(key), lang)}: {shown}")
    return "; ".join(parts)


def object_names(blueprint: Blueprint, lang: str) -> dict[str, str]:
    """Addresses and keys of the blueprint's objects a setting may name → their names."""
    names: dict[str, str] = {}
    for entity in ("leads", "contacts", "companies"):
        for f in blueprint.fields_of(entity):
            names[f.address] = f.name
    standard = {"contact.name": ("имя контакта", "contact name"), "contact.phone": ("телефон контакта", "contact phone"),
                "contact.email": ("e-mail контакта", "contact e-mail")}
    for address, (ru, en) in standard.items():
        names[address] = ru if lang == "ru" else en
    for role in blueprint.roles:
        names[f"role.{role.key}"] = role.name
        names.setdefault(role.key, role.name)
    for pipeline in blueprint.pipelines:
        names.setdefault(pipeline.key, pipeline.name)
    for integration in blueprint.integrations:
        if integration.kind == "document":
            names.setdefault(integration.key, integration.name)
    from implkit.blueprint.manual import distribution_rules

    for rule in distribution_rules(blueprint):
        if rule.get("key"):
            names.setdefault(str(rule["key"]), str(rule.get("name") or rule["key"]))
    return names


def unlabelled(value: Any, names: Mapping[str, str] | None = None) -> bool:
    """Whether `value` would print as a raw key: an identifier-like string with no label and no object name."""
    if not isinstance(value, str) or (names and value in names) or value in labels()["values"]:
        return False
    return bool(re.fullmatch(r"[a-z][a-z0-9_.]*", value)) and not _DURATION.fullmatch(value)
