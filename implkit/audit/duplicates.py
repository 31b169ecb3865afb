"""Duplicates as one entity-resolution pass: one person (or legal entity), one group, one record to keep.

Staged as splink and dedupe users ask for (anchors.md §4.5–4.7):

1. **Blocking on exact keys, in SQL.** Phones (E.164) and e-mails
   (lower-cased) normalised when the record entered the snapshot; only keys
   shared by two or more records leave SQLite. For names, contacts of one
   company are blocked by surname (and by first name) skeletons. There is no
   "skip blocks over N": a block too big to compare all pairs is compared by
   *sorted neighbourhood* (each record against its `window` neighbours in
   name order, two orders) and reported as truncated, so results never jump
   with the account's size.
2. **Evidence combined per pair.** A shared channel plus a compatible name
   is a link; a shared channel with clearly different names (other first
   name, other gender) is a *shared line* (an office number, info@…), never
   a link; a name alone links only inside one company and only when the two
   records have no channels that disagree (namesakes with their own phones
   are two people). Generic mailboxes (info@, office@…) link only with a
   matching name.
3. **Clustering with a conflict guard.** Links are applied strongest first;
   two clusters join only if no two of their records have conflicting names
   (or, for companies, two valid INNs or two KPPs of one INN). A weak link
   joins only a name compatible with every record of the other cluster, so
   chains of weak evidence do not grow groups.

Each group carries its records, the record to keep, every accepted link
with its evidence, and a confidence (the weakest link of the chain).

The record to keep (`KEEP_RULE`): the one with open deals, then with most
linked deals, then the most complete card (channels, name, company), then
the oldest, then the lowest id.

Companies: a valid INN decides. Same INN and the same or an empty KPP is one
legal entity; the same INN with different KPPs is a branch (reported as
possible, never merged); two different valid INNs are never duplicates
whatever the names. Names (legal forms and quotes stripped, transliterated)
decide only when the INN is missing or invalid on at least one side.

The pass runs once per snapshot state and every duplicate check (C01–C04,
C14) reads it, so no two checks disagree about a group or its keep.

Why this file is long: it is one pass with its stages in reading order, and
contacts and companies go through the same machinery (the clusters with
their conflict guard, sorted-neighbourhood pairs, groups and the keep
order), private to the pass. Split by entity, that machinery would become a
module's public interface for two callers and the stages above would be
read across three files; the names themselves (parsing, comparison) already
live apart, in `person_names.py`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations, groupby
from typing import Any, Iterable

from rapidfuzz import fuzz

from implkit.audit.person_names import (CONFLICT, EXACT, PARTIAL, SIMILAR, PersonName, compare_names, parse_name,
                                        skeleton)
from implkit.audit.records import joined_ids
from implkit.audit.snapshot import Snapshot

KEEP_RULE = "open deals, then most deals, then most complete card, then oldest, then lowest id"
# Mailbox names that belong to a function, not a person: shared by design.
GENERIC_MAILBOXES = frozenset("""
info office sales mail contact contacts support admin hello zakaz order orders buh buhgalteria
accounting reception secretary manager managers hr job jobs team priem sekretar post kontakt
kontakty shop market marketing pr press director dir general ceo service help noreply no-reply
""".split())
# Link confidence by evidence; a group's confidence is its weakest accepted link.
CONFIDENCE = {
    ("channel", EXACT): 0.99, ("channel", SIMILAR): 0.95, ("channel", PARTIAL): 0.8,
    ("company_name", EXACT): 0.85, ("company_name", SIMILAR): 0.7,
    ("inn", None): 1.0, ("org_name", EXACT): 0.85, ("org_name", SIMILAR): 0.75,
}
STRONG = 0.8  # links at least this sure chain transitively; weaker ones must agree with every member


def level_of(confidence: float) -> str:
    return "certain" if confidence >= 0.95 else "probable" if confidence >= STRONG else "possible"


@dataclass
class Link:
    a: int
    b: int
    evidence: list[str]          # e.g. ["phone:+79123456789", "name:similar (diminutive)"]
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {"records": [self.a, self.b], "evidence": self.evidence, "confidence": self.confidence}


@dataclass
class Group:
    entity: str
    records: list[int]
    keep: int
    links: list[Link]
    confidence: float
    agree: dict[str, list[int]] = field(default_factory=dict)  # phone|email|name|company → records agreeing
    responsible: dict[int, int | None] = field(default_factory=dict)

    @property
    def merge(self) -> list[int]:
        return [i for i in self.records if i != self.keep]

    def as_dict(self) -> dict[str, Any]:
        """Built once and shared by the checks that list the group (C01–C03 list most groups each);
        readers only read it."""
        built = self.__dict__.get("_as_dict")
        if built is None:
            built = self.__dict__["_as_dict"] = {
                "records": self.records, "keep": self.keep, "merge": self.merge,
                "confidence": self.confidence, "level": level_of(self.confidence),
                "evidence": [link.as_dict() for link in self.links],
                "responsible": {str(k): v for k, v in self.responsible.items()}}
        return built


@dataclass
class SharedChannel:
    """One phone or e-mail on several people: never a merge, listed so the curator knows."""
    kind: str
    key: str
    generic: bool
    people: list[list[int]]  # each person: the records of one group (or one record)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "generic": self.generic, "people": self.people}


@dataclass
class Resolution:
    entity: str
    groups: list[Group] = field(default_factory=list)
    shared: list[SharedChannel] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)  # companies: one INN, different KPPs
    compared_pairs: int = 0
    blocks: int = 0
    largest_block: int = 0
    truncated: list[dict[str, Any]] = field(default_factory=list)  # blocks compared by sorted neighbourhood
    responsible: dict[int, int | None] = field(default_factory=dict)

    def group_of(self) -> dict[int, Group]:
        return {i: g for g in self.groups for i in g.records}

    def summary(self) -> dict[str, Any]:
        return {"groups": len(self.groups), "extra_records": sum(len(g.records) - 1 for g in self.groups),
                "compared_pairs": self.compared_pairs, "blocks": self.blocks,
                "largest_block": self.largest_block, "truncated_blocks": self.truncated,
                "keep_rule": KEEP_RULE}


# --- the pass, once per snapshot state ------------------------------------------------------------

_cache: dict[tuple, Resolution] = {}
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}


def resolve(snapshot: Snapshot, entity: str, *, window: int = 10, full_block: int = 40,
            min_company_score: float = 92) -> Resolution:
    """The resolution of `entity` ("contacts" | "companies"), computed once per snapshot state: the checks
    run on parallel read connections, the first computes, the others wait and reuse it."""
    key = (*_state(snapshot), entity, window, full_block, min_company_score)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        if entity not in ("contacts", "companies"):
            raise ValueError(f"no duplicate resolution for {entity!r}")
        with _collector_paused():
            result = (_resolve_contacts(snapshot, window, full_block) if entity == "contacts" else
                      _resolve_companies(snapshot, window, full_block, min_company_score))
        with _cache_lock:
            if len(_cache) >= 8:  # a process audits a few snapshots at most; don't hold old ones
                _cache.pop(next(iter(_cache)))
            _cache[key] = result
            _key_locks.pop(key, None)
        return result


_collector_lock = threading.Lock()
_collector = {"passes": 0, "was_enabled": False}


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector paused while a pass runs (resumed, if it was on, when the last
    running pass ends).

    A pass builds hundreds of thousands of small containers (rows, pairs, links, shared lines) and frees
    them by reference counting; they form no cycles, yet each time enough of them were allocated the
    collector walks every container of the process, the snapshot's rows and the pass's own included: at
    1M contacts + 1M deals the contacts pass went from 2.15 to 1.9 CPU s with it paused, the companies' from
    0.72 to 0.58 (the one collection after the pass: 0.05 s). Nothing is lost by the pause: a cycle made
    meanwhile (anywhere in the process) is collected once it is over."""
    with _collector_lock:
        if _collector["passes"] == 0:
            _collector["was_enabled"] = gc.isenabled()
            gc.disable()
        _collector["passes"] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector["passes"] -= 1
            if _collector["passes"] == 0 and _collector["was_enabled"]:
                gc.enable()


