"""Render a spec as HTML and take a screenshot of it in headless Chromium.

    .venv/bin/python tests/spec/spec_screenshot.py BLUEPRINT.yaml OUT.png [--lang en] [--print]

Checks by eye that the self-contained HTML lays out (tables, headings, the
stars) in a real browser; `--print` saves a PDF with the print stylesheet
instead. Needs `chromium` on PATH (`apt-get install -y chromium`); the test
`test_spec_chromium.py` runs it and is skipped without it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def screenshot(html: Path, output: Path, *, width: int = 1280, height: int = 2400, pdf: bool = False) -> Path:
    """Open `html` in headless Chromium and write a PNG screenshot (or a PDF) to `output`."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={profile}"]
        if pdf:
            command += ["--no-pdf-header-footer", f"--print-to-pdf={output}"]
        else:
            command += [f"--window-size={width},{height}", f"--screenshot={output}"]
        subprocess.run([*command, html.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--lang", default="ru", choices=("ru", "en"))
    parser.add_argument("--print", dest="pdf", action="store_true", help="save a PDF with the print stylesheet")
    args = parser.parse_args(argv)

    from implkit.spec import write_spec

    with tempfile.TemporaryDirectory() as folder:
        html = write_spec(args.blueprint, Path(folder) / "spec.html", lang=args.lang)
        screenshot(html, args.output, pdf=args.pdf)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
