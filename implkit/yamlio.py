"""YAML and file I/O shared by every command.

ruamel.yaml's round-trip loader keeps comments and the line/column of every
node, so an error can name `file:line:col` and a rewrite keeps the user's
comments. Every file implkit writes goes through `atomic_write`: a temp file
in the same folder, fsync, then rename, so a crash never leaves half a file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from implkit.errors import InputError, Location, Problem


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_yaml(path: str | os.PathLike, *, text: str | None = None) -> Any:
    """Load a YAML file round-trip; a syntax error becomes InputError with file:line:col."""
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError("invalid YAML", [Problem(loc, problem)]) from None


def dump_yaml(data: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(data, stream)
    return stream.getvalue()


def location_of(node: Any, path: tuple, file: str) -> Location:
    """The file:line:col of `path` (a tuple of keys and indexes) inside a round-trip-loaded tree.

    Walks as deep as the path exists and reports the deepest node found, so an
    error about a missing key points at the mapping that lacks it.
    """
    line = col = None
    current = node
    for step in path:
        if isinstance(current, CommentedMap) and step in current:
            line, col = current.lc.key(step)
            current = current[step]
        elif isinstance(current, CommentedSeq) and isinstance(step, int) and 0 <= step < len(current):
            line, col = current.lc.item(step)
            current = current[step]
        else:
            break
    if line is None and hasattr(node, "lc"):
        line, col = node.lc.line, node.lc.col
    key = ".".join(str(p) for p in path)
    return Location(file, None if line is None else line + 1, None if col is None else col + 1, key)


def atomic_write(path: str | os.PathLike, data: str | bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def to_plain(node: Any) -> Any:
    """Round-trip YAML nodes → plain dicts/lists/scalars (for jsonschema and the model)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node
