"""The Provider protocol: what the plan/apply and audit layers ask of a CRM.

A provider reads a tenant's configuration into the CRM-neutral `LiveConfig`
(every object with its remote id) and executes neutral create / update /
delete operations, batching them as its API allows. Nothing here names an
amoCRM or Bitrix24 concept: a provider translates both ways.

Vocabulary (one place, as Terraform's change lifecycle does):

- *desired*: what the blueprint says;
- *last applied*: what implkit wrote on its last successful apply (state);
- *live*: what the provider read just now.

Object kinds the plan knows, in dependency order (a kind may reference only
kinds before it): `pipeline`, `stage`, `field_group`, `field`, `role`.
`group` (user groups / departments) and `loss_reason` are read so the plan
can tell whether the consultant already created them by hand.

Attributes are plain values: str, int, bool, None, or tuples of those.
References to other objects are *addresses* in the plan (`pipeline.sales.
stage.won`) and remote ids in `LiveConfig`; the diff translates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

from implkit.model import AccountInfo, Blueprint, User

# Dependency order of the kinds apply writes; deletes run in reverse.
KINDS = ("pipeline", "stage", "field_group", "field", "role")
# Read-only kinds: present or missing, never written.
READONLY_KINDS = ("group", "loss_reason")

STAGE_NORMAL = "normal"
STAGE_UNSORTED = "unsorted"
STAGE_WON = "won"
STAGE_LOST = "lost"


# --- the live configuration, in neutral terms ------------------------------------


@dataclass(frozen=True)
class LiveStage:
    id: str
    name: str
    sort: int
    color: str | None = None
    kind: str = STAGE_NORMAL  # normal | unsorted | won | lost
    description: str | None = None  # what a newcomer is told about the stage (amoCRM: level "newbie")


@dataclass(frozen=True)
class LivePipeline:
    id: str
    name: str
    sort: int
    is_main: bool
    stages: tuple[LiveStage, ...] = ()
    is_archive: bool = False
    # whether any record (deal, lead) sits in the pipeline; None when the provider did not look. Bitrix24
    # reads it for the default pipeline, which apply may take over and whose stages it may then reuse.
    in_use: bool | None = None


@dataclass(frozen=True)
class LiveFieldGroup:
    entity: str
    id: str
    name: str
    sort: int = 0
    is_predefined: bool = False


@dataclass(frozen=True)
class LiveOption:
    id: str
    value: str
    sort: int = 0


@dataclass(frozen=True)
class LiveField:
    entity: str
    id: str
    name: str
    type: str  # a neutral type from model.FIELD_TYPES, or "other:<native>" for what has none
    code: str | None = None
    sort: int = 0
    options: tuple[LiveOption, ...] = ()
    group_id: str | None = None
    # (pipeline id, stage id) pairs where the field must be filled
    required_at: tuple[tuple[str, str], ...] = ()
    is_predefined: bool = False
    is_deletable: bool = True


@dataclass(frozen=True)
class LiveRole:
    id: str
    name: str
    # entity -> action -> neutral level (all | group | own | none)
    rights: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def rights_dict(self) -> dict[str, dict[str, str]]:
        return {entity: dict(actions) for entity, actions in self.rights}


@dataclass(frozen=True)
class LiveGroup:
    id: str
    name: str


@dataclass(frozen=True)
class LiveLossReason:
    id: str
    name: str
    sort: int = 0


@dataclass(frozen=True)
class LiveSource:
    id: str
    name: str
    pipeline_id: str | None = None


@dataclass(frozen=True)
class LiveWebhook:
    id: str
    destination: str  # secrets in query strings are redacted by the provider
    events: tuple[str, ...] = ()
    disabled: bool = False


@dataclass(frozen=True)
class LiveConfig:
    """Everything configurable a provider read from one tenant, with remote ids."""

    account: AccountInfo
    pipelines: tuple[LivePipeline, ...] = ()
    field_groups: tuple[LiveFieldGroup, ...] = ()
    fields: tuple[LiveField, ...] = ()
    roles: tuple[LiveRole, ...] = ()
    users: tuple[User, ...] = ()
    groups: tuple[LiveGroup, ...] = ()
    loss_reasons: tuple[LiveLossReason, ...] = ()
    sources: tuple[LiveSource, ...] = ()
    webhooks: tuple[LiveWebhook, ...] = ()


# --- what a provider can do ----------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What a provider can configure, as data the pure diff can read."""

    crm: str  # "amocrm" | "bitrix24": the name manual_steps() and the spec use
    writable: frozenset[str] = frozenset(KINDS)
    deletable: frozenset[str] = frozenset(KINDS)
    # (entity, neutral type) -> the neutral type the CRM stores it as (amoCRM keeps a
    # phone on a lead as text: the diff compares the stored form)
    stored_type: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # field codes a neutral type adopts (the predefined PHONE / EMAIL multitext fields)
    type_codes: Mapping[str, str] = field(default_factory=dict)
    # colours a stage may be given when the blueprint names none, in order
    stage_palette: tuple[str, ...] = ()
    # entities whose fields the API can make required at a stage (the rest: manual steps)
    required_entities: frozenset[str] = frozenset({"leads", "contacts", "companies"})
    # optional attributes this CRM manages, e.g. "stage.description"
    features: frozenset[str] = frozenset()
    # sort value of the first ordinary stage and the step between stages
    first_stage_sort: int = 20
    stage_sort_step: int = 10


