"""The audit engine as it was before issue #19, frozen, to prove the new one gives the same results.

The old engine read every failing row of every check into a RecordRef (`_refs`), derived the count,
share, budget at risk and per-manager breakdown from that list in Python, and ran D10 as a Python
loop. It is kept here, callable, with the check SQL it ran for the checks whose SQL has since been
rewritten (`FROZEN_SQL`), until the equivalence test has proven the new path; nothing outside the
tests imports it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from implkit.audit.checks import Check, open_read_only, run_check_sql, sql_parameters
from implkit.audit.engine import (BUILTINS, AuditOptions, AuditRun, CheckResult, StageResolver,
                                  effective_threshold, required_by_stage)
from implkit.audit.records import RecordRef
from implkit.audit.snapshot import Snapshot

# The SQL these checks ran before they read the engine's shared tables (snapshot.AUDIT_TABLES) or were
# rewritten for speed at a million records (issue #19: aggregates for window functions, per-deal facts
# computed once).
FROZEN_SQL = {
    "C13": """
WITH missed AS (
  SELECT n.id AS note_id, n.entity_type, n.entity_id, n.created_at AS at FROM notes n
   WHERE n.note_type = 'call_missed' AND n.created_at <= :now - :hours * 3600),
outgoing (entity_type, entity_id, at) AS (
  SELECT entity_type, entity_id, created_at FROM notes WHERE note_type IN ('call_out', 'sms_out', 'email_out')
  UNION ALL
  SELECT CASE entity_type WHEN 'lead' THEN 'leads' WHEN 'contact' THEN 'contacts' WHEN 'company' THEN 'companies'
         END, entity_id, created_at FROM events
   WHERE type IN ('outgoing_call', 'outgoing_chat_message', 'outgoing_sms')),
related (entity_type, entity_id, other_type, other_id) AS (
  SELECT DISTINCT entity_type, entity_id, entity_type, entity_id FROM missed
  UNION ALL SELECT 'contacts', lc.contact_id, 'leads', lc.lead_id FROM lead_contacts lc
  UNION ALL SELECT 'leads', lc.lead_id, 'contacts', lc.contact_id FROM lead_contacts lc
  UNION ALL SELECT 'companies', l.company_id, 'leads', l.id FROM leads l WHERE l.company_id IS NOT NULL
  UNION ALL SELECT 'leads', l.id, 'companies', l.company_id FROM leads l WHERE l.company_id IS NOT NULL),
unreturned AS (
  SELECT m.* FROM missed m
   WHERE NOT EXISTS (SELECT 1 FROM related r JOIN outgoing o ON o.entity_type = r.other_type
                                                            AND o.entity_id = r.other_id
                      WHERE r.entity_type = m.entity_type AND r.entity_id = m.entity_id
                        AND o.at >= m.at AND o.at <= m.at + :hours * 3600))
SELECT u.entity_type AS entity, u.entity_id AS id,
       CASE u.entity_type WHEN 'leads' THEN (SELECT responsible_user_id FROM leads WHERE id = u.entity_id)
                          WHEN 'contacts' THEN (SELECT responsible_user_id FROM contacts WHERE id = u.entity_id)
                          ELSE (SELECT responsible_user_id FROM companies WHERE id = u.entity_id) END
         AS responsible_user_id,
       strftime('%Y-%m-%d %H:%M', min(u.at), 'unixepoch') AS value
  FROM unreturned u GROUP BY u.entity_type, u.entity_id
 ORDER BY min(u.at), u.entity_id
""",
    "U03": """
SELECT u.id FROM users u
 WHERE u.is_active = 0
   AND (EXISTS (SELECT 1 FROM leads l WHERE l.responsible_user_id = u.id AND l.is_open = 1)
        OR EXISTS (SELECT 1 FROM contacts c WHERE c.responsible_user_id = u.id)
        OR EXISTS (SELECT 1 FROM companies c WHERE c.responsible_user_id = u.id)
        OR EXISTS (SELECT 1 FROM tasks t WHERE t.responsible_user_id = u.id AND t.is_completed = 0))
 ORDER BY u.id
