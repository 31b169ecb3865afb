"""OData v4 query options as the Integration Service takes them: `$filter`, `$select`, `$orderby`,
`$expand` (nested options after ``;``), `$top`, `$skip`, `$count`.

`$filter` grammar (reference/directum-rx.md §3 and §7.2): comparisons ``eq ne gt ge lt le``,
``and``/``or``/``not``, parentheses, ``eq null``/``ne null``, paths through navigation properties
(``Company/Id eq 5``), ``contains``/``startswith``/``endswith``/``tolower``/``toupper``, string
literals with ``''`` escaping, integers, ``true``/``false``, ISO 8601 dates. The parser checks
every path against the type (an unknown property is a 400, as the OData server does) and compares
a number only with a number, a string only with a string.

Evaluation is in Python over the rows of the set: the emulator's instances are small, and one
evaluator keeps the semantics in one place. Comparisons with null are false except ``eq``/``ne``
(OData: null is equal only to null); string comparisons are ordinal and case-sensitive (OData's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from implkit.sandbox.directum.errors import BadRequest, invalid_property
from implkit.sandbox.directum.models.schema import Model

TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
)""", re.X)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"contains": 2, "startswith": 2, "endswith": 2, "tolower": 1, "toupper": 1}


@dataclass(frozen=True)
class Node:
    kind: str                  # literal | path | cmp | and | or | not | call
    value: Any = None          # literal value, path tuple, operator or function name
    args: tuple = ()
    edm: str | None = None     # the type of a literal or path: Edm.String, Edm.Int64, Edm.Boolean, ...


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise BadRequest(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class FilterParser:
    def __init__(self, text: str, model: Model, type_name: str):
        self.text, self.model, self.type_name = text, model, type_name
        self.tokens = _tokens(text)
        self.pos = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise BadRequest("The $filter expression is empty.")
        node = self._or()
        if self.pos != len(self.tokens):
            raise BadRequest(f"Syntax error: unexpected '{self.tokens[self.pos][1]}' in '{self.text}'.")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise BadRequest(f"Syntax error: the expression '{self.text}' ends too early.")
        self.pos += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1] == word:
            self.pos += 1
            return True
        return False

    def _or(self) -> Node:
        node = self._and()
        while self._keyword("or"):
            node = Node("or", args=(node, self._and()), edm="Edm.Boolean")
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._keyword("and"):
            node = Node("and", args=(node, self._not()), edm="Edm.Boolean")
        return node

    def _not(self) -> Node:
        if self._keyword("not"):
            return Node("not", args=(self._not(),), edm="Edm.Boolean")
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._primary()
        token = self._peek()
        if token and token[0] == "word" and token[1] in COMPARISONS:
            self.pos += 1
            right = self._primary()
            _check_comparable(left, right, token[1])
            return Node("cmp", token[1], (left, right), "Edm.Boolean")
        return left

    def _primary(self) -> Node:
        kind, text = self._take()
        if kind == "punct" and text == "(":
            node = self._or()
            self._expect(")")
            return node
        if kind == "string":
            return Node("literal", text[1:-1].replace("''", "'"), edm="Edm.String")
        if kind == "number":
            return Node("literal", float(text) if "." in text else int(text),
                        edm="Edm.Decimal" if "." in text else "Edm.Int64")
        if kind == "date":
            return Node("literal", _parse_date(text), edm="Edm.DateTimeOffset")
        if kind == "word":
            if text in ("true", "false"):
                return Node("literal", text == "true", edm="Edm.Boolean")
            if text == "null":
                return Node("literal", None, edm=None)
            nxt = self._peek()
            if nxt == ("punct", "("):
                return self._call(text)
            return self._path(text)
        raise BadRequest(f"Syntax error: unexpected '{text}' in '{self.text}'.")

    def _expect(self, char: str) -> None:
        if self._take() != ("punct", char):
            raise BadRequest(f"Syntax error: '{char}' expected in '{self.text}'.")

    def _call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise BadRequest(f"Unknown function '{name}'.")
        self._expect("(")
        args = [self._or()]
        while self._peek() == ("punct", ","):
            self.pos += 1
            args.append(self._or())
        self._expect(")")
        if len(args) != FUNCTIONS[name]:
            raise BadRequest(f"The function '{name}' takes {FUNCTIONS[name]} argument(s).")
        for arg in args:
            if arg.edm not in ("Edm.String", None):
                raise BadRequest(f"The function '{name}' takes string arguments.")
        edm = "Edm.String" if name in ("tolower", "toupper") else "Edm.Boolean"
        return Node("call", name, tuple(args), edm)

    def _path(self, text: str) -> Node:
        type_name, parts = self.type_name, text.split("/")
        for i, part in enumerate(parts):
            props, navs = self.model.properties(type_name), self.model.navigation(type_name)
            if part in navs and i < len(parts) - 1:
                type_name = navs[part]
                continue
            if part in props and i == len(parts) - 1:
                return Node("path", tuple(parts), edm=props[part])
            raise invalid_property(part, self.model.qualified(type_name))
        raise invalid_property(parts[-1], self.model.qualified(type_name))


def _parse_date(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC, so every value compares."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{text}' is not a valid date.") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


NUMERIC = {"Edm.Int64", "Edm.Int32", "Edm.Decimal", "Edm.Double"}


