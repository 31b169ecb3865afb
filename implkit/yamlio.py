"""YAML and file I/O shared by every command.

ruamel.yaml's round-trip loader keeps comments and the line/column of every
node, so an error can name `file:line:col` and a rewrite keeps the user's
comments. Every file implkit writes goes through `atomic_write`: a temp file
in the same folder, fsync, then rename, so a crash never leaves half a file.

Every YAML implkit reads (blueprints, feature modules, answers, implkit.yaml,
audit checks, the questionnaire and matrix) is loaded by `load_yaml`, which
caps what a hostile file can cost before anything else looks at it:
- size: MAX_BYTES of text;
- nesting depth: MAX_DEPTH levels (ruamel's composer recurses per level, so
  20,000 levels ended in RecursionError);
- nodes: MAX_NODES counted with every alias expanded, counted while the
  document is composed (an alias adds the size of what it names), so a
  billion-laughs file stops at its first few aliases instead of growing to
  gigabytes when a consumer walks it as a plain tree (`to_plain`, jsonschema).
The largest shipped file (presets/manufacturer.yaml) has 2,000 nodes, the deepest 9 levels; the caps are
far above what a hand-written file needs and far below what hurts.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError

from implkit.errors import InputError, Location, Problem
from implkit.lang import current, say

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_MESSAGES = {
    "invalid": {"ru": "недопустимый YAML", "en": "invalid YAML"},
    "no_file": {"ru": "{name}: нет такого файла", "en": "{name}: no such file"},
    "not_utf8": {"ru": "не текст в UTF-8 (байт {start} не складывается в символ)",
                 "en": "not UTF-8 text ({reason} at byte {start})"},
    "control": {"ru": "управляющий символ {code} недопустим в YAML", "en": "control character {code} is not allowed"},
    "tag": {"ru": "тег {tag} не поддерживается: implkit читает только обычные значения, списки и словари",
            "en": "the tag {tag} is not supported: implkit reads plain values, lists and mappings only"},
    "unreadable": {"ru": "{name}: не удаётся прочитать: {reason}", "en": "{name}: cannot read: {reason}"},
    "too_big": {"ru": "файл больше {limit} МБ: это не похоже на файл, написанный человеком",
                "en": "the file is larger than {limit} MB: not a hand-written file"},
    "too_deep": {"ru": "вложенность глубже {limit} уровней",
                 "en": "nesting deeper than {limit} levels"},
    "too_many": {"ru": "больше {limit} узлов (каждая ссылка *имя считается копией того, на что ссылается): "
                       "так много не бывает в файле, написанном человеком (или это «YAML-бомба»)",
                 "en": "more than {limit} nodes (each *alias counted as a copy of what it names): "
                       "more than a hand-written file holds (or a YAML bomb)"},
}


_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")} | {"!"}


class YamlLimitError(MarkedYAMLError):
    """A document over one of the caps (module docstring), or with a tag; `kind` is a key of _MESSAGES."""

    def __init__(self, kind: str, limit: int, mark: Any, tag: str = ""):
        self.kind = kind
        self.limit = limit
        self.tag = tag
        super().__init__(problem=kind, problem_mark=mark)


class _LimitedComposer(Composer):
    """ruamel's composer, counting depth and alias-expanded nodes as it goes (see the module docstring)."""

    def compose_document(self: Any) -> Any:
        self.warn_double_anchors = False  # YAML allows redefining an anchor; a Python warning is only noise
        self._expanded = 0
        self._sizes: dict[Any, int] = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            # The alias stands for a copy of its anchored node: count that copy, not one node.
            self._count(self._sizes.get(event.anchor, 1), event.start_mark)
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise YamlLimitError("too_deep", MAX_DEPTH, event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in _PLAIN_TAGS:
            # `!foo x` would load as a TaggedScalar, `!!python/object:...` as a request to build an object
            raise YamlLimitError("tag", 0, event.start_mark, tag=str(tag))
        start = self._expanded
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._sizes[event.anchor] = self._expanded - start
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            raise YamlLimitError("too_many", MAX_NODES, mark)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Composer = _LimitedComposer
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_yaml(path: str | os.PathLike, *, text: str | None = None) -> Any:
    """Load a YAML file round-trip; a syntax error, a cap exceeded or bytes that are not text become
    InputError with file:line:col."""
    name = str(path)
    if text is None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise InputError(say(_MESSAGES, "no_file", name=name)) from None
        except IsADirectoryError:
            raise InputError(say(_MESSAGES, "unreadable", name=name, reason="is a directory")) from None
        except OSError as exc:
            raise InputError(say(_MESSAGES, "unreadable", name=name, reason=exc.strerror)) from None
        if len(raw) > MAX_BYTES:
            raise _invalid(name, 1, 1, say(_MESSAGES, "too_big", limit=MAX_BYTES // (1024 * 1024)))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid(name, *_line_column(raw, exc.start),
                           say(_MESSAGES, "not_utf8", reason=exc.reason, start=exc.start)) from None
    elif len(text) > MAX_BYTES:
        raise _invalid(name, 1, 1, say(_MESSAGES, "too_big", limit=MAX_BYTES // (1024 * 1024)))
    try:
        return _yaml().load(text)
    except YamlLimitError as exc:
        mark = exc.problem_mark
        raise _invalid(name, mark.line + 1, mark.column + 1,
                       say(_MESSAGES, exc.kind, limit=exc.limit, tag=exc.tag)) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or say(_MESSAGES, "invalid")
        raise _invalid(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                       _syntax_message(str(problem))) from None
    except ReaderError as exc:  # a control character: not a MarkedYAMLError, and it carries only an offset
        code = f"#x{exc.character:04X}" if isinstance(exc.character, int) else f"#x{ord(exc.character):04X}"
        raise _invalid(name, *_line_column(text, exc.position), say(_MESSAGES, "control", code=code)) from None
    except RecursionError:  # a last guard: the depth cap should stop any nesting first
        raise _invalid(name, 1, 1, say(_MESSAGES, "too_deep", limit=MAX_DEPTH)) from None


def _invalid(name: str, line: int | None, column: int | None, message: str) -> InputError:
    return InputError(say(_MESSAGES, "invalid"), [Problem(Location(name, line, column), message)])


def _line_column(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` in `text` (characters of a str, bytes of bytes)."""
    newline = "\n" if isinstance(text, str) else b"\n"
    return text.count(newline, 0, offset) + 1, offset - (text.rfind(newline, 0, offset) + 1) + 1


# ruamel's commonest syntax complaints, told in the user's language; anything else keeps ruamel's words.
_SYNTAX = [
    (re.compile(r"expected ',' or '([}\]])', but got (.*)"),
     {"ru": "ожидалась «,» или закрывающая «{0}», а встретилось {1}: скобка не закрыта?",
      "en": "expected ',' or '{0}', but got {1}: an unclosed bracket?"}),
    (re.compile(r"found character '\\t' that cannot start any token"),
     {"ru": "символ табуляции: отступы в YAML делаются пробелами",
      "en": "a tab character: YAML indents with spaces"}),
    (re.compile(r"mapping values are not allowed here"),
     {"ru": "здесь не может начинаться «ключ: значение» (значение с «: » возьмите в кавычки или проверьте отступ)",
      "en": "mapping values are not allowed here (quote a value holding ': ', or check the indentation)"}),
    (re.compile(r'found duplicate key "(.*?)" with value'),
     {"ru": "ключ «{0}» повторяется в одном словаре", "en": "duplicate key {0!r} in one mapping"}),
    (re.compile(r"found undefined alias '(.*)'"),
     {"ru": "ссылка *{0} на якорь &{0}, которого нет выше", "en": "the alias *{0} names no anchor &{0} above it"}),
    (re.compile(r"expected <block end>, but found"),
     {"ru": "неверный отступ: строка не продолжает ни один уровень выше",
      "en": "bad indentation: the line continues no level above it"}),
    (re.compile(r"found unexpected end of stream"),
     {"ru": "файл закончился внутри значения в кавычках: кавычка не закрыта",
      "en": "the file ends inside a quoted value: an unclosed quote"}),
    (re.compile(r"but found another document"),
     {"ru": "в файле больше одного документа (---): ожидается один",
      "en": "more than one document (---) in the file: expected one"}),
    (re.compile(r"could not find expected ':'"),
     {"ru": "не найдено «:» после ключа", "en": "could not find the ':' after a key"}),
]


def _syntax_message(problem: str) -> str:
    for pattern, texts in _SYNTAX:
        found = pattern.search(problem)
        if found:
            return texts[current()].format(*found.groups())
    return problem if current() == "en" else f"синтаксическая ошибка YAML ({problem})"


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
    with atomic_writer(path, mode=mode, binary=True) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, mode: int | None = None, binary: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path` through a piece at a time (a report too big to hold as one string): a temp
    file in the same folder, renamed over `path` when the block ends, removed if it raises. Text is UTF-8
    with no newline translation (the bytes `atomic_write` of the same text writes)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            yield fh
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