""",
    "D03": """
SELECT id, budget, responsible_user_id, strftime('%Y-%m-%d %H:%M', last, 'unixepoch') AS value
  FROM (SELECT l.id, l.price AS budget, l.responsible_user_id, max(l.created_at,
           coalesce((SELECT max(e.created_at) FROM events e
                      WHERE e.entity_type = 'lead' AND e.entity_id = l.id), 0),
           coalesce((SELECT max(n.created_at) FROM notes n
                      WHERE n.entity_type = 'leads' AND n.entity_id = l.id), 0),
           coalesce((SELECT max(t.at) FROM touches t WHERE t.lead_id = l.id AND t.at <= :now), 0),
           coalesce((SELECT max(t.updated_at) FROM tasks t
                      WHERE t.entity_type = 'leads' AND t.entity_id = l.id AND t.is_completed = 1), 0)) AS last
          FROM leads l
         WHERE l.is_open = 1
           AND l.status_id NOT IN (SELECT value FROM json_each(:exempt_stage_ids)))
 WHERE last <= :now - :days * 86400
 ORDER BY budget DESC, id
""",
    "D04": """
SELECT id, budget, responsible_user_id, stage || ': ' || CAST((:now - entered) / 86400 AS INTEGER) AS value
  FROM (SELECT l.id, l.price AS budget, l.responsible_user_id, l.status_id, s.name AS stage,
               coalesce((SELECT max(e.created_at) FROM events e
                          WHERE e.entity_type = 'lead' AND e.entity_id = l.id AND e.type = 'lead_status_changed'
                            AND e.status_after = l.status_id), l.created_at) AS entered
          FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id
         WHERE l.is_open = 1 AND s.kind = 'open'
           AND l.status_id NOT IN (SELECT value FROM json_each(:exempt_stage_ids)))
 WHERE entered < :now - coalesce(json_extract(:stage_days, '$."' || status_id || '"'), :max_days) * 86400
 ORDER BY budget DESC, id
""",
    "D06": """
SELECT id, budget, responsible_user_id, CAST((first - created_at) / 60 AS INTEGER) AS value
  FROM (SELECT l.id, l.price AS budget, l.responsible_user_id, l.created_at,
               (SELECT min(t.at) FROM touches t
                 WHERE t.lead_id = l.id AND t.direction = 'out' AND t.at >= l.created_at) AS first
          FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id
         WHERE s.kind != 'unsorted' AND l.created_at <= :now - :minutes * 60)
 WHERE coalesce(first, :now) - created_at > :minutes * 60
 ORDER BY created_at, id
""",
    "D07": """
SELECT l.id, l.price AS budget, l.responsible_user_id
  FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id
 WHERE s.kind != 'unsorted'
   AND l.created_at <= :now - :window_hours * 3600
   AND (SELECT count(*) FROM touches t
         WHERE t.lead_id = l.id AND t.at >= l.created_at AND t.at < l.created_at + :window_hours * 3600)
       < :min_touches
 ORDER BY l.created_at, l.id
""",
    "D01": """
SELECT l.id, l.price AS budget, l.responsible_user_id
  FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id
 WHERE l.is_open = 1
   AND l.status_id NOT IN (SELECT value FROM json_each(:exempt_stage_ids))
   AND (:include_unsorted OR s.kind != 'unsorted')
   AND NOT EXISTS (SELECT 1 FROM tasks t
                    WHERE t.entity_type = 'leads' AND t.entity_id = l.id AND t.is_completed = 0)
 ORDER BY l.price DESC, l.id
""",
    "D02": """
