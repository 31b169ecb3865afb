"""Requests an apply sends, against the minimum amoCRM's batch limits allow.

    .venv/bin/python bench/apply.py [BLUEPRINT]     (default: the manufacturer preset, the 31–100 group)

Applies the blueprint to an empty sandbox account over a loopback server,
then applies it again, and prints from the sandbox's request log:

- requests sent by the first apply (reads and writes), and by plan alone;
- the minimum number of write requests the documented limits allow for the
  objects created: pipelines with their stages in one POST per 50 pipelines;
  field groups and fields one POST per entity per 50 (recommended batch, ≤ 250
  allowed); roles one POST each (the documented request body is one role);
- the ratio writes sent / minimum;
- write requests sent by the second apply (the promise: zero).

The sandbox's rate limits are raised for the run (the figures are counts,
not times); nothing here is timed.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.blueprint import load_blueprint  # noqa: E402
from implkit.http import BearerToken, RateLimiter  # noqa: E402
from implkit.plan.run import apply_blueprint, make_plan  # noqa: E402
from implkit.providers import open_provider  # noqa: E402
from implkit.providers.amocrm.mapping import BATCH  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.workspace.state import StateStore  # noqa: E402

WRITE_METHODS = ("POST", "PATCH", "DELETE")


def default_blueprint(tmp: Path) -> Path:
    preset = ROOT / "blueprints" / "presets" / "manufacturer.yaml"
    if preset.is_file():
        return preset
    # presets not shipped yet: compose the same business from the example answers
    from implkit.blueprint import compose
    from implkit.yamlio import load_yaml, to_plain

    answers = to_plain(load_yaml(ROOT / "examples" / "answers" / "manufacturer.yaml"))
    path = tmp / "manufacturer.yaml"
    path.write_text(compose(answers.get("answers", answers)), encoding="utf-8")
    return path


def minimum_writes(plan) -> int:
    creates = [c for c in plan.changes if c.action == "create"]
    count = Counter(c.kind for c in creates)
    entities = lambda kind: Counter(c.address.split(".")[1] for c in creates if c.kind == kind)  # noqa: E731
    return (math.ceil(count["pipeline"] / BATCH)
            + sum(math.ceil(n / BATCH) for n in entities("field_group").values())
            + sum(math.ceil(n / BATCH) for n in entities("field").values())
            + count["role"])


def main(argv: list[str]) -> int:
    import argparse

    from implkit.errors import InputError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", nargs="?", type=Path,
                        help="the blueprint to apply (default: the manufacturer preset, the 31–100 group)")
    args = parser.parse_args(argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="implkit-bench-apply-"))
    blueprint_path = args.blueprint or default_blueprint(tmp)
    try:
        desired = load_blueprint(blueprint_path)
    except InputError as error:   # a bad blueprint is the caller's input: its message, not a traceback
        print(f"apply.py: {error}", file=sys.stderr)
        return 3
    sandbox = Sandbox(tmp / "sandbox.db", integration_rps=10_000, account_rps=10_000)
    sandbox.create_account("bench")
    with serve_in_thread(sandbox) as root:
        provider = open_provider("amocrm", root + sandbox.base_url("bench"), BearerToken(sandbox.token("bench")),
                                 rate=RateLimiter(10_000))
        state = StateStore(tmp / "state.db")
        plan = make_plan(provider, desired, state, tenant="bench")
        plan_requests = len(sandbox.request_log("bench"))
        _shown, result = apply_blueprint(provider, desired, state, tenant="bench")
        first = sandbox.request_log("bench")[plan_requests:]
        _shown, _again = apply_blueprint(provider, desired, state, tenant="bench")
        second = sandbox.request_log("bench")[plan_requests + len(first):]
        provider.close()
        state.close()
    sandbox.close()

    sent_writes = [r for r in first if r["method"] in WRITE_METHODS]
    minimum = minimum_writes(plan)
    kinds = Counter(c.kind for c in plan.changes if c.action == "create")
    print(f"blueprint: {blueprint_path} ({desired.name} {desired.version})")
    print(f"objects created: {sum(kinds.values())} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print(f"plan alone: {plan_requests} requests (all reads)")
    print(f"first apply: {len(first)} requests = {len(first) - len(sent_writes)} reads + {len(sent_writes)} writes")
    print("  writes by endpoint: "
          + ", ".join(f"{k} ×{v}" for k, v in sorted(Counter(
              f"{r['method']} {r['path'].split('?')[0].split('/api/v4/')[-1]}" for r in sent_writes).items())))
    print(f"minimum writes the batch limits allow: {minimum}")
    print(f"ratio writes sent / minimum: {len(sent_writes) / minimum:.2f}" if minimum else "ratio: n/a")
    print(f"second apply: {len(second)} requests, "
          f"{sum(1 for r in second if r['method'] in WRITE_METHODS)} writes")
    print(f"created by apply: {result.created}, reconciliations: {result.reconciliations}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
