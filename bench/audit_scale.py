"""Time and peak memory of every check on a large snapshot, against one full scan of its tables.

    .venv/bin/python bench/audit_scale.py [--contacts 1000000] [--leads 1000000] [--sizes 250000,500000,1000000]
                                          [--workers N] [--threads] [--keep DIR] [--profile N]

Builds a snapshot of N contacts (phones and e-mails in mixed formats,
normalised on entry as sync does), N leads, about one task per lead, notes
and stage-change events, with a few planted duplicates and a shared office
number; then the planner's statistics, as sync leaves them (`Snapshot.analyze`). The build is not
timed (it is what sync does, bounded by the API).
Then, in a fresh child process so the memory figure is the audit's own:

- two audits as `implkit audit TENANT` runs them (`implkit.audit.run_audit`: all supported checks of
  `audits/` — those needing a blueprint are skipped, as for a tenant without one —, the sales
  analytics of the last 30 days, the report's samples, the history's record of every failing id, the
  diff against the previous audit, the table report); the second is timed: it is the weekly audit, the
  one with a diff. Where its time went is printed by phase;
- seconds for one full scan: every row of every snapshot table read once;
- the ratio of the two, and the peak resident memory of the audit's process plus that of its lane
  process (the checks' second lane is a process of its own from 64 MB of snapshot: `implkit.audit.lanes`;
  `--threads` keeps it a thread, to compare);
- CPU utilisation: user + system seconds of the audit and its lane process / its wall time / the cores.

`--sizes 250000,500000,1000000` measures each size in turn and prints seconds per million records, to
show that the time grows linearly. Targets (issue #19): the whole audit on 1,000,000 +
1,000,000 in ≤ 15 s and ≤ 1 GB on 2 cores, ≤ 2.5× one full scan. The machine may be shared: the load
average is printed beside each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit.snapshot import RECORD_TABLES, Snapshot  # noqa: E402

NOW = 1_800_000_000
DAY = 86400
CHUNK = 20_000
FIRST = ["Иван", "Пётр", "Анна", "Мария", "Олег", "Ольга", "Сергей", "Елена", "Дмитрий", "Наталья", "Алексей",
         "Татьяна", "Андрей", "Ирина", "Николай", "Светлана"]
LAST = ["Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов",
        "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов",
        "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров"]
STAGES = [{"id": 10, "name": "Неразобранное", "sort": 10, "type": 1}] + [
    {"id": 11 + i, "name": n, "sort": 20 + 10 * i} for i, n in
    enumerate(["Первичный контакт", "Квалификация", "Встреча", "КП отправлено", "Договор"])] + [
    {"id": 142, "name": "Успешно реализовано", "sort": 10000}, {"id": 143, "name": "Закрыто", "sort": 11000}]


def build(path: Path, contacts: int, leads: int) -> None:
    rng = random.Random(1)
    snap = Snapshot(path)
    snap.insert("users", [{"id": u, "name": f"Менеджер {u}", "is_active": u != 9, "rights": {}} for u in range(1, 31)])
    snap.insert("pipelines", [{"id": 1, "name": "Продажи", "is_main": True, "stages": STAGES}])
    snap.insert("custom_fields", [{"id": 500 + i, "entity_type": "leads", "name": f"Поле {i}", "type": "text",
                                   "required_statuses": [{"pipeline_id": 1, "status_id": 13}] if i == 0 else []}
                                  for i in range(5)])
    companies = max(1, contacts // 10)
    for start in range(0, companies, CHUNK):
        snap.insert("companies", [{"id": i, "name": f"ООО «Компания {i}»", "inn": str(7700000000 + i),
                                   "responsible_user_id": rng.randint(1, 30), "created_at": NOW - rng.randint(0, 900) * DAY,
                                   "updated_at": NOW - rng.randint(0, 300) * DAY,
                                   "phones": ["+7 495 100-00-00"] if i % 1000 == 0 else []}
                                  for i in range(start + 1, min(companies, start + CHUNK) + 1)])
    formats = ["8 (9{:02d}) {:03d}-{:02d}-{:02d}", "+7 9{:02d} {:03d} {:02d} {:02d}", "9{:02d}{:03d}{:02d}{:02d}"]
    for start in range(0, contacts, CHUNK):
        rows = []
        for i in range(start + 1, min(contacts, start + CHUNK) + 1):
            n = i if i % 50 else i - 1  # every 50th contact duplicates its neighbour's phone and e-mail
            digits = (n // 10_000_000 % 90 + 10, n // 10_000 % 1000, n // 100 % 100, n % 100)
            phones = [formats[i % 3].format(*digits)]
            if i % 700 == 0:
                phones.append("+7 495 100-00-00")  # a shared office number: one oversized block, never a group
            if i % 900 == 0:
                phones = ["000-00-00"]  # placeholder
            rows.append({"id": i, "name": f"{rng.choice(LAST)} {rng.choice(FIRST)}",
                         "responsible_user_id": rng.randint(1, 30), "company_id": rng.randint(1, companies)
                         if rng.random() < 0.6 else None, "created_at": NOW - rng.randint(0, 900) * DAY,
                         "updated_at": NOW - rng.randint(0, 300) * DAY, "phones": phones,
                         "emails": [f"client{n}@mail.ru" if i % 2 else f"Client{n}@Mail.RU"]})
        snap.insert("contacts", rows)
    task_id = note_id = event_id = 0
    for start in range(0, leads, CHUNK):
        lead_rows, tasks, notes, events = [], [], [], []
        for i in range(start + 1, min(leads, start + CHUNK) + 1):
            status = rng.choice([11, 12, 13, 14, 15, 142, 143, 10])
            created = NOW - rng.randint(0, 400) * DAY - rng.randint(0, DAY)
            contact = rng.randint(1, contacts)
            lead_rows.append({"id": i, "name": f"Сделка {i}", "price": rng.choice([0, 10_000, 50_000, 120_000]),
                              "responsible_user_id": rng.randint(1, 30), "pipeline_id": 1, "status_id": status,
                              "loss_reason_id": rng.choice([None, 1]) if status == 143 else None,
                              "created_at": created, "updated_at": created + rng.randint(0, 30) * DAY,
                              "closed_at": created + rng.randint(1, 60) * DAY if status in (142, 143) else None,
                              "contacts": [{"id": contact, "is_main": True}],
                              "company_id": rng.randint(1, companies) if rng.random() < 0.3 else None,
                              "fields": {500: "x"} if rng.random() < 0.7 else {}})
            if rng.random() < 0.9:
                task_id += 1
                done = status in (142, 143) or rng.random() < 0.5
                tasks.append({"id": task_id, "responsible_user_id": rng.randint(1, 30), "entity_type": "leads",
                              "entity_id": i, "is_completed": done, "complete_till": NOW + rng.randint(-20, 20) * DAY,
                              "created_at": created, "updated_at": created + DAY,
                              "result_text": "Созвонились" if done and rng.random() < 0.8 else None})
            if rng.random() < 0.5:
                note_id += 1
                notes.append({"id": note_id, "entity_type": "leads", "entity_id": i, "note_type": "call_out",
                              "created_at": created + rng.randint(60, 3 * DAY), "updated_at": created + 3 * DAY})
            if i % 40 == 0:  # a missed call on the deal's contact; called back on the deal, later, or never
                note_id += 1
                missed_at = created + rng.randint(60, 5 * DAY)
                notes.append({"id": note_id, "entity_type": "contacts", "entity_id": contact,
                              "note_type": "call_missed", "created_at": missed_at, "updated_at": missed_at})
                back = rng.choice([None, 30 * 60, 5 * 3600])
                if back is not None:
                    note_id += 1
                    notes.append({"id": note_id, "entity_type": "leads", "entity_id": i, "note_type": "call_out",
                                  "created_at": missed_at + back, "updated_at": missed_at + back})
            if status not in (10, 11) and rng.random() < 0.6:
                event_id += 1
                events.append({"id": f"e{event_id}", "type": "lead_status_changed", "entity_type": "lead",
                               "entity_id": i, "created_at": created + rng.randint(1, 20) * DAY,
                               "pipeline_before": 1, "status_before": 11, "pipeline_after": 1, "status_after": status})
        snap.insert("leads", lead_rows)
        for table, rows in (("tasks", tasks), ("notes", notes), ("events", events)):
            if rows:
                snap.insert(table, rows)
    snap.set_meta(snapshot_at=NOW)
    snap.build_audit_tables(NOW)  # as sync does at its end
    snap.analyze()
    snap.close()


def run_checks(path: Path, workers: int | None = None, threads: bool = False) -> dict:
    """In the child process: two audits as `implkit audit TENANT` runs them (`run_audit`: the checks, the
    analytics, the report's samples, the history's record and the diff against the previous audit), the
    second timed — a weekly audit; then one full scan. Reports the second audit's phases, the peak memory
    and how much of the cores the audit kept busy."""
    import implkit.audit as audit_package
    from implkit.audit import analytics, diff, engine, history, lanes, report
    from implkit.audit.engine import AuditOptions

    phases: dict[str, list[float]] = {}

    def timed(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            cpu, started = _cpu(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:  # process CPU: the analytics run beside the checks, on their own thread
                phases[label] = [time.perf_counter() - started, _cpu() - cpu]
        setattr(owner, name, wrapper)

    timed(engine, "run_checks", "checks")
    lane_peaks_kb: list[int] = []
    stop_lane = lanes.ProcessLane.stop

    def stop_and_note(lane: lanes.ProcessLane, **kwargs) -> None:
        stop_lane(lane, **kwargs)
        lane_peaks_kb.append(lane.peak_kb)
    lanes.ProcessLane.stop = stop_and_note
    timed(report, "lookup_records", "samples")
    timed(history.History, "record", "history")
    timed(diff, "audit_diff", "diff")
    timed(report, "render", "render")
    timed(analytics, "sales_analytics", "analytics")
    if workers or threads:
        original_run = engine.run_checks
        forced = {**({"workers": workers} if workers else {}), **({"processes": False} if threads else {})}
        engine.run_checks = lambda *a, **k: original_run(*a, **{**k, **forced})
    cores = os.cpu_count() or 1
    kept = Path(tempfile.mkdtemp(prefix="implkit-audit-scale-history-")) / "history.sqlite"
    first = audit_package.run_audit(path, kept, tenant="bench", options=AuditOptions(), fmt="table")
    results = [(r.check.id, r.status, r.count, r.details.get("compared_pairs"),
                len(r.details.get("truncated_blocks", []))) for r in first.run.results]
    first.run.close()
    cpu_before, started = _cpu(), time.perf_counter()
    second = audit_package.run_audit(path, kept, tenant="bench", options=AuditOptions(), fmt="table")
    second.run.close()
    audit_seconds = time.perf_counter() - started
    cpu_seconds = _cpu() - cpu_before
    with Snapshot(path) as snap:
        cpu_before, started = _cpu(), time.perf_counter()
        rows = 0
        for table in RECORD_TABLES + ("channels", "lead_contacts", "field_values"):
            for _ in snap.db.execute(f"SELECT * FROM {table}"):
                rows += 1
        scan_seconds = time.perf_counter() - started
        scan_cpu = _cpu() - cpu_before
    # the audit's process and its lane process run at once: their peaks added (an upper bound). A lane's
    # is its own (`lanes.own_peak_kb`): RUSAGE_CHILDREN's maxrss includes the main process's size at
    # the moment it started the lane, as fork and exec carry it over
    peaks = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, max(lane_peaks_kb, default=0) / 1024]
    peak_mb = sum(peaks)
    return {"audit_seconds": round(audit_seconds, 2), "phases": {k: [round(x, 2) for x in v] for k, v in phases.items()},
            "scan_seconds": round(scan_seconds, 2), "scanned_rows": rows, "ratio": round(audit_seconds / scan_seconds, 2),
            "peak_mb": round(peak_mb), "peaks_mb": [round(x) for x in peaks], "cpu_seconds": round(cpu_seconds, 2), "cores": cores,
            "scan_cpu_seconds": round(scan_cpu, 2), "cpu_ratio": round(cpu_seconds / scan_cpu, 2),
            "cpu_utilisation": round(cpu_seconds / audit_seconds / cores, 2),
            "workers": min(workers or cores, 4), "lanes": "threads" if threads else "processes",
            "results": results, "report_chars": len(second.text)}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the audit's process lanes: each is
    waited for before `run_checks` returns)."""
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                          resource.RUSAGE_CHILDREN)))