def _state(snapshot: Snapshot) -> tuple:
    """What identifies the snapshot's content: its file (and WAL) as last written, and its sync time."""
    path = str(snapshot.path)
    marks = []
    for p in (path, path + "-wal"):
        try:
            st = os.stat(p)
            marks.append((st.st_mtime_ns, st.st_size))
        except OSError:
            marks.append(None)
    if not snapshot.path.is_file():
        marks.append(id(snapshot))
    return path, snapshot.snapshot_at, tuple(marks)


# --- contacts -------------------------------------------------------------------------------------

class _Clusters:
    """Union-find whose unions are refused when the two sides conflict."""

    def __init__(self, conflict, compatible):
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.conflict = conflict        # (a, b, members) -> bool: a and b cannot be one group of members
        self.compatible = compatible    # (a, b) -> bool: a and b positively agree

    def find(self, x: int) -> int:
        # `union` points every member of the smaller side at the new root: one step, never a chain
        return self.parent.get(x, x)

    def union(self, a: int, b: int, strong: bool) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        ma, mb = self.members.get(ra, [ra]), self.members.get(rb, [rb])
        if any(self.conflict(x, y, ma + mb) for x in ma for y in mb):
            return False
        if not strong and not (len(ma) == 1 and all(self.compatible(ma[0], y) for y in mb)
                               or len(mb) == 1 and all(self.compatible(mb[0], x) for x in ma)):
            return False
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        for x in mb:
            self.parent[x] = ra
        self.members[ra] = ma + mb
        self.members.pop(rb, None)
        return True


