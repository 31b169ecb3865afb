"""`spec render --crm directum`: the Directum section (what the product covers, what DDS adds, the admin's
part, the 1C exchange) and its checklist; the default ТЗ keeps its two CRMs."""

from __future__ import annotations

import pytest

from implkit.data import blueprints_dir

PRESET = blueprints_dir() / "presets" / "retail.yaml"


@pytest.mark.parametrize("lang, words", [
    ("ru", ["### Directum RX", "Из коробки", "среде разработки", "в веб-клиенте", "обмен с 1С",
            "- [ ] DDS: тип сущности «Сделка» для воронки «Заказы»", "базовое свойство TIN"]),
    ("en", ["### Directum RX", "Out of the box", "development studio", "web client", "exchange with 1C",
            "- [ ] DDS: a “Deal” entity type for pipeline “Заказы”", "base property TIN"]),
])
def test_directum_spec(run_cli, tmp_path, lang, words):
    out = tmp_path / f"spec.{lang}.md"
    result = run_cli("spec", "render", "-b", PRESET, "-o", out, "--crm", "directum", "--lang", lang)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for word in words:
        assert word in text, word
    assert "### amoCRM" not in text and "### Bitrix24" not in text


def test_default_spec_has_no_directum_and_unknown_crm_is_refused(run_cli, tmp_path):
    out = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", PRESET, "-o", out).exit_code == 0
    assert "Directum" not in out.read_text(encoding="utf-8")
    bad = run_cli("spec", "render", "-b", PRESET, "-o", tmp_path / "x.md", "--crm", "sap")
    assert bad.exit_code == 3 and "directum" in bad.output and not (tmp_path / "x.md").exists()
