"""Peak memory and CPU of the audit's exports of every failing record: `--format json -o FILE`,
`--format csv -o FILE` and the worklists (`--by-manager DIR`), on the snapshot `bench/audit_scale.py` builds.

    .venv/bin/python bench/audit_export.py [--size 250000] [--snapshot FILE] [--formats json,csv]
                                           [--worklists] [--history] [--implkit DIR] [--keep DIR]

Each export runs in a fresh child process (so the peak resident memory is its own) as `implkit audit
TENANT --format F -o FILE` does: `run_audit` (every supported check, the analytics, no history), then the
report written to FILE (and, with --worklists, one CSV per manager). Printed per format: wall seconds,
CPU seconds (user + system: the figure a shared machine does not inflate), the child's peak memory, the
bytes written and their SHA-256 — run once with `--implkit` pointing at a checkout of an older implkit
(e.g. `git archive <commit> | tar -x -C /tmp/old`) and once without, the hashes say whether both wrote the
same bytes. Goal (issue #19): json and csv of every record at 1M + 1M within 1 GB.

`--snapshot FILE` measures an existing snapshot (it is opened as `implkit audit` opens it: the schema
is brought up to date; measure a copy of someone else's). Without it, `--size N` builds (or reuses, in
--keep) a snapshot of N contacts and N leads with `bench/audit_scale.py`'s generator.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(snapshot: str, fmt: str, out: str, worklists: str | None, history: str | None) -> dict:
    """One export, measured in this process (the parent started it fresh). With a history, an audit first
    (not timed; its memory is in the peak), so that the measured one carries the diff against it."""
    from implkit.audit import AuditOptions, run_audit

    if history:
        run_audit(snapshot, history, tenant="bench", options=AuditOptions(), fmt="table").run.close()
    started, cpu = time.perf_counter(), _cpu()
    outcome = run_audit(snapshot, history, tenant="bench", options=AuditOptions(), fmt=fmt)
    audited, audit_cpu = time.perf_counter() - started, _cpu() - cpu
    if hasattr(outcome, "write"):  # streamed (this implkit)
        from implkit.yamlio import atomic_writer

        with atomic_writer(out, mode=0o600) as fh:
            outcome.write(fh.write)
        if worklists:
            outcome.write_worklists(worklists)
    else:  # the report built whole, rendered to one string (an implkit before the streamed exports)
        from implkit.audit.report import write_worklists
        from implkit.yamlio import atomic_write

        atomic_write(out, outcome.text, mode=0o600)
        if worklists:
            write_worklists(outcome.report, worklists)
    outcome.run.close()
    return {"seconds": round(time.perf_counter() - started, 2), "cpu_seconds": round(_cpu() - cpu, 2),
            "audit_seconds": round(audited, 2), "audit_cpu_seconds": round(audit_cpu, 2),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _folder_digest(folder: Path) -> tuple[int, int, str]:
    """(files, bytes, one hash over every file's name and bytes, in name order)."""
    digest, files, size = hashlib.sha256(), 0, 0
    for path in sorted(folder.iterdir()):
        files, size = files + 1, size + path.stat().st_size
        digest.update(path.name.encode() + b"\0" + _digest(path).encode())
    return files, size, digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=250_000, help="Contacts and leads each (default 250,000).")
    parser.add_argument("--snapshot", help="Measure this snapshot instead of building one.")
    parser.add_argument("--formats", default="json,csv")
    parser.add_argument("--worklists", action="store_true", help="Also write the per-manager worklists.")
    parser.add_argument("--implkit", help="Import implkit from this folder (an older checkout, for 'before').")
    parser.add_argument("--keep", help="Folder to keep (and reuse) the built snapshots in.")
    parser.add_argument("--history", action="store_true",
                        help="Keep a history: the measured audit carries the diff against one run before it "
                             "(as every weekly `implkit audit` does; json lists every id of it).")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.implkit).resolve() if args.implkit else ROOT))
    if args.child:
        snapshot, fmt, out, worklists, history = args.child
        print(json.dumps(child(snapshot, fmt, out, worklists or None, history or None)))
        return
    if args.snapshot:
        snapshot = Path(args.snapshot)
    else:
        sys.path.insert(0, str(ROOT / "bench"))
        from audit_scale import build

        folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="implkit-audit-export-"))
        folder.mkdir(parents=True, exist_ok=True)
        snapshot = folder / f"snapshot-{args.size}-{args.size}.sqlite"
        if not snapshot.exists():
            build(snapshot, args.size, args.size)
    print(f"snapshot {snapshot} ({snapshot.stat().st_size / 2**20:.0f} MB); implkit from "
          f"{args.implkit or ROOT}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="implkit-export-") as scratch:
        for fmt in args.formats.split(","):
            out = Path(scratch) / f"report.{fmt}"
            worklists = Path(scratch) / f"worklists-{fmt}" if args.worklists else None
            history = Path(scratch) / f"history-{fmt}.sqlite" if args.history else ""
            command = [sys.executable, __file__, "--child", str(snapshot), fmt, str(out), str(worklists or ""),
                       str(history)]
            if args.implkit:
                command += ["--implkit", args.implkit]
            figures = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            line = (f"--format {fmt} -o FILE{' --by-manager DIR' if worklists else ''}"
                    f"{' (with the diff against a previous audit)' if history else ''}: {figures['seconds']} s, "
                    f"{figures['cpu_seconds']} CPU s (the audit before writing: {figures['audit_seconds']} s, "
                    f"{figures['audit_cpu_seconds']} CPU s), peak {figures['peak_mb']} MB (goal ≤ 1024 MB at 1M + 1M); "
                    f"wrote {out.stat().st_size:,} bytes, sha256 {_digest(out)}")
            if worklists:
                files, size, digest = _folder_digest(worklists)
                line += f"; worklists: {files} files, {size:,} bytes, sha256 {digest}"
            print(line, flush=True)
            out.unlink()


if __name__ == "__main__":
    main()