def _resolve_contacts(snapshot: Snapshot, window: int, full_block: int) -> Resolution:
    res = Resolution("contacts")
    db = _tuples(snapshot)
    # 1. channel blocks: keys shared by two or more contacts
    # (the company rows of step 2 are read meanwhile on a second connection: SQLite releases the lock)
    pending_company_rows = _beside(snapshot, _company_rows)
    channel_blocks = _channel_blocks(db)
    # 2. company blocks, for links on the name alone
    name_blocks: dict[tuple, list[int]] = defaultdict(list)
    names: dict[int, PersonName] = {}
    for company_id, rows in groupby(pending_company_rows(), key=lambda row: row[0]):
        rows = list(rows)
        if len(rows) < 2:
            continue
        for _company, record_id, key in rows:
            person = names[record_id] = parse_name(key)
            # blocking keys: the surname skeleton's first four letters and the first name's canonical form;
            # a typo must leave one of the two intact to be found, as with dedupe's predicate blocks
            if person.surname:
                name_blocks[(company_id, "s", person.surname[:4])].append(record_id)
            first = person.first[0] if person.first else person.first_raw
            if first:
                name_blocks[(company_id, "f", first)].append(record_id)
    name_blocks = {k: v for k, v in name_blocks.items() if len(v) > 1}
    # 3. the records involved: their names, channels, owners
    involved = {i for ids in channel_blocks.values() for i in ids} | {i for ids in name_blocks.values() for i in ids}
    pending_channels = _beside(snapshot, lambda db: _channels_of(db, "contacts", involved))
    info = _contact_info(snapshot, involved)
    for record_id, (key, *_rest) in info.items():
        if record_id not in names:
            names[record_id] = parse_name(key)
    res.responsible = {i: row[1] for i, row in info.items()}
    channels: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for record_id, kind, key in pending_channels():
        channels[record_id].add((kind, key))
    del pending_channels, pending_company_rows  # their rows, read once: not held through the pairs

    verdicts: dict[tuple[int, int], tuple[str, str]] = {}

    def verdict(a: int, b: int) -> tuple[str, str]:
        pair = (a, b) if a < b else (b, a)
        if pair not in verdicts:
            verdicts[pair] = compare_names(names[a], names[b])
        return verdicts[pair]

    links: list[Link] = []
    seen: set[tuple[int, int]] = set()
    # 4. candidate pairs, evidence per pair (a pair found in two blocks is judged once)
    blocks = [(f"{kind}:{key}", ids, False) for (kind, key), ids in channel_blocks.items()] + \
        [(f"company:{c}:{part}:{value}", ids, True) for (c, part, value), ids in name_blocks.items()]
    # in a company block, two cards that both hold a phone and share no channel are decided unjudged:
    # their phones disagree (namesakes); `_contact_link` would say so after comparing their names
    phoned = {i for i, held in channels.items() if any(kind == "phone" for kind, _key in held)}
    for block, ids, by_name in blocks:
        if 2 <= len(ids) <= full_block:  # most blocks (two copies on one number): every pair, counted here
            res.blocks += 1
            res.largest_block = max(res.largest_block, len(ids))
            res.compared_pairs += len(ids) * (len(ids) - 1) // 2
            pairs = combinations(ids, 2)  # ids are sorted and distinct: pairs come (smaller, larger)
        else:
            pairs = _pairs(res, block, ids, names, window, full_block)
        for pair in pairs:
            if pair in seen:
                continue
            a, b = pair
            if by_name and a in phoned and b in phoned and not channels[a] & channels[b]:
                continue
            seen.add(pair)
            link = _contact_link(a, b, names, channels, verdict)
            if link:
                links.append(link)
    # 5. a record whose name alone points at two people who cannot be one is ambiguous: no name-only link
    links = _drop_ambiguous(links, verdict, channels)
    # 6. clusters, strongest links first
    def conflict(x: int, y: int, members: list[int]) -> bool:
        level, reason = verdict(x, y)
        if level != CONFLICT:
            return False
        # two copies, each with its own typo of the surname, are both one slip from a third record:
        # a surname difference bridged by a member alike to both is no contradiction
        return reason != "different surnames" or not any(
            verdict(x, z)[0] in (EXACT, SIMILAR) and verdict(y, z)[0] in (EXACT, SIMILAR)
            for z in members if z not in (x, y))

    clusters = _Clusters(conflict, lambda x, y: verdict(x, y)[0] in (EXACT, SIMILAR) and not _disagree(x, y, channels))
    accepted: list[Link] = []
    for link in sorted(links, key=lambda l: (-l.confidence, l.a, l.b)):
        if clusters.union(link.a, link.b, link.confidence >= STRONG):
            accepted.append(link)
    res.groups = _groups(res, snapshot, clusters, accepted, info, channels, names)
    # 7. shared lines: a channel key whose records belong to more than one person
    for (kind, key), ids in sorted(channel_blocks.items()):
        people: dict[int, list[int]] = defaultdict(list)
        for i in ids:
            people[clusters.find(i)].append(i)
        if len(people) > 1:
            res.shared.append(SharedChannel(kind, key, kind == "email" and _generic(key),
                                            sorted(sorted(p) for p in people.values())))
    return res


def _contact_link(a: int, b: int, names, channels, verdict) -> Link | None:
    shared = sorted(channels.get(a, set()) & channels.get(b, set()))
    level, reason = verdict(a, b)
    if level == CONFLICT:
        return None
    personal = [c for c in shared if not (c[0] == "email" and _generic(c[1]))]
    if personal and level not in (EXACT, SIMILAR) and _disagree(a, b, channels, beyond=set(shared)):
        # one side's name says too little ("Максим"), and beyond the number they share each card holds
        # its own phone (or address) the other lacks: two colleagues on one office line, not one person.
        # The shared line stays listed apart (C14); with a full name on both sides the number decides.
        return None
    if personal or (shared and level in (EXACT, SIMILAR)):
        confidence = CONFIDENCE[("channel", level)]
        evidence = [f"{k}:{v}" for k, v in shared] + [f"name:{level} ({reason})"]
        return Link(min(a, b), max(a, b), evidence, confidence)
    if shared or level not in (EXACT, SIMILAR):
        return None
    # a name alone, inside one company: only if the two cards hold no channels that disagree
    if _disagree(a, b, channels):
        return None
    return Link(min(a, b), max(a, b), ["company", f"name:{level} ({reason})"],
                CONFIDENCE[("company_name", level)])


