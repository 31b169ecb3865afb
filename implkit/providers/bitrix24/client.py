"""The Bitrix24 provider: reads a portal's configuration and writes neutral operations as `batch` calls.

| kind | create | update | delete |
|---|---|---|---|
| pipeline (+ its stages) | `crm.category.add` (the blueprint's main pipeline takes over the default pipeline 0, which Bitrix24 cannot replace), then the fresh pipeline's default stages are reused in order, renamed, re-sorted and re-coloured; missing ones added, the rest deleted (the default pipeline's stages only while it holds no deal) | `crm.category.update`; won/lost names on the pipeline's S / first F stage | `crm.category.delete` |
| stage | `crm.status.add` into `DEAL_STAGE[_id]` | `crm.status.update` | `crm.status.delete` |
| field | `crm.{deal,contact,company}.userfield.add` | `….userfield.update` (LIST items by ID, `DEL: Y`) | `….userfield.delete` |

Writes of one kind go out as `batch` calls of up to 50 commands (one HTTP
request each); every id is recorded as its batch answers. The final stages
(success, failures) are moved behind the highest in-progress sort first, as
the portal refuses a stage sorted after the success stage (§8.4).

Roles, rights, stage automation and field groups have no REST method
(§9): the plan lists them as manual steps (`implkit.blueprint.manual`).
A batch whose answer is lost raises `WriteOutcomeUnknown` from the HTTP
client; the apply executor re-reads the portal and reconciles by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from implkit.errors import ApiError
from implkit.http import HttpClient
from implkit.lang import say
from implkit.model import ENTITIES, AccountInfo, Blueprint, User
from implkit.providers.base import (
    STAGE_LOST, STAGE_NORMAL, STAGE_WON, LiveConfig, LiveField, LiveFieldGroup, LivePipeline, LiveStage, Operation,
    Recorder, Resolve, by_parent,
)
from implkit.providers.bitrix24 import mapping as b24
from implkit.providers.bitrix24.transport import MAX_BATCH, PAGE, B24Error, Bitrix24Api, Command

_MESSAGES = {
    "colour": {"ru": "{color} — не цвет вида #RRGGBB", "en": "{color} is not a #RRGGBB colour"},
    "pipelines": {"ru": "портал отказался принять воронки:", "en": "the portal refused the pipelines:"},
    "stages": {"ru": "портал отказался принять часть этапов:", "en": "the portal refused some pipeline stages:"},
    "changes": {"ru": "портал отказался принять часть изменений:", "en": "the portal refused some changes:"},
}

USERS_CHAIN = 10  # users read with the configuration: 10 chained pages (500) in the same batch
DEFAULT_IN_USE = "deals_in_default"
DEFAULT_DEALS = {"filter": {"CATEGORY_ID": 0}, "select": ["ID"], "start": -1}  # one page at most: presence


class Bitrix24Provider:
    """`implkit.providers.base.Provider` for a Bitrix24 portal (and the sandbox, which answers the same)."""

    capabilities = b24.CAPABILITIES

    def __init__(self, http: HttpClient, portal_url: str, *, api: Bitrix24Api | None = None):
        self.http = http
        self.api = api or Bitrix24Api(http)
        self.portal_url = portal_url.rstrip("/")
        self._live: LiveConfig | None = None
        self._codes: dict[str, str] = {}  # status row ID → STATUS_ID, for new stages' unique codes
        self._writes = 0  # batch requests that carried writes

    # --- reading ------------------------------------------------------------------------------

    def account(self) -> AccountInfo:
        return b24.account_info(self.portal_url)

    def read_config(self) -> LiveConfig:
        """Pipelines, stages, user fields, departments, sources and users: one `batch` request (more only
        past 500 users or 50 departments)."""
        commands = [
            Command("categories", "crm.category.list", {"entityTypeId": b24.DEALS}),
            Command("statuses", "crm.status.list", {"order": {"SORT": "ASC"}}),
            *(Command(f"uf_{e}", f"{b24.ENTITY_METHODS[e]}.userfield.list",
                      {"order": {"SORT": "ASC", "ID": "ASC"}, "filter": {"LANG": b24.READ_LANG}}) for e in ENTITIES),
            Command("departments", "department.get", {"sort": "ID", "order": "ASC", "start": 0}),
            # does a deal sit in the default pipeline? (its stages are reused only while none does)
            Command(DEFAULT_IN_USE, "crm.deal.list", DEFAULT_DEALS),
        ]
        for i in range(USERS_CHAIN):
            cursor = 0 if i == 0 else f"$result[u{i - 1}][{PAGE - 1}][ID]"
            commands.append(Command(f"u{i}", "user.get", {"sort": "ID", "order": "ASC", "FILTER": {">ID": cursor},
                                                         "start": -1}))
        answer = self.api.batch(commands)
        for label in ("categories", "statuses", *(f"uf_{e}" for e in ENTITIES)):
            if label in answer.errors:
                raise answer.errors[label]
        categories = (answer.results.get("categories") or {}).get("categories") or []
        statuses = list(answer.results.get("statuses") or [])
        pipelines = b24.pipelines_from(categories, statuses)
        if DEFAULT_IN_USE not in answer.errors:
            in_use = bool(answer.results.get(DEFAULT_IN_USE))
            pipelines = tuple(replace(p, in_use=in_use) if p.id == "0" else p for p in pipelines)
        self._codes = {str(s["ID"]): str(s.get("STATUS_ID") or "") for s in statuses}
        fields: list[LiveField] = []
        for entity in ENTITIES:
            fields += [b24.field_from(entity, f) for f in answer.results.get(f"uf_{entity}") or []]
            fields += b24.multifields(entity)
        groups = {(f.entity, f.group_id): f.group_id[len("xml:"):] for f in fields if f.group_id}
        field_groups = tuple(LiveFieldGroup(entity=e, id=gid, name=name) for (e, gid), name in sorted(groups.items()))
        departments = self._departments(answer)
        users = self._users(answer)
        self._live = LiveConfig(
            account=self.account(), pipelines=pipelines, field_groups=field_groups, fields=tuple(fields),
            users=users, groups=tuple(b24.group_from(d) for d in departments),
            sources=tuple(b24.source_from(s) for s in statuses if s.get("ENTITY_ID") == "SOURCE"))
        return self._live

    def _departments(self, answer) -> list[dict[str, Any]]:
        if "departments" in answer.errors:  # no `department` scope on the webhook: no groups to compare
            return []
        rows = list(answer.results.get("departments") or [])
        while len(rows) % PAGE == 0 and rows:
            more = self.api.result("department.get", {"sort": "ID", "order": "ASC", "start": len(rows)}) or []
            rows += more
            if len(more) < PAGE:
                break
        return rows

    def _users(self, answer) -> tuple[User, ...]:
        rows: list[dict[str, Any]] = []
        for i in range(USERS_CHAIN):
            if f"u{i}" in answer.errors:
                return ()  # no `user` scope: users are only informative for the plan
            page = list(answer.results.get(f"u{i}") or [])
            rows += page
            if len(page) < PAGE:
                break
        else:
            for more in self.api.export_chain("user.get", after_id=int(rows[-1]["ID"]), filter_key="FILTER",
                                              order={"sort": "ID", "order": "ASC"}):
                rows += more
        return tuple(b24.user_from(u) for u in rows)

    def blueprint_problems(self, blueprint: Blueprint) -> list[tuple[tuple, str]]:
        out: list[tuple[tuple, str]] = []
        for i, p in enumerate(blueprint.pipelines):
            for j, s in enumerate(p.stages):
                if s.color and not _is_hex_colour(s.color):
                    out.append((("pipelines", i, "stages", j, "color"), say(_MESSAGES, "colour", color=s.color)))
        return out

    def requests_sent(self) -> int:
        return self.http.stats.total

    def writes_sent(self) -> int:
        """Requests that carried writes (every Bitrix24 call is a POST, so the HTTP method cannot tell)."""
        return self._writes

    def close(self) -> None:
        self.http.close()

    # --- writing ------------------------------------------------------------------------------

    def create(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        if kind == "pipeline":
            self._create_pipelines(list(ops), record)
        elif kind == "stage":
            commands, confirm = [], {}
            for pid, stage_ops in by_parent(ops, resolve):
                live = self._pipeline(pid)
                stages = list(live.stages) if live else []
                new_sorts = [int(op.attr("sort") or 0) for op in stage_ops]
                commands += self._final_stage_moves(pid, stages, max(new_sorts, default=0))
                taken = {self._bare_code(pid, self._codes.get(s.id, "")) for s in stages}
                for op in stage_ops:
                    label = f"add_{len(confirm)}"
                    commands.append(Command(label, "crm.status.add", {"fields": self._stage_fields(pid, op, taken)}))
                    confirm[label] = op
            self._write(commands, confirm, record, created=True)
        elif kind == "field":
            commands, confirm = [], {}
            for op in ops:
                entity = op.address.split(".")[1]
                fields = b24.field_add_fields(op)
                fields["FIELD_NAME"] = self._free_uf_name(entity, fields["FIELD_NAME"])
                label = f"add_{len(confirm)}"
                commands.append(Command(label, f"{b24.ENTITY_METHODS[entity]}.userfield.add", {"fields": fields}))
                confirm[label] = op
            self._write(commands, confirm, record, created=True)
        else:
            raise ValueError(f"Bitrix24 cannot create a {kind} through its API")

    def update(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        commands: list[Command] = []
        confirm: dict[str, Operation] = {}
        if kind == "pipeline":
            for op in ops:
                label = f"upd_{len(confirm)}"
                if "name" in op.changed:
                    commands.append(Command(label, "crm.category.update", {
                        "entityTypeId": b24.DEALS, "id": op.remote_id, "fields": {"name": op.attr("name")}}))
                live = self._pipeline(str(op.remote_id))
                for attr, stage_kind in (("won_name", STAGE_WON), ("lost_name", STAGE_LOST)):
                    stage = next((s for s in (live.stages if live else ()) if s.kind == stage_kind), None)
                    if attr in op.changed and stage is not None:
                        commands.append(Command(f"{label}_{attr}", "crm.status.update",
                                                {"id": stage.id, "fields": {"NAME": op.attr(attr)}}))
                # is_main: the default deal pipeline cannot be changed (§8.2); nothing to send
                confirm[label] = op
        elif kind == "stage":
            for pid, stage_ops in by_parent(ops, resolve):
                live = self._pipeline(pid)
                sorts = [int(op.attr("sort") or 0) for op in stage_ops if "sort" in op.changed]
                commands += self._final_stage_moves(pid, list(live.stages) if live else [], max(sorts, default=0))
                for op in stage_ops:
                    label = f"upd_{len(confirm)}"
                    fields = {native: op.attr(attr) for attr, native in (("name", "NAME"), ("sort", "SORT"),
                                                                         ("color", "COLOR")) if attr in op.changed}
                    commands.append(Command(label, "crm.status.update", {"id": op.remote_id, "fields": fields}))
                    confirm[label] = op
        elif kind == "field":
            for op in ops:
                entity = op.address.split(".")[1]
                live = next((f for f in (self._live.fields if self._live else ()) if f.id == str(op.remote_id)
                             and f.entity == entity), None)
                label = f"upd_{len(confirm)}"
                commands.append(Command(label, f"{b24.ENTITY_METHODS[entity]}.userfield.update",
                                        {"id": op.remote_id, "fields": b24.field_update_fields(op, live)}))
                confirm[label] = op
        else:
            raise ValueError(f"Bitrix24 cannot update a {kind} through its API")
        self._write(commands, confirm, record, created=False)

    def delete(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        commands: list[Command] = []
        confirm: dict[str, Operation] = {}
        for op in ops:
            label = f"del_{len(confirm)}"
            if kind == "pipeline":
                commands.append(Command(label, "crm.category.delete", {"entityTypeId": b24.DEALS, "id": op.remote_id}))
            elif kind == "stage":
                commands.append(Command(label, "crm.status.delete", {"id": op.remote_id}))
            elif kind == "field":
                method = b24.ENTITY_METHODS[op.address.split(".")[1]]
                commands.append(Command(label, f"{method}.userfield.delete", {"id": op.remote_id}))
            else:
                raise ValueError(f"Bitrix24 cannot delete a {kind} through its API")
            confirm[label] = op
        self._write(commands, confirm, record, created=False, gone_ok=True)

    # --- pipelines with their stages -----------------------------------------------------------

    def _create_pipelines(self, ops: list[Operation], record: Recorder) -> None:
        takes_default = next((op for op in ops if op.attr("is_main")), None)
        commands = []
        for i, op in enumerate(ops):
            if op is takes_default:
                commands.append(Command(f"p{i}", "crm.category.update", {
                    "entityTypeId": b24.DEALS, "id": 0, "fields": {"name": op.attr("name")}}))
            else:
                commands.append(Command(f"p{i}", "crm.category.add", {
                    "entityTypeId": b24.DEALS, "fields": {"name": op.attr("name")}}))
        answer = self._run(commands)
        pipeline_ids: dict[int, str] = {}
        failures = []
        for i, op in enumerate(ops):
            error = answer.errors.get(f"p{i}")
            if error is not None:
                failures.append(f"  {op.address}: {error}")
                continue
            pipeline_ids[i] = "0" if op is takes_default else str(
                ((answer.results.get(f"p{i}") or {}).get("category") or {}).get("id"))
            record(op.address, pipeline_ids[i])
        if not pipeline_ids:
            raise ApiError(say(_MESSAGES, "pipelines") + "\n" + "\n".join(failures))
        # the stages a fresh pipeline was given, to reuse in order; the default pipeline's only while no deal
        # sits in it (renaming a stage that holds deals would change what those deals mean)
        reads = [Command(f"s{i}", "crm.status.list",
                         {"filter": {"ENTITY_ID": b24.stage_entity(pid)}, "order": {"SORT": "ASC"}})
                 for i, pid in pipeline_ids.items()]
        if "0" in pipeline_ids.values():
            reads.append(Command(DEFAULT_IN_USE, "crm.deal.list", DEFAULT_DEALS))
        listing = self.api.batch(reads)
        default_in_use = bool(listing.results.get(DEFAULT_IN_USE))
        stage_commands: list[Command] = []
        confirm: dict[str, Operation] = {}
        for i, pid in pipeline_ids.items():
            op = ops[i]
            rows = [r for r in listing.results.get(f"s{i}") or [] if isinstance(r, dict)]
            stages = [LiveStage(id=str(r["ID"]), name=str(r.get("NAME") or ""), sort=int(r.get("SORT") or 0),
                                color=r.get("COLOR"), kind=b24.stage_kind(r)) for r in rows]
            codes = {str(r["ID"]): str(r.get("STATUS_ID") or "") for r in rows}
            in_progress = [s for s in stages if s.kind == STAGE_NORMAL and not (pid == "0" and default_in_use)]
            children = list(op.children)
            top = max([int(c.attr("sort") or 0) for c in children], default=0)
            stage_commands += self._final_stage_moves(pid, stages, top)
            for kind_, attr in ((STAGE_WON, "won_name"), (STAGE_LOST, "lost_name")):
                stage = next((s for s in stages if s.kind == kind_), None)
                if op.attr(attr) and stage is not None and stage.name != op.attr(attr):
                    stage_commands.append(Command(f"p{i}_{attr}", "crm.status.update",
                                                  {"id": stage.id, "fields": {"NAME": op.attr(attr)}}))
            taken = {self._bare_code(pid, c) for c in codes.values()}
            for j, child in enumerate(children):
                label = f"p{i}_c{j}"
                if j < len(in_progress):
                    reused = in_progress[j]
                    fields = {"NAME": child.attr("name"), "SORT": int(child.attr("sort") or 0),
                              "COLOR": child.attr("color") or reused.color or b24.palette_colour(j)}
                    stage_commands.append(Command(label, "crm.status.update", {"id": reused.id, "fields": fields}))
                    confirm[label] = replace(child, remote_id=reused.id)
                else:
                    stage_commands.append(Command(label, "crm.status.add",
                                                  {"fields": self._stage_fields(pid, child, taken, index=j)}))
                    confirm[label] = child
            for k, leftover in enumerate(in_progress[len(children):]):
                stage_commands.append(Command(f"p{i}_drop{k}", "crm.status.delete", {"id": leftover.id}))
        answer = self._run(stage_commands)
        failures = []
        for label, child in confirm.items():
            error = answer.errors.get(label)
            if error is not None:
                failures.append(f"  {child.address}: {error}")
                continue
            record(child.address, str(child.remote_id) if child.remote_id else str(answer.results.get(label)))
        for label, error in answer.errors.items():
            if label.endswith(("won_name", "lost_name")):
                failures.append(f"  {label}: {error}")
            # a leftover default stage that holds deals stays (unmanaged): its delete error is not fatal
        if failures:
            raise ApiError(say(_MESSAGES, "stages") + "\n" + "\n".join(failures))

    def _final_stage_moves(self, pid: str, stages: Sequence[LiveStage], top: int) -> list[Command]:
        """Move the success and failure stages behind `top` (the portal keeps in-progress < success < failure)."""
        finals = sorted((s for s in stages if s.kind != STAGE_NORMAL), key=lambda s: (s.sort, s.kind != STAGE_WON))
        if not finals or min(s.sort for s in finals) > top:
            return []
        won_first = sorted(finals, key=lambda s: (s.kind != STAGE_WON, s.sort))
        return [Command(f"final_{pid}_{n}", "crm.status.update", {"id": s.id, "fields": {"SORT": top + 10 * (n + 1)}})
                for n, s in enumerate(won_first)]

    def _stage_fields(self, pid: str, op: Operation, taken: set[str], index: int = 0) -> dict[str, Any]:
        prefix = "" if pid == "0" else f"C{pid}:"
        return {"ENTITY_ID": b24.stage_entity(pid), "STATUS_ID": prefix + b24.stage_code(op, taken),
                "NAME": op.attr("name"), "SORT": int(op.attr("sort") or 0),
                "COLOR": op.attr("color") or b24.palette_colour(index)}

    @staticmethod
    def _bare_code(pid: str, code: str) -> str:
        prefix = f"C{pid}:"
        return code[len(prefix):] if code.startswith(prefix) else code

    def _pipeline(self, pid: str) -> LivePipeline | None:
        if self._live is None:
            self.read_config()
        return next((p for p in self._live.pipelines if p.id == str(pid)), None) if self._live else None

    def _free_uf_name(self, entity: str, wanted: str) -> str:
        """A FIELD_NAME no live field of `entity` has (the portal refuses a duplicate)."""
        if self._live is None:
            self.read_config()
        taken = {b24.UF_PREFIX + (f.code or "") for f in (self._live.fields if self._live else ()) if f.entity == entity}
        name, n = wanted, 1
        while name in taken:
            n += 1
            suffix = f"_{n}"
            name = wanted[:b24.UF_MAX - len(suffix)] + suffix
        return name

    # --- batches ---------------------------------------------------------------------------------

    def _run(self, commands: list[Command]):
        if not commands:
            from implkit.providers.bitrix24.transport import BatchAnswer
            return BatchAnswer({}, {}, {})
        self._writes += -(-len(commands) // MAX_BATCH)
        return self.api.batch(commands, write=True)

    def _write(self, commands: list[Command], confirm: dict[str, Operation], record: Recorder, *, created: bool,
               gone_ok: bool = False) -> None:
        """Send `commands` in batches; record every confirmed operation; raise naming the refused ones."""
        answer = self._run(commands)
        failures = []
        for label, op in confirm.items():
            errors = [e for key, e in answer.errors.items() if key == label or key.startswith(label + "_")]
            if gone_ok:
                errors = [e for e in errors if not _is_not_found(e)]
            if errors:
                failures.append(f"  {op.address}: {errors[0]}")
                continue
            result = answer.results.get(label)
            if created:
                if result in (None, False, ""):
                    failures.append(f"  {op.address}: the portal answered no id")
                    continue
                record(op.address, str(result))
            else:
                record(op.address, str(op.remote_id))
        failures += [f"  {key}: {e}" for key, e in answer.errors.items() if key.startswith("final_")]
        if failures:
            raise ApiError(say(_MESSAGES, "changes") + "\n" + "\n".join(failures))


def _is_not_found(error: B24Error) -> bool:
    text = f"{error.code} {error.description}".lower()
    return "not found" in text or "not_found" in text


def _is_hex_colour(value: str) -> bool:
    import re

    return bool(re.fullmatch(r"#[0-9a-fA-F]{6}", value or ""))


