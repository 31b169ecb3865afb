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
  `implkit tenant unlock NAME` removes it, or a command run with
  `--break-stale-lock` (for CI, where nobody is there to unlock), which
  breaks it and says what it broke.
- A holder renews its lease (`renewed`, every `LEASE / 4` s) while it runs.
  On another host the pid cannot be checked: a lock whose lease ran out
  (`LEASE` s without renewal, the holder's machine died or lost the shared
  folder) is stale as well. On this host the pid check decides, so a live
  but paused process (a debugger, SIGSTOP) keeps its lock.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from implkit.files import private_file
from implkit.errors import ConflictError
from implkit.lang import say

_MESSAGES = {
    "holder": {"ru": "{operation}: {user}@{host} (pid {pid}) с {since}",
               "en": "{operation} by {user}@{host} (pid {pid}) since {since}"},
    "lease_expired": {"ru": "аренда истекла: {host} не продлевал её {silent} с (аренда {lease} с)",
                      "en": "its lease expired: no renewal from {host} for {silent} s (lease {lease} s)"},
    "pid_gone": {"ru": "процесс {pid} больше не работает", "en": "process {pid} is no longer running"},
    "pid_reused": {"ru": "pid {pid} теперь принадлежит другому процессу", "en": "pid {pid} now belongs to another process"},
    "process_gone": {"ru": "тот процесс больше не работает", "en": "that process is no longer running"},
    "gave_up": {"ru": "ждал {waited} с и перестал", "en": "gave up after waiting {waited}s"},
    "run_later": {"ru": "запустите снова, когда он закончит, или без --no-wait, чтобы дождаться",
                  "en": "run again when it has finished, or without --no-wait to wait for it"},
    "held": {"ru": "клиент {tenant!r} заблокирован: {holder}; {advice}. Если тот запуск уже не идёт, "
                   "`implkit tenant unlock {tenant}` снимет его блокировку.",
             "en": "tenant {tenant!r} is locked: {holder}; {advice}. If that run is gone, "
                   "`implkit tenant unlock {tenant}` removes its lock."},
    "stale": {"ru": "у клиента {tenant!r} заброшенная блокировка: {holder}; {reason}. Если этим клиентом никто "
                    "больше не занят, снимите блокировку: `implkit tenant unlock {tenant}` (или запустите команду "
                    "снова с --break-stale-lock), затем `plan` покажет, где прерванный запуск остановился.",
              "en": "tenant {tenant!r} has a stale lock: {holder}; {reason}. If no other run is using this tenant, "
                    "remove the lock with `implkit tenant unlock {tenant}` (or run the command again with "
                    "--break-stale-lock), then run `plan` to see where the interrupted run stopped."},
    "waiting": {"ru": "жду блокировку клиента {tenant!r}: её держит {holder}",
                "en": "waiting for the lock on tenant {tenant!r}: held by {holder}"},
    "broke": {"ru": "снята заброшенная блокировка клиента {tenant!r}: {holder}; {reason}",
              "en": "broke the stale lock of tenant {tenant!r}: {holder}; {reason}"},
}

POLL_FIRST = 0.05
POLL_MAX = 1.0
LEASE = 300.0  # seconds without renewal after which another host's lock is stale

# `--break-stale-lock` for the commands of this process (set by the CLI option, reset when the command ends)
_break_stale = False
# `--lock-timeout SECONDS` for the commands of this process: how long to wait for a held lock (None: the caller's)
_lock_timeout: float | None = None


def set_break_stale(enabled: bool) -> None:
    """Whether locks taken in this process break a stale lock instead of refusing (the CLI's flag)."""
    global _break_stale
    _break_stale = bool(enabled)


def set_lock_timeout(seconds: float | None) -> None:
    """How long locks taken in this process wait for another run (the CLI's --lock-timeout; 0 = not at all)."""
    global _lock_timeout
    _lock_timeout = None if seconds is None else max(0.0, float(seconds))


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    user: str
    host: str
    pid: int
    pid_started: str | None
    since: str
    renewed: float | None = None  # Unix time of the holder's last lease renewal (None: a lock without a lease)
    lease: float | None = None  # seconds the lease lasts without renewal

    @property
    def holder(self) -> str:
        return say(_MESSAGES, "holder", operation=self.operation, user=self.user, host=self.host, pid=self.pid,
                   since=self.since)

    def stale_reason(self, now: float | None = None) -> str | None:
        """Why the holder is provably gone, or None: on this host its pid is gone or now another process;
        on another host its lease expired."""
        if self.host != socket.gethostname():
            # cannot check another machine's processes: only an expired lease tells
            if self.renewed is None or self.lease is None:
                return None
            silent = (time.time() if now is None else now) - self.renewed
            if silent > self.lease:
                return say(_MESSAGES, "lease_expired", host=self.host, silent=f"{silent:.0f}", lease=f"{self.lease:g}")
            return None
        if not _pid_alive(self.pid):
            return say(_MESSAGES, "pid_gone", pid=self.pid)
        if self.pid_started is not None and _pid_started(self.pid) not in (None, self.pid_started):
            return say(_MESSAGES, "pid_reused", pid=self.pid)
        return None

    def is_stale(self, now: float | None = None) -> bool:
        return self.stale_reason(now) is not None