SELECT l.id, l.price AS budget, l.responsible_user_id,
       (SELECT strftime('%Y-%m-%d %H:%M', min(t.complete_till), 'unixepoch') FROM tasks t
         WHERE t.entity_type = 'leads' AND t.entity_id = l.id AND t.is_completed = 0
           AND t.complete_till < :now) AS value
  FROM leads l
 WHERE l.is_open = 1
   AND l.status_id NOT IN (SELECT value FROM json_each(:exempt_stage_ids))
   AND EXISTS (SELECT 1 FROM tasks t
                WHERE t.entity_type = 'leads' AND t.entity_id = l.id AND t.is_completed = 0
                  AND t.complete_till < :now)
 ORDER BY l.price DESC, l.id
""",
    "C11": """
SELECT ch.entity_type AS entity, ch.entity_id AS id,
       coalesce(c.responsible_user_id, co.responsible_user_id) AS responsible_user_id,
       group_concat(ch.raw || ' → ' || ch.key, '; ') AS value
  FROM channels ch
  LEFT JOIN contacts c ON ch.entity_type = 'contacts' AND c.id = ch.entity_id
  LEFT JOIN companies co ON ch.entity_type = 'companies' AND co.id = ch.entity_id
 WHERE ch.kind = 'phone' AND ch.valid = 1 AND ch.key IS NOT NULL AND ch.raw != ch.key
 GROUP BY ch.entity_type, ch.entity_id
 ORDER BY ch.entity_type DESC, ch.entity_id
""",
    "C07": """
SELECT c.id, c.responsible_user_id FROM contacts c
 WHERE c.created_at < :now - :months * 30 * 86400
   AND NOT EXISTS (SELECT 1 FROM lead_contacts lc JOIN leads l ON l.id = lc.lead_id
                    WHERE lc.contact_id = c.id AND (l.is_open = 1 OR l.updated_at >= :now - :months * 30 * 86400))
   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.entity_type = 'contacts' AND t.entity_id = c.id
                      AND t.updated_at >= :now - :months * 30 * 86400)
   AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.entity_type = 'contacts' AND n.entity_id = c.id
                      AND n.created_at >= :now - :months * 30 * 86400)
 ORDER BY c.id
""",
    "C10": """
SELECT DISTINCT c.id, c.responsible_user_id FROM contacts c
  JOIN lead_contacts lc ON lc.contact_id = c.id
  JOIN leads l ON l.id = lc.lead_id
 WHERE c.company_id IS NULL AND l.company_id IS NOT NULL
 ORDER BY c.id
""",
    "C12": """
SELECT c.id, c.responsible_user_id, c.name AS value FROM contacts c
 WHERE trim(c.name) = ''
    OR length(trim(c.name)) = 1
    OR NOT (c.name GLOB '*[A-Za-zА-Яа-яЁё]*')
    OR replace(replace(replace(replace(replace(replace(c.name, ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''),
               '.', '') GLOB '*[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'
    OR instr(c.name, '@') > 0
    OR c.name_key IN (SELECT value FROM json_each(:placeholder_names))
 ORDER BY c.id
""",
    "D15": """
SELECT DISTINCT e.entity_id AS id, coalesce(l.price, 0) AS budget, l.responsible_user_id
  FROM events e
  JOIN stages sb ON sb.pipeline_id = e.pipeline_before AND sb.id = e.status_before
  JOIN stages sa ON sa.pipeline_id = e.pipeline_after AND sa.id = e.status_after
  LEFT JOIN leads l ON l.id = e.entity_id
 WHERE e.type = 'lead_status_changed' AND e.pipeline_before = e.pipeline_after
   AND ((sb.kind = 'open' AND sa.kind = 'open' AND sa.position < sb.position)
        OR (sb.kind IN ('won', 'lost') AND sa.kind IN ('open', 'unsorted'))
        OR (sb.kind IN ('open', 'unsorted') AND sa.kind IN ('open', 'won')
            AND EXISTS (SELECT 1 FROM stages m
                         WHERE m.pipeline_id = e.pipeline_after AND m.kind = 'open'
                           AND m.position > sb.position AND m.position < sa.position
                           AND (json_array_length(:mandatory_stages) = 0
                                OR m.id IN (SELECT value FROM json_each(:mandatory_stages))))))
 ORDER BY e.entity_id
""",
    "C06": """
SELECT c.id, c.responsible_user_id,
       (SELECT group_concat(ch.raw, '; ') FROM channels ch
         WHERE ch.entity_type = 'contacts' AND ch.entity_id = c.id AND ch.valid = 0) AS value
  FROM contacts c
 WHERE EXISTS (SELECT 1 FROM channels ch WHERE ch.entity_type = 'contacts' AND ch.entity_id = c.id
                  AND ch.valid = 0)
 ORDER BY c.id
""",
    "D17": """
SELECT l.id, 0 AS budget, l.responsible_user_id, s.name AS value
  FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id
 WHERE l.is_open = 1 AND s.kind = 'open' AND coalesce(l.price, 0) = 0
   AND l.status_id NOT IN (SELECT value FROM json_each(:exempt_stage_ids))
 ORDER BY l.created_at, l.id
""",
    "D12": """
-- (leads_open named: the only index on open deals the old schema had, so the order the SQL had then)
SELECT 'leads' AS entity, l.id, l.price AS budget, l.responsible_user_id FROM leads l INDEXED BY leads_open
 WHERE l.is_open = 1
   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = l.responsible_user_id AND u.is_active = 1)
UNION ALL
SELECT 'contacts', c.id, 0, c.responsible_user_id FROM contacts c
 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.responsible_user_id AND u.is_active = 1)
UNION ALL
SELECT 'companies', c.id, 0, c.responsible_user_id FROM companies c
 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.responsible_user_id AND u.is_active = 1)
UNION ALL
SELECT 'tasks', t.id, 0, t.responsible_user_id FROM tasks t
 WHERE t.is_completed = 0
   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.responsible_user_id AND u.is_active = 1)
