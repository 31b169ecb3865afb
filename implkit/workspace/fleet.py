"""Which tenants a fleet run covers: `--all`, `--tenants PATTERN`, `--shard K/N`.

Shards are deterministic: the workspace's tenant names, sorted, dealt round
robin (the i-th name goes to shard i mod N + 1). Every job of a CI matrix
reads the same implkit.yaml, so N jobs with --shard 1/N … N/N cover every
tenant exactly once, and the shards differ in size by one at most. Two jobs
that overlap by mistake (the same K twice) are stopped by the tenants' locks,
which the postgres backend shares between machines.
"""

from __future__ import annotations

import fnmatch
import re

from implkit.errors import InputError
from implkit.lang import say

_MESSAGES = {
    "shard": {"ru": "--shard {text!r}: ожидается K/N, например 2/4 (номер K этого задания из N)",
              "en": "--shard {text!r}: expected K/N, e.g. 2/4 (this job's number K of N jobs)"},
    "shard_range": {"ru": "--shard {text!r}: K должно быть от 1 до N (здесь K={k}, N={n})",
                    "en": "--shard {text!r}: K must be between 1 and N (got K={k}, N={n})"},
    "no_patterns": {"ru": "--tenants: укажите один или несколько шаблонов, например 'shop-*,acme'",
                    "en": "--tenants: give one or more shell patterns, e.g. 'shop-*,acme'"},
    "unmatched": {"ru": "--tenants: ни один клиент не подходит под {patterns} (клиенты: {tenants})",
                  "en": "--tenants: no tenant matches {patterns} (tenants: {tenants})"},
    "none": {"ru": "нет", "en": "none"},
}

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' → (K, N), 1 ≤ K ≤ N; anything else is InputError (exit 3)."""
    match = _SHARD.match(text or "")
    if not match:
        raise InputError(say(_MESSAGES, "shard", text=text))
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise InputError(say(_MESSAGES, "shard_range", text=text, k=k, n=n))
    return k, n


def select_tenants(names: list[str], *, patterns: str | None = None, shard: str | None = None) -> list[str]:
    """The tenants a run covers: those matching any of the comma-separated shell patterns (all when None),
    then this shard's share of them. A pattern that matches nothing is InputError (a typo must not pass
    silently as "nothing to do")."""
    chosen = sorted(names)
    if patterns is not None:
        wanted = [p.strip() for p in patterns.split(",") if p.strip()]
        if not wanted:
            raise InputError(say(_MESSAGES, "no_patterns"))
        unmatched = [p for p in wanted if not fnmatch.filter(chosen, p)]
        if unmatched:
            raise InputError(say(_MESSAGES, "unmatched", patterns=", ".join(repr(p) for p in unmatched),
                                 tenants=", ".join(chosen) or say(_MESSAGES, "none")))
        chosen = [n for n in chosen if any(fnmatch.fnmatchcase(n, p) for p in wanted)]
    if shard is not None:
        k, n = parse_shard(shard)
        chosen = [name for i, name in enumerate(chosen) if i % n == k - 1]
    return chosen
