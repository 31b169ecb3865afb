"""Helpers shared by the Bitrix24 sandbox tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "reference" / "fixtures" / "bitrix24"
NOW = 1_767_225_600          # 2026-01-01T03:00:00+03:00
TCP_TOO = pytest.mark.parametrize("harness", ["asgi", "tcp"], indirect=True)


def fixture(name: str) -> Any:
    """A documentation example from ../shared, or skip the test when the folder is absent."""
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"documentation fixture {name} not available (../shared/reference/fixtures/bitrix24 absent)")
    return json.loads(path.read_text(encoding="utf-8"))


def add_deals(portal, count: int, **fields) -> list[int]:
    """Add `count` deals through batches of crm.deal.add; return their ids."""
    ids: list[int] = []
    for start in range(0, count, 50):
        cmd = {f"d{i}": f"crm.deal.add?fields[TITLE]=Deal%20{i}&fields[OPPORTUNITY]={1000 + i}"
               + "".join(f"&fields[{k}]={v}" for k, v in fields.items())
               for i in range(start, min(count, start + 50))}
        body = portal.ok("batch", {"halt": 1, "cmd": cmd})
        assert body["result"]["result_error"] == [], body["result"]["result_error"]
        ids += list(body["result"]["result"].values())
    return ids
