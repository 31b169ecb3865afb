"""Addresses: how a place inside a blueprint is named to a person.

A path into the plain blueprint dict (`("pipelines", 0, "stages", 2, "color")`)
becomes the object's address plus the rest of the path
(`pipeline.sales.stage.meeting.color`), the same addresses that
`implkit.model` gives objects and that state maps to remote ids. Validation
messages, compose conflicts and `blueprint diff` all speak in these terms.
"""

from __future__ import annotations

from typing import Any

# (path of a keyed list, relative to its parent object) -> the address word of its items.
# A keyed list is a list of mappings, each with a unique `key`.
KEYED_LISTS: dict[tuple[str, ...], str] = {
    ("groups",): "group",
    ("roles",): "role",
    ("pipelines",): "pipeline",
    ("loss_reasons",): "loss_reason",
    ("manual",): "manual",
    ("fields", "leads"): "field.leads",
    ("fields", "contacts"): "field.contacts",
    ("fields", "companies"): "field.companies",
    ("integrations", "messenger"): "integration.messenger",
    ("integrations", "telephony"): "integration.telephony",
    ("integrations", "web_form"): "integration.web_form",
    ("integrations", "document"): "integration.document",
    ("integrations", "bi"): "integration.bi",
    ("distribution", "rules"): "distribution.rule",
    ("analytics", "funnel"): "analytics.funnel",
    ("analytics", "kpi"): "analytics.kpi",
    ("analytics", "reports"): "analytics.report",
}
# Keyed lists inside a pipeline: stages and automations, addressed under the pipeline.
PIPELINE_LISTS: dict[str, str] = {"stages": "stage", "automations": "automation"}


def item_key(item: Any, list_name: str = "") -> str | None:
    """The key an item of a keyed list is addressed by (automations fall back to stage.on.do)."""
    if not isinstance(item, dict):
        return None
    key = item.get("key")
    if isinstance(key, str) and key:
        return key
    if list_name == "automations" and all(isinstance(item.get(k), str) for k in ("stage", "on", "do")):
        return f"{item['stage']}.{item['on']}.{item['do']}"
    return None


def address_of(data: Any, path: tuple) -> str:
    """A readable address for `path` inside the plain blueprint `data`."""
    parts: list[str] = []
    node = data
    i = 0
    while i < len(path):
        step = path[i]
        # A keyed list at the top level (or one level down): `fields.leads`, `roles`.
        matched = False
        for length in (2, 1):
            prefix = tuple(path[i:i + length])
            if len(parts) == 0 and prefix in KEYED_LISTS and i + length < len(path):
                container = _walk(node, prefix)
                index = path[i + length]
                key = item_key(_index(container, index))
                word = KEYED_LISTS[prefix]
                parts.append(f"{word}.{key}" if key else f"{'.'.join(map(str, prefix))}[{index}]")
                node = _index(container, index)
                i += length + 1
                matched = True
                break
        if matched:
            continue
        if (len(parts) == 1 and parts[0].startswith("pipeline.") and step in PIPELINE_LISTS
                and i + 1 < len(path)):
            container = _walk(node, (step,))
            index = path[i + 1]
            item = _index(container, index)
            key = item_key(item, step)
            parts.append(f"{PIPELINE_LISTS[step]}.{key}" if key else f"{step}[{index}]")
            node = item
            i += 2
            continue
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(str(step))
        node = _walk(node, (step,))
        i += 1
    return ".".join(parts).replace(".[", "[") or "(document)"


def _walk(node: Any, steps: tuple) -> Any:
    for step in steps:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return None
    return node


def _index(container: Any, index: Any) -> Any:
    if isinstance(container, list) and isinstance(index, int) and 0 <= index < len(container):
        return container[index]
    return None


def semantic_address(sem: tuple) -> str:
    """A semantic path (list items named by their key) as an address: pipeline.sales.stage.new.name."""
    sem = tuple(str(s) for s in sem)
    for length in (2, 1):
        if sem[:length] in KEYED_LISTS and len(sem) > length:
            head = [f"{KEYED_LISTS[sem[:length]]}.{sem[length]}"]
            rest = list(sem[length + 1:])
            if sem[0] == "pipelines" and rest and rest[0] in PIPELINE_LISTS and len(rest) > 1:
                head.append(f"{PIPELINE_LISTS[rest[0]]}.{rest[1]}")
                rest = rest[2:]
            return ".".join(head + rest)
    return ".".join(sem)


def is_record_path(sem: tuple) -> bool:
    """Whether a semantic path ends at an item of a keyed list (an object with an address)."""
    sem = tuple(str(s) for s in sem)
    return sem[:-1] in KEYED_LISTS or (len(sem) == 4 and sem[0] == "pipelines" and sem[2] in PIPELINE_LISTS)


def is_keyed_list_path(sem: tuple) -> bool:
    """Whether a semantic path names a keyed list (top-level ones, or a pipeline's stages/automations)."""
    sem = tuple(str(s) for s in sem)
    return sem in KEYED_LISTS or (len(sem) == 3 and sem[0] == "pipelines" and sem[2] in PIPELINE_LISTS)


def object_address(sem: tuple) -> str:
    """The address of the innermost object (list item) a semantic path points into."""
    best = semantic_address(sem[:1])
    for length in range(2, len(sem) + 1):
        if is_record_path(sem[:length]):
            best = semantic_address(sem[:length])
    return best
