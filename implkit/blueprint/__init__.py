"""Blueprints: load and validate them, compose them from feature modules, show and diff them.

The public surface:

- `load_blueprint(path) -> Blueprint`: a valid blueprint file as the model,
  or InputError (exit 3) listing every problem as `FILE:LINE:COL: address: message`.
- `validate_file(path) -> list[Problem]`: the same problems, returned (empty when valid).
- `parse_blueprint(text, name) -> Blueprint`: the same for text in memory.
- `compose(answers, include=(), exclude=(), min_stars=2) -> str` (in
  `implkit.blueprint.compose`, re-exported here): a blueprint YAML text
  from a questionnaire's answers and the shipped feature modules.

The format is `blueprints/schema/blueprint.schema.json`; the checks a schema
cannot express live in `implkit.blueprint.validate`.

The format stays CRM-neutral: every right takes all|group|own|none and a
stage colour is any #rrggbb, although amoCRM accepts only all|none for `add`
(Bitrix24 grades it) and documents a 21-colour palette. The amoCRM provider
enforces those; the shipped modules and presets keep to them (tested).
"""

from __future__ import annotations

import os
from typing import Any

from implkit.errors import InputError, Location, Problem
from implkit.model import Blueprint
from implkit.yamlio import load_yaml, to_plain

# check_data lives in validate (composing needs it without importing this package's top);
# imported here, it keeps its place in the package's API.
from implkit.blueprint.validate import check_data


def validate_file(path: str | os.PathLike) -> list[Problem]:
    """Every problem of the blueprint file at `path`: YAML syntax, schema and semantics, sorted by line."""
    try:
        _load_checked(str(path), None)
    except InputError as exc:
        message = str(exc).removeprefix(f"{path}: ")
        return list(exc.problems) or [Problem(Location(str(path)), message)]
    return []


def load_blueprint(path: str | os.PathLike) -> Blueprint:
    """The blueprint at `path`; InputError with every problem when it is not valid."""
    return Blueprint.from_dict(_load_checked(str(path), None))


def parse_blueprint(text: str, name: str = "<blueprint>") -> Blueprint:
    """A blueprint from YAML text; problems are located in `name`."""
    return Blueprint.from_dict(_load_checked(name, text))


def _load_checked(file: str, text: str | None) -> dict[str, Any]:
    tree = load_yaml(file, text=text)
    problems = check_data(tree, file)
    if problems:
        from implkit.schemas import headline

        raise InputError(headline(file, len(problems), blueprint=True), problems)
    return to_plain(tree)


def compose(answers: dict[str, Any], include: tuple[str, ...] | list[str] = (),
            exclude: tuple[str, ...] | list[str] = (), min_stars: int = 2, **options: Any) -> str:
    """See `implkit.blueprint.compose.compose`."""
    from implkit.blueprint.compose import compose as _compose

    return _compose(answers, include=include, exclude=exclude, min_stars=min_stars, **options)


__all__ = ["check_data", "compose", "load_blueprint", "parse_blueprint", "validate_file"]