class LockHeld(ConflictError):
    """The tenant is locked by a live run (exit 1)."""

    def __init__(self, tenant: str, info: LockInfo, *, waited: float | None = None):
        self.info = info
        advice = (say(_MESSAGES, "gave_up", waited=f"{waited:g}") if waited is not None
                  else say(_MESSAGES, "run_later"))
        super().__init__(say(_MESSAGES, "held", tenant=tenant, holder=info.holder, advice=advice))


class StaleLock(ConflictError):
    """The lock's holder died without releasing it (exit 1); `implkit tenant unlock` breaks it."""

    def __init__(self, tenant: str, info: LockInfo):
        self.info = info
        reason = info.stale_reason() or say(_MESSAGES, "process_gone")
        super().__init__(say(_MESSAGES, "stale", tenant=tenant, holder=info.holder, reason=reason))


class TenantLock:
    """The lock file of one tenant. Use `hold()` as a context manager."""

    def __init__(self, path: str | os.PathLike, tenant: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, lease: float = LEASE):
        self.path = Path(path)
        self.tenant = tenant
        self._sleep = sleep
        self._clock = clock
        self.lease = lease

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
                      since=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      renewed=time.time(), lease=self.lease)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = private_file(self.path.with_name(f".{self.path.name}.{me.id}.tmp"))  # who holds it: 0600
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

    def renew(self, info: LockInfo) -> bool:
        """Refresh our lease (atomically replace the record) if the lock is still ours; False if not."""
        current = self.read()
        if current is None or current.id != info.id:
            return False
        renewed = LockInfo(**{**asdict(current), "renewed": time.time()})
        tmp = private_file(self.path.with_name(f".{self.path.name}.{info.id}.renew"))
        tmp.write_text(json.dumps(asdict(renewed)), encoding="utf-8")
        os.replace(tmp, self.path)
        return True

    @contextmanager
    def hold(self, operation: str, *, wait: bool = True, timeout: float | None = None,
             on_wait: Callable[[LockInfo], None] | None = None, break_stale: bool | None = None,
             on_break: Callable[[LockInfo, str], None] | None = None) -> Iterator[LockInfo]:
        """Hold the lock for the block, renewing its lease. Waits (or raises LockHeld with wait=False);
        a stale lock raises StaleLock, or is broken with break_stale (default: the CLI's flag)."""
        info = self.acquire(operation, wait=wait, timeout=timeout, on_wait=on_wait, break_stale=break_stale,
                            on_break=on_break)
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(self.lease / 4):
                try:
                    if not self.renew(info):
                        return
                except OSError:
                    pass  # a missed renewal; the lease allows three more

        renewer = threading.Thread(target=heartbeat, name=f"lock-{self.tenant}", daemon=True)
        renewer.start()
        try:
            yield info
        finally:
            stop.set()
            renewer.join(5)
            self.release(info)

    def acquire(self, operation: str, *, wait: bool = True, timeout: float | None = None,
                on_wait: Callable[[LockInfo], None] | None = None, break_stale: bool | None = None,
                on_break: Callable[[LockInfo, str], None] | None = None) -> LockInfo:
        if break_stale is None:
            break_stale = _break_stale
        if _lock_timeout is not None:
            wait, timeout = True, _lock_timeout
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
            reason = self._stale_reason(holder, break_stale)
            if reason is not None:
                if not break_stale:
                    raise StaleLock(self.tenant, holder)
                if self._break(holder):
                    (on_break or _tell_broken(self.tenant))(holder, reason)
                continue
            if not wait:
                raise LockHeld(self.tenant, holder)
            if deadline is not None and self._clock() >= deadline:
                raise LockHeld(self.tenant, holder, waited=timeout)
            if announced != holder.id:
                announced = holder.id
                (on_wait or _tell_stderr(self.tenant))(holder)
            self._sleep(delay)
            delay = min(POLL_MAX, delay * 2)

    def _stale_reason(self, holder: LockInfo, break_stale: bool) -> str | None:
        """Why `holder` is provably gone (None: it may still run). A backend with its own lease overrides it."""
        return holder.stale_reason()

    def _break(self, stale: LockInfo) -> bool:
        """Remove `stale`'s lock file, and only it: True when it was removed.

        The file is renamed aside first and its record checked, so a lock taken
        by another run between our read and the removal is put back, not lost.
        """
        aside = self.path.with_name(f".{self.path.name}.broken.{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            try:
                moved = LockInfo(**json.loads(aside.read_text(encoding="utf-8")))
            except (ValueError, TypeError):
                moved = None
            if moved is not None and moved.id != stale.id:
                try:
                    os.link(aside, self.path)  # someone else's fresh lock: give it back
                except FileExistsError:
                    pass
                return False
            return True
        finally:
            aside.unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release for a lock file (a database-backed lock closes its connection)."""

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
        print(say(_MESSAGES, "waiting", tenant=tenant, holder=holder.holder), file=sys.stderr, flush=True)
    return tell


def _tell_broken(tenant: str) -> Callable[[LockInfo, str], None]:
    def tell(holder: LockInfo, reason: str) -> None:
        print(say(_MESSAGES, "broke", tenant=tenant, holder=holder.holder, reason=reason), file=sys.stderr,
              flush=True)
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
