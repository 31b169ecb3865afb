"""amoCRM payloads ↔ the neutral model. Pure functions, no I/O.

Sources: amocrm-api.md §7.2 (pipelines, statuses, the colour palette), §7.3
(custom fields, groups, types), §7.4 (roles and rights), §3 (batch limits).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from implkit.lang import say
from implkit.model import ENTITIES, OPTION_FIELD_TYPES, AccountInfo, Blueprint
from implkit.providers.base import (
    STAGE_LOST, STAGE_NORMAL, STAGE_UNSORTED, STAGE_WON, Capabilities, LiveField, LiveFieldGroup, LiveGroup,
    LiveLossReason, LiveOption, LivePipeline, LiveRole, LiveSource, LiveStage, LiveWebhook, Operation,
)

CRM = "amocrm"

# What amoCRM cannot take as written, told at the blueprint's file:line:col in the user's language.
_MESSAGES = {
    "all_or_none": {"ru": "amoCRM принимает для `{action}` только all или none (здесь {level!r})",
                    "en": "amoCRM accepts only all or none for `{action}` (got {level!r})"},
    "palette": {"ru": "цвета {color} нет в документированной палитре этапов amoCRM",
                "en": "{color} is not in amoCRM's documented stage palette"},
    "stages": {"ru": "amoCRM допускает 100 этапов в воронке, включая 3 системных",
               "en": "amoCRM allows 100 stages a pipeline, the 3 system ones included"},
    "pipelines": {"ru": "amoCRM допускает 50 воронок в аккаунте", "en": "amoCRM allows 50 pipelines an account"},
}

WON_STATUS_ID = 142
LOST_STATUS_ID = 143
UNSORTED_TYPE = 1
# §3: at most 250 entities per write, 50 recommended; 50 custom fields a read page.
MAX_BATCH = 250
BATCH = 50
FIELDS_PAGE = 50
LIST_LIMIT = 250

# §7.2: the documented status palette, in the documented order.
STATUS_PALETTE = (
    "#fffeb2", "#fffd7f", "#fff000", "#ffeab2", "#ffdc7f", "#ffce5a", "#ffdbdb", "#ffc8c8", "#ff8f92",
    "#d6eaff", "#c1e0ff", "#98cbff", "#ebffb1", "#deff81", "#87f2c0", "#f9deff", "#f3beff", "#ccc8f9",
    "#eb93ff", "#f2f3f4", "#e6e8ea",
)

LEVEL_TO_LETTER = {"all": "A", "group": "G", "own": "M", "none": "D"}
LETTER_TO_LEVEL = {v: k for k, v in LEVEL_TO_LETTER.items()}
RIGHT_ENTITIES = ("leads", "contacts", "companies", "tasks")
ONLY_ALL_OR_NONE = ("add",)  # §7.4: `add` (and stage rights) take only A or D

# neutral field types amoCRM stores under the same name
SAME_TYPES = ("text", "textarea", "numeric", "checkbox", "select", "multiselect", "radiobutton", "date",
              "date_time", "birthday", "url", "streetaddress", "monetary")
MULTITEXT_CODES = {"phone": "PHONE", "email": "EMAIL"}
CODE_TYPES = {v: k for k, v in MULTITEXT_CODES.items()}

CAPABILITIES = Capabilities(
    crm=CRM,
    writable=frozenset({"pipeline", "stage", "field_group", "field", "role"}),
    deletable=frozenset({"pipeline", "stage", "field_group", "field", "role"}),
    # multitext exists on contacts and companies only (§7.3): a lead's phone is a text field
    stored_type={("leads", "phone"): "text", ("leads", "email"): "text"},
    type_codes=dict(MULTITEXT_CODES),
    stage_palette=STATUS_PALETTE,
    features=frozenset({"stage.description"}),
    # the sandbox (our reading of §7.3) accepts required_statuses on lead fields only
    required_entities=frozenset({"leads"}),
    first_stage_sort=20,  # the unsorted stage sits at 10
    stage_sort_step=10,
)


def chunks(items: Sequence[Any], size: int = BATCH) -> list[Sequence[Any]]:
    size = max(1, min(size, MAX_BATCH))
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- blueprint checks the schema cannot make ------------------------------------------


def blueprint_problems(bp: Blueprint) -> list[tuple[tuple, str]]:
    """(key path in the blueprint file, message) for what amoCRM cannot take as written."""
    out: list[tuple[tuple, str]] = []
    for i, role in enumerate(bp.roles):
        for entity, actions in role.rights:
            for action, level in actions:
                if action in ONLY_ALL_OR_NONE and level not in ("all", "none"):
                    out.append((("roles", i, "rights", entity, action),
                                say(_MESSAGES, "all_or_none", action=action, level=level)))
    for i, p in enumerate(bp.pipelines):
        for j, s in enumerate(p.stages):
            if s.color and s.color.lower() not in STATUS_PALETTE:
                out.append((("pipelines", i, "stages", j, "color"),
                            say(_MESSAGES, "palette", color=s.color)))
        if len(p.stages) + 3 > 100:
            out.append((("pipelines", i, "stages"), say(_MESSAGES, "stages")))
    if len(bp.pipelines) > 50:
        out.append((("pipelines",), say(_MESSAGES, "pipelines")))
    return out


# --- reading --------------------------------------------------------------------------


def account_info(data: Mapping[str, Any]) -> AccountInfo:
    return AccountInfo(id=str(data["id"]), name=str(data.get("name") or ""), subdomain=data.get("subdomain"),
                       extra={k: data.get(k) for k in ("country", "currency", "is_loss_reason_enabled",
                                                       "is_unsorted_on") if k in data})


def user_groups(data: Mapping[str, Any]) -> tuple[LiveGroup, ...]:
    groups = ((data.get("_embedded") or {}).get("users_groups")) or []
    return tuple(LiveGroup(str(g["id"]), str(g["name"])) for g in groups)


def stage_kind(status: Mapping[str, Any]) -> str:
    if status["id"] == WON_STATUS_ID:
        return STAGE_WON
    if status["id"] == LOST_STATUS_ID:
        return STAGE_LOST
    if status.get("type") == UNSORTED_TYPE:
        return STAGE_UNSORTED
    return STAGE_NORMAL


DESCRIPTION_LEVEL = "newbie"  # §7.2: up to three levels; the blueprint's one description is the first


def stage_description(status: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(description text, its id) at the level the blueprint's description maps to."""
    for d in status.get("descriptions") or ():
        if d.get("level") == DESCRIPTION_LEVEL:
            return str(d.get("description") or "") or None, str(d["id"]) if d.get("id") is not None else None
    return None, None


