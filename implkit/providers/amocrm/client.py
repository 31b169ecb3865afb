"""The amoCRM provider: reads a tenant's configuration and writes neutral operations as API v4 calls.

Transport (rate limit, retries, auth, redaction) is `implkit.http.HttpClient`;
this module only knows amoCRM's paths and batching:

| kind | create | update | delete |
|---|---|---|---|
| pipeline (+ its stages) | POST /leads/pipelines, ≤ 50 a batch, statuses embedded | PATCH /leads/pipelines/{id} | DELETE /leads/pipelines/{id} |
| stage | POST /leads/pipelines/{pid}/statuses, ≤ 50 a batch | PATCH …/statuses/{id} | DELETE …/statuses/{id} |
| field group | POST /{entity}/custom_fields/groups, ≤ 50 | PATCH …/groups/{id} | DELETE …/groups/{id} |
| field | POST /{entity}/custom_fields, ≤ 50 | PATCH /{entity}/custom_fields, ≤ 50 | DELETE …/custom_fields/{id} |
| role | POST /roles (one object, as documented) | PATCH /roles/{id} | DELETE /roles/{id} |

Every POST item carries its address as `request_id`, which amoCRM echoes, so
created ids are matched to addresses without guessing. A POST or PATCH whose
outcome is unknown (5xx, dropped connection) raises `WriteOutcomeUnknown`
from the HTTP client; the apply executor re-reads and reconciles by name.
"""

from __future__ import annotations

from typing import Any, Sequence

from implkit.errors import ApiError
from implkit.http import HttpClient, HttpError, NotFound
from implkit.http.redact import redact
from implkit.model import ENTITIES, AccountInfo, Blueprint
from implkit.providers.amocrm import mapping as amo
from implkit.providers.base import LiveConfig, LiveField, Operation, Recorder, Resolve, by_parent, required_id


