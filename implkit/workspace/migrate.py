"""`implkit state migrate --to postgres|local`: move a workspace's state to another backend, and back.

For every tenant: its state (bindings, fingerprints, lineage, serial, account
id, applied blueprints, history) is copied whole, under the tenant's lock on
both sides, then read back from the target and compared with the source;
only when every tenant agrees does implkit.yaml switch to the new backend.
The source copy is left as it was (a fallback until the user removes it).

Lineage and serial keep an old copy from overwriting a newer one:

- the target has the same lineage and a higher serial → refused, naming both
  serials (someone kept working on the target since an earlier migration);
- the target has another lineage with anything recorded → refused (it is
  another state of that tenant, not a copy of this one);
- an equal copy is left alone; an older copy of the same lineage, or an
  empty target, is replaced.

Every refusal happens before anything is written. OAuth tokens rotated into
the shared backend are written back to the tenant's token file or keyring
on the way to local, and seeded into the backend on the way to postgres.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from implkit.errors import ConflictError, InputError
from implkit.lang import say
from implkit.workspace.backend import StateConfig, open_backend


LOCK_WAIT = 300.0  # seconds to wait for a running command's lock on a tenant (--lock-timeout overrides)


@dataclass(frozen=True)
class Moved:
    tenant: str
    action: str  # copied | unchanged | no state
    serial: int
    objects: int


def _normal(data: dict[str, Any]) -> str:
    """A dump as canonical JSON: what "the same state" means across backends."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)


def _verdict(tenant: str, source: dict[str, Any], target: dict[str, Any] | None) -> str:
    """copy | unchanged, or raise ConflictError when the target must not be overwritten."""
    if target is None:
        return "copy"
    src_meta, tgt_meta = source["meta"], target["meta"]
    src_serial, tgt_serial = int(src_meta.get("serial") or 0), int(tgt_meta.get("serial") or 0)
    if tgt_meta.get("lineage") == src_meta.get("lineage"):
        if tgt_serial > src_serial:
            raise ConflictError(
                f"tenant {tenant!r}: the target already holds a newer copy of this state (serial {tgt_serial} "
                f"there, serial {src_serial} here, lineage {src_meta.get('lineage')}); refusing to overwrite it "
                "with an older one. Nothing was written. Work on from the target, or migrate it back first.")
        if tgt_serial == src_serial:
            if _normal(target) != _normal(source):
                raise ConflictError(
                    f"tenant {tenant!r}: the target's copy has the same serial ({tgt_serial}) but other content; "
                    "refusing to choose between them. Nothing was written.")
            return "unchanged"
        return "copy"
    if tgt_serial > 0 or target["objects"]:
        raise ConflictError(
            f"tenant {tenant!r}: the target holds another state of this tenant (lineage {tgt_meta.get('lineage')}, "
            f"serial {tgt_serial}; here lineage {src_meta.get('lineage')}, serial {src_serial}); refusing to "
            "overwrite it. Nothing was written.")
    return "copy"  # an empty target (opened but never written)


_MESSAGES = {
    "local_already": {"ru": "рабочая папка уже хранит состояние локально; переносить нечего",
                      "en": "the workspace keeps its state locally already; nothing to migrate"},
    "there_already": {"ru": "рабочая папка уже хранит состояние в {where}; переносить нечего",
                      "en": "the workspace keeps its state in {where} already; nothing to migrate"},
    "differs": {"ru": "клиент {name!r}: копия в {where} читается не так, как исходная; implkit.yaml не переключён "
                      "(исходная копия цела)",
                "en": "tenant {name!r}: the copy in {where} reads back different from the source; implkit.yaml "
                      "was not switched (the source is intact)"},
}


def migrate(ws: Any, to: StateConfig) -> list[Moved]:
    """Copy every tenant's state from the workspace's backend to `to`, verify, then switch implkit.yaml."""
    source = ws.backend
    if to.backend == ws.state_config.backend and to.backend == "local":
        raise InputError(say(_MESSAGES, "local_already"))
    target = open_backend(to, namespace=ws.workspace_id)
    if source.name == target.name and getattr(source, "url", None) == getattr(target, "url", None):
        raise InputError(say(_MESSAGES, "there_already", where=source.describe()))
    names = ws.tenant_names()
    moved: list[Moved] = []
    with ExitStack() as held:
        plans: list[tuple[str, Any, dict[str, Any], str]] = []
        for name in names:  # every check before any write
            tenant_dir = ws.tenant_dir(name)
            held.enter_context(ws.lock(name, "state migrate", timeout=LOCK_WAIT))
            target_lock = target.lock(name, tenant_dir)
            held.callback(target_lock.close)
            held.enter_context(target_lock.hold("state migrate", timeout=LOCK_WAIT))
            if not source.has_state(name, tenant_dir):
                moved.append(Moved(name, "no state", 0, 0))
                continue
            with source.state(name, tenant_dir) as store:
                data = store.dump()
            existing = None
            if target.has_state(name, tenant_dir):
                with target.state(name, tenant_dir) as store:
                    existing = store.dump()
            plans.append((name, tenant_dir, data, _verdict(name, data, existing)))
        tokens = _tokens_to_move(ws, target, names)
        for name, tenant_dir, data, verdict in plans:
            with target.state(name, tenant_dir) as store:
                if verdict == "copy":
                    store.restore(data)
                copied = store.dump()
            if _normal(copied) != _normal(data):
                raise ConflictError(say(_MESSAGES, "differs", name=name, where=target.describe()))
            moved.append(Moved(name, "copied" if verdict == "copy" else "unchanged",
                               int(data["meta"].get("serial") or 0), len(data["objects"])))
        for write in tokens:
            write()
        ws.set_state_config(to)
    return sorted(moved, key=lambda m: m.tenant)


def _tokens_to_move(ws: Any, target: Any, names: list[str]) -> list[Any]:
    """Writers that put each OAuth tenant's current pair where the target backend keeps it (checked first:
    a missing key is bad input before anything is written)."""
    from implkit.workspace.credentials import resolve

    writers = []
    for name in names:
        tenant = ws.tenant(name)
        if not tenant.client_id:
            continue
        creds = ws.credentials(name)  # the pair as the current backend has it
        if creds.tokens is None or not creds.tokens.refresh_token:
            continue
        if target.name == "postgres":
            store = target.token_store(name, None)
            writers.append(lambda store=store, tokens=creds.tokens: store.load() or store.save(tokens))
        else:
            own = resolve(tenant.credentials, tenant=name, client_id=tenant.client_id,
                          client_secret_env=tenant.client_secret_env, redirect_uri=tenant.redirect_uri).store
            if own is not None:
                writers.append(lambda own=own, tokens=creds.tokens: own.save(tokens))
    return writers