def _check_comparable(left: Node, right: Node, op: str) -> None:
    if left.edm is None or right.edm is None:       # null: only eq / ne
        if op not in ("eq", "ne"):
            raise BadRequest(f"The operator '{op}' cannot compare with null.")
        return
    same = left.edm == right.edm or (left.edm in NUMERIC and right.edm in NUMERIC)
    if not same:
        raise BadRequest(f"A binary operator with incompatible types was detected. Found operand types "
                         f"'{left.edm}' and '{right.edm}' for operator kind '{op}'.")


def evaluate(node: Node, row: dict, resolve: Callable[[dict, str], dict | None]) -> Any:
    """The value of `node` for `row`; `resolve(row, navigation)` gives the referenced row or None."""
    kind = node.kind
    if kind == "literal":
        return node.value
    if kind == "path":
        current: dict | None = row
        for part in node.value[:-1]:
            current = resolve(current, part) if current is not None else None
        value = None if current is None else current.get(node.value[-1])
        if node.edm == "Edm.DateTimeOffset" and isinstance(value, str):
            value = _parse_date(value)
        return value
    if kind == "and":
        return bool(evaluate(node.args[0], row, resolve)) and bool(evaluate(node.args[1], row, resolve))
    if kind == "or":
        return bool(evaluate(node.args[0], row, resolve)) or bool(evaluate(node.args[1], row, resolve))
    if kind == "not":
        return not evaluate(node.args[0], row, resolve)
    if kind == "call":
        values = [evaluate(a, row, resolve) for a in node.args]
        if node.value in ("tolower", "toupper"):
            if values[0] is None:
                return None
            return values[0].lower() if node.value == "tolower" else values[0].upper()
        if values[0] is None or values[1] is None:
            return False
        return {"contains": values[1] in values[0], "startswith": values[0].startswith(values[1]),
                "endswith": values[0].endswith(values[1])}[node.value]
    left, right = (evaluate(a, row, resolve) for a in node.args)
    op = node.value
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]


def id_lower_bound(node: Node | None) -> int | None:
    """The bound of a top-level ``Id gt N`` / ``Id ge N`` conjunct: the store narrows the read with it
    (keyset paging reads a page without scanning the rows before it). Evaluation still applies it."""
    if node is None:
        return None
    if node.kind == "and":
        bounds = [b for b in (id_lower_bound(a) for a in node.args) if b is not None]
        return max(bounds) if bounds else None
    if node.kind == "cmp" and node.value in ("gt", "ge") and node.args[0].kind == "path" \
            and node.args[0].value == ("Id",) and node.args[1].kind == "literal" \
            and isinstance(node.args[1].value, int):
        return node.args[1].value + (1 if node.value == "gt" else 0)
    return None


# --- $select, $expand, $orderby ---------------------------------------------------------------

def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0 or quoted:
        raise BadRequest(f"Syntax error: unbalanced parentheses or quotes in '{text}'.")
    parts.append("".join(current).strip())
    return [p for p in parts if p]


@dataclass
class Shape:
    """What to return of each row: selected properties (None: all) and expanded navigations."""

    type_name: str
    select: list[str] | None = None
    expand: dict[str, "Shape"] | None = None

    def context(self) -> str:
        """The part of `@odata.context` after the set name, e.g. ``(Id,Name,Company(Id))``."""
        items = list(self.select or [])
        for name, inner in (self.expand or {}).items():
            sub = inner.context()
            items.append(f"{name}{sub}" if sub else f"{name}()")
        return f"({','.join(items)})" if self.select is not None or items else ""


def parse_shape(model: Model, type_name: str, select: str | None, expand: str | None) -> Shape:
    shape = Shape(type_name)
    props, navs = model.properties(type_name), model.navigation(type_name)
    if select is not None:
        shape.select = []
        for item in split_top(select):
            if item == "*":
                shape.select = None
                break
            if item not in props and item not in navs:
                raise invalid_property(item, model.qualified(type_name))
            shape.select.append(item)
    if expand:
        shape.expand = {}
        for item in split_top(expand):
            match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?", item, re.S)
            if not match:
                raise BadRequest(f"Syntax error in $expand '{item}'.")
            name, options = match.group(1), match.group(2) or ""
            if name not in navs:
                raise invalid_property(name, model.qualified(type_name))
            nested: dict[str, str] = {}
            for option in split_top(options, ";"):
                key, _, value = option.partition("=")
                if key.strip() not in ("$select", "$expand"):
                    raise BadRequest(f"The nested option '{key.strip()}' is not supported in $expand.")
                nested[key.strip()] = value.strip()
            shape.expand[name] = parse_shape(model, navs[name], nested.get("$select"), nested.get("$expand"))
    return shape


def parse_orderby(model: Model, type_name: str, text: str) -> list[tuple[Node, bool]]:
    keys = []
    for item in split_top(text):
        words = item.split()
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise BadRequest(f"Syntax error in $orderby '{item}'.")
        node = FilterParser(words[0], model, type_name).parse()
        if node.kind != "path":
            raise BadRequest(f"$orderby takes property paths: '{item}'.")
        keys.append((node, len(words) == 2 and words[1] == "desc"))
    return keys


def sort_rows(rows: list[dict], keys: list[tuple[Node, bool]], resolve) -> list[dict]:
    """Stable multi-key sort; null sorts before every value (OData: null is the smallest)."""
    for node, desc in reversed(keys):
        rows = sorted(rows, key=lambda r: _sort_key(evaluate(node, r, resolve)), reverse=desc)
    return rows


def _sort_key(value: Any) -> tuple:
    return (0, "") if value is None else (1, value)


def non_negative(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"\d+", text.strip()):
        raise BadRequest(f"Invalid value '{text}' for {name} query option found. The {name} query option "
                         f"requires a non-negative integer value.")
    return int(text)
