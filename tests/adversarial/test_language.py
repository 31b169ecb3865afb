"""Which language a bad-input message is told in: --lang, else $IMPLKIT_LANG, else implkit.yaml's `lang`,
else Russian; and Russian counts agree with their nouns."""

from __future__ import annotations

import pytest

from implkit import lang


@pytest.fixture
def workspace(tmp_path, run_cli):
    assert run_cli("init", tmp_path / "ws").exit_code == 0
    return tmp_path / "ws"


def _bad_blueprint(tmp_path, problems: int):
    """A blueprint with `problems` unknown top-level keys, one problem each."""
    path = tmp_path / "bp.yaml"
    path.write_text("apiVersion: implkit/v1\nkind: Blueprint\nmetadata: {name: x, version: 1.0.0}\n"
                    + "".join(f"extra{i}: 1\n" for i in range(problems)), encoding="utf-8")
    return path


def test_the_order_of_the_language_settings(tmp_path, workspace, run_cli, monkeypatch):
    bad = ("tenant", "add", "x", "--provider", "amocrm", "--url", "https://x.amocrm.ru", "--token-env", "X",
           "--rate-limit", "nan", "-w", workspace)
    monkeypatch.delenv("IMPLKIT_LANG")
    assert run_cli(*bad).output.startswith("ошибка: --rate-limit: нужно положительное")  # the default
    assert run_cli("--lang", "en", *bad).output.startswith("error: --rate-limit: expected a positive")
    monkeypatch.setenv("IMPLKIT_LANG", "en")
    assert run_cli(*bad).output.startswith("error:")
    assert run_cli("--lang", "ru", *bad).output.startswith("ошибка:")  # --lang wins over the environment
    monkeypatch.delenv("IMPLKIT_LANG")
    config = workspace / "implkit.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "lang: en\n", encoding="utf-8")
    unknown = run_cli("plan", "nobody", "-w", workspace, "-b", _bad_blueprint(tmp_path, 1))
    assert unknown.exit_code == 3
    blueprint = run_cli("blueprint", "validate", _bad_blueprint(tmp_path, 2))  # no workspace: the default again
    assert blueprint.output.startswith("ошибка:") and "неизвестный ключ 'extra0'" in blueprint.output
    shown = run_cli("plan", "acme", "-w", workspace, "-b", _bad_blueprint(tmp_path, 1))
    assert shown.exit_code == 3 and shown.output.startswith("error:"), shown.output  # implkit.yaml's lang: en


@pytest.mark.parametrize("count, noun", [(1, "проблема"), (2, "проблемы"), (4, "проблемы"), (5, "проблем"),
                                         (11, "проблем"), (12, "проблем"), (14, "проблем"), (21, "проблема"),
                                         (22, "проблемы"), (25, "проблем"), (101, "проблема"), (111, "проблем")])
def test_russian_counts_agree_with_their_nouns(tmp_path, run_cli, monkeypatch, count, noun):
    monkeypatch.delenv("IMPLKIT_LANG")
    result = run_cli("blueprint", "validate", _bad_blueprint(tmp_path, count))
    assert result.exit_code == 3
    assert result.output.splitlines()[0].endswith(f": {count} {noun}"), result.output.splitlines()[0]
    assert len(result.output.splitlines()) == count + 1


def test_english_counts(tmp_path, run_cli):
    assert run_cli("blueprint", "validate", _bad_blueprint(tmp_path, 1)).output.splitlines()[0].endswith(
        ": 1 problem")
    assert run_cli("blueprint", "validate", _bad_blueprint(tmp_path, 3)).output.splitlines()[0].endswith(
        ": 3 problems")


def test_an_unknown_language_is_ignored_not_fatal(monkeypatch):
    monkeypatch.setenv("IMPLKIT_LANG", "klingon")
    lang.use(None)
    assert lang.current() == "ru"


def test_schema_limits_count_their_nouns(tmp_path, run_cli, monkeypatch):
    monkeypatch.delenv("IMPLKIT_LANG")
    path = tmp_path / "bp.yaml"
    path.write_text("apiVersion: implkit/v1\nkind: Blueprint\nmetadata: {name: x, version: 1.0.0}\n"
                    "pipelines:\n  - key: p\n    name: П\n    stages:\n"
                    f"      - {{key: s, name: С, description: {'я' * 1001}}}\n", encoding="utf-8")
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 3
    assert f"{path}:8:" in result.output
    assert "допустимо максимум 1000 символов, а здесь 1001" in result.output
    english = run_cli("--lang", "en", "blueprint", "validate", path)
    assert "at most 1000 characters, not 1001" in english.output
