"""A plain, non-editable install of the wheel finds its data and runs.

Builds the wheel from this checkout, installs it with --no-deps into a fresh
venv whose only other import path is the test venv's site-packages (so no
download is needed and the checkout itself is NOT importable), and runs the
`implkit` console script from an unrelated folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True)
    (built,) = dist.glob("implkit-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies come from the test venv's site-packages. A path listed in a
    # .pth file is appended to sys.path, but the .pth files inside it (the
    # editable install's hook into this checkout) are not run.
    deps = sysconfig.get_path("purelib")
    (purelib / "implkit_test_deps.pth").write_text(deps + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True)
    return venv


def test_wheel_ships_data_and_no_top_level_cli_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "implkit/_data/blueprints/sizing.yaml" in names
    assert any(n.startswith("implkit/_data/audits/") for n in names)
    assert "implkit/_data/examples/answers/b2b-services.yaml" in names
    assert not any(n in ("cli.py", "cli/__init__.py") for n in names)


def test_installed_console_script_reads_shipped_data(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    py = installed / "bin" / "python"
    where = subprocess.run([str(py), "-c", "import implkit, implkit.data as d; print(implkit.__file__);"
                            "print(d.blueprints_dir())"], capture_output=True, text=True, check=True,
                           cwd=tmp_path, env=env).stdout
    assert str(ROOT) not in where, f"the checkout leaked into the installed environment: {where}"
    assert "_data" in where
    answers = installed.parent / "answers.yaml"
    help_run = subprocess.run([str(installed / "bin" / "implkit"), "--help"], capture_output=True, text=True,
                              cwd=tmp_path, env=env)
    assert help_run.returncode == 0, help_run.stderr
    assert "blueprint" in help_run.stdout
    result = subprocess.run([str(installed / "bin" / "implkit"), "size", "--answers",
                             str(ROOT / "examples" / "answers" / "b2b-services.yaml"), "-o", str(answers)],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "6–10" in result.stdout
    assert answers.is_file()
