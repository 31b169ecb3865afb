"""The package reads top-down: no import circle among implkit's modules.

The graph is built from the source with `ast` (nothing is imported), one node per module
(`implkit/audit/__init__.py` is `implkit.audit`). An import is an edge to the module it names:
`from implkit.audit import engine` to `implkit.audit.engine` when that is a module, else to
`implkit.audit`; relative imports are resolved against the importing module's package. The
implicit import of a parent package (`import implkit.audit.engine` runs `implkit/audit/__init__.py`)
is not an edge: every module would otherwise depend on its package's top.

Each edge is one of three kinds: `module` (runs when the module is imported: top level, or under a
module-level `if`/`try`), `typing` (under `if TYPE_CHECKING:`) and `function` (a lazy import inside
a function or method). **All three count.** A lazy import does not fail at import time, which is
exactly how the circles of issue 20 hid (`audit/checks.py` took `sql_parameters` from the engine
inside a function, `blueprint/tailor.py` took `slugify` from compose the same way): the two
modules still depend on each other and cannot be read, tested or moved one below the other. Lazy
imports stay welcome for start-up time (the CLI's commands), as long as they point downwards.
A failure lists each circle's edges with their kind, file and line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "implkit"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # module | typing | function
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind} import, {self.file}:{self.line})"


def module_names(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    names: dict[str, tuple[Path, bool]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        names[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return names


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, names: dict, root: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == root]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    if base.split(".")[0] != root:
        return []
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph(package: Path) -> tuple[dict[str, tuple[Path, bool]], list[Edge]]:
    names = module_names(package)
    root = package.name
    edges: list[Edge] = []
    for module, (path, is_package) in names.items():
        file = str(path.relative_to(package.parent))

        def walk(node: ast.AST, kind: str) -> None:
            for child in ast.iter_child_nodes(node):
                child_kind = kind
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    child_kind = "function"
                elif kind == "module" and _is_type_checking(child):
                    child_kind = "typing"
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in dict.fromkeys(_targets(module, is_package, child, names, root)):
                        if target in names and target != module:
                            edges.append(Edge(module, target, kind, file, child.lineno))
                walk(child, child_kind)

        walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "module")
    return names, edges


def cycles(names: dict, edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, list[str]] = {name: [] for name in names}
    for edge in edges:
        graph[edge.source].append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def describe(component: list[str], edges: list[Edge]) -> str:
    inside = set(component)
    lines = [f"import circle among {', '.join(component)}:"]
    lines += [f"  {edge}" for edge in edges if edge.source in inside and edge.target in inside]
    return "\n".join(lines)


def test_implkit_has_no_import_circle():
    names, edges = import_graph(PACKAGE)
    found = cycles(names, edges)
    assert not found, "\n".join(describe(c, edges) for c in found)


def test_the_graph_sees_every_module_and_every_kind_of_import():
    """The check above is only as good as the graph: it has every module of the package, and edges
    of each kind, among them ones written in each form (absolute, relative, `from package import module`)."""
    names, edges = import_graph(PACKAGE)
    assert len(names) == len(list(PACKAGE.rglob("*.py")))
    pairs = {(e.source, e.target, e.kind) for e in edges}
    # module level, `from implkit.audit.checks import ...`
    assert ("implkit.audit.engine", "implkit.audit.checks", "module") in pairs
    # a lazy import inside a click command
    assert ("implkit.commands.sandbox", "implkit.sandbox.serve", "function") in pairs
    # `from implkit.sandbox.bitrix24 import errors as err`: the submodule, not the package
    assert ("implkit.sandbox.bitrix24.models.records", "implkit.sandbox.bitrix24.errors", "module") in pairs
    assert {e.kind for e in edges} >= {"module", "function"}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


@pytest.mark.parametrize("files, circle, kinds", [
    pytest.param({"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import x\n",
                  "pkg/b.py": "def f():\n    from pkg.a import y\n"},
                 ["pkg.a", "pkg.b"], {"module", "function"}, id="closed-by-a-lazy-import"),
    pytest.param({"pkg/__init__.py": "", "pkg/sub/__init__.py": "from . import c\n",
                  "pkg/sub/c.py": "from .. import d\n", "pkg/d.py": "import pkg.sub\n"},
                 ["pkg.d", "pkg.sub", "pkg.sub.c"], {"module"}, id="relative-and-package-imports"),
    pytest.param({"pkg/__init__.py": "", "pkg/a.py": "from typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    from pkg.b import B\n", "pkg/b.py": "from pkg import a\n"},
                 ["pkg.a", "pkg.b"], {"typing", "module"}, id="closed-by-a-type-checking-import"),
])
def test_a_planted_circle_is_found_and_named(tmp_path, files, circle, kinds):
    names, edges = import_graph(_write(tmp_path, files))
    found = cycles(names, edges)
    assert found == [circle]
    message = describe(found[0], edges)
    assert {e.kind for e in edges if e.source in circle and e.target in circle} == kinds
    assert all(f"{name}" in message for name in circle) and ".py:" in message


def test_a_chain_without_circle_passes(tmp_path):
    names, edges = import_graph(_write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import x\n", "pkg/a.py": "from pkg.b import y\n",
        "pkg/b.py": "import os\ndef f():\n    from pkg import c\n", "pkg/c.py": "import json\n"}))
    assert len(edges) == 3
    assert cycles(names, edges) == []


# --- layers: who may import whom (docs/architecture.md, "Layers") ------------------------------------

# The foundation every layer stands on; it imports nothing but itself. `implkit` is the package's own
# __init__ (the version).
FOUNDATION = ("implkit", "implkit.model", "implkit.errors", "implkit.lang", "implkit.yamlio", "implkit.files",
              "implkit.data", "implkit.schemas", "implkit.decomposition", "implkit.net")
# The entry points: click commands and the demo may import anything.
ENTRY = ("implkit.__main__", "implkit.cli", "implkit.commands", "implkit.demo")
# Each layer and the layers it may import besides the foundation and itself.
LAYERS = {
    "implkit.spec": ("implkit.blueprint", "implkit.sizing"),
    "implkit.blueprint": ("implkit.sizing",),
    "implkit.sizing": (),
    "implkit.plan": ("implkit.providers", "implkit.workspace", "implkit.http"),
    "implkit.audit": ("implkit.providers",),
    "implkit.workspace": ("implkit.http",),
    "implkit.providers": ("implkit.http",),
    "implkit.sandbox": (),
    "implkit.http": (),
}


def layer_of(module: str) -> str:
    """The layer a module belongs to: the longest listed name it is, or is inside of."""
    candidates = [name for name in (*FOUNDATION, *ENTRY, *LAYERS)
                  if module == name or (name != "implkit" and module.startswith(name + "."))]
    return max(candidates, key=len) if candidates else "implkit"


def layer_violations(edges: list[Edge]) -> list[str]:
    wrong = []
    for edge in edges:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source in ENTRY or source == target or target in FOUNDATION:
            continue   # entry points import anything; everything may import the foundation
        if source in FOUNDATION or target not in LAYERS[source]:
            wrong.append(str(edge))
    return wrong


def test_each_layer_imports_only_what_it_may():
    """The sandbox and the providers never import each other (they meet over HTTP only), the foundation
    imports no layer, and each layer imports only the layers listed for it (lazy imports included)."""
    names, edges = import_graph(PACKAGE)
    assert {layer_of(n) for n in names} <= {*FOUNDATION, *ENTRY, *LAYERS}
    assert layer_violations(edges) == []


@pytest.mark.parametrize("source, target, allowed", [
    ("implkit.sandbox.amocrm.gateway", "implkit.providers.amocrm.client", False),
    ("implkit.providers.bitrix24.client", "implkit.sandbox.bitrix24.gateway", False),
    ("implkit.audit.sync", "implkit.plan.diff", False),
    ("implkit.model", "implkit.blueprint.validate", False),
    ("implkit.http.client", "implkit.workspace.core", False),
    ("implkit.spec.context", "implkit.blueprint.manual", True),
    ("implkit.providers.amocrm.client", "implkit.http.client", True),
    ("implkit.sandbox.app", "implkit.errors", True),
    ("implkit.commands.plan", "implkit.sandbox", True),
])
def test_the_layer_rule_on_single_edges(source, target, allowed):
    found = layer_violations([Edge(source, target, "function", "x.py", 1)])
    assert (found == []) is allowed
