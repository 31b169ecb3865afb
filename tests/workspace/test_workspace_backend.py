"""implkit.yaml's `state:` key: which backend holds the tenants' state, its bad values, the URL's secrecy."""

from __future__ import annotations

import pytest

from implkit.errors import InputError, RuntimeFailure
from implkit.workspace import CredentialSource, Workspace


def _add(ws: Workspace, token_file, *names: str) -> None:
    for name in names:
        ws.add_tenant(name, provider="amocrm", url=f"https://{name}.amocrm.ru",
                      credentials=CredentialSource("file", path=token_file))


def test_workspace_state_on_either_backend(workspace, token_file, backend_env):
    backend_env(workspace)
    ws = Workspace.load(workspace)
    _add(ws, token_file, "acme", "beta")
    assert ws.backend.name == backend_env.kind
    with ws.state("acme") as acme, ws.state("beta") as beta:
        acme.record("pipeline.sales", 7001, "fp")
        beta.record("pipeline.sales", "b-1")
    again = Workspace.load(workspace)  # another runner of the same workspace
    with again.state("acme") as acme, again.state("beta") as beta:
        assert acme.get_ids() == {"pipeline.sales": 7001} and beta.get_ids() == {"pipeline.sales": "b-1"}
        assert acme.lineage != beta.lineage
    described = again.describe("acme")
    assert described["state"]["objects"] == 1 and described["state"]["serial"] == 1


@pytest.mark.parametrize("state, key, message", [
    ("{backend: mysql}", "backend", "backend must be one of local, postgres"),
    ("{backend: postgres, url: 'postgresql://u:hunter2hunter2@h/db'}", "url", "url_env"),
    ("{backend: postgres, lock_lease: -1}", "lock_lease", "positive number of seconds"),
    ("{backend: postgres, colour: red}", "colour", "unknown key 'colour'"),
    ("[postgres]", "state", "state must be a mapping"),
])
def test_bad_state_keys_are_bad_input_with_a_location(workspace, state, key, message):
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text() + f"state: {state}\n")
    with pytest.raises(InputError) as err:
        Workspace.load(workspace)
    text = str(err.value) + "".join(str(p) for p in getattr(err.value, "problems", []))
    assert message in text and "implkit.yaml:" in text and "hunter2hunter2" not in text


def test_cli_reports_a_bad_state_key_with_exit_3(workspace, run_cli):
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text() + "state:\n  backend: mysql\n")
    result = run_cli("tenant", "list", "--workspace", workspace)
    assert result.exit_code == 3
    lines = len(path.read_text().splitlines())
    assert f"implkit.yaml:{lines}:" in result.output and "backend must be one of" in result.output
    assert "Traceback" not in result.output


def test_missing_url_variable_is_bad_input(workspace, token_file, monkeypatch):
    monkeypatch.delenv("IMPLKIT_STATE_URL", raising=False)
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text() + "state: {backend: postgres}\n")
    ws = Workspace.load(workspace)
    _add(ws, token_file, "acme")
    with pytest.raises(InputError, match="IMPLKIT_STATE_URL"):
        ws.state("acme")


def test_a_refused_connection_never_shows_the_password(workspace, token_file, monkeypatch, pg_cluster):
    wrong = pg_cluster.url.replace(pg_cluster.password, "Wr0ngPassw0rdXyz")
    monkeypatch.setenv("IMPLKIT_STATE_URL", wrong)
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text() + "state: {backend: postgres}\n")
    ws = Workspace.load(workspace)
    _add(ws, token_file, "acme")
    with pytest.raises(RuntimeFailure) as err:
        ws.state("acme")
    assert "Wr0ngPassw0rdXyz" not in str(err.value) and "implkit:***@127.0.0.1" in str(err.value)
    assert "password authentication failed" in str(err.value)
    assert ws.backend.describe().count("***") == 1 and "Wr0ngPassw0rdXyz" not in ws.backend.describe()


def test_purge_removes_the_shared_copy_too(workspace, token_file, backend_env, run_cli):
    backend_env(workspace)
    ws = Workspace.load(workspace)
    _add(ws, token_file, "acme", "beta")
    for name in ("acme", "beta"):
        with ws.state(name) as store:
            store.record("pipeline.sales", 1)
    removed = run_cli("tenant", "remove", "acme", "--purge", "--workspace", workspace)
    assert removed.exit_code == 0, removed.output
    ws = Workspace.load(workspace)
    assert not ws.backend.has_state("acme", workspace / ".implkit" / "tenants" / "acme")
    assert ws.backend.has_state("beta", ws.tenant("beta").dir)  # the other tenant is untouched