def profile(path: Path, top: int) -> None:
    """In a child process: the weekly audit again, on one thread so that cProfile sees every check's work
    (the analytics run beside it and are not in it), by CPU time; the `top` functions by their own time."""
    import cProfile
    import pstats

    import implkit.audit as audit_package
    from implkit.audit import engine
    from implkit.audit.engine import AuditOptions

    one_thread = engine.run_checks
    engine.run_checks = lambda *a, **k: one_thread(*a, **{**k, "workers": 1})
    kept = Path(tempfile.mkdtemp(prefix="implkit-audit-scale-history-")) / "history.sqlite"
    audit_package.run_audit(path, kept, tenant="bench", options=AuditOptions(), fmt="table").run.close()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    audit_package.run_audit(path, kept, tenant="bench", options=AuditOptions(), fmt="table").run.close()
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def measure(folder: Path, contacts: int, leads: int, workers: int | None, threads: bool = False) -> dict:
    path = folder / f"snapshot-{contacts}-{leads}.sqlite"
    if not path.exists():
        started = time.perf_counter()
        build(path, contacts, leads)
        print(f"built {path} in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 2**20:.0f} MB)",
              file=sys.stderr)
    command = [sys.executable, __file__, "--child", str(path)] + (["--workers", str(workers)] if workers else []) \
        + (["--threads"] if threads else [])
    child = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(child.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--sizes", help="Comma-separated sizes (contacts = leads = each), to show how the time "
                                        "scales, e.g. 250000,500000,1000000; overrides --contacts/--leads.")
    parser.add_argument("--workers", type=int, help="Lanes the checks run in, each with its read connection: "
                                                     "this process's thread and processes beside it; default: the "
                                                     "cores, at most 4.")
    parser.add_argument("--threads", action="store_true",
                        help="Lanes as threads of the audit's process (as below 64 MB), to compare with processes.")
    parser.add_argument("--keep", help="Folder to keep (and reuse) the built snapshots in.")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="Also profile the weekly audit of the last size on one thread (CPU time) and print "
                             "the N functions with the most time of their own.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_checks(Path(args.child), args.workers, args.threads)))
        return
    if args.profile_child:
        profile(Path(args.profile_child), args.profile)
        return
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="implkit-audit-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [(int(n), int(n)) for n in args.sizes.split(",")] if args.sizes else [(args.contacts, args.leads)]
    measured = []
    for contacts, leads in sizes:
        figures = measure(folder, contacts, leads, args.workers, args.threads)
        measured.append((contacts + leads, figures))
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"snapshot: {contacts:,} contacts, {leads:,} leads, {figures['scanned_rows']:,} rows in all "
              f"(load average before the run's end: {load})")
        phases = figures["phases"]
        print(f"a weekly audit as `implkit audit` runs it (checks, analytics, samples, history, diff against the "
              f"previous audit, table report): {figures['audit_seconds']} s (target ≤ 15 s at 1M + 1M)")
        print("  where the time went (wall s / CPU s of the process meanwhile): " + "; ".join(
            f"{name} {wall} / {cpu}" for name, (wall, cpu) in phases.items()))
        print(f"one full scan of the tables: {figures['scan_seconds']} s; ratio audit / scan = {figures['ratio']} "
              f"(target ≤ 2.5); by CPU seconds, which a busy machine does not inflate: "
              f"{figures['cpu_seconds']} / {figures['scan_cpu_seconds']} = {figures['cpu_ratio']}")
        print(f"peak memory of the audit's process and its lane process, added (two audits): {figures['peak_mb']} MB "
              f"({' + '.join(map(str, figures['peaks_mb']))}) "
              f"(target ≤ 1024 MB)")
        print(f"CPU: {figures['cpu_seconds']} s user+sys over {figures['audit_seconds']} s on {figures['cores']} "
              f"cores = {figures['cpu_utilisation']:.0%} utilisation; {figures['workers']} lanes "
              f"({'threads' if figures['lanes'] == 'threads' else 'one thread here, the rest processes'}); "
              f"{sum(1 for r in figures['results'] if r[1] in ('fail', 'pass'))} checks ran")
        for check_id, status, count, pairs, truncated in figures["results"]:
            if pairs is not None:  # C01–C04 and C14 read one pass: the pairs are the pass's, counted once
                print(f"  {check_id}: {count} records, {pairs:,} pairs compared by the pass, "
                      f"{truncated} big blocks compared by sorted neighbourhood (none skipped)")
    if args.profile:
        contacts, leads = sizes[-1]
        path = folder / f"snapshot-{contacts}-{leads}.sqlite"
        print(f"profile of the weekly audit on one thread ({contacts:,} + {leads:,}), by CPU time:", flush=True)
        subprocess.run([sys.executable, __file__, "--profile-child", str(path), "--profile", str(args.profile)],
                       check=True)
    if len(measured) > 1:  # linear scaling: the same seconds per million records at every size
        print("scaling: " + "; ".join(f"{n:,} records: {f['audit_seconds'] / n * 1e6:.2f} s and "
                                       f"{f['cpu_seconds'] / n * 1e6:.2f} CPU s per million, {f['peak_mb']} MB"
                                       for n, f in measured))


if __name__ == "__main__":
    main()