# --- operations the executor hands to a provider -------------------------------------


@dataclass(frozen=True)
class Operation:
    """One object to create, update or delete, in neutral terms.

    `attrs` are the desired attributes (references as addresses; resolve them
    with the `resolve` callable the provider is given). `parent` is the
    address of the owning object (a stage's pipeline). `children` lets a
    provider create a pipeline with its stages in one request; it reports an
    id for every child it created, and the executor skips those.
    """

    address: str
    kind: str
    name: str
    attrs: tuple[tuple[str, object], ...] = ()
    remote_id: str | None = None
    parent: str | None = None
    changed: tuple[str, ...] = ()  # attribute names an update changes
    children: tuple["Operation", ...] = ()

    def attr(self, name: str, default: object = None) -> object:
        return dict(self.attrs).get(name, default)


Resolve = Callable[[str], "str | None"]  # address -> remote id (None if not created yet)
Recorder = Callable[[str, str], None]  # (address, remote id) as soon as the CRM confirms it


def required_id(resolve: Resolve, address: str, for_address: str) -> str:
    """The remote id of `address`, which `for_address` needs; LookupError if it was not created yet."""
    rid = resolve(address)
    if rid is None:
        raise LookupError(f"{for_address}: {address} has no remote id yet")
    return rid


def by_parent(ops: Sequence[Operation], resolve: Resolve) -> list[tuple[str, list[Operation]]]:
    """Operations grouped by their parent (a stage's pipeline), each group with the parent's remote id,
    in the order the parents first appear."""
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        groups.setdefault(op.parent or "", []).append(op)
    return [(required_id(resolve, parent, group[0].address), group) for parent, group in groups.items()]


@runtime_checkable
class Provider(Protocol):
    """A CRM, as plan/apply and the audit see it."""

    capabilities: Capabilities

    def account(self) -> AccountInfo:
        """Who the tenant is: the id state is bound to."""

    def read_config(self) -> LiveConfig:
        """Read every configurable object (pipelines, stages, fields, groups, roles, users...)."""

    def blueprint_problems(self, blueprint: Blueprint) -> list[tuple[tuple, str]]:
        """(key path in the blueprint file, message) for what this CRM cannot take as written."""

    def create(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        """Create objects of one kind in as few requests as the API allows.

        `record(address, id)` is called for each created object (and each
        child created with it) as soon as the answer arrives, batch by batch,
        so an interrupted run loses nothing it was told about.
        """

    def update(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        """Update objects of one kind; `record` is called for each confirmed update."""

    def delete(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        """Delete objects of one kind; `record` is called for each confirmed delete."""

    def requests_sent(self) -> int:
        """How many HTTP requests this provider has sent (for progress and benchmarks)."""

    def close(self) -> None:
        """Release connections."""
