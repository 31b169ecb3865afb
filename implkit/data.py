"""Where the shipped data lives: `blueprints/` and `audits/`.

In a checkout they sit at the repository root, where integrators and curators
edit them; in an installed wheel they are packaged as `implkit/_data/...`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root(name: str) -> Path:
    """The folder of shipped data called `name` ("blueprints" or "audits")."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"implkit data folder {name!r} is missing from this installation")


def blueprints_dir() -> Path:
    return data_root("blueprints")


def audits_dir() -> Path:
    return data_root("audits")