""",
    "C08": """
SELECT c.id, c.responsible_user_id FROM companies c
 WHERE (c.inn IS NULL OR c.inn_valid = 0)
   AND EXISTS (SELECT 1 FROM leads l WHERE l.company_id = c.id AND l.status_id = 142)
 ORDER BY c.id
""",
    "D13": """
SELECT id, budget, responsible_user_id FROM (
  SELECT l.id, l.price AS budget, l.responsible_user_id,
         count(*) OVER (PARTITION BY l.main_contact_id, l.pipeline_id) AS n
    FROM leads l WHERE l.is_open = 1 AND l.main_contact_id IS NOT NULL)
 WHERE n > 1
 ORDER BY id
""",
}
# The population queries rewritten since, as they were.
FROZEN_POPULATION = {
    "C08": """
SELECT count(*) FROM companies c WHERE EXISTS (SELECT 1 FROM leads l WHERE l.company_id = c.id AND l.status_id = 142)
""",
    "C10": """
SELECT count(DISTINCT lc.contact_id) FROM lead_contacts lc JOIN leads l ON l.id = lc.lead_id
 WHERE l.company_id IS NOT NULL
""",
}


def legacy_run(snapshot: Snapshot, checks: list[Check], options: AuditOptions) -> AuditRun:
    """Every check evaluated the old way, on one read-only connection; results hold plain lists."""
    now = snapshot.snapshot_at
    stages = StageResolver(snapshot, options)
    exempt = stages.ids(options.exempt_stages, stages.setting_location("exempt_stages"))
    db, guard = open_read_only(snapshot.path)
    results = []
    try:
        for check in checks:
            if options.only and check.id not in options.only:
                continue
            if not check.unsupported_reason(options.crm):
                check = stages.resolve_check(check)
            results.append(_legacy_one(snapshot, db, guard, check, options, now, exempt))
    finally:
        db.close()
    return AuditRun(now, results, options)


def _legacy_one(snapshot, db, guard, check: Check, options: AuditOptions, now: int, exempt: list[int]) -> CheckResult:
    threshold = effective_threshold(check, options.thresholds.get(check.id))
    reason = check.unsupported_reason(options.crm)
    if reason:
        return CheckResult(check, "unsupported", threshold=threshold, reason=reason)
    if "blueprint" in check.requires and options.blueprint is None:
        return CheckResult(check, "skipped", threshold=threshold, reason="the tenant has no blueprint to compare against")
    if check.builtin == "required_fields":
        failing, population, details = _required_fields(snapshot, check)
    elif check.builtin:
        from implkit.audit.config_drift import NoComparison

        try:
            failing, population, details = BUILTINS[check.builtin](snapshot, check, options, now)
        except NoComparison as missing:
            return CheckResult(check, "skipped", threshold=threshold, reason=str(missing))
    else:
        params = sql_parameters(check, now=now, exempt_stage_ids=exempt)
        old = dataclasses.replace(check, sql=FROZEN_SQL.get(check.id, check.sql),
                                  population=FROZEN_POPULATION.get(check.id, check.population))
        failing = _refs(check.entity, run_check_sql(db, guard, old, "sql", params))
        population = run_check_sql(db, guard, old, "population", params).fetchone()[0] if check.population else None
        details = {}
    result = CheckResult(check, "pass", failing, population, threshold, details=details)
    if check.severity != "info" and _over(len(failing), population, threshold):
        result.status = "fail"
    return result


def legacy_by_manager(refs: list[RecordRef], users: dict[int, str]) -> dict[str, int]:
    """The report's per-manager breakdown as the old report counted it, over every record."""
    return dict(Counter(users.get(r.responsible_user_id, f"#{r.responsible_user_id}")
                        for r in refs if r.responsible_user_id is not None).most_common())


