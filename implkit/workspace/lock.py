"""One lock per tenant, so two applies never write to one CRM account at once.

The lock is a file, `.implkit/tenants/NAME/lock.json`, created atomically
(the record is written to a temp file, then hard-linked into place, which
fails if a lock already exists — so a lock file is never half-written). It
records who holds it: a random id, the operation, user@host, pid, the pid's
start time (so a recycled pid is not mistaken for the holder) and since when.

- A second run on the same tenant waits (telling stderr who it waits for),
  or with `wait=False` fails at once naming the holder (`LockHeld`, exit 1).
- Different tenants have different files and run concurrently.
- A lock whose holder is provably dead (same host, pid gone or recycled) is
  reported as stale (`StaleLock`) and never broken silently: only
  `implkit tenant unlock NAME` removes it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from implkit.errors import ConflictError

POLL_FIRST = 0.05
POLL_MAX = 1.0


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    user: str
    host: str
    pid: int
    pid_started: str | None
    since: str

    @property
    def holder(self) -> str:
        return f"{self.operation} by {self.user}@{self.host} (pid {self.pid}) since {self.since}"

    def is_stale(self) -> bool:
        """True when the holder is provably dead: on this host, and its pid is gone or now another process."""
        if self.host != socket.gethostname():
            return False  # cannot check another machine's processes
        if not _pid_alive(self.pid):
            return True
        return self.pid_started is not None and _pid_started(self.pid) not in (None, self.pid_started)


class LockHeld(ConflictError):
    """The tenant is locked by a live run (exit 1)."""

    def __init__(self, tenant: str, info: LockInfo, *, waited: float | None = None):
        self.info = info
        advice = (f"gave up after waiting {waited:g}s" if waited is not None
                  else "run again when it has finished, or without --no-wait to wait for it")
        super().__init__(f"tenant {tenant!r} is locked: {info.holder}; {advice}. If that run is gone, "
                         f"`implkit tenant unlock {tenant}` removes its lock.")


class StaleLock(ConflictError):
    """The lock's holder died without releasing it (exit 1); `implkit tenant unlock` breaks it."""

    def __init__(self, tenant: str, info: LockInfo):
        self.info = info
        super().__init__(f"tenant {tenant!r} has a stale lock: {info.holder}, and that process is no longer "
                         f"running. If no other run is using this tenant, remove the lock with "
                         f"`implkit tenant unlock {tenant}`, then run `plan` to see where the interrupted run "
                         "stopped.")


class TenantLock:
    """The lock file of one tenant. Use `hold()` as a context manager."""

    def __init__(self, path: str | os.PathLike, tenant: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.tenant = tenant
        self._sleep = sleep
        self._clock = clock

    def read(self) -> LockInfo | None:
        """The current holder, or None when unlocked."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return LockInfo(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            # Unreadable record (cannot happen through hold(); someone edited it): report, never guess.
            return LockInfo(id="?", operation="unknown", user="?", host="?", pid=0, pid_started=None,
                            since="unknown (unreadable lock file)")

    def try_acquire(self, operation: str) -> LockInfo | None:
        """Take the lock if it is free; return our LockInfo, or None when someone holds it."""
        me = LockInfo(id=uuid.uuid4().hex, operation=operation, user=_user(), host=socket.gethostname(),
                      pid=os.getpid(), pid_started=_pid_started(os.getpid()),
                      since=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{me.id}.tmp")
        tmp.write_text(json.dumps(asdict(me)), encoding="utf-8")
        try:
            os.link(tmp, self.path)  # atomic, and fails if the lock exists
        except FileExistsError:
            return None
        finally:
            tmp.unlink(missing_ok=True)
        return me

    def release(self, info: LockInfo) -> None:
        """Remove the lock if it is still ours."""
        current = self.read()
        if current is not None and current.id == info.id:
            self.path.unlink(missing_ok=True)

    @contextmanager
    def hold(self, operation: str, *, wait: bool = True, timeout: float | None = None,
             on_wait: Callable[[LockInfo], None] | None = None) -> Iterator[LockInfo]:
        """Hold the lock for the block. Waits (or raises LockHeld with wait=False); raises StaleLock."""
        info = self.acquire(operation, wait=wait, timeout=timeout, on_wait=on_wait)
        try:
            yield info
        finally:
            self.release(info)

    def acquire(self, operation: str, *, wait: bool = True, timeout: float | None = None,
                on_wait: Callable[[LockInfo], None] | None = None) -> LockInfo:
        deadline = None if timeout is None else self._clock() + timeout
        delay = POLL_FIRST
        announced: str | None = None
        while True:
            mine = self.try_acquire(operation)
            if mine is not None:
                return mine
            holder = self.read()
            if holder is None:
                continue  # released between our attempt and the read: try again at once
            if holder.is_stale():
                raise StaleLock(self.tenant, holder)
            if not wait:
                raise LockHeld(self.tenant, holder)
            if deadline is not None and self._clock() >= deadline:
                raise LockHeld(self.tenant, holder, waited=timeout)
            if announced != holder.id:
                announced = holder.id
                (on_wait or _tell_stderr(self.tenant))(holder)
            self._sleep(delay)
            delay = min(POLL_MAX, delay * 2)

    def unlock(self, *, force: bool = False) -> LockInfo | None:
        """Break the lock: allowed when stale (or held on another host) — a live local holder needs force."""
        holder = self.read()
        if holder is None:
            return None
        if not force and holder.host == socket.gethostname() and not holder.is_stale():
            raise LockHeld(self.tenant, holder)
        self.path.unlink(missing_ok=True)
        return holder


def _tell_stderr(tenant: str) -> Callable[[LockInfo], None]:
    def tell(holder: LockInfo) -> None:
        print(f"waiting for the lock on tenant {tenant!r}: held by {holder.holder}", file=sys.stderr, flush=True)
    return tell


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return str(os.getuid())


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A zombie (killed, not yet reaped by its parent) is dead for our purposes.
    return _proc_state(pid) != "Z"


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    return raw[raw.rfind(")") + 2:].split()


def _proc_state(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[0] if fields else None


def _pid_started(pid: int) -> str | None:
    """The process start time in clock ticks since boot (Linux), to tell a recycled pid apart."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None