def _disagree(a: int, b: int, channels, beyond: set[tuple[str, str]] | None = None) -> bool:
    """Both cards hold phones (or e-mails) and none of them is shared: namesakes, not one person.

    With `beyond` (the keys the two share): whether, those aside, both still hold a personal phone (or
    address) of their own — a generic mailbox (info@…) says nothing about who is who."""
    ca, cb = channels.get(a, set()), channels.get(b, set())
    if beyond is not None:
        ca = {c for c in ca - beyond if not (c[0] == "email" and _generic(c[1]))}
        cb = {c for c in cb - beyond if not (c[0] == "email" and _generic(c[1]))}
    elif ca & cb:
        return False
    return any({k for c, k in ca if c == kind} and {k for c, k in cb if c == kind} for kind in ("phone", "email"))


def _drop_ambiguous(links: list[Link], verdict, channels) -> list[Link]:
    name_only: dict[int, list[int]] = defaultdict(list)
    for link in links:
        if link.evidence[0] == "company":
            name_only[link.a].append(link.b)
            name_only[link.b].append(link.a)
    ambiguous = {r for r, partners in name_only.items() if any(
        verdict(x, y)[0] == CONFLICT or _disagree(x, y, channels)
        for i, x in enumerate(partners) for y in partners[i + 1:])}
    return [link for link in links if not (link.evidence[0] == "company" and {link.a, link.b} & ambiguous)]


def _generic(email: str) -> bool:
    local = email.split("@", 1)[0]
    return local in GENERIC_MAILBOXES or local.rstrip("0123456789") in GENERIC_MAILBOXES


def _pairs(res: Resolution, block: str, ids: list[int], names: dict[int, Any], window: int,
           full_block: int) -> Iterable[tuple[int, int]]:
    """Candidate pairs of one block: every pair if the block is small; else sorted neighbourhood."""
    ids = sorted(set(ids))
    size = len(ids)
    if size < 2:
        return
    res.blocks += 1
    res.largest_block = max(res.largest_block, size)
    if size <= full_block:
        res.compared_pairs += size * (size - 1) // 2
        yield from combinations(ids, 2)
        return
    low, high = _neighbourhood(res, block, ids, names, window)
    yield from zip(low.tolist(), high.tolist())


def _neighbourhood(res: Resolution, block: str, ids: list[int], names: dict[int, Any], window: int):
    """Sorted neighbourhood of a block too big to compare every pair: each record against the `window`
    records after it in name order, in two orders (surname first, first name first). The pairs as two
    numpy arrays (smaller id, larger id), sorted and distinct — built by array shifts, not pair by pair."""
    import numpy as np

    size = len(ids)
    lows, highs = [], []
    for order in (_surname_first, _first_first):
        ranked = np.array(sorted(ids, key=lambda i: (order(names[i]), i)), dtype=np.int64)
        for shift in range(1, min(window, size - 1) + 1):
            a, b = ranked[:-shift], ranked[shift:]
            lows.append(np.minimum(a, b))
            highs.append(np.maximum(a, b))
    low = np.concatenate(lows) if lows else np.empty(0, dtype=np.int64)
    high = np.concatenate(highs) if highs else np.empty(0, dtype=np.int64)
    span = int(high.max()) + 1 if len(high) else 1
    if span < 2 ** 31:  # one int64 code a pair: np.unique on numbers, far quicker than on rows
        codes = np.unique(low * span + high)
        low, high = codes // span, codes % span
    else:
        pairs = np.unique(np.stack([low, high], axis=1), axis=0)
        low, high = pairs[:, 0], pairs[:, 1]
    res.compared_pairs += len(low)
    res.truncated.append({"block": block, "size": size, "compared_pairs": len(low),
                          "method": f"sorted neighbourhood, window {window}"})
    return low, high