def _over(count: int, population: int | None, threshold: dict[str, float]) -> bool:
    if not threshold:
        return False
    if "max_count" in threshold and count > threshold["max_count"]:
        return True
    share = count / population if population else None
    return "max_share" in threshold and share is not None and share > threshold["max_share"]


def _refs(entity: str, cursor: Any) -> list[RecordRef]:
    columns = [d[0] for d in cursor.description]
    at = {name: columns.index(name) if name in columns else None
          for name in ("id", "entity", "budget", "responsible_user_id", "value")}
    i, e, b, r, v = at["id"], at["entity"], at["budget"], at["responsible_user_id"], at["value"]
    return [RecordRef(row[e] if e is not None and row[e] else entity, row[i],
                      int(row[b] or 0) if b is not None else 0, row[r] if r is not None else None,
                      row[v] if v is not None else None)
            for row in cursor]


def _required_fields(snapshot: Snapshot, check: Check):
    """D10 as it was: a Python loop over every (open) deal (the stages' requirements are worked out as
    they still are, engine.required_by_stage)."""
    required = required_by_stage(snapshot.db)
    failing: list[RecordRef] = []
    population = 0
    if not required:
        return failing, 0, {"required_stages": 0}
    filled: dict[int, set[int]] = {}
    field_ids = sorted(set().union(*required.values()))
    for lead_id, field_id in snapshot.db.execute(
            f"SELECT entity_id, field_id FROM field_values WHERE entity_type = 'leads'"
            f" AND field_id IN ({','.join('?' * len(field_ids))})", field_ids):
        filled.setdefault(lead_id, set()).add(field_id)
    only_open = bool(check.parameters.get("only_open", True))
    for lead_id, pipeline_id, status_id, price, responsible in snapshot.db.execute(
            "SELECT id, pipeline_id, status_id, price, responsible_user_id FROM leads"
            # the order the old loop met them in, as SQLite read them then: open deals through leads_open
            # (pipeline, stage, id), every deal by id; said here, as a later index on open deals (D01-D04's
            # leads_open_by_price) covers this query and would hand them over in budget order
            + (" WHERE is_open = 1 ORDER BY pipeline_id, status_id, id" if only_open else " ORDER BY id")):
        need = required.get((pipeline_id, status_id))
        if not need:
            continue
        population += 1
        if need - filled.get(lead_id, set()):
            failing.append(RecordRef("leads", lead_id, price or 0, responsible))
    return failing, population, {"required_stages": len(required)}