def pipeline_from(data: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]] | None = None) -> LivePipeline:
    """A pipeline; `statuses` (read with descriptions) replaces the embedded ones when given."""
    if statuses is None:
        statuses = (data.get("_embedded") or {}).get("statuses") or []
    stages = tuple(
        LiveStage(id=str(s["id"]), name=str(s["name"]), sort=int(s.get("sort") or 0),
                  color=(s.get("color") or None), kind=stage_kind(s), description=stage_description(s)[0])
        for s in sorted(statuses, key=lambda s: (s.get("sort") or 0, s["id"])))
    return LivePipeline(id=str(data["id"]), name=str(data["name"]), sort=int(data.get("sort") or 0),
                        is_main=bool(data.get("is_main")), stages=stages, is_archive=bool(data.get("is_archive")))


def field_type_from(native: str, code: str | None) -> str:
    if native == "multitext":
        return CODE_TYPES.get(code or "", "other:multitext")
    return native if native in SAME_TYPES else f"other:{native}"


def field_from(entity: str, data: Mapping[str, Any]) -> LiveField:
    enums = data.get("enums") or []
    required = data.get("required_statuses") or []
    return LiveField(
        entity=entity, id=str(data["id"]), name=str(data["name"]),
        type=field_type_from(str(data["type"]), data.get("code")), code=data.get("code") or None,
        sort=int(data.get("sort") or 0),
        options=tuple(LiveOption(str(e["id"]), str(e["value"]), int(e.get("sort") or 0)) for e in enums),
        group_id=str(data["group_id"]) if data.get("group_id") not in (None, "") else None,
        required_at=tuple(sorted((str(r["pipeline_id"]), str(r["status_id"])) for r in required)),
        is_predefined=bool(data.get("is_predefined")),
        is_deletable=bool(data.get("is_deletable", True)),
    )