def _scored_pairs(res: Resolution, block: str, ids: list[int], names: dict[int, str], window: int,
                  full_block: int, min_score: float) -> list[tuple[int, int, float]]:
    """The candidate pairs of one block of company names (as `_pairs` chooses them) whose names score at
    least `min_score` (token_sort_ratio), with the score. The scores come from rapidfuzz in C, a block at
    a time — `cdist` for a block compared in full, `cpdist` for the neighbourhood pairs of a big one —
    with the interpreter lock released; only the pairs over the bar come back to Python."""
    import numpy as np
    from rapidfuzz import process

    cutoff = {"score_cutoff": min_score} if min_score > 0 else {}  # below the cutoff rapidfuzz says 0
    # token_sort_ratio is the ratio of the names with their words sorted: sorted once a name, not once a pair
    sorted_words = {i: " ".join(sorted(names[i].split())) for i in ids}
    unique = sorted(set(ids))
    if len(unique) < 2:
        return []
    res.blocks += 1
    res.largest_block = max(res.largest_block, len(unique))
    if len(unique) <= full_block:
        res.compared_pairs += len(unique) * (len(unique) - 1) // 2
        keys = [sorted_words[i] for i in unique]
        scores = process.cdist(keys, keys, scorer=fuzz.ratio, dtype=np.float64, **cutoff)
        hits = np.argwhere(np.triu(scores >= min_score, 1))  # x < y, in row order: (a, b) sorted as _pairs
        return [(unique[x], unique[y], float(scores[x, y])) for x, y in hits.tolist()]
    low, high = _neighbourhood(res, block, unique, names, window)
    low, high = low.tolist(), high.tolist()
    scores = process.cpdist([sorted_words[a] for a in low], [sorted_words[b] for b in high], scorer=fuzz.ratio,
                            dtype=np.float64, workers=-1 if len(low) > 20_000 else 1, **cutoff).tolist()
    return [(a, b, score) for a, b, score in zip(low, high, scores) if score >= min_score]


def _surname_first(p: Any) -> str:
    return p.canonical if isinstance(p, PersonName) else p


def _first_first(p: Any) -> str:
    if isinstance(p, PersonName):
        return " ".join(filter(None, (p.first[0] if p.first else p.first_raw, p.surname)))
    return " ".join(reversed(str(p).split()))


def _contact_info(snapshot: Snapshot, ids: set[int]) -> dict[int, list]:
    """id → [name_key, responsible, company_id, created_at]; `_add_keep_facts` appends the rest."""
    return {row[0]: list(row[1:]) for row in _tuples(snapshot).execute(
        "SELECT c.id, c.name_key, c.responsible_user_id, c.company_id, c.created_at FROM json_each(?) AS j"
        " CROSS JOIN contacts AS c ON c.id = j.value", (json.dumps(sorted(ids)),))}


def _add_keep_facts(snapshot: Snapshot, ids: list[int], info: dict[int, list]) -> None:
    """Open deals, deals and channels of the grouped records only (what KEEP_RULE weighs).

    One grouped query per fact over the ids as a JSON array, the ids table first (CROSS JOIN fixes the
    order): a correlated subquery per contact let SQLite's planner, on a snapshot without statistics,
    walk every open deal for each contact (164 s at 100k contacts)."""
    for i in ids:
        info[i][4:] = [0, 0, 0]
    ids_json = json.dumps(sorted(ids))
    db = _tuples(snapshot)
    for record_id, deals, open_deals in db.execute(
            "SELECT lc.contact_id, count(*), count(l.id) FROM json_each(?) AS j"
            " CROSS JOIN lead_contacts AS lc ON lc.contact_id = j.value"
            " LEFT JOIN leads AS l ON l.id = lc.lead_id AND l.is_open = 1 GROUP BY lc.contact_id", (ids_json,)):
        info[record_id][4:6] = [open_deals, deals]
    for record_id, n_channels in db.execute(
            "SELECT ch.entity_id, count(*) FROM json_each(?) AS j CROSS JOIN channels AS ch"
            " ON ch.entity_type = 'contacts' AND ch.entity_id = j.value GROUP BY ch.entity_id", (ids_json,)):
        info[record_id][6] = n_channels


def _tuples(snapshot: Snapshot):
    """A cursor on the snapshot's connection that yields plain tuples (its rows are sqlite3.Row: slower to
    build, and the pass reads hundreds of thousands)."""
    cursor = snapshot.db.cursor()
    cursor.row_factory = None
    return cursor


def _channels_of(db, entity: str, ids: set[int]) -> list[tuple[int, str, str]]:
    return db.execute(
        "SELECT ch.entity_id, ch.kind, ch.key FROM json_each(?) AS j CROSS JOIN channels AS ch"
        " ON ch.entity_type = ? AND ch.entity_id = j.value WHERE ch.valid = 1 AND ch.key IS NOT NULL",
        (json.dumps(sorted(ids)), entity)).fetchall()


def _channel_blocks(db) -> dict[tuple[str, str], list[int]]:
    """(kind, key) → the contacts holding that valid key, sorted, for the keys two or more contacts hold (not
    one contact holding a number twice); in key order.

    Read so that nothing is gathered for the keys held once (at 1M contacts, 2M keys of which 39k shared; one
    GROUP BY kind, key keeping a group_concat and min < max for every key took 1.3 CPU s): per kind, the keys
    held more than once, counted in one pass over `channels_by_key` (count is SQLite's cheapest aggregate,
    and with the kind fixed each row compares one column with the last: 0.5 s), then the holders of those
    keys alone, looked up in the same index."""
    blocks: dict[tuple[str, str], list[int]] = {}
    for kind in _kinds(db):
        counted = [key for (key,) in db.execute(
            "SELECT key FROM channels WHERE kind = ? AND entity_type = 'contacts' AND valid = 1"
            " AND key IS NOT NULL GROUP BY key HAVING count(*) > 1 ORDER BY key", (kind,))]
        holders: dict[str, set[int]] = {key: set() for key in counted}
        for key, record_id in db.execute(
                "SELECT ch.key, ch.entity_id FROM json_each(?) AS j CROSS JOIN channels AS ch"
                " ON ch.kind = ? AND ch.key = j.value AND ch.entity_type = 'contacts' AND ch.valid = 1",
                (json.dumps(counted), kind)):
            holders[key].add(record_id)
        blocks.update(((kind, key), sorted(ids)) for key, ids in holders.items() if len(ids) > 1)
    return blocks


