"""`implkit init` and `implkit tenant …` through the CLI: exit codes, files written, secrets kept out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ADD = ("tenant", "add", "acme", "--provider", "amocrm", "--url", "https://acme.amocrm.ru")


def files_containing(root: Path, needle: str, skip: tuple[Path, ...] = ()) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip and needle.encode() in path.read_bytes():
            hits.append(path)
    return hits


# ---- init --------------------------------------------------------------------------------------

def test_init_creates_workspace(run_cli, tmp_path):
    target = tmp_path / "new-ws"
    result = run_cli("init", target)
    assert result.exit_code == 0, result.output
    assert (target / "implkit.yaml").read_text().count("version: 1") == 1
    assert "tenants: {}" in (target / "implkit.yaml").read_text()
    assert (target / ".implkit").is_dir()
    assert oct((target / ".implkit").stat().st_mode & 0o777) == oct(0o700)
    assert ".implkit/" in (target / ".gitignore").read_text().splitlines()


def test_init_keeps_an_existing_gitignore_and_folder(run_cli, tmp_path):
    target = tmp_path / "ws"
    (target / ".implkit").mkdir(parents=True)
    (target / ".implkit" / "demo.token").write_text("x\n")  # the demo writes its token first
    (target / ".gitignore").write_text("node_modules/\n")
    assert run_cli("init", target).exit_code == 0
    gitignore = (target / ".gitignore").read_text()
    assert gitignore.startswith("node_modules/\n") and ".implkit/" in gitignore
    assert (target / ".implkit" / "demo.token").read_text() == "x\n"


def test_init_refuses_an_existing_workspace(run_cli, workspace):
    before = (workspace / "implkit.yaml").read_text()
    result = run_cli("init", workspace)
    assert result.exit_code == 3
    assert "already exists" in result.output
    assert (workspace / "implkit.yaml").read_text() == before


# ---- add / list / show / remove ----------------------------------------------------------------

def test_add_list_show_remove(run_cli, workspace, token_file, token):
    ws = ("--workspace", workspace)
    result = run_cli(*ADD, "--token-file", token_file, "--blueprint", workspace / "bp.yaml",
                     "--rate-limit", "5", *ws)
    assert result.exit_code == 0, result.output
    config = (workspace / "implkit.yaml").read_text()
    assert "file: .implkit/acme.token" in config and "rate_limit: 5" in config and "blueprint: bp.yaml" in config

    listed = run_cli("tenant", "list", *ws)
    assert listed.exit_code == 0
    assert "acme" in listed.output and "https://acme.amocrm.ru" in listed.output

    shown = run_cli("tenant", "show", "acme", *ws)
    assert shown.exit_code == 0, shown.output
    assert "token file" in shown.output and "*** (token present)" in shown.output
    assert "5 req/s" in shown.output

    for output in (result.output, listed.output, shown.output):
        assert token not in output
    assert files_containing(workspace, token, skip=(token_file,)) == []

    removed = run_cli("tenant", "remove", "acme", *ws)
    assert removed.exit_code == 0
    assert "acme" not in run_cli("tenant", "list", *ws).output


def test_show_reports_a_missing_env_token_without_failing(run_cli, workspace, monkeypatch):
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    ws = ("--workspace", workspace)
    added = run_cli(*ADD, "--token-env", "ACME_TOKEN", *ws)
    assert added.exit_code == 0 and "not set now" in added.output
    shown = run_cli("tenant", "show", "acme", *ws)
    assert shown.exit_code == 0
    assert "environment variable ACME_TOKEN" in shown.output and "not set" in shown.output


def test_add_with_keyring_stores_the_token_there_only(run_cli, workspace, fake_keyring, token):
    result = run_cli(*ADD, "--keyring", "--workspace", workspace, input=token + "\n")
    assert result.exit_code == 0, result.output
    assert list(fake_keyring.data.values()) == [token]
    assert token not in result.output
    assert files_containing(workspace, token) == []
    shown = run_cli("tenant", "show", "acme", "--workspace", workspace)
    assert "keyring implkit/acme@" in shown.output and "*** (token present)" in shown.output
    assert run_cli("tenant", "remove", "acme", "--purge", "--workspace", workspace).exit_code == 0
    assert fake_keyring.data == {}


def test_add_creates_a_missing_token_file_0600(run_cli, workspace, token):
    path = workspace / ".implkit" / "new.token"
    result = run_cli(*ADD, "--token-file", path, "--workspace", workspace, input=token + "\n")
    assert result.exit_code == 0, result.output
    assert path.read_text().strip() == token
    assert path.stat().st_mode & 0o777 == 0o600
    assert token not in result.output


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_readable_token_file_is_refused(run_cli, workspace, token_file, mode):
    os.chmod(token_file, mode)
    before = (workspace / "implkit.yaml").read_text()
    result = run_cli(*ADD, "--token-file", token_file, "--workspace", workspace)
    assert result.exit_code == 3
    assert "accessible by group or others" in result.output and "chmod 600" in result.output
    assert (workspace / "implkit.yaml").read_text() == before


def test_token_file_made_readable_later_is_refused_at_use(workspace, token_file):
    from implkit.errors import InputError
    from implkit.workspace import CredentialSource, Workspace

    ws = Workspace.load(workspace)
    ws.add_tenant("acme", provider="amocrm", url="https://acme.amocrm.ru",
                  credentials=CredentialSource("file", path=token_file))
    os.chmod(token_file, 0o644)
    with pytest.raises(InputError, match="accessible by group or others"):
        ws.credentials("acme")


@pytest.mark.parametrize("url, reason", [
    ("http://acme.amocrm.ru", "plain http:// is refused"),
    ("http://10.0.0.5:8000", "plain http:// is refused"),
    ("ftp://acme.amocrm.ru", "http(s) URL"),
    ("https://user:pw@acme.amocrm.ru", "user name or password"),
    ("https://acme.amocrm.ru/?access_token=zzz", "query string"),
    ("https://portal.bitrix24.ru/rest/1/w3bh00ks3cr3t/", "webhook"),
])
def test_bad_urls_are_refused(run_cli, workspace, token_file, url, reason):
    result = run_cli("tenant", "add", "acme", "--provider", "amocrm", "--url", url, "--token-file", token_file,
                     "--workspace", workspace)
    assert result.exit_code == 3
    assert reason in result.output
    assert "w3bh00ks3cr3t" not in result.output and "zzz" not in result.output
    assert "acme" not in (workspace / "implkit.yaml").read_text()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/amocrm/demo", "http://localhost:9000",
                                 "http://[::1]:8080", "http://127.8.9.10"])
def test_plain_http_allowed_on_loopback(run_cli, workspace, token_file, url):
    result = run_cli("tenant", "add", "sandbox", "--provider", "amocrm", "--url", url, "--token-file", token_file,
                     "--workspace", workspace)
    assert result.exit_code == 0, result.output


def test_exactly_one_token_source(run_cli, workspace, token_file):
    none = run_cli(*ADD, "--workspace", workspace)
    both = run_cli(*ADD, "--token-file", token_file, "--token-env", "X", "--workspace", workspace)
    assert none.exit_code == both.exit_code == 3
    assert "exactly one token source" in none.output


def test_duplicate_and_invalid_names(run_cli, workspace, token_file):
    assert run_cli(*ADD, "--token-file", token_file, "--workspace", workspace).exit_code == 0
    again = run_cli(*ADD, "--token-file", token_file, "--workspace", workspace)
    assert again.exit_code == 3 and "already exists" in again.output
    bad = run_cli("tenant", "add", "../etc", "--provider", "amocrm", "--url", "https://a.amocrm.ru",
                  "--token-file", token_file, "--workspace", workspace)
    assert bad.exit_code == 3 and "invalid tenant name" in bad.output


def test_unknown_tenant_exits_3_listing_known(run_cli, workspace, token_file):
    run_cli(*ADD, "--token-file", token_file, "--workspace", workspace)
    for command in (("show", "nope"), ("remove", "nope"), ("unlock", "nope")):
        result = run_cli("tenant", *command, "--workspace", workspace)
        assert result.exit_code == 3
        assert "unknown tenant 'nope'" in result.output and "known: acme" in result.output


def test_unknown_provider_is_a_usage_error(run_cli, workspace, token_file):
    result = run_cli("tenant", "add", "x", "--provider", "salesforce", "--url", "https://x.example",
                     "--token-file", token_file, "--workspace", workspace)
    assert result.exit_code == 3


# ---- discovery ---------------------------------------------------------------------------------

def test_discovery_from_env_and_from_cwd(run_cli, workspace, token_file, monkeypatch):
    run_cli(*ADD, "--token-file", token_file, "--workspace", workspace)
    by_env = run_cli("tenant", "list", env={"IMPLKIT_WORKSPACE": str(workspace)})
    assert by_env.exit_code == 0 and "acme" in by_env.output
    nested = workspace / "docs" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    by_cwd = run_cli("tenant", "list")
    assert by_cwd.exit_code == 0 and "acme" in by_cwd.output


def test_no_workspace_found(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("IMPLKIT_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run_cli("tenant", "list")
    assert result.exit_code == 3 and "no implkit workspace found" in result.output


def test_invalid_workspace_file_names_line_and_key(run_cli, workspace):
    (workspace / "implkit.yaml").write_text(
        "version: 1\ntenants:\n  acme:\n    provider: amocrm\n    url: http://acme.amocrm.ru\n"
        "    credentials: {env: X}\n    token: oops\n")
    result = run_cli("tenant", "list", "--workspace", workspace)
    assert result.exit_code == 3
    assert "implkit.yaml:5:" in result.output and "tenants.acme.url" in result.output
    assert "implkit.yaml:7:" in result.output and "unknown key 'token'" in result.output


def test_yaml_syntax_error_names_the_position(run_cli, workspace):
    (workspace / "implkit.yaml").write_text("version: 1\ntenants: [\n")
    result = run_cli("tenant", "list", "--workspace", workspace)
    assert result.exit_code == 3 and "implkit.yaml:" in result.output
    assert "Traceback" not in result.output


def test_comments_survive_tenant_add(run_cli, workspace, token_file):
    config = workspace / "implkit.yaml"
    config.write_text(config.read_text() + "# keep me: the furniture factory account goes here\n")
    assert run_cli(*ADD, "--token-file", token_file, "--workspace", workspace).exit_code == 0
    assert "# keep me" in config.read_text()


def test_audit_settings_are_kept_for_the_curator(workspace, token_file):
    from implkit.workspace import Workspace

    config = workspace / "implkit.yaml"
    config.write_text(
        "version: 1\ntenants:\n  acme:\n    provider: amocrm\n    url: https://acme.amocrm.ru\n"
        f"    credentials: {{file: {token_file}}}\n"
        "    audit: {thresholds: {D03: 0.1}, exempt_stages: [pipeline.sales.stage.won]}\n")
    tenant = Workspace.load(workspace).tenant("acme")
    assert tenant.audit == {"thresholds": {"D03": 0.1}, "exempt_stages": ["pipeline.sales.stage.won"]}
    config.write_text(config.read_text().replace("audit: {thresholds", "audit: [1]\n    x: {thresholds"))
    with pytest.raises(Exception, match="tenants.acme.audit: expected a mapping, got a list"):
        Workspace.load(workspace)


def test_oauth_tenant_needs_a_token_pair(run_cli, workspace, token_file, fake_keyring):
    ws = ("--workspace", workspace)
    one_line = run_cli(*ADD, "--token-file", token_file, "--client-id", "cid", "--client-secret-env", "S", *ws)
    assert one_line.exit_code == 3 and "needs JSON with access_token and refresh_token" in one_line.output
    pasted = run_cli(*ADD, "--keyring", "--client-id", "cid", *ws, input="just-a-token\n")
    assert pasted.exit_code == 3 and fake_keyring.data == {}
    pair = '{"access_token": "acc-123456", "refresh_token": "ref-123456", "expires_at": 1}'
    ok = run_cli(*ADD, "--keyring", "--client-id", "cid", "--client-secret-env", "ACME_SECRET", *ws, input=pair + "\n")
    assert ok.exit_code == 0, ok.output
    config = (workspace / "implkit.yaml").read_text()
    assert "client_id: cid" in config and "client_secret_env: ACME_SECRET" in config
    assert "ref-123456" not in config and "ref-123456" not in ok.output
    shown = run_cli("tenant", "show", "acme", *ws, env={"ACME_SECRET": "s3cr3t-value"})
    assert "OAuth (access + refresh token) present" in shown.output
    assert "s3cr3t-value" not in shown.output and "from environment variable ACME_SECRET" in shown.output


def test_remove_keeps_state_unless_purged(run_cli, workspace, token_file, tmp_path):
    from implkit.workspace import Workspace

    ws = ("--workspace", workspace)
    outside = tmp_path / "mine.token"
    outside.write_text("user-kept-token-1234\n")
    os.chmod(outside, 0o600)
    run_cli(*ADD, "--token-file", token_file, *ws)
    run_cli("tenant", "add", "mine", "--provider", "amocrm", "--url", "https://mine.amocrm.ru",
            "--token-file", outside, *ws)
    state = Workspace.load(workspace).state("acme")
    state.record("pipeline.sales", 1)
    state.close()
    kept = run_cli("tenant", "remove", "acme", *ws)
    assert kept.exit_code == 0 and "its state stays in" in kept.output
    assert (workspace / ".implkit" / "tenants" / "acme" / "state.db").exists() and token_file.exists()

    run_cli(*ADD, "--token-file", token_file, *ws)
    assert run_cli("tenant", "remove", "acme", "--purge", *ws).exit_code == 0
    assert not (workspace / ".implkit" / "tenants" / "acme").exists()
    assert not token_file.exists()  # it lived under .implkit/
    assert run_cli("tenant", "remove", "mine", "--purge", *ws).exit_code == 0
    assert outside.exists()  # the user's own file is not ours to delete


def test_list_and_show_as_json(run_cli, workspace, token_file, token):
    import json

    from implkit.workspace import Workspace

    ws = ("--workspace", workspace)
    run_cli(*ADD, "--token-file", token_file, *ws)
    state = Workspace.load(workspace).state("acme")
    state.bind_account(31415)
    state.record("pipeline.sales", 7)
    state.set_last_applied("1.2.0", "sha256:ab", "kind: Blueprint\n")
    state.close()
    shown = run_cli("tenant", "show", "acme", "--json", *ws)
    assert shown.exit_code == 0
    data = json.loads(shown.output)
    assert data["credentials"] == {"source": "file", "where": f"token file {token_file}", "present": True,
                                   "kind": "token"}
    assert data["state"]["objects"] == 1 and data["state"]["account_id"] == "31415"
    assert data["state"]["last_applied"]["version"] == "1.2.0" and data["lock"] is None
    listed = json.loads(run_cli("tenant", "list", "--json", *ws).output)
    assert [t["name"] for t in listed] == ["acme"]
    os.chmod(token_file, 0o644)
    broken = json.loads(run_cli("tenant", "show", "acme", "--json", *ws).output)
    assert broken["credentials"]["present"] is False and "chmod 600" in broken["credentials"]["problem"]
    assert token not in shown.output
    text = run_cli("tenant", "show", "acme", *ws).output
    assert "1 objects, serial 3, account 31415, last applied 1.2.0" in text
    assert "file (missing)" in run_cli("tenant", "list", *ws).output


def test_concurrent_tenant_adds_all_land(workspace, token_file):
    import subprocess
    import sys
    import textwrap

    from implkit.workspace import Workspace

    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from implkit.workspace import CredentialSource, Workspace
        ws = Workspace.load(sys.argv[1])
        for i in range(5):
            ws.add_tenant(f"{sys.argv[2]}{i}", provider="amocrm", url=f"https://{sys.argv[2]}{i}.amocrm.ru",
                          credentials=CredentialSource("env", var="T"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(workspace), prefix]) for prefix in "abc"]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert len(Workspace.load(workspace).tenant_names()) == 15


def test_piped_token_is_read_from_the_pipe_without_a_warning(workspace, tmp_path):
    """`implkit sandbox token … | implkit tenant add … --token-file NEW`: the token comes from the pipe,
    with no GetPassWarning and no echo. A new session has no controlling terminal, as in CI or cron,
    which is where getpass used to fall back to echoing stdin with a warning."""
    import subprocess
    import sys

    secret = "piped-token-" + "x" * 40
    token_path = tmp_path / "new.token"
    env = {**os.environ, "IMPLKIT_LANG": "en", "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "implkit", *ADD, "--token-file", str(token_path),
                           "--workspace", str(workspace)], input=secret + "\n", capture_output=True, text=True,
                          env=env, start_new_session=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    assert secret not in done.stdout + done.stderr
    assert token_path.read_text().strip() == secret
    assert oct(token_path.stat().st_mode & 0o777) == oct(0o600)


def test_empty_piped_token_is_refused_and_nothing_is_written(run_cli, workspace, tmp_path):
    token_path = tmp_path / "new.token"
    before = (workspace / "implkit.yaml").read_text()
    result = run_cli(*ADD, "--token-file", token_path, "--workspace", workspace, input="\n")
    assert result.exit_code == 3
    assert "empty token" in result.output
    assert not token_path.exists()
    assert (workspace / "implkit.yaml").read_text() == before
