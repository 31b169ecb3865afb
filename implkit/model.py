"""The CRM-neutral model: what a blueprint describes and what a provider reads back.

Every configurable object has a stable `key`; its *address* (for example
`pipeline.sales.stage.new` or `field.leads.source`) is what state maps to a
remote id, so a rename is an update, never a delete + create.

The dataclasses are frozen; `Blueprint.from_dict` builds them from a
schema-validated plain dict and `Blueprint.to_dict` writes the canonical form
back (the order of keys is fixed, so output is byte-stable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

API_VERSION = "implkit/v1"
KIND = "Blueprint"

ENTITIES = ("leads", "contacts", "companies")
RIGHT_ACTIONS = ("view", "edit", "add", "delete", "export")
TASK_RIGHT_ACTIONS = ("edit", "delete")
# Neutral access levels; amoCRM letters: all=A, group=G, own=M, none=D.
RIGHT_LEVELS = ("all", "group", "own", "none")
FIELD_TYPES = (
    "text", "textarea", "numeric", "checkbox", "select", "multiselect", "radiobutton",
    "date", "date_time", "birthday", "url", "streetaddress", "monetary", "phone", "email",
)
OPTION_FIELD_TYPES = ("select", "multiselect", "radiobutton")
AUTOMATION_TRIGGERS = ("enter", "leave", "create", "no_activity")
AUTOMATION_ACTIONS = (
    "create_task", "send_message", "send_email", "send_sms", "change_stage", "change_responsible",
    "distribute", "generate_document", "webhook", "salesbot", "notify",
)
# Stage keys an automation may name for the pipeline's closing stages, which a blueprint does not list
# (amoCRM's 142 and 143, Bitrix24's success and failure stages): "a letter after a won deal". Their
# names default to amoCRM's system names (amocrm-api.md) unless the pipeline renames them.
SYSTEM_STAGES = {"won": "Успешно реализовано", "lost": "Закрыто и не реализовано"}
FEATURES = (
    "base", "messengers", "telephony", "documents", "web_forms", "digital_pipeline",
    "lead_distribution", "access_restrictions", "multiple_pipelines", "analytics", "external_analytics",
)
SELLER_GROUPS = ("1-2", "2-5", "5-10", "10-30", "30-100")


def seller_group_label(group: str | None) -> str | None:
    """A seller group as every output shows it: by its bounds, "5-10" → "6–10".

    SELLER_GROUPS are the practitioners' column names, kept as the blueprint's `sizing.group`
    value so existing files stay valid; their ranges touch (5 is in "2-5" and "5-10"), and the
    upper bound belongs to the group, so the lower bound is the previous group's upper + 1.
    An unknown value is shown as it is (validation reports it elsewhere).
    """
    if not group:
        return None
    if group not in SELLER_GROUPS:
        return group
    index = SELLER_GROUPS.index(group)
    lower = int(SELLER_GROUPS[index - 1].split("-")[1]) + 1 if index else 1
    return f"{lower}–{group.split('-')[1]}"


def name_identity(name: object) -> str:
    """What two names must differ in to be told apart: whitespace runs collapsed and trimmed, case folded.

    A person reading the CRM cannot tell «Продажи» from «продажи » either, and
    plan/apply adopts a live object by this identity after a lost answer, so
    the blueprint validator refuses two objects of one scope that share it.
    """
    return " ".join(str(name).split()).casefold()


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    color: str | None = None
    required_fields: tuple[str, ...] = ()  # field addresses, e.g. "field.leads.source"
    description: str | None = None

    def address(self, pipeline_key: str) -> str:
        return f"pipeline.{pipeline_key}.stage.{self.key}"


@dataclass(frozen=True)
class Automation:
    """A stage automation (digital pipeline / robot). The APIs cannot configure these: always manual."""

    on: str
    stage: str
    do: str
    text: str | None = None
    due: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    key: str | None = None

    @property
    def stable_key(self) -> str:
        return self.key or f"{self.stage}.{self.on}.{self.do}"

    def address(self, pipeline_key: str) -> str:
        return f"pipeline.{pipeline_key}.automation.{self.stable_key}"


@dataclass(frozen=True)
class Pipeline:
    key: str
    name: str
    stages: tuple[Stage, ...]
    automations: tuple[Automation, ...] = ()
    is_main: bool = False
    won_name: str | None = None  # renames of the system won / lost stages
    lost_name: str | None = None

    @property
    def address(self) -> str:
        return f"pipeline.{self.key}"

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def stage_name(self, key: str) -> str:
        """The name of a stage key an automation names: a listed stage, or the closing `won` / `lost`."""
        stage = self.stage(key)
        if stage is not None:
            return stage.name
        if key == "won":
            return self.won_name or SYSTEM_STAGES["won"]
        if key == "lost":
            return self.lost_name or SYSTEM_STAGES["lost"]
        return key


@dataclass(frozen=True)
class Field:
    entity: str
    key: str
    name: str
    type: str
    options: tuple[str, ...] = ()
    group: str | None = None
    code: str | None = None
    description: str | None = None

    @property
    def address(self) -> str:
        return f"field.{self.entity}.{self.key}"


@dataclass(frozen=True)
class Group:
    key: str
    name: str

    @property
    def address(self) -> str:
        return f"group.{self.key}"


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    # entity ("leads", "contacts", "companies", "tasks") -> action -> level
    rights: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def address(self) -> str:
        return f"role.{self.key}"

    def rights_dict(self) -> dict[str, dict[str, str]]:
        return {entity: dict(actions) for entity, actions in self.rights}


@dataclass(frozen=True)
class LossReason:
    key: str
    name: str

    @property
    def address(self) -> str:
        return f"loss_reason.{self.key}"


@dataclass(frozen=True)
class Integration:
    """A channel or connector: messenger, telephony, web form, document template, BI export."""

    kind: str  # messenger | telephony | web_form | document | bi
    key: str
    name: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def address(self) -> str:
        return f"integration.{self.kind}.{self.key}"


@dataclass(frozen=True)
class ManualStep:
    """Something the consultant does by hand; listed in the plan and the spec's checklist."""

    key: str
    title: str
    feature: str | None = None
    details: str | None = None

    @property
    def address(self) -> str:
        return f"manual.{self.key}"


