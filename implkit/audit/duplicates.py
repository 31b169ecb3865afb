"""Duplicate detection that never compares all pairs.

Staged as splink and dedupe users ask for: first the exact passes on keys
normalised when the record entered the snapshot (E.164 phone, lower-cased
e-mail, INN digits) — O(n) grouping; then fuzzy names, compared with
rapidfuzz only *inside* blocks of records that already agree on something
strict (the same company; the same name signature). Blocks are capped: a
placeholder phone or a shared office number used by hundreds of records is
reported as a shared value, never expanded into a giant block. The number
of compared pairs is counted and reported.

Each group is reported once, with the rule that matched, the record to keep
(the one with the most deals, then the oldest) and the records to merge.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from rapidfuzz import fuzz, process

from implkit.audit.snapshot import Snapshot


@dataclass
class DuplicateGroup:
    rule: str  # phone | email | name | inn | company_name
    key: str
    keep: int
    merge: list[int]

    @property
    def members(self) -> list[int]:
        return [self.keep, *self.merge]


@dataclass
class DuplicateReport:
    rule: str
    entity: str
    groups: list[DuplicateGroup] = field(default_factory=list)
    compared_pairs: int = 0
    blocks: int = 0
    largest_block: int = 0
    oversized: list[tuple[str, int]] = field(default_factory=list)  # (key, size): shared / placeholder values
    shared_office_numbers: int = 0  # company phones also on contacts: office lines, never a duplicate key

    @property
    def extra_records(self) -> list[int]:
        return sorted(i for g in self.groups for i in g.merge)

    def summary(self) -> dict:
        return {"rule": self.rule, "groups": len(self.groups), "extra_records": len(self.extra_records),
                "compared_pairs": self.compared_pairs, "blocks": self.blocks, "largest_block": self.largest_block,
                "oversized_blocks": [{"key": k, "size": n} for k, n in self.oversized],
                "shared_office_numbers": self.shared_office_numbers}


def find_duplicates(snapshot: Snapshot, entity: str, rule: str, *, max_block: int = 20,
                    min_score: float = 90) -> DuplicateReport:
    """Duplicate groups of `entity` ("contacts" | "companies") by `rule`."""
    report = DuplicateReport(rule, entity)
    if rule in ("phone", "email"):
        # A contact's phone that is also a company's phone is an office line shared by colleagues,
        # not a personal identifier: it makes no group (it is listed among the shared values).
        office = ("AND NOT EXISTS (SELECT 1 FROM channels o WHERE o.entity_type = 'companies' AND o.kind = 'phone'"
                  " AND o.key = c.key)" if entity == "contacts" and rule == "phone" else "")
        rows = snapshot.db.execute(
            f"SELECT key, entity_id FROM channels c WHERE entity_type = ? AND kind = ? AND valid = 1"
            f" AND key IS NOT NULL {office} ORDER BY key", (entity, rule))
        _exact(report, snapshot, rows, max_block)
        if office:
            report.shared_office_numbers = snapshot.db.execute(
                "SELECT count(DISTINCT c.key) FROM channels c JOIN channels o ON o.key = c.key"
                " AND o.entity_type = 'companies' AND o.kind = 'phone'"
                " WHERE c.entity_type = 'contacts' AND c.kind = 'phone' AND c.valid = 1").fetchone()[0]
    elif rule == "inn":
        rows = snapshot.db.execute("SELECT inn, id FROM companies WHERE length(inn) IN (10, 12) ORDER BY inn")
        _exact(report, snapshot, rows, max_block)
    elif rule == "name":
        _fuzzy(report, snapshot, _person_blocks(snapshot, entity), min_score, max_block)
    elif rule == "company_name":
        _fuzzy(report, snapshot, _company_blocks(snapshot), min_score, max_block)
    else:
        raise ValueError(f"unknown duplicate rule {rule!r}")
    report.groups.sort(key=lambda g: g.keep)
    return report


def _exact(report: DuplicateReport, snapshot: Snapshot, rows: Iterable, max_block: int) -> None:
    """Group rows already sorted by key; one group per key shared by 2..max_block distinct records."""
    current_key, members = None, set()
    groups: list[tuple[str, list[int]]] = []

    def close() -> None:
        if current_key is None:
            return
        size = len(members)
        report.blocks += 1
        report.largest_block = max(report.largest_block, size)
        if size > max_block:
            report.oversized.append((current_key, size))
        elif size > 1:
            groups.append((current_key, sorted(members)))
            report.compared_pairs += size - 1  # each member is matched to the key once

    for key, record_id in rows:
        if key != current_key:
            close()
            current_key, members = key, set()
        members.add(record_id)
    close()
    keep_order = _keep_order(snapshot, report.entity, [i for _, m in groups for i in m])
    for key, ids in groups:
        keep = min(ids, key=keep_order.__getitem__)
        report.groups.append(DuplicateGroup(report.rule, key, keep, [i for i in ids if i != keep]))


def _person_blocks(snapshot: Snapshot, entity: str) -> dict[str, list[tuple[int, str]]]:
    """Block keys per person (domain.md C03): the same company, or a shared phone or e-mail.

    A name alone is no block: two different people called «Вера Островская» are common, and a
    name-only rule reports them; people who are one client share a company or a channel.
    """
    # Only keys shared by two or more records become blocks: SQLite groups, Python never holds the
    # million singletons.
    blocks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if entity == "contacts":
        for record_id, key, company_id in snapshot.db.execute(
                "SELECT id, name_key, company_id FROM contacts WHERE name_key != '' AND company_id IN"
                " (SELECT company_id FROM contacts WHERE company_id IS NOT NULL GROUP BY company_id"
                "  HAVING count(*) > 1)"):
            blocks[f"company:{company_id}"].append((record_id, key))
    for kind, channel_key, record_id, key in snapshot.db.execute(
            f"SELECT DISTINCT ch.kind, ch.key, e.id, e.name_key FROM channels ch JOIN {entity} e ON e.id = ch.entity_id"
            " WHERE ch.entity_type = ? AND ch.valid = 1 AND e.name_key != '' AND (ch.kind, ch.key) IN"
            " (SELECT kind, key FROM channels WHERE entity_type = ? AND valid = 1 AND key IS NOT NULL"
            "  GROUP BY kind, key HAVING count(DISTINCT entity_id) > 1)", (entity, entity)):
        blocks[f"{kind}:{channel_key}"].append((record_id, key))
    return blocks


def _company_blocks(snapshot: Snapshot) -> dict[str, list[tuple[int, str]]]:
    blocks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record_id, key in snapshot.db.execute("SELECT id, name_key FROM companies WHERE name_key != ''"):
        blocks["name:" + _signature(key)].append((record_id, key))
    return blocks


def _signature(key: str) -> str:
    """First three letters of each name token, sorted (so swapped names meet); numbers whole (they must agree)."""
    return " ".join(sorted(token if token.isdigit() else token[:3] for token in key.split()))


def _fuzzy(report: DuplicateReport, snapshot: Snapshot, blocks: dict[str, list[tuple[int, str]]],
           min_score: float, max_block: int) -> None:
    """Compare names with token-sort ratio inside each block; join matching pairs into clusters."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    key_of: dict[int, str] = {}
    for block_key, members in blocks.items():
        size = len(members)
        if size < 2:
            continue
        report.blocks += 1
        report.largest_block = max(report.largest_block, size)
        if size > max_block:
            report.oversized.append((block_key, size))
            continue
        report.compared_pairs += size * (size - 1) // 2
        ids = [m[0] for m in members]
        names = [m[1] for m in members]
        numbers = [_numbers(n) for n in names]
        for i in range(size - 1):
            # one C-level pass of i against the rest of the block (rapidfuzz), not a Python loop per pair
            for _, _, offset in process.extract(names[i], names[i + 1:], scorer=fuzz.token_sort_ratio,
                                                score_cutoff=min_score, limit=None):
                j = i + 1 + offset
                # «Филиал 12» and «Филиал 13» score high but are different: numbers must agree
                if ids[i] != ids[j] and numbers[i] == numbers[j]:
                    union(ids[i], ids[j])
                    key_of[ids[i]], key_of[ids[j]] = names[i], names[j]
    clusters: dict[int, list[int]] = defaultdict(list)
    for record_id in key_of:
        clusters[find(record_id)].append(record_id)
    keep_order = _keep_order(snapshot, report.entity, list(key_of))
    for members in clusters.values():
        if len(members) < 2:
            continue
        keep = min(members, key=keep_order.__getitem__)
        report.groups.append(DuplicateGroup(report.rule, key_of[keep], keep,
                                            sorted(i for i in members if i != keep)))


