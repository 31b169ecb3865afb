"""Every neutral field type survives a round trip through a Bitrix24 portal; OAuth and logs keep secrets."""

from __future__ import annotations

import logging

from b24p_rig import manual

from implkit.model import ENTITIES, FIELD_TYPES, OPTION_FIELD_TYPES, Blueprint
from implkit.plan.run import apply_blueprint, make_plan


def every_type_blueprint() -> Blueprint:
    fields = {}
    for entity in ENTITIES:
        fields[entity] = [
            {"key": f"f_{t}", "name": f"Поле {t}", "type": t,
             **({"options": ["Один", "Два", "Три"]} if t in OPTION_FIELD_TYPES else {})}
            for t in FIELD_TYPES]
    return Blueprint.from_dict({
        "apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "types", "version": "1.0.0"},
        "pipelines": [{"key": "p", "name": "Воронка", "stages": [{"key": "a", "name": "Первый"}]}],
        "fields": fields})


def test_every_neutral_type_reads_back_as_written(portal):
    bp = every_type_blueprint()
    provider = portal.provider()
    apply_blueprint(provider, bp, portal.state, tenant="acme", manual=manual(bp))
    plan = make_plan(provider, bp, portal.state, tenant="acme", manual=manual(bp))
    assert plan.changes == (), [(c.address, [(d.attr, d.before, d.after) for d in c.diffs]) for c in plan.changes]
    live = provider.read_config()
    provider.close()
    uf = {(f.entity, f.code): f for f in live.fields}
    assert uf[("leads", "F_SELECT")].type == "select" and uf[("leads", "F_MULTISELECT")].type == "multiselect"
    assert uf[("leads", "F_TEXTAREA")].type == "textarea" and uf[("leads", "F_MONETARY")].type == "monetary"
    assert uf[("leads", "F_PHONE")].type == "text"  # deals have no phone type: a text field
    # contacts' and companies' phone and e-mail are the built-in multi-fields, never created
    assert ("contacts", "F_PHONE") not in uf and ("companies", "F_EMAIL") not in uf
    statuses = portal.call("crm.contact.userfield.list", {})["result"]
    assert all(s["FIELD_NAME"].startswith("UF_CRM_F_") for s in statuses)


def test_oauth_calls_carry_the_token_in_the_query_and_refresh_when_it_expires(portal, caplog):
    from implkit.http import MemoryTokenStore, OAuth2Session, TokenSet
    from implkit.providers import open_provider
    from implkit.sandbox.bitrix24 import portal as portals

    app = portal.sandbox.portal_oauth("acme")
    store = MemoryTokenStore(TokenSet(app["access_token"], app["refresh_token"]))
    auth = OAuth2Session("http://sandbox" + app["token_endpoint"], client_id="local.sandbox", client_secret="s3cr3t-x",
                         store=store, tokens=store.tokens, transport=portal.transport)
    caplog.set_level(logging.DEBUG, logger="implkit")
    provider = open_provider("bitrix24", portal.base, auth, transport=portal.transport)
    assert provider.read_config().pipelines[0].id == "0"
    portals.expire_access_tokens(portal.sandbox.store, portal.account_id, at=portal.sandbox.clock.now() + 10)
    portal.sandbox.clock.advance(20)
    assert provider.read_config().pipelines  # 401 expired_token → refresh → the same call again
    provider.close()
    assert store.saves == 1 and store.tokens.access_token != app["access_token"]
    statuses = [r["status"] for r in portal.log()]
    assert statuses.count(401) == 1
    for secret in (app["access_token"], app["refresh_token"], store.tokens.access_token, "s3cr3t-x"):
        assert secret not in caplog.text


def test_logs_never_show_the_webhook_secret(portal, caplog, lossy):
    from implkit.plan.run import apply_blueprint as apply_

    caplog.set_level(logging.DEBUG, logger="implkit")
    bp = every_type_blueprint()
    transport = lossy(portal.transport, lambda n, request: n == 2)
    provider = portal.provider(transport=transport)
    apply_(provider, bp, portal.state, tenant="acme", manual=manual(bp))
    provider.close()
    assert "outcome unknown" in caplog.text or "ReadError" in caplog.text
    assert portal.secret not in caplog.text
    assert portal.secret not in repr(provider.http)