def field_group_from(entity: str, data: Mapping[str, Any]) -> LiveFieldGroup:
    return LiveFieldGroup(entity=entity, id=str(data["id"]), name=str(data["name"]),
                          sort=int(data.get("sort") or 0), is_predefined=bool(data.get("is_predefined")))


def rights_from(rights: Mapping[str, Any] | None) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    out = []
    for entity in RIGHT_ENTITIES:
        actions = (rights or {}).get(entity)
        if isinstance(actions, dict):
            out.append((entity, tuple(sorted((a, LETTER_TO_LEVEL.get(str(v), str(v))) for a, v in actions.items()))))
    return tuple(out)


def role_from(data: Mapping[str, Any]) -> LiveRole:
    return LiveRole(id=str(data["id"]), name=str(data["name"]), rights=rights_from(data.get("rights")))


def loss_reason_from(data: Mapping[str, Any]) -> LiveLossReason:
    return LiveLossReason(id=str(data["id"]), name=str(data["name"]), sort=int(data.get("sort") or 0))


def source_from(data: Mapping[str, Any]) -> LiveSource:
    pid = data.get("pipeline_id")
    return LiveSource(id=str(data["id"]), name=str(data.get("name") or ""), pipeline_id=str(pid) if pid else None)


def webhook_from(data: Mapping[str, Any], redact: Callable[[str], str]) -> LiveWebhook:
    return LiveWebhook(id=str(data["id"]), destination=redact(str(data.get("destination") or "")),
                       events=tuple(data.get("settings") or ()), disabled=bool(data.get("disabled")))


# --- writing --------------------------------------------------------------------------

Resolve = Callable[[str], "str | None"]


def palette_colour(index: int) -> str:
    return STATUS_PALETTE[index % len(STATUS_PALETTE)]


def status_payload(op: Operation, index: int) -> dict[str, Any]:
    """A new status: name, sort, a palette colour when the blueprint names none, its description."""
    body = {"name": op.attr("name"), "sort": int(op.attr("sort") or 0),
            "color": op.attr("color") or palette_colour(index), "request_id": op.address}
    if op.attr("description"):
        body["descriptions"] = [{"level": DESCRIPTION_LEVEL, "description": op.attr("description")}]
    return body


def pipeline_create_payload(op: Operation, sort: int) -> dict[str, Any]:
    statuses = [status_payload(child, i) for i, child in enumerate(op.children)]
    if op.attr("won_name"):
        statuses.append({"id": WON_STATUS_ID, "name": op.attr("won_name")})
    if op.attr("lost_name"):
        statuses.append({"id": LOST_STATUS_ID, "name": op.attr("lost_name")})
    return {"name": op.attr("name"), "sort": sort, "is_main": bool(op.attr("is_main")),
            "is_unsorted_on": True, "request_id": op.address, "_embedded": {"statuses": statuses}}