def _numbers(key: str) -> tuple[str, ...]:
    return tuple(sorted(_DIGITS.findall(key)))


_DIGITS = re.compile(r"\d+")


def _keep_order(snapshot: Snapshot, entity: str, ids: list[int]) -> dict[int, tuple]:
    """Sort key for choosing the record to keep: most linked deals first, then the oldest, then the lowest id."""
    if not ids:
        return {}
    order: dict[int, tuple] = {}
    link = ("SELECT count(*) FROM lead_contacts lc WHERE lc.contact_id = e.id" if entity == "contacts"
            else "SELECT count(*) FROM leads l WHERE l.company_id = e.id")
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for record_id, deals, created_at in snapshot.db.execute(
                f"SELECT e.id, ({link}), e.created_at FROM {entity} e WHERE e.id IN ({','.join('?' * len(chunk))})",
                chunk):
            order[record_id] = (-deals, created_at, record_id)
    return order


def find_duplicates_by_rules(snapshot: Snapshot, entity: str, rules: list[str], *, max_block: int = 20,
                             min_score: float = 90) -> DuplicateReport:
    """Several rules in order (exact first); groups that share records are merged and reported once,
    under the first rule that found them (splink's `match_key`)."""
    reports = [find_duplicates(snapshot, entity, rule, max_block=max_block, min_score=min_score) for rule in rules]
    if len(reports) == 1:
        return reports[0]
    merged = DuplicateReport("+".join(rules), entity)
    owner: dict[int, DuplicateGroup] = {}
    for report in reports:
        merged.compared_pairs += report.compared_pairs
        merged.blocks += report.blocks
        merged.largest_block = max(merged.largest_block, report.largest_block)
        merged.oversized.extend(report.oversized)
        for group in report.groups:
            existing = {id(owner[i]): owner[i] for i in group.members if i in owner}
            if not existing:
                target = DuplicateGroup(group.rule, group.key, group.keep, list(group.merge))
                merged.groups.append(target)
            else:
                target, *others = existing.values()
                for other in others:  # the new group bridges earlier ones: fold them into the first
                    target.merge.extend([other.keep, *other.merge])
                    merged.groups.remove(other)
                target.merge.extend(i for i in group.members if i != target.keep)
            target.merge = sorted(set(target.merge) - {target.keep})
            for i in target.members:
                owner[i] = target
    merged.groups.sort(key=lambda g: g.keep)
    return merged
