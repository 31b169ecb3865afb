"""Tailoring: narrow the merged feature modules to what the answers describe.

The modules carry a catalogue (every messenger, every document template);
the answers say which of them this company uses. Each rule below reads one
answer and only narrows or renames what a module defined, never invents
structure, so the result stays valid. A rule applies only when its answer
is present and names at least one item of the catalogue; otherwise the
module's defaults stand.

- `lead_channels` → messenger integrations (whatsapp, telegram, vk,
  instagram, avito) and the matching options of `field.leads.source`;
  naming none keeps WhatsApp and Telegram, the integrators' default.
- `telephony_provider` → the telephony integration's name and `provider`.
- `documents` → document templates (commercial_offer is the `proposal`
  template) and the `generate_document` automations that use dropped ones.
- `bi_tool` → the BI integration: the named tool replaces Yandex DataLens.
- `segments` (two or more) → one group a segment, after the sales group.
"""

from __future__ import annotations

import re
from typing import Any

from implkit.blueprint.names import slugify

MESSENGERS = ("whatsapp", "telegram", "vk", "instagram", "avito")
DEFAULT_MESSENGERS = ("whatsapp", "telegram")
TELEPHONY_NAMES = {"mango": "Mango Office", "sipuni": "Sipuni", "zadarma": "Zadarma", "beeline": "Билайн",
                   "mts": "МТС", "uis": "UIS"}
DOCUMENT_TEMPLATES = {"contract": "contract", "invoice": "invoice", "act": "act", "commercial_offer": "proposal"}
DEFAULT_BI = "datalens"

# Answers the rules read, in the order they apply (the compose header lists those present).
TAILORING_ANSWERS = ("lead_channels", "telephony_provider", "documents", "bi_tool", "segments")


def tailor(document: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Apply every rule to the plain `document` in place and return it."""
    _messengers(document, answers.get("lead_channels"))
    _telephony(document, answers.get("telephony_provider"))
    _documents(document, answers.get("documents"))
    _bi(document, answers.get("bi_tool"))
    _segments(document, answers.get("segments"))
    return document


def _integrations(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return (document.get("integrations") or {}).get(kind) or []


def _set_integrations(document: dict[str, Any], kind: str, items: list[dict[str, Any]]) -> None:
    integrations = document.setdefault("integrations", {})
    if items:
        integrations[kind] = items
    else:
        integrations.pop(kind, None)
        if not integrations:
            document.pop("integrations")


def _messengers(document: dict[str, Any], channels: Any) -> None:
    catalogue = _integrations(document, "messenger")
    if not catalogue:
        return
    named = [c for c in channels or () if c in MESSENGERS]
    keep = set(named or DEFAULT_MESSENGERS)
    dropped = {i["name"] for i in catalogue if i["key"] not in keep}
    _set_integrations(document, "messenger", [i for i in catalogue if i["key"] in keep])
    for field in (document.get("fields") or {}).get("leads") or []:
        if field["key"] == "source" and field.get("options"):
            field["options"] = [o for o in field["options"] if o not in dropped]


def _telephony(document: dict[str, Any], provider: Any) -> None:
    name = TELEPHONY_NAMES.get(provider) if isinstance(provider, str) else None
    if not name:
        return
    for integration in _integrations(document, "telephony"):
        integration["name"] = f"IP-телефония {name}"
        integration["settings"] = {"provider": provider, **(integration.get("settings") or {})}


def _documents(document: dict[str, Any], wanted: Any) -> None:
    catalogue = _integrations(document, "document")
    keep = {DOCUMENT_TEMPLATES[d] for d in wanted or () if d in DOCUMENT_TEMPLATES}
    if not catalogue or not keep:
        return
    dropped = {i["key"] for i in catalogue if i["key"] not in keep}
    _set_integrations(document, "document", [i for i in catalogue if i["key"] in keep])
    for pipeline in document.get("pipelines") or []:
        automations = [a for a in pipeline.get("automations") or []
                       if not (a["do"] == "generate_document" and (a.get("params") or {}).get("template") in dropped)]
        if automations:
            pipeline["automations"] = automations
        else:
            pipeline.pop("automations", None)


def _bi(document: dict[str, Any], tool: Any) -> None:
    catalogue = _integrations(document, "bi")
    name = tool.strip() if isinstance(tool, str) else ""
    if not name or not any(i["key"] == DEFAULT_BI for i in catalogue):
        return
    key = _key(name, "bi")
    if key == DEFAULT_BI:
        return
    replaced = [{**i, "key": key, "name": name} if i["key"] == DEFAULT_BI else i
                for i in catalogue if i["key"] != key]
    _set_integrations(document, "bi", replaced)


def _segments(document: dict[str, Any], segments: Any) -> None:
    names = [s.strip() for s in segments or () if isinstance(s, str) and s.strip()]
    if len(names) < 2:
        return
    groups = document.setdefault("groups", [])
    taken = {g["key"] for g in groups}
    at = next((i + 1 for i, g in enumerate(groups) if g["key"] == "sales"), len(groups))
    for name in names:
        key = _key(name, "segment")
        if key in taken:
            key = _key(f"segment {name}", "segment")
        if key in taken:
            continue
        taken.add(key)
        groups.insert(at, {"key": key, "name": f"Отдел продаж — {name}"})
        at += 1


def _key(text: str, fallback: str) -> str:
    """A blueprint key from free text: «Корпоративные клиенты» → korporativnye_klienty."""
    slug = slugify(text).replace("-", "_")
    if slug == "blueprint":
        return fallback
    if not re.match(r"[a-z]", slug):
        slug = f"{fallback}_{slug}"
    return slug[:64]