def pipeline_update_payload(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "name" in op.changed:
        body["name"] = op.attr("name")
    if "is_main" in op.changed:
        body["is_main"] = bool(op.attr("is_main"))
    return body


def status_update_payload(op: Operation, description_id: str | None = None) -> dict[str, Any]:
    body = {k: op.attr(k) for k in ("name", "sort", "color") if k in op.changed}
    if "description" in op.changed:
        item: dict[str, Any] = {"level": DESCRIPTION_LEVEL, "description": op.attr("description")}
        if description_id is not None:
            item["id"] = int(description_id) if description_id.isdigit() else description_id
        body["descriptions"] = [item]
    return body


def native_field_type(entity: str, neutral: str) -> str:
    if neutral in MULTITEXT_CODES:
        return "multitext" if entity in ("contacts", "companies") else "text"
    return neutral


def resolve_ref(address: str, resolve: Resolve) -> str | None:
    """The remote id of `address`; an address ending in `#<id>` (an object without a key) names it itself."""
    last = address.rsplit(".", 1)[-1]
    return last[1:] if last.startswith("#") else resolve(address)


def required_statuses(op: Operation, resolve: Resolve) -> list[dict[str, int]]:
    out = []
    for stage_address in op.attr("required_at") or ():
        pipeline_address = stage_address.split(".stage.", 1)[0]
        pid, sid = resolve_ref(pipeline_address, resolve), resolve_ref(stage_address, resolve)
        if pid is None or sid is None:
            raise LookupError(f"{op.address}: required at {stage_address}, which has no id yet")
        out.append({"pipeline_id": int(pid), "status_id": int(sid)})
    return out


def enums_payload(options: Sequence[str], live: Sequence[LiveOption] = ()) -> list[dict[str, Any]]:
    """Options in blueprint order; an option that exists keeps its id (and so its values)."""
    by_value = {o.value: o.id for o in live}
    out = []
    for i, value in enumerate(options):
        item: dict[str, Any] = {"value": value, "sort": (i + 1) * 10}
        if value in by_value:
            item["id"] = int(by_value[value])
        out.append(item)
    return out


def field_create_payload(entity: str, op: Operation, resolve: Resolve, sort: int) -> dict[str, Any]:
    neutral = str(op.attr("type"))
    body: dict[str, Any] = {"type": native_field_type(entity, neutral), "name": op.attr("name"), "sort": sort,
                            "request_id": op.address}
    code = op.attr("code") or (MULTITEXT_CODES.get(neutral) if body["type"] == "multitext" else None)
    if code:
        body["code"] = code
    if neutral in OPTION_FIELD_TYPES:
        body["enums"] = enums_payload(op.attr("options") or ())
    if op.attr("group"):
        body["group_id"] = _group_id(op, resolve)
    if op.attr("required_at"):
        body["required_statuses"] = required_statuses(op, resolve)
    return body


def field_update_payload(op: Operation, resolve: Resolve, live: LiveField | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": int(op.remote_id or 0)}
    if "name" in op.changed:
        body["name"] = op.attr("name")
    if "code" in op.changed:
        body["code"] = op.attr("code")
    if "options" in op.changed:
        body["enums"] = enums_payload(op.attr("options") or (), live.options if live else ())
    if "group" in op.changed:
        body["group_id"] = _group_id(op, resolve)
    if "required_at" in op.changed:
        body["required_statuses"] = required_statuses(op, resolve)
    return body


def _group_id(op: Operation, resolve: Resolve) -> str:
    gid = resolve(str(op.attr("group")))
    if gid is None:
        raise LookupError(f"{op.address}: its field group {op.attr('group')} has no id yet")
    return gid


def group_payload(op: Operation, sort: int) -> dict[str, Any]:
    return {"name": op.attr("name"), "sort": sort, "request_id": op.address}


def rights_payload(attrs: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Neutral `rights.<entity>.<action>` attributes over `base` (the live rights, kept where unmanaged)."""
    rights: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
    for key, level in attrs.items():
        if not key.startswith("rights.") or level is None:
            continue
        _, entity, action = key.split(".", 2)
        rights.setdefault(entity, {})[action] = LEVEL_TO_LETTER[str(level)]
    return rights


def role_create_payload(op: Operation) -> dict[str, Any]:
    return {"name": op.attr("name"), "rights": rights_payload(dict(op.attrs)), "request_id": op.address}


def role_update_payload(op: Operation, live_rights: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "name" in op.changed:
        body["name"] = op.attr("name")
    if any(c.startswith("rights.") for c in op.changed):
        body["rights"] = rights_payload(dict(op.attrs), _without_status_rights(live_rights))
    return body


def _without_status_rights(rights: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (rights or {}).items() if k in RIGHT_ENTITIES}


def collection(data: Any, key: str) -> list[dict[str, Any]]:
    """The `_embedded.<key>` items of a HAL answer (a bare list is taken as is)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return list(((data.get("_embedded") or {}).get(key)) or [])
    return []


ENTITY_PATHS = {entity: f"/api/v4/{entity}/custom_fields" for entity in ENTITIES}