class AmoCrmProvider:
    """`implkit.providers.base.Provider` for amoCRM API v4 (and the sandbox, which answers the same)."""

    capabilities = amo.CAPABILITIES

    def __init__(self, http: HttpClient):
        self.http = http
        self._fields: dict[str, LiveField] = {}
        self._role_rights: dict[str, dict[str, Any]] = {}
        self._descriptions: dict[str, str | None] = {}  # status id -> id of its "newbie" description
        self._pipeline_count = 0

    # --- reading ------------------------------------------------------------------------

    def account(self) -> AccountInfo:
        return amo.account_info(self.http.get("/api/v4/account"))

    def read_config(self) -> LiveConfig:
        data = self.http.get("/api/v4/account", {"with": "users_groups"})
        pipelines = []
        self._descriptions = {}
        for p in amo.collection(self.http.get("/api/v4/leads/pipelines"), "pipelines"):
            # descriptions come only with the statuses list of one pipeline (§7.2)
            statuses = amo.collection(self.http.get(f"/api/v4/leads/pipelines/{p['id']}/statuses",
                                                    {"with": "descriptions"}), "statuses")
            for status in statuses:
                self._descriptions[str(status["id"])] = amo.stage_description(status)[1]
            pipelines.append(amo.pipeline_from(p, statuses))
        pipelines = tuple(pipelines)
        groups, fields = [], []
        for entity in ENTITIES:
            path = amo.ENTITY_PATHS[entity]
            groups += [amo.field_group_from(entity, g)
                       for g in self.http.paginate(f"{path}/groups", {"limit": amo.FIELDS_PAGE}, "custom_field_groups")]
            fields += [amo.field_from(entity, f)
                       for f in self.http.paginate(path, {"limit": amo.FIELDS_PAGE}, "custom_fields")]
        raw_roles = list(self.http.paginate("/api/v4/roles", {"limit": amo.LIST_LIMIT}, "roles"))
        users = tuple(self._user(u) for u in self.http.paginate("/api/v4/users", {"limit": amo.LIST_LIMIT}, "users"))
        self._fields = {f.id: f for f in fields}
        self._role_rights = {str(r["id"]): r.get("rights") or {} for r in raw_roles}
        self._pipeline_count = len(pipelines)
        return LiveConfig(
            account=amo.account_info(data), pipelines=pipelines, field_groups=tuple(groups), fields=tuple(fields),
            roles=tuple(amo.role_from(r) for r in raw_roles), users=users, groups=amo.user_groups(data),
            loss_reasons=tuple(amo.loss_reason_from(r) for r in self._optional_list(
                "/api/v4/leads/loss_reasons", "loss_reasons")),
            sources=tuple(amo.source_from(s) for s in self._optional_list("/api/v4/sources", "sources")),
            webhooks=tuple(amo.webhook_from(w, redact) for w in self._optional_list("/api/v4/webhooks", "webhooks")),
        )

    def _optional_list(self, path: str, key: str) -> list[dict[str, Any]]:
        """A list some accounts cannot read (no widget for sources, plan without webhooks): empty then."""
        try:
            return list(self.http.paginate(path, {"limit": amo.LIST_LIMIT}, key))
        except NotFound:
            return []
        except HttpError as error:
            if error.status in (403, 405):
                return []
            raise

    @staticmethod
    def _user(data: dict[str, Any]):
        from implkit.model import User

        rights = data.get("rights") or {}
        return User(id=str(data["id"]), name=str(data.get("name") or ""), email=data.get("email"),
                    is_active=bool(rights.get("is_active", True)), is_admin=bool(rights.get("is_admin")),
                    group_id=_str_or_none(rights.get("group_id")), role_id=_str_or_none(rights.get("role_id")))

    def blueprint_problems(self, blueprint: Blueprint) -> list[tuple[tuple, str]]:
        return amo.blueprint_problems(blueprint)

    def requests_sent(self) -> int:
        return self.http.stats.total

    def writes_sent(self) -> int:
        return self.http.stats.writes

    def close(self) -> None:
        self.http.close()

    # --- writing -------------------------------------------------------------------------

    def create(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        if kind == "pipeline":
            for batch in amo.chunks(list(ops)):
                body = []
                for op in batch:
                    self._pipeline_count += 1
                    body.append(amo.pipeline_create_payload(op, sort=self._pipeline_count * 10))
                answer = amo.collection(self._post("/api/v4/leads/pipelines", json=body), "pipelines")
                self._record_pipelines(batch, answer, record)
        elif kind == "stage":
            for pid, stage_ops in by_parent(ops, resolve):
                for batch in amo.chunks(stage_ops):
                    body = [amo.status_payload(op, i) for i, op in enumerate(batch)]
                    answer = amo.collection(self._post(f"/api/v4/leads/pipelines/{pid}/statuses", json=body),
                                            "statuses")
                    _record_by_request_id(batch, answer, record)
        elif kind == "field_group":
            for entity, group_ops in _by_entity(ops).items():
                for batch in amo.chunks(group_ops):
                    body = [amo.group_payload(op, sort=10 + i) for i, op in enumerate(batch)]
                    answer = amo.collection(self._post(f"{amo.ENTITY_PATHS[entity]}/groups", json=body),
                                            "custom_field_groups")
                    _record_by_request_id(batch, answer, record)
        elif kind == "field":
            for entity, field_ops in _by_entity(ops).items():
                base = max((f.sort for f in self._fields.values() if f.entity == entity), default=0)
                for batch in amo.chunks(field_ops):
                    body = []
                    for op in batch:
                        base += 10
                        body.append(amo.field_create_payload(entity, op, resolve, sort=base))
                    answer = amo.collection(self._post(amo.ENTITY_PATHS[entity], json=body), "custom_fields")
                    _record_by_request_id(batch, answer, record)
        elif kind == "role":
            for op in ops:  # the documented request is one role object
                answer = self._post("/api/v4/roles", json=amo.role_create_payload(op))
                items = amo.collection(answer, "roles") or ([answer] if isinstance(answer, dict) else [])
                if not items or "id" not in items[0]:
                    raise ApiError(f"POST /api/v4/roles: no id in the answer for {op.address}")
                record(op.address, str(items[0]["id"]))
        else:
            raise ValueError(f"amoCRM cannot create a {kind}")

    def update(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        if kind == "pipeline":
            for op in ops:
                body = amo.pipeline_update_payload(op)
                if body:
                    self._patch(f"/api/v4/leads/pipelines/{op.remote_id}", json=body)
                for attr, status_id in (("won_name", amo.WON_STATUS_ID), ("lost_name", amo.LOST_STATUS_ID)):
                    if attr in op.changed:
                        self._patch(f"/api/v4/leads/pipelines/{op.remote_id}/statuses/{status_id}",
                                        json={"name": op.attr(attr)})
                record(op.address, str(op.remote_id))
        elif kind == "stage":
            for op in ops:
                pid = required_id(resolve, op.parent or "", op.address)
                self._patch(f"/api/v4/leads/pipelines/{pid}/statuses/{op.remote_id}",
                                json=amo.status_update_payload(op, self._descriptions.get(str(op.remote_id))))
                record(op.address, str(op.remote_id))
        elif kind == "field_group":
            for op in ops:
                entity = op.address.split(".")[1]
                self._patch(f"{amo.ENTITY_PATHS[entity]}/groups/{op.remote_id}", json={"name": op.attr("name")})
                record(op.address, str(op.remote_id))
        elif kind == "field":
            for entity, field_ops in _by_entity(ops).items():
                for batch in amo.chunks(field_ops):
                    body = [amo.field_update_payload(op, resolve, self._fields.get(str(op.remote_id)))
                            for op in batch]
                    self._patch(amo.ENTITY_PATHS[entity], json=body)
                    for op in batch:
                        record(op.address, str(op.remote_id))
        elif kind == "role":
            for op in ops:
                body = amo.role_update_payload(op, self._role_rights.get(str(op.remote_id)))
                self._patch(f"/api/v4/roles/{op.remote_id}", json=body)
                record(op.address, str(op.remote_id))
        else:
            raise ValueError(f"amoCRM cannot update a {kind}")

    def delete(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        for op in ops:
            if kind == "pipeline":
                path = f"/api/v4/leads/pipelines/{op.remote_id}"
            elif kind == "stage":
                pid = required_id(resolve, op.parent or "", op.address)
                path = f"/api/v4/leads/pipelines/{pid}/statuses/{op.remote_id}"
            elif kind == "field_group":
                path = f"{amo.ENTITY_PATHS[op.address.split('.')[1]]}/groups/{op.remote_id}"
            elif kind == "field":
                path = f"{amo.ENTITY_PATHS[op.address.split('.')[1]]}/{op.remote_id}"
            elif kind == "role":
                path = f"/api/v4/roles/{op.remote_id}"
            else:
                raise ValueError(f"amoCRM cannot delete a {kind}")
            try:
                self.http.delete(path)
            except NotFound:
                pass  # already gone: the goal of a delete
            record(op.address, str(op.remote_id))

    # --- helpers ----------------------------------------------------------------------------

    def _post(self, path: str, json: Any) -> Any:
        return self._write("POST", path, json)

    def _patch(self, path: str, json: Any) -> Any:
        return self._write("PATCH", path, json)

    def _write(self, method: str, path: str, body: Any) -> Any:
        """One write; a 400 names the blueprint objects amoCRM refused (their addresses are the request_ids)."""
        try:
            return self.http.request(method, path, json=body).data
        except HttpError as error:
            if not error.validation_errors:
                raise
            refused = []
            for item in error.validation_errors:
                for problem in item.get("errors") or ():
                    refused.append(f"  {item.get('request_id')}: {problem.get('path')}: {problem.get('detail')}")
            raise ApiError(f"{error}\n" + "\n".join(refused), status=error.status, body=error.body) from None

    def _record_pipelines(self, batch: Sequence[Operation], answer: list[dict[str, Any]], record: Recorder) -> None:
        by_request = {str(p.get("request_id")): p for p in answer if p.get("request_id") is not None}
        for i, op in enumerate(batch):
            created = by_request.get(op.address) or (answer[i] if i < len(answer) else None)
            if created is None:
                raise ApiError(f"POST /api/v4/leads/pipelines: no pipeline in the answer for {op.address}")
            record(op.address, str(created["id"]))
            statuses = (created.get("_embedded") or {}).get("statuses") or []
            ordinary = [s for s in statuses if amo.stage_kind(s) == "normal"]
            for child in op.children:
                hit = next((s for s in ordinary if str(s.get("request_id")) == child.address), None)
                hit = hit or next((s for s in ordinary if s.get("name") == child.attr("name")), None)
                if hit is not None:
                    ordinary.remove(hit)
                    record(child.address, str(hit["id"]))


def _record_by_request_id(batch: Sequence[Operation], answer: list[dict[str, Any]], record: Recorder) -> None:
    """Match created items to operations by the echoed request_id (else by position, as amoCRM numbers them)."""
    by_request = {str(item.get("request_id")): item for item in answer if item.get("request_id") is not None}
    for i, op in enumerate(batch):
        item = by_request.get(op.address) or by_request.get(str(i)) or (answer[i] if i < len(answer) else None)
        if item is None or "id" not in item:
            raise ApiError(f"the answer names no created object for {op.address}")
        record(op.address, str(item["id"]))


def _by_entity(ops: Sequence[Operation]) -> dict[str, list[Operation]]:
    out: dict[str, list[Operation]] = {}
    for op in ops:
        out.setdefault(op.address.split(".")[1], []).append(op)
    return out


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
