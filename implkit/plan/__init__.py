"""Plan and apply blueprints to CRM tenants; drift; export.

The pieces, top-down:

- `implkit.plan.run` — what the commands call: `make_plan(provider, blueprint, state, ...)`,
  `apply_blueprint(...)`, `drift(provider, state)`, `export(provider)`,
  `write_plan_file` / `read_plan_file` (saved plans, refused when stale).
- `implkit.plan.diff.plan(desired, state_view, live, capabilities, ...)` — the one pure
  function computing a `Plan` (matching rule, destructive changes and drift documented there).
- `implkit.plan.changes` — the `Plan` value (`exit_code()`, `summary()`, JSON with
  `schema_version`), `Change`, `DriftItem`, `ManualRow`, `StateView`.
- `implkit.plan.show` — text and JSON renderings of a Plan (never recomputing it).
- `implkit.plan.apply` — the executor: `converge` (re-plans after unknown write outcomes)
  and `execute` (records every id as soon as the CRM confirms it).
- `implkit.plan.export.export_blueprint(live)` — a blueprint that plans to "No changes".

Providers are reached only through `implkit.providers.base.Provider`.
"""