def _kinds(db) -> list[str]:
    """The kinds of channel in the snapshot, in order: each one seek in `channels_by_key`, not a scan."""
    kinds = []
    (kind,) = db.execute("SELECT min(kind) FROM channels").fetchone()
    while kind is not None:
        kinds.append(kind)
        (kind,) = db.execute("SELECT min(kind) FROM channels WHERE kind > ?", (kind,)).fetchone()
    return kinds


def _company_rows(db) -> list[tuple[int, int, str]]:
    """(company, contact, name key) of the named contacts of companies where a named contact has no phone,
    by company. A link on the name alone needs two cards whose channels don't disagree, so one of the two
    has no phone: only such companies are blocked (on a real account, a small share; the blocks
    themselves are never capped).

    The companies are found in numpy, not SQL: `id NOT IN (every phone holder)` made SQLite build a b-tree
    of the holders in key order, a random insert each (at 1M contacts: 0.9 CPU s, 0.55 with the contacts
    table scanned in place of `contacts_company`; a correlated NOT EXISTS, minutes on an un-ANALYZEd
    snapshot). Both id lists come out of SQLite as one comma-joined string each, parsed in C (0.37 s)."""
    import numpy as np

    phones = joined_ids(db.execute(
        "SELECT group_concat(entity_id) FROM channels WHERE entity_type = 'contacts' AND kind = 'phone'"
        " AND valid = 1 AND key IS NOT NULL").fetchone()[0])
    # one aggregate row: both lists are fed the same rows in the same order, so they stay aligned
    named, companies = (joined_ids(text) for text in db.execute(
        "SELECT group_concat(id), group_concat(company_id) FROM contacts"
        " WHERE company_id IS NOT NULL AND name_key != ''").fetchone())
    phoneless = np.unique(companies[~np.isin(named, phones)]).tolist()
    return db.execute(
        "SELECT c.company_id, c.id, c.name_key FROM json_each(?) AS j CROSS JOIN contacts AS c"
        " ON c.company_id = j.value WHERE c.name_key != '' ORDER BY c.company_id, c.id",
        (json.dumps(phoneless),)).fetchall()


def _beside(snapshot: Snapshot, read):
    """Start `read(cursor)` on a connection of its own in another thread, so SQLite (which releases the
    interpreter lock) works on the second core while this thread goes on; returns what to call for the
    result. A snapshot that is not a file has one connection: then the read runs here, first."""
    if not snapshot.path.is_file():
        done = read(_tuples(snapshot))
        return lambda: done

    def run():
        with Snapshot(snapshot.path, reader=True) as own:
            own.db.execute("PRAGMA cache_size=-8000")  # one pass over its pages: no 100 MB cache to hold them
            return read(_tuples(own))

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future.result


def _groups(res: Resolution, snapshot: Snapshot, clusters: _Clusters, accepted: list[Link],
            info: dict[int, tuple], channels, names) -> list[Group]:
    by_root: dict[int, list[Link]] = defaultdict(list)
    for link in accepted:
        by_root[clusters.find(link.a)].append(link)
    _add_keep_facts(snapshot, [i for root in by_root for i in clusters.members.get(root, [root])], info)
    groups = []
    for root, links in by_root.items():
        records = sorted(clusters.members.get(root, [root]))
        keep = min(records, key=lambda i: _keep_order(i, info))
        group = Group(res.entity, records, keep, sorted(links, key=lambda l: (l.a, l.b)),
                      min(l.confidence for l in links),
                      responsible={i: res.responsible.get(i) for i in records})
        group.agree = _agreement(records, channels, links, info, res.entity)
        groups.append(group)
    groups.sort(key=lambda g: g.keep)
    return groups


def _keep_order(record_id: int, info: dict[int, tuple]) -> tuple:
    """KEEP_RULE as a sort key (smallest first)."""
    name_key, _resp, company_id, created_at, open_deals, deals, n_channels = info[record_id][:7]
    completeness = n_channels + (1 if name_key else 0) + (1 if company_id else 0)
    return (-open_deals, -deals, -completeness, created_at, record_id)


def _agreement(records: list[int], channels, links: list[Link], info, entity: str) -> dict[str, list[int]]:
    """Per kind of evidence, the records of the group that agree with another member on it: what C01 (phone),
    C02 (e-mail), C03 (name) and C04 list out of the same groups."""
    agree: dict[str, set[int]] = defaultdict(set)
    for x, a in enumerate(records):
        for b in records[x + 1:]:
            common = channels.get(a, set()) & channels.get(b, set())
            for kind, _key in common:
                agree[kind].update((a, b))
            if entity == "contacts":
                ka, kb = info[a][0], info[b][0]
                if ka and kb and fuzz.token_sort_ratio(ka, kb) >= 90:
                    agree["name"].update((a, b))
    if entity == "contacts":  # records joined on the name alone (same company) are C03's too
        agree["name"].update(i for link in links if link.evidence[0] == "company" for i in (link.a, link.b))
    return {k: sorted(v) for k, v in agree.items()}


