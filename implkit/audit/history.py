"""Every audit of a tenant, kept in a small SQLite file beside its snapshot.

Results are keyed by the check's id (and its stable identity, so a changed
evaluation shows as a break in the trend rather than a silent jump). A full
re-sync replaces the snapshot but never the history.

Each result keeps its failing records too (`failing_ids`), so that two runs
can be compared record by record (what is new, what was fixed): per entity,
the sorted integer ids as gaps between them, other ids as they are, compressed
with zlib (`pack_grouped` has the layout): about a byte a record (100,000 ids
scattered over 5 million: 116 KB; over 300,000: 42 KB; 873,000 of a million: 108 KB).
"""

from __future__ import annotations

import json
import operator
import sqlite3
import zlib
from itertools import accumulate, repeat
from pathlib import Path
from typing import Any, Iterable

from implkit.audit.engine import AuditRun
from implkit.audit.records import grouped_by_entity
from implkit.files import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, snapshot_at INTEGER NOT NULL,
    checks INTEGER NOT NULL, failed_errors INTEGER NOT NULL, failed_warnings INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL, check_id TEXT NOT NULL, identity TEXT NOT NULL, severity TEXT NOT NULL,
    status TEXT NOT NULL, count INTEGER, population INTEGER, budget INTEGER,
    PRIMARY KEY (run_id, check_id)
);
-- the failing records of each result, packed (see pack_ids)
CREATE TABLE IF NOT EXISTS failing (
    run_id INTEGER NOT NULL, check_id TEXT NOT NULL, ids BLOB NOT NULL,
    PRIMARY KEY (run_id, check_id)
);
"""

INT64 = (-(1 << 63), (1 << 63) - 1)  # numpy's int64 range: ids within it are decoded as machine integers


def pack_ids(refs: Iterable[tuple[str, object]]) -> bytes:
    """(entity, id) pairs → the packed ids of each entity (`pack_grouped`)."""
    return pack_grouped(grouped_by_entity(refs))


def pack_grouped(groups: Iterable[tuple[str, Any]]) -> bytes:
    """Each entity's failing ids (a list, or a numpy integer array as the audit engine hands them,
    `CheckResult.ids_by_entity`) → one blob.

    Two layouts, both read by `decode_ids`:
    - binary (`PACKED`, written whenever every integer id fits 64 bits — always, for ids from SQLite):
      the magic, then zlib of a JSON header — per entity its name, how many integer ids, the first, the
      width of the gaps between them and its other ids as sorted strings — followed by each entity's gaps
      as little-endian unsigned integers of that width. Sorting, gaps and packing are numpy's, so six
      million ids take well under a second, where making decimal text of each took seconds;
    - JSON (the original layout, still written for integer ids beyond 64 bits): zlib of
      {entity: {"d": the gaps of the sorted distinct integer ids, the first from 0, "o": other ids}}.
    """
    import numpy as np

    header, arrays, split = [], [], []
    for entity, ids in groups:
        ints, others, fits = _split_ids(ids)
        split.append((entity, ints, others))
        if not fits:
            continue
        ordered = np.sort(np.asarray(ints, dtype=np.int64))  # (np.unique hashes first: sixty times slower)
        unique = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
        gaps = np.diff(unique)
        width = next(w for w in (1, 2, 4, 8) if not len(gaps) or int(gaps.max()) < 1 << (8 * w))
        header.append([entity, len(unique), int(unique[0]) if len(unique) else 0, width, others])
        arrays.append(gaps.astype(f"<u{width}").tobytes())
    if len(header) == len(split):
        head = _json(header).encode()
        return PACKED + zlib.compress(len(head).to_bytes(4, "little") + head + b"".join(arrays))
    body = []
    for entity, ints, others in split:
        values = sorted(set(ints))
        deltas = ",".join(map(str, map(operator.sub, values, [0, *values[:-1]])))
        body.append(f'{_json(entity)}:{{"d":[{deltas}],"o":{_json(others)}}}')
    return zlib.compress(("{" + ",".join(body) + "}").encode())


def _split_ids(ids: Any) -> tuple[Any, list[str], bool]:
    """(the integer ids — a numpy int64 array as it came, else a list —, the other ids as sorted distinct
    strings, whether the integers and the gaps between them fit 64 bits); a bool is not an id."""
    import numpy as np

    if isinstance(ids, np.ndarray) and ids.dtype.kind == "i":
        return ids.astype(np.int64, copy=False), [], True
    ids = list(ids)
    if set(map(type, ids)) <= {int}:  # the usual case, without a Python loop over the ids
        ints, others = ids, []
    else:
        ints = [i for i in ids if type(i) is int]  # noqa: E721
        others = sorted({str(i) for i in ids if type(i) is not int})  # noqa: E721
    fits = not ints or (INT64[0] <= min(ints) and max(ints) <= INT64[1] and max(ints) - min(ints) <= INT64[1])
    return ints, others, fits


PACKED = b"\x00IK2"  # never the start of a zlib stream (its first byte names the deflate method: 0x?8)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def unpack_ids(blob: bytes) -> set[tuple[str, object]]:
    """The (entity, id) pairs `pack_ids` packed (as a set: for a few records; `decode_ids` for millions)."""
    out: set[tuple[str, object]] = set()
    for entity, (ints, others) in decode_ids(blob).items():
        out.update(zip(repeat(entity), ints.tolist()))
        out.update(zip(repeat(entity), others))
    return out


def decode_ids(blob: bytes) -> dict[str, tuple[Any, list]]:
    """`pack_grouped`'s blob, either layout → {entity: (its integer ids as a sorted numpy array, its other
    ids sorted)}.

    Millions of ids stay machine integers (8 bytes each, compared and counted by numpy), not a Python object
    and a set entry each (about 100 bytes): the audit diff of a 1M + 1M account reads 13 million. Integer ids
    beyond 64 bits (no CRM's, but pack_ids takes any) keep Python's integers in an object array."""
    import numpy as np

    out: dict[str, tuple[Any, list]] = {}
    if blob.startswith(PACKED):
        payload = zlib.decompress(blob[len(PACKED):])
        size = int.from_bytes(payload[:4], "little")
        at = 4 + size
        for entity, count, first, width, others in json.loads(payload[4:at]):
            gaps = np.frombuffer(payload, dtype=f"<u{width}", count=max(count - 1, 0), offset=at)
            at += gaps.nbytes
            ints = np.empty(count, dtype=np.int64)
            if count:
                ints[0] = first
                np.cumsum(gaps, out=ints[1:], dtype=np.int64)
                ints[1:] += first
            out[entity] = (ints, list(others))
        return out
    for entity, slot in json.loads(zlib.decompress(blob)).items():
        deltas = slot.get("d") or []
        # every delta after the first is positive (sorted distinct ids), so the running sums lie between
        # the first and the total: when both, and each delta, fit 64 bits, no sum overflows
        if deltas and not (INT64[0] <= min(deltas) and max(deltas) <= INT64[1] and INT64[0] <= sum(deltas) <= INT64[1]):
            ints = np.array(list(accumulate(deltas)), dtype=object)
        else:
            ints = np.fromiter(deltas, dtype=np.int64, count=len(deltas)).cumsum()
        out[entity] = (ints, sorted(slot.get("o") or ()))
    return out


class History:
    def __init__(self, path: str | Path | Any):
        """`path`: the SQLite file; or a connection the workspace's shared state backend gives (the same
        statements run on it: implkit.workspace.postgres.PgHistoryDb)."""
        if isinstance(path, (str, Path)):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            private_file(path)  # 0600 before SQLite opens it (its -wal/-shm inherit the mode)
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        else:
            self.db = path
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def record(self, run: AuditRun, *, at: int) -> int:
        failed = [r for r in run.results if r.status == "fail"]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self.db.execute(
                "INSERT INTO runs (at, snapshot_at, checks, failed_errors, failed_warnings) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id",
                (at, run.snapshot_at, len(run.results), sum(r.check.severity == "error" for r in failed),
                 sum(r.check.severity == "warning" for r in failed)))
            run_id = cursor.fetchone()[0]
            self.db.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.check.id, r.check.identity, r.check.severity, r.status,
                  r.count if r.ran else None, r.population, r.budget_at_risk if r.ran else None)
                 for r in run.results])
            self.db.executemany("INSERT INTO failing VALUES (?, ?, ?)",
                                [(run_id, r.check.id, pack_grouped(r.ids_by_entity())) for r in run.results if r.ran])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return run_id

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, at, snapshot_at, checks, failed_errors, failed_warnings FROM runs"
                               " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "at", "snapshot_at", "checks", "failed_errors", "failed_warnings")
        return [dict(zip(keys, row)) for row in reversed(rows)]

    def trend(self, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
        """check id → its results over the last `limit` runs, oldest first."""
        runs = self.runs(limit)
        if not runs:
            return {}
        ids = [r["id"] for r in runs]
        out: dict[str, list[dict[str, Any]]] = {}
        for run_id, check_id, identity, status, count, population, budget in self.db.execute(
                f"SELECT run_id, check_id, identity, status, count, population, budget FROM results"
                f" WHERE run_id IN ({','.join('?' * len(ids))}) ORDER BY check_id, run_id", ids):
            out.setdefault(check_id, []).append({"run": run_id, "identity": identity, "status": status,
                                                 "count": count, "population": population, "budget": budget})
        return out

    def failing_ids(self, run_id: int, check_id: str) -> set[tuple[str, object]] | None:
        """The (entity, id) records `check_id` reported in run `run_id`; None when it did not run (or the run
        predates this record)."""
        blob = self._failing_blob(run_id, check_id)
        return None if blob is None else unpack_ids(blob)

    def failing(self, run_id: int, check_id: str) -> dict[str, tuple[Any, list]] | None:
        """The same records as `failing_ids`, per entity as `decode_ids` gives them (for millions of ids)."""
        blob = self._failing_blob(run_id, check_id)
        return None if blob is None else decode_ids(blob)

    def _failing_blob(self, run_id: int, check_id: str) -> bytes | None:
        row = self.db.execute("SELECT ids FROM failing WHERE run_id = ? AND check_id = ?",
                              (run_id, check_id)).fetchone()
        return row[0] if row else None
