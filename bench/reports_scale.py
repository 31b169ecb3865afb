"""Seconds and rows of the period reports (sales, load, feed, goals) on a large snapshot.

    .venv/bin/python bench/reports_scale.py [--contacts 100000] [--leads 100000] [--days 365]

Builds the snapshot of bench/audit_scale.py (N contacts, N leads, about one task per lead, notes and
stage-change events; not timed), then builds and renders each report over the last --days before the
snapshot time, in Russian, as a table (the feed also as CSV: it is the longest text).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from audit_scale import DAY, NOW, build  # noqa: E402

from implkit.audit.analytics import Period  # noqa: E402
from implkit.audit.effect import zone  # noqa: E402
from implkit.audit.snapshot import Snapshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    from implkit.audit.feed import event_feed, render_feed
    from implkit.audit.goals import goals_report, render_goals
    from implkit.audit.load import load_report, render_load
    from implkit.audit.sales import render_sales, sales_report

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.sqlite"
        build(path, args.contacts, args.leads)
        period, tz = Period(NOW - args.days * DAY, NOW), zone("Europe/Moscow")
        with Snapshot(path) as snap:
            plan = {"source": "file", "file": "-", "goals": {uid: {"sales": 10, "revenue": 500_000}
                                                             for uid in range(1, 31)}}
            runs = [("sales", lambda: sales_report(snap, period), render_sales, "table"),
                    ("load", lambda: load_report(snap, period), render_load, "table"),
                    ("feed", lambda: event_feed(snap, period), render_feed, "csv"),
                    ("goals", lambda: goals_report(snap, period, plan, tz), render_goals, "table")]
            print(f"{args.leads:,} leads, {args.contacts:,} contacts, period {args.days} days")
            for name, make, render, fmt in runs:
                started = time.perf_counter()
                report = make()
                built = time.perf_counter() - started
                started = time.perf_counter()
                text = render(report, fmt, "ru", "bench", tz)
                rendered = time.perf_counter() - started
                print(f"  {name:<6} built in {built:6.2f} s, rendered ({fmt}) in {rendered:6.2f} s, "
                      f"{text.count(chr(10)):>9,} lines")


if __name__ == "__main__":
    main()
