"""blueprints/schema/workspace.schema.json agrees with the code that reads implkit.yaml, and accepts
every shape the documentation shows."""

from __future__ import annotations

from implkit.schemas import load_schema
from implkit.workspace.core import PROVIDERS, TENANT_KEYS, config_problems
from implkit.yamlio import load_yaml


def test_the_schema_knows_the_keys_the_code_reads():
    tenant = load_schema("workspace")["$defs"]["tenant"]
    # A key added to TENANT_KEYS (read by Workspace.tenant) must be added to the schema, or every file using it
    # is refused as having an unknown key.
    assert set(tenant["properties"]) == TENANT_KEYS
    assert tuple(tenant["properties"]["provider"]["enum"]) == PROVIDERS


def test_documented_settings_are_accepted(tmp_path):
    text = ("version: 1\nid: x\nlang: en\ntenants:\n"
            "  acme:\n    provider: amocrm\n    url: https://acme.amocrm.ru\n    credentials: {keyring: implkit/acme}\n"
            "    oauth: {client_id: cid, client_secret_env: S, redirect_uri: 'https://example.com/cb'}\n"
            "    blueprint: blueprint.yaml\n    rate_limit: 6.5\n"
            "    audit:\n      thresholds: {D03: 5, C06: {max_share: 0.1}, D08: 0.25, T01: {max_count: 3}}\n"
            "      exempt_stages: [Ожидание оплаты, 142]\n"
            "  portal.two:\n    provider: bitrix24\n    url: https://p.bitrix24.ru\n    credentials: {env: B24}\n")
    path = tmp_path / "implkit.yaml"
    path.write_text(text, encoding="utf-8")
    assert config_problems(load_yaml(path), str(path)) == []


def test_what_init_writes_is_valid(tmp_path):
    from implkit.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    assert config_problems(load_yaml(ws.config_path), str(ws.config_path)) == []