@dataclass(frozen=True)
class Blueprint:
    name: str
    version: str
    company: str = ""
    sellers: int | None = None
    group: str | None = None
    features: tuple[str, ...] = ()
    groups: tuple[Group, ...] = ()
    roles: tuple[Role, ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    fields: tuple[Field, ...] = ()
    loss_reasons: tuple[LossReason, ...] = ()
    integrations: tuple[Integration, ...] = ()
    distribution: tuple[tuple[str, Any], ...] = ()
    analytics: tuple[tuple[str, Any], ...] = ()
    manual: tuple[ManualStep, ...] = ()
    extra_metadata: tuple[tuple[str, Any], ...] = ()
    audit: tuple[tuple[str, Any], ...] = ()  # how the audit may act on the tenant (`assign: false`)

    # --- lookups -------------------------------------------------------------
    def pipeline(self, key: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.key == key), None)

    def field(self, address: str) -> Field | None:
        return next((f for f in self.fields if f.address == address), None)

    def fields_of(self, entity: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.entity == entity)

    def addresses(self) -> Iterator[str]:
        """Every configurable object's address, in a stable order."""
        for g in self.groups:
            yield g.address
        for r in self.roles:
            yield r.address
        for p in self.pipelines:
            yield p.address
            for s in p.stages:
                yield s.address(p.key)
            for a in p.automations:
                yield a.address(p.key)
        for f in self.fields:
            yield f.address
        for lr in self.loss_reasons:
            yield lr.address
        for i in self.integrations:
            yield i.address
        for m in self.manual:
            yield m.address

    # --- (de)serialisation ----------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Blueprint":
        """Build from a plain, schema-valid dict (see blueprints/schema/blueprint.schema.json)."""
        meta = data.get("metadata") or {}
        sizing = data.get("sizing") or {}
        fields_by_entity = data.get("fields") or {}
        integrations = data.get("integrations") or {}
        return cls(
            name=meta.get("name", ""),
            version=str(meta.get("version", "")),
            company=meta.get("company", ""),
            sellers=sizing.get("sellers"),
            group=sizing.get("group"),
            features=tuple(data.get("features") or ()),
            groups=tuple(Group(g["key"], g["name"]) for g in data.get("groups") or ()),
            roles=tuple(
                Role(r["key"], r["name"], _freeze_rights(r.get("rights") or {}))
                for r in data.get("roles") or ()
            ),
            pipelines=tuple(_pipeline_from(p) for p in data.get("pipelines") or ()),
            fields=tuple(
                Field(entity, f["key"], f["name"], f["type"], tuple(f.get("options") or ()),
                      f.get("group"), f.get("code"), f.get("description"))
                for entity in ENTITIES
                for f in fields_by_entity.get(entity) or ()
            ),
            loss_reasons=tuple(LossReason(lr["key"], lr["name"]) for lr in data.get("loss_reasons") or ()),
            integrations=tuple(
                Integration(kind, i["key"], i["name"], _freeze(i.get("settings") or {}))
                for kind in sorted(integrations)
                for i in integrations[kind] or ()
            ),
            distribution=_freeze(data.get("distribution") or {}),
            analytics=_freeze(data.get("analytics") or {}),
            manual=tuple(
                ManualStep(m["key"], m["title"], m.get("feature"), m.get("details"))
                for m in data.get("manual") or ()
            ),
            extra_metadata=_freeze({k: v for k, v in meta.items() if k not in ("name", "version", "company")}),
            audit=_freeze(data.get("audit") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The canonical plain-dict form; `from_dict(to_dict())` gives an equal Blueprint."""
        out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND}
        meta: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.company:
            meta["company"] = self.company
        meta.update(_thaw(self.extra_metadata))
        out["metadata"] = meta
        if self.sellers is not None or self.group is not None:
            out["sizing"] = {k: v for k, v in (("sellers", self.sellers), ("group", self.group)) if v is not None}
        if self.features:
            out["features"] = list(self.features)
        if self.groups:
            out["groups"] = [{"key": g.key, "name": g.name} for g in self.groups]
        if self.roles:
            out["roles"] = [{"key": r.key, "name": r.name, "rights": r.rights_dict()} for r in self.roles]
        if self.pipelines:
            out["pipelines"] = [_pipeline_to(p) for p in self.pipelines]
        if self.fields:
            out["fields"] = {
                entity: [_field_to(f) for f in self.fields_of(entity)]
                for entity in ENTITIES if self.fields_of(entity)
            }
        if self.loss_reasons:
            out["loss_reasons"] = [{"key": lr.key, "name": lr.name} for lr in self.loss_reasons]
        if self.integrations:
            kinds: dict[str, list] = {}
            for i in self.integrations:
                item: dict[str, Any] = {"key": i.key, "name": i.name}
                if i.settings:
                    item["settings"] = _thaw(i.settings)
                kinds.setdefault(i.kind, []).append(item)
            out["integrations"] = kinds
        if self.distribution:
            out["distribution"] = _thaw(self.distribution)
        if self.analytics:
            out["analytics"] = _thaw(self.analytics)
        if self.manual:
            out["manual"] = [_drop_none({"key": m.key, "title": m.title, "feature": m.feature,
                                         "details": m.details}) for m in self.manual]
        if self.audit:
            out["audit"] = _thaw(self.audit)
        return out


def _pipeline_from(p: dict[str, Any]) -> Pipeline:
    return Pipeline(
        key=p["key"],
        name=p["name"],
        stages=tuple(
            Stage(s["key"], s["name"], s.get("color"), tuple(s.get("required_fields") or ()), s.get("description"))
            for s in p.get("stages") or ()
        ),
        automations=tuple(
            Automation(a["on"], a["stage"], a["do"], a.get("text"), a.get("due"),
                       _freeze(a.get("params") or {}), a.get("key"))
            for a in p.get("automations") or ()
        ),
        is_main=bool(p.get("is_main", False)),
        won_name=p.get("won_name"),
        lost_name=p.get("lost_name"),
    )


def _pipeline_to(p: Pipeline) -> dict[str, Any]:
    out: dict[str, Any] = {"key": p.key, "name": p.name}
    if p.is_main:
        out["is_main"] = True
    if p.won_name:
        out["won_name"] = p.won_name
    if p.lost_name:
        out["lost_name"] = p.lost_name
    out["stages"] = [
        _drop_none({"key": s.key, "name": s.name, "color": s.color,
                    "required_fields": list(s.required_fields) or None, "description": s.description})
        for s in p.stages
    ]
    if p.automations:
        out["automations"] = [
            _drop_none({"key": a.key, "on": a.on, "stage": a.stage, "do": a.do, "text": a.text, "due": a.due,
                        "params": _thaw(a.params) or None})
            for a in p.automations
        ]
    return out


def _field_to(f: Field) -> dict[str, Any]:
    return _drop_none({"key": f.key, "name": f.name, "type": f.type, "options": list(f.options) or None,
                       "group": f.group, "code": f.code, "description": f.description})


def _freeze_rights(rights: dict[str, dict[str, str]]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    return tuple((entity, tuple(actions.items())) for entity, actions in rights.items())


class Pairs(tuple):
    """A frozen mapping: a tuple of (key, value) pairs, told apart from a frozen list."""


def _freeze(value: Any) -> Any:
    """dict -> Pairs, list -> tuple, recursively, so frozen dataclasses stay hashable."""
    if isinstance(value, dict):
        return Pairs((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """The inverse of `_freeze` for the shapes it produces (pairs become dicts again)."""
    if isinstance(value, Pairs):
        return {k: _thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def thaw(value: Any) -> Any:
    """Public form of `_thaw` for settings/params/analytics tuples."""
    return _thaw(value)


# --- records read from a tenant (audit snapshot) --------------------------------


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str | None = None
    is_active: bool = True
    is_admin: bool = False
    group_id: str | None = None
    role_id: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    """Who the tenant is: the id that state is bound to, and its display name."""

    id: str
    name: str
    subdomain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
