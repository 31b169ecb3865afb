"""The HTML spec opens in headless Chromium (skipped where Chromium is not installed)."""

from __future__ import annotations

import pytest

from spec_helpers import FIXTURES
from spec_screenshot import find_chromium, screenshot

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed")


def test_chromium_renders_the_html_spec(run_cli, tmp_path):
    html = tmp_path / "spec.html"
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--date", "2026-01-15", "-o", html).exit_code == 0
    png = screenshot(html, tmp_path / "spec.png", width=1024, height=1400)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1024, 1400)
    pdf = screenshot(html, tmp_path / "spec.pdf", pdf=True)
    assert pdf.read_bytes()[:5] == b"%PDF-"
