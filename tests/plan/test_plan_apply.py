"""The apply executor against an in-memory CRM: ids recorded at once, lost answers reconciled, no-op re-apply."""

from __future__ import annotations

import itertools

import pytest

from implkit.errors import InputError
from implkit.http import WriteOutcomeUnknown
from implkit.model import AccountInfo, Blueprint
from implkit.plan.apply import converge
from implkit.plan.changes import StateView
from implkit.plan.diff import plan
from implkit.providers.amocrm.mapping import CAPABILITIES
from implkit.providers.base import LiveConfig, LiveField, LiveFieldGroup, LiveOption, LivePipeline, LiveRole, LiveStage

BP = Blueprint.from_dict({
    "apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "t", "version": "1.0.0"},
    "roles": [{"key": "manager", "name": "Менеджер", "rights": {"leads": {"view": "own"}}}],
    "pipelines": [{"key": "sales", "name": "Продажи", "stages": [
        {"key": "new", "name": "Новый"}, {"key": "qual", "name": "Квалификация",
                                          "required_fields": ["field.leads.source"]}]}],
    "fields": {"leads": [{"key": "source", "name": "Источник", "type": "select", "options": ["Сайт", "Звонок"],
                          "group": "Маркетинг"}]},
})


class MemoryState:
    def __init__(self):
        self.data: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []

    def ids(self):
        return dict(self.data)

    def record(self, address, rid):
        self.data[address] = rid
        self.log.append(("record", address))

    def forget(self, address):
        self.data.pop(address, None)
        self.log.append(("forget", address))


class FakeCRM:
    """Keeps a configuration in memory; `lose_answer_at=N` performs the N-th write, then loses its answer."""

    capabilities = CAPABILITIES

    def __init__(self, lose_answer_at: set[int] = frozenset()):
        self.ids = itertools.count(1000)
        self.pipelines: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.fields: dict[str, dict] = {}
        self.roles: dict[str, dict] = {}
        self.writes = 0
        self.reads = 0
        self.lose_answer_at = set(lose_answer_at)

    def _write(self) -> bool:
        self.writes += 1
        return self.writes in self.lose_answer_at

    def account(self):
        return AccountInfo("1", "fake")

    def requests_sent(self):
        return self.writes + self.reads

    def close(self):
        pass

    def read_config(self):
        self.reads += 1
        return LiveConfig(
            account=AccountInfo("1", "fake"),
            pipelines=tuple(LivePipeline(pid, p["name"], 1, False, tuple(
                LiveStage(sid, s["name"], s["sort"], s.get("color")) for sid, s in p["stages"].items())
            ) for pid, p in self.pipelines.items()),
            field_groups=tuple(LiveFieldGroup("leads", gid, g["name"]) for gid, g in self.groups.items()),
            fields=tuple(LiveField("leads", fid, f["name"], f["type"],
                                   options=tuple(LiveOption(str(i), v, i) for i, v in enumerate(f["options"])),
                                   group_id=f["group"], required_at=tuple(f["required"]))
                         for fid, f in self.fields.items()),
            roles=tuple(LiveRole(rid, r["name"], tuple((e, tuple(a.items())) for e, a in r["rights"].items()))
                        for rid, r in self.roles.items()),
        )

    def create(self, kind, ops, resolve, record):
        lost = self._write()
        done = []
        for op in ops:
            rid = str(next(self.ids))
            if kind == "pipeline":
                self.pipelines[rid] = {"name": op.attr("name"), "stages": {}}
                done.append((op.address, rid))
                for child in op.children:
                    sid = str(next(self.ids))
                    self.pipelines[rid]["stages"][sid] = {"name": child.attr("name"), "sort": child.attr("sort")}
                    done.append((child.address, sid))
            elif kind == "stage":
                self.pipelines[resolve(op.parent)]["stages"][rid] = {"name": op.attr("name"), "sort": op.attr("sort")}
                done.append((op.address, rid))
            elif kind == "field_group":
                self.groups[rid] = {"name": op.attr("name")}
                done.append((op.address, rid))
            elif kind == "field":
                required = [(resolve(a.split(".stage.")[0]), resolve(a)) for a in op.attr("required_at")]
                self.fields[rid] = {"name": op.attr("name"), "type": op.attr("type"),
                                    "options": list(op.attr("options") or ()), "group": resolve(op.attr("group")),
                                    "required": required}
                done.append((op.address, rid))
            elif kind == "role":
                rights: dict = {}
                for k, v in op.attrs:
                    if k.startswith("rights."):
                        _, e, a = k.split(".")
                        rights.setdefault(e, {})[a] = v
                self.roles[rid] = {"name": op.attr("name"), "rights": rights}
                done.append((op.address, rid))
        if lost:
            raise WriteOutcomeUnknown("POST", "/fake", "connection dropped")
        for address, rid in done:
            record(address, rid)

    def update(self, kind, ops, resolve, record):
        lost = self._write()
        for op in ops:
            if kind == "pipeline":
                self.pipelines[op.remote_id]["name"] = op.attr("name")
            elif kind == "field":
                f = self.fields[op.remote_id]
                f["name"], f["options"] = op.attr("name"), list(op.attr("options") or ())
        if lost:
            raise WriteOutcomeUnknown("PATCH", "/fake", "HTTP 502")
        for op in ops:
            record(op.address, op.remote_id)

    def delete(self, kind, ops, resolve, record):
        self._write()
        for op in ops:
            {"field": self.fields, "role": self.roles, "field_group": self.groups,
             "pipeline": self.pipelines}[kind].pop(op.remote_id, None)
            record(op.address, op.remote_id)