# --- companies ------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")


def _resolve_companies(snapshot: Snapshot, window: int, full_block: int, min_score: float) -> Resolution:
    res = Resolution("companies")
    db = snapshot.db
    # SQLite's lower() folds ASCII only: the field's name is compared in Python
    kpp_fields = [i for i, code, name in db.execute(
        "SELECT id, code, name FROM custom_fields WHERE entity_type = 'companies'")
        if (code or "").upper() == "KPP" or (name or "").strip().lower() in ("кпп", "kpp")]
    kpp: dict[int, str] = {}
    if kpp_fields:
        for record_id, value in db.execute(
                f"SELECT entity_id, value FROM field_values WHERE entity_type = 'companies'"
                f" AND field_id IN ({','.join('?' * len(kpp_fields))})", kpp_fields):
            digits = "".join(_DIGITS.findall(value or ""))
            if len(digits) == 9:
                kpp[record_id] = digits
    # [name_key, owner, -, created_at, open deals, deals, completeness, inn, inn_valid]; the three keep
    # facts are read below for grouped companies only
    rows = {r[0]: [*r[1:5], 0, 0, 0, *r[5:]] for r in _tuples(snapshot).execute(
        "SELECT id, name_key, responsible_user_id, NULL, created_at, inn, inn_valid FROM companies")}
    res.responsible = {i: r[1] for i, r in rows.items()}
    inn = {i: r[7] for i, r in rows.items() if r[8]}
    inn_ids: dict[str, list[int]] = defaultdict(list)
    for i, value in inn.items():
        inn_ids[value].append(i)
    names = {i: _company_skeleton(r[0]) for i, r in rows.items()}

    def conflict(a: int, b: int, members: list[int] = ()) -> bool:
        if a in inn and b in inn:
            return inn[a] != inn[b] or (a in kpp and b in kpp and kpp[a] != kpp[b])
        return False

    links: list[Link] = []
    # 1. the INN decides: valid INNs shared by two or more companies (INNs are digits: str order is SQLite's)
    for value in sorted(value for value, ids in inn_ids.items() if len(ids) > 1):
        ids = sorted(inn_ids[value])
        res.blocks += 1
        res.largest_block = max(res.largest_block, len(ids))
        res.compared_pairs += len(ids) - 1
        by_kpp: dict[str, list[int]] = defaultdict(list)
        for i in ids:
            by_kpp[kpp.get(i, "")].append(i)
        filled = sorted(k for k in by_kpp if k)
        if len(filled) > 1:
            res.branches.append({"inn": value, "kpp": {k: by_kpp[k] for k in filled},
                                 "no_kpp": by_kpp.get("", [])})
        for k in filled or [""]:
            members = by_kpp[k] + (by_kpp.get("", []) if k and len(filled) == 1 else [])
            # an empty KPP joins the one KPP there is
            members = sorted(set(members))
            for x in members[1:]:
                kpp_note = f"kpp:{k}" if k else "kpp:empty"
                links.append(Link(members[0], x, [f"inn:{value}", kpp_note], CONFIDENCE[("inn", None)]))
        if len(filled) > 1:
            # with several KPPs (head office and branches) an empty KPP joins the unit whose name it
            # carries, if exactly one is clearly it; else it stays apart
            for x in by_kpp.get("", []):
                scores = sorted(((fuzz.token_sort_ratio(names[x], names[y]), y) for k in filled for y in by_kpp[k]),
                                reverse=True)
                if scores and scores[0][0] >= min_score and (len(scores) == 1 or scores[1][0] < min_score):
                    links.append(Link(min(x, scores[0][1]), max(x, scores[0][1]),
                                      [f"inn:{value}", "kpp:empty", f"name:{scores[0][0]:.0f}"], 0.9))
    # 2. names, only where the INN is missing or invalid on at least one side
    # blocks: each word's first four letters, with the name's numbers (they must agree anyway:
    # «Филиал 12» and «Филиал 13» score high but are different)
    name_blocks: dict[str, list[int]] = defaultdict(list)
    for i, key in names.items():
        if key:
            numbers = " ".join(sorted(_DIGITS.findall(key)))
            for token in set(key.split()):
                if len(token) >= 3 and not token.isdigit():
                    name_blocks[f"{token[:4]} {numbers}"].append(i)
    # most blocks hold one company: sorted are only those with a pair to compare
    for token, ids in sorted((token, ids) for token, ids in name_blocks.items() if len(ids) > 1):
        if all(i in inn for i in ids):
            continue
        for a, b, score in _scored_pairs(res, f"name:{token}", ids, names, window, full_block, min_score):
            if a in inn and b in inn:
                continue
            level = EXACT if score == 100 else SIMILAR
            links.append(Link(a, b, [f"name:{level} ({score:.0f})", "inn:missing on one side"],
                              CONFIDENCE[("org_name", level)]))
    clusters = _Clusters(conflict, lambda x, y: not conflict(x, y))
    accepted = [link for link in sorted(links, key=lambda l: (-l.confidence, l.a, l.b))
                if clusters.union(link.a, link.b, link.confidence >= STRONG)]
    info = rows
    by_root: dict[int, list[Link]] = defaultdict(list)
    for link in accepted:
        by_root[clusters.find(link.a)].append(link)
    grouped = sorted(i for root in by_root for i in clusters.members.get(root, [root]))
    for chunk in _chunks(grouped, 500):
        for record_id, *facts in db.execute(
                f"SELECT c.id, (SELECT count(*) FROM leads l WHERE l.company_id = c.id AND l.is_open = 1),"
                f" (SELECT count(*) FROM leads l WHERE l.company_id = c.id),"
                f" (c.inn_valid + (SELECT count(*) FROM channels ch WHERE ch.entity_type = 'companies'"
                f"   AND ch.entity_id = c.id)) FROM companies c WHERE c.id IN ({','.join('?' * len(chunk))})",
                chunk):
            info[record_id][4:7] = facts
    for root, group_links in by_root.items():
        records = sorted(clusters.members.get(root, [root]))
        keep = min(records, key=lambda i: _keep_order(i, info))
        res.groups.append(Group("companies", records, keep, sorted(group_links, key=lambda l: (l.a, l.b)),
                                min(l.confidence for l in group_links),
                                agree={"inn": sorted({i for l in group_links if l.evidence[0].startswith("inn:")
                                                      for i in (l.a, l.b)}),
                                       "name": sorted({i for l in group_links if l.evidence[0].startswith("name:")
                                                       for i in (l.a, l.b)})},
                                responsible={i: res.responsible.get(i) for i in records}))
    res.groups.sort(key=lambda g: g.keep)
    return res


