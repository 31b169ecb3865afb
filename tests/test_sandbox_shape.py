"""Every emulated CRM is one package of the same shape (issue 20; docs/sandbox.md, "The shape of an
emulated CRM"): the same modules in each, only shared modules at the sandbox's top, no CRM package
importing another's, and imports inside a package running downwards.

The shape is written twice on purpose, here and in the doc's table, and the two are compared: a
module dropped from the doc or from the test fails here, so the doc a newcomer follows is the one
the code is held to.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.test_import_graph import import_graph

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = ROOT / "implkit" / "sandbox"
DOC = ROOT / "docs" / "sandbox.md"

SHAPE = ("__init__.py", "gateway.py", "decode.py", "models/", "errors.py", "limits.py", "seed.py", "control.py")
SHARED = {"__init__.py", "app.py", "store.py", "faults.py", "server.py", "serve.py", "querystring.py", "names.py",
          "messy.py"}
MAY_IMPORT_A_CRM = {"implkit.sandbox", "implkit.sandbox.app", "implkit.sandbox.serve"}  # facade, app, serve
UPPER = ("gateway", "decode", "control", "seed", "messy", "operations", "handlers", "methods")


def crm_packages() -> list[Path]:
    return sorted(p for p in SANDBOX.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def shape_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## The shape of an emulated CRM")
    return text[start:text.index("\n## ", start + 1)]


def test_there_are_three_crm_packages():
    assert [p.name for p in crm_packages()] == ["amocrm", "bitrix24", "directum"]


def test_the_doc_table_lists_exactly_the_shape():
    rows = [line for line in shape_section().splitlines() if line.startswith("| `")]
    assert tuple(re.match(r"\| `([^`]+)`", row).group(1) for row in rows) == SHAPE


@pytest.mark.parametrize("package", crm_packages(), ids=lambda p: p.name)
def test_each_crm_package_has_every_module_of_the_shape_with_a_docstring(package):
    missing = []
    for module in SHAPE:
        path = package / module / "__init__.py" if module.endswith("/") else package / module
        if not path.is_file():
            missing.append(module)
        elif not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))):
            missing.append(f"{module} (no docstring saying what it holds)")
    assert not missing, f"{package.name} lacks: {', '.join(missing)}"


def test_only_shared_modules_stay_at_the_sandbox_top():
    top = {p.name for p in SANDBOX.glob("*.py")}
    assert top == SHARED, f"not in the shape: {sorted(top - SHARED)}; gone: {sorted(SHARED - top)}"
    section = shape_section()
    assert [name for name in sorted(SHARED) if f"`{name}`" not in section] == []


def _sandbox_edges():
    _, edges = import_graph(ROOT / "implkit")
    for edge in edges:
        source, target = edge.source.split("."), edge.target.split(".")
        if source[:2] == target[:2] == ["implkit", "sandbox"]:
            yield edge, source[2:], target[2:]


def _crm(parts: list[str]) -> str | None:
    return parts[0] if parts and (SANDBOX / parts[0]).is_dir() else None


def test_no_crm_package_imports_another_and_shared_modules_stay_neutral():
    wrong = []
    for edge, source, target in _sandbox_edges():
        if _crm(target) is None or _crm(source) == _crm(target):
            continue
        if _crm(source) is not None or edge.source not in MAY_IMPORT_A_CRM:
            wrong.append(str(edge))
    assert wrong == []


def test_models_errors_and_limits_never_import_upwards_inside_their_package():
    wrong = []
    for edge, source, target in _sandbox_edges():
        if _crm(source) is None or _crm(source) != _crm(target) or len(source) < 2 or len(target) < 2:
            continue
        if source[1] in ("models", "errors", "limits") and target[1] in UPPER:
            wrong.append(str(edge))
        if source[1] == "errors" and target[1] != "errors":
            wrong.append(str(edge))
    assert wrong == []


def test_the_rules_above_see_real_edges():
    """The two import checks are only as good as the edges they walk: among them are a facade's lazy
    import of a CRM package, a gateway's import of its models and a model's import of its errors."""
    seen = {(edge.source, edge.target) for edge, _, _ in _sandbox_edges()}
    assert ("implkit.sandbox", "implkit.sandbox.directum.control") in seen
    assert ("implkit.sandbox.bitrix24.gateway", "implkit.sandbox.bitrix24.models") in seen
    assert ("implkit.sandbox.amocrm.models.records", "implkit.sandbox.amocrm.errors") in seen