def apply_all(crm, state, bp=BP, **kw):
    return converge(crm, bp, state, **kw)


def counts(crm):
    stages = [s["name"] for p in crm.pipelines.values() for s in p["stages"].values()]
    return len(crm.pipelines), sorted(stages), len(crm.fields), len(crm.groups), len(crm.roles)


def test_apply_creates_pipeline_with_stages_in_one_write_and_reapply_writes_nothing():
    crm, state = FakeCRM(), MemoryState()
    result = apply_all(crm, state)
    assert counts(crm) == (1, ["Квалификация", "Новый"], 1, 1, 1)
    assert crm.writes == 4  # pipeline+stages, field group, field, role
    assert result.created == 6
    assert set(state.data) == {"pipeline.sales", "pipeline.sales.stage.new", "pipeline.sales.stage.qual",
                               "field_group.leads.Маркетинг", "field.leads.source", "role.manager"}
    before = crm.writes
    again = plan(BP, StateView(state.ids()), crm.read_config(), CAPABILITIES)
    assert again.changes == ()
    apply_all(crm, state)
    assert crm.writes == before


@pytest.mark.parametrize("lost_write", [1, 2, 3, 4])
def test_a_lost_answer_is_reconciled_by_name_never_created_twice(lost_write):
    crm, state = FakeCRM(lose_answer_at={lost_write}), MemoryState()
    result = apply_all(crm, state)
    assert result.reconciliations == 1
    assert counts(crm) == (1, ["Квалификация", "Новый"], 1, 1, 1)
    assert plan(BP, StateView(state.ids()), crm.read_config(), CAPABILITIES).changes == ()
    # every id in state points at a live object
    assert state.data["field.leads.source"] in crm.fields


def test_a_lost_update_answer_is_replanned():
    crm, state = FakeCRM(), MemoryState()
    apply_all(crm, state)
    renamed = Blueprint.from_dict({**BP.to_dict(), "pipelines": [{**BP.to_dict()["pipelines"][0], "name": "B2B"}]})
    crm.lose_answer_at = {crm.writes + 1}
    result = apply_all(crm, state, bp=renamed)
    assert result.reconciliations == 1
    assert [p["name"] for p in crm.pipelines.values()] == ["B2B"]


def test_interrupted_run_is_finished_by_running_again():
    crm, state = FakeCRM(), MemoryState()

    class Killed(BaseException):
        pass

    original = crm.create

    def dies_on_fields(kind, ops, resolve, record):
        if kind == "field":
            raise Killed()
        return original(kind, ops, resolve, record)

    crm.create = dies_on_fields
    with pytest.raises(Killed):
        apply_all(crm, state)
    assert "pipeline.sales" in state.data and "field.leads.source" not in state.data  # recorded as it went
    crm.create = original
    apply_all(crm, state)
    assert counts(crm) == (1, ["Квалификация", "Новый"], 1, 1, 1)


def test_destructive_change_needs_allow_destroy():
    crm, state = FakeCRM(), MemoryState()
    apply_all(crm, state)
    data = BP.to_dict()
    data["fields"]["leads"][0]["type"] = "text"
    data["fields"]["leads"][0].pop("options")
    changed = Blueprint.from_dict(data)
    writes = crm.writes
    with pytest.raises(InputError, match="--allow-destroy"):
        apply_all(crm, state, bp=changed)
    assert crm.writes == writes  # nothing written
    apply_all(crm, state, bp=changed, allow_destroy=True)
    [field] = crm.fields.values()
    assert field["type"] == "text"
    assert ("forget", "field.leads.source") in state.log and state.data["field.leads.source"] in crm.fields


def test_every_answer_lost_still_converges_by_adoption():
    crm, state = FakeCRM(lose_answer_at=set(range(1, 100))), MemoryState()
    result = apply_all(crm, state)
    assert result.reconciliations == 4  # one per write; each lost object was found by name next round
    assert counts(crm) == (1, ["Квалификация", "Новый"], 1, 1, 1)


def test_a_crm_that_never_performs_is_given_up_on_with_a_runtime_failure():
    from implkit.errors import RuntimeFailure

    crm, state = FakeCRM(), MemoryState()

    def refuses(kind, ops, resolve, record):
        raise WriteOutcomeUnknown("POST", "/fake", "HTTP 503")

    crm.create = refuses
    with pytest.raises(RuntimeFailure, match="no progress"):
        apply_all(crm, state)
    assert crm.reads == 1 + 5  # the first plan, then five re-plans that left as much to do