_LEGAL_WORDS = frozenset({"ooo", "ao", "zao", "oao", "pao", "ip", "too", "llc", "ltd", "inc", "ano", "nko",
                          "gup", "mup", "fgup", "llp", "jsc", "pjsc", "gmbh", "corp"})


def _company_skeleton(name_key: str) -> str:
    """A company name (legal form already stripped by `normalize.company_key`) folded to Latin, so
    «Ромашка» and «Romashka LLC» meet; transliterated legal forms are stripped too."""
    return " ".join(t for t in (skeleton(w) for w in (name_key or "").split())
                    if t and t not in _LEGAL_WORDS)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- what each check reads ------------------------------------------------------------------------

RULES = {"contacts": ("phone", "email", "name", "shared_line"), "companies": ("company",)}


def _bad_parameter(source: str, path: tuple, message: str) -> None:
    """A check file asking for what the pass does not do is bad input: exit 3 at its file:line:col."""
    from implkit.errors import InputError, Location, Problem

    location = Location(source or "<check>")
    if source:
        from implkit.yamlio import load_yaml, location_of

        location = location_of(load_yaml(source), path, source)
    from implkit.audit.checks import MESSAGES
    from implkit.lang import say

    raise InputError(say(MESSAGES, "invalid"), [Problem(location, message)])


def check_result(snapshot: Snapshot, entity: str, parameters: dict[str, Any], source: str = "") -> tuple[list[tuple[int, int | None]],
                                                                                       int, dict[str, Any]]:
    """(failing (id, responsible) pairs, population, details) of one duplicate check, from the one pass.

    `rule`: phone (C01), email (C02), name (C03), company (C04, entity companies) — the groups in which
    records agree on that evidence, each record listed once with the group's keep; shared_line (C14) —
    channels on several people."""
    rule = parameters.get("rule", "phone")
    allowed = RULES.get(entity)
    if allowed is None or rule not in allowed:
        _bad_parameter(source, ("parameters", "rule") if allowed else ("entity",),
                       f"unknown rule {rule!r} for {entity}: expected one of {', '.join(allowed)}" if allowed
                       else f"the duplicates built-in has no pass for {entity} (contacts or companies)")
    res = resolve(snapshot, entity, window=int(parameters.get("window", 10)),
                  full_block=int(parameters.get("full_block", 40)),
                  min_company_score=float(parameters.get("min_score", 92)) if entity == "companies" else 92)
    population = snapshot.db.execute(f"SELECT count(*) FROM {entity}").fetchone()[0]
    if rule == "shared_line":
        kinds = parameters.get("kinds", ["phone", "email"])
        shared = [s for s in res.shared if s.kind in kinds]
        ids = sorted({i for s in shared for person in s.people for i in person})
        details = {**res.summary(), "groups": len(shared), "shared_channels": [s.as_dict() for s in shared]}
        return [(i, res.responsible.get(i)) for i in ids], population, details
    agree_kind = {"phone": "phone", "email": "email", "name": "name", "company": None}[rule]
    chosen = []
    failing: set[int] = set()
    for g in res.groups:
        members = g.records if agree_kind is None else g.agree.get(agree_kind, [])
        if members:
            chosen.append(g)
            failing.update(members)
    extra = sum(len(g.records) - 1 for g in chosen)
    details = {**res.summary(), "groups": len(chosen), "extra_records": extra,
               "duplicate_rate": round(extra / population, 4) if population else None,
               "duplicate_groups": [g.as_dict() for g in chosen]}
    if entity == "companies":
        details["branches"] = res.branches
    return [(i, res.responsible.get(i)) for i in sorted(failing)], population, details
