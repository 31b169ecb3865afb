"""Check units run in processes of their own beside the main one.

Two threads of one process gain only 1.5× over one at a million records:
the duplicates pass is Python and holds the interpreter lock, and SQLite
takes a process-wide lock on every allocation while it keeps its memory
statistics (Python's `sqlite3` cannot turn them off). Two processes gain
1.9×. So the engine's lanes after the first are processes: each pulls the
next unit it can run from the same list as the main process's thread, runs
it on its own read-only connection, and writes each check's failing records
into a table of a scratch file of its own (attached as `SCRATCH`), not its temp
database, so that the main process can read them afterwards: the samples,
the history's ids and the exports read that file, attached read-only to a
connection of their own. The figures (count, budget, per manager) come back
with the unit's results, and, when the history will want them, every failing
id (numpy arrays: 6 million ids are 50 MB through the pipe).

A process lane runs only checks that are SQL (D10's required fields
included); the built-ins (the duplicates pass, the configuration
comparisons) read the main process's snapshot and stay there. The scratch
folder is private to the user (0700) and deleted when the run is closed.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import implkit
from implkit.audit.checks import Check, open_read_only
from implkit.errors import InputError, RuntimeFailure
from implkit.lang import say

SCRATCH = "scratch"  # the schema a process lane's file of failing records is attached as, there and here

# A snapshot this big or bigger runs its lanes as processes. Starting one costs about 0.3 s (a Python
# and the engine's imports); a snapshot of 64 MB (about 80k contacts and 80k deals) audits in about 2 s
# on two threads, so the second process pays from about there (bench/audit_scale.py).
PROCESSES_FROM = 64 * 1024 * 1024
RECORDS_FILE = "records.sqlite"
MESSAGES = {
    "lane_stopped": {"ru": "второй процесс аудита неожиданно завершился (код выхода {code}); запустите аудит ещё раз",
                     "en": "the audit's second process stopped unexpectedly (exit code {code}); run the audit again"},
}


def worth_processes(snapshot: Path) -> bool:
    return snapshot.is_file() and snapshot.stat().st_size >= PROCESSES_FROM


def can_run(unit: list[Check]) -> bool:
    """A unit a process lane can run: SQL checks only (the built-ins read the main process's snapshot),
    none that needs the blueprint (the lane is not given it)."""
    return all(c.builtin in (None, "required_fields") and "blueprint" not in c.requires for c in unit)


def run_in_lanes(units: list[list[Check]], run_here: Callable[[list[Check]], list[Any]], *, lanes: int,
                 opened: list[Any], start: Callable[[], "ProcessLane"]) -> dict[str, Any]:
    """Run `units` on this process's thread (`run_here`) and `lanes - 1` process lanes (`start()` each),
    each taking the next unit it can run, slowest first as `units` come: check id → its result. The
    process lanes' readers join `opened` (the run closes them, which deletes their files). The first
    error stops every lane and is raised."""
    pending = list(units)
    done: dict[str, Any] = {}
    lock = threading.Lock()
    failed = threading.Event()

    def take(runnable: Callable[[list[Check]], bool]) -> list[Check] | None:
        with lock:
            if failed.is_set():
                return None
            for index, unit in enumerate(pending):
                if runnable(unit):
                    return pending.pop(index)
        return None

    def drain(run: Callable[[list[Check]], list[Any]], runnable: Callable[[list[Check]], bool]) -> None:
        try:
            while (unit := take(runnable)) is not None:
                for result in run(unit):
                    done[result.check.id] = result
        except BaseException:
            failed.set()
            raise

    processes: list[ProcessLane] = []
    try:
        for _ in range(lanes - 1):
            processes.append(start())
            opened.append(processes[-1].readers)
        with ThreadPoolExecutor(max_workers=lanes) as pool:
            futures = [pool.submit(drain, run_here, lambda unit: True)]
            futures += [pool.submit(drain, lane.run, can_run) for lane in processes]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # an error, or Ctrl-C here: the lanes finish the unit they run, no other
                failed.set()
                raise
    finally:
        for lane in processes:
            lane.stop(kill=failed.is_set())  # after an error, its unit's results are not wanted
    return done


class LaneReaders:
    """The main process's read connection to a process lane's records: the snapshot read-only, the lane's
    scratch file attached read-only as `SCRATCH` (duck-typed as the `_Readers` that `_SqlRecords`
    reads through). Closing it deletes the lane's folder."""

    schema = SCRATCH

    def __init__(self, snapshot: Path, folder: Path):
        self.path, self.folder = snapshot, folder
        self.closed = False
        self._sql: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        # the folder goes on close; and a run never closed (a caller's slip) still leaves no tenant data
        # behind: it goes when this object is collected, or when the interpreter exits
        self._remove = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def sql(self) -> tuple[Any, Any]:
        with self._lock:
            if self._sql is None:  # (a closed run's records refuse to be read before they get here)
                self._sql = open_read_only(self.path, attach=(SCRATCH, self.folder / RECORDS_FILE, False))
            return self._sql

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._sql is not None:
                self._sql[0].close()
                self._sql = None
        self._remove()  # (once: a finalizer runs at most once)


class ProcessLane:
    """A Python process that runs the units it is sent, one at a time, into its scratch file; they talk
    by pickles over its stdin and stdout. `entry` is the code the process runs (`engine.serve_lane`),
    `setup` what it is told first, after the snapshot's and the scratch file's paths; `bind(readers,
    shipped)` turns what a result sends back about its records into records read through `readers`.
    Started as `python -c`, not by `multiprocessing`, whose spawn re-runs the caller's main script
    (which a script without a `__main__` guard cannot survive); fork is unsafe in a process with
    threads and open connections."""

    def __init__(self, snapshot: Path, *, entry: str, setup: tuple[Any, ...],
                 bind: Callable[["LaneReaders", Any], Any]):
        self.readers = LaneReaders(snapshot, Path(tempfile.mkdtemp(prefix="implkit-audit-")))  # 0700
        self._bind = bind
        self.peak_kb = 0  # the process's peak resident memory, as of its last answer (`own_peak_kb`)
        # this implkit, wherever it was imported from: appended, so that it never shadows a module the
        # interpreter finds first (a site-packages folder put before the standard library would)
        package_root = str(Path(implkit.__file__).resolve().parent.parent)
        code = f"import sys; sys.path.append({package_root!r}); {entry}"
        try:
            self._errors = (self.readers.folder / "stderr.txt").open("wb")
            self._process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._errors)
            self._send((str(snapshot), str(self.readers.folder / RECORDS_FILE), *setup))
        except BaseException:
            self.readers.close()
            raise

    def _send(self, message: Any) -> None:
        pickle.dump(message, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self._process.stdin.flush()

    def run(self, unit: list[Check]) -> list[Any]:
        try:
            self._send(unit)
            kind, payload = pickle.load(self._process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise RuntimeFailure(say(MESSAGES, "lane_stopped", code=self._process.wait(5))) from None
        if kind == "error":
            raise payload
        payload, self.peak_kb = payload
        results = []
        for result, shipped in payload:
            if shipped is not None:
                result._records = self._bind(self.readers, shipped)
            results.append(result)
        return results

    def stop(self, *, kill: bool = False) -> None:
        """Tell the process to finish (it closes its connection; its file stays for the readers), then wait
        for it; one that does not finish, or is not wanted any more (`kill`), is killed."""
        try:
            self._send(None)
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(1 if kill else 30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._errors.close()


def serve(start: Callable[..., tuple[Callable[[list[Check]], list[Any]], Callable[[], None]]]) -> None:
    """A process lane's loop: `start(snapshot, scratch, *setup)` as first told gives what runs a unit and
    what closes; each unit received is run and its results sent back (with this process's peak memory),
    or its error, after which the lane stops."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed by accident may corrupt the pipe
    run, close = start(*pickle.load(source))
    try:
        while (unit := pickle.load(source)) is not None:
            try:
                reply: tuple[str, Any] = ("done", (run(unit), own_peak_kb()))
            except Exception as exc:  # noqa: BLE001 - every error goes back, to be raised there
                reply = ("error", exc if isinstance(exc, (InputError, RuntimeFailure))
                         else RuntimeFailure(f"{type(exc).__name__}: {exc}"))
            pickle.dump(reply, sink, protocol=pickle.HIGHEST_PROTOCOL)
            sink.flush()
            if reply[0] == "error":
                return
    except EOFError:  # the main process went away
        return
    finally:
        close()


def own_peak_kb() -> int:
    """This process's peak resident memory since it started, in KB: `VmHWM` of /proc (Linux). Not
    `getrusage`'s maxrss, which a process started by fork and exec inherits from its parent: a lane
    started by a main process of 400 MB reports at least 400 MB."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    except (OSError, StopIteration, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
