"""Directum pieces on their own: requisite validators against public registry values, the credential,
`$metadata` parsing of an overridden type, the manual steps, `audit --list`."""

from __future__ import annotations

import json

import pytest

from implkit.audit.directum import psrn_valid, tin_valid, trrc_valid
from implkit.errors import InputError
from implkit.providers.directum import parse_credential, service_root
from implkit.providers.directum.odata import BasicAuth, Metadata


# ПАО Сбербанк and АО «Тинькофф Банк» as the state register prints them (public requisites)
@pytest.mark.parametrize("tin, trrc, psrn", [("7707083893", "773601001", "1027700132195"),
                                             ("7710140679", "771301001", "1027739642281")])
def test_validators_accept_real_requisites(tin, trrc, psrn):
    assert tin_valid(tin, "company", False) == 1
    assert trrc_valid(trrc) == 1
    assert psrn_valid(psrn, False) == 1


@pytest.mark.parametrize("tin, kind, expected", [
    ("7707083894", "company", 0), ("770708389", "company", 0), ("77O7083893", "company", 0),
    ("0007083893", "company", 0), (" 7707083893 ", "company", 1), ("7707083893", "person", 0),
    ("", "company", None), (None, "person", None),
])
def test_tin_verdicts(tin, kind, expected):
    assert tin_valid(tin, kind, False) == expected


def test_nonresidents_are_not_judged():
    assert tin_valid("DE129273398", "company", True) is None
    assert psrn_valid("HRB 6684", True) is None


@pytest.mark.parametrize("value, expected", [("7736О1001", 0), ("77360100", 0), ("7736 01 001", 0),
                                             ("7736AB001", 1), ("", None)])
def test_trrc_form(value, expected):
    assert trrc_valid(value) == expected


@pytest.mark.parametrize("value, expected", [("1027700132194", 0), ("102770013219", 0), ("304500116000157", 1),
                                             ("304500116000158", 0), ("10277001321A5", 0)])
def test_psrn_length_and_check_digit(value, expected):
    assert psrn_valid(value, False) == expected


@pytest.mark.parametrize("bad", ["", "login", ":secret", "login:", "   :x"])
def test_credential_must_be_login_colon_password(bad):
    with pytest.raises(InputError):
        parse_credential(bad)


def test_credential_and_auth_keep_the_password_out_of_reprs():
    login, password = parse_credential("Integration Service:p:a:ss")
    assert (login, password) == ("Integration Service", "p:a:ss")
    auth = BasicAuth(login, password)
    assert "p:a:ss" not in repr(auth)
    from implkit.http.redact import redact
    assert "p:a:ss" not in redact(f"failed with p:a:ss and {auth.headers()['Authorization']}")


def test_service_root_drops_odata():
    assert service_root("https://rx.example/DrxIntegration/odata/") == "https://rx.example/DrxIntegration"
    assert service_root("https://rx.example/Integration") == "https://rx.example/Integration"


def test_metadata_keys_on_set_names_when_a_type_is_overridden():
    from implkit.sandbox.directum.models.schema import Model
    csdl = Model(overrides={"Company": {"layer": "DirRX", "properties": [["DoubleStatusDirRX", "Edm.String"]]}}).csdl()
    metadata = Metadata.parse(csdl)
    assert metadata.sets["ICompanies"].endswith("Generated.DirRX.ICompanyDto")
    assert "DoubleStatusDirRX" in metadata.properties["ICompanies"]
    assert metadata.properties["ICompanies"][:3] == ["Id", "Name", "Status"]    # inherited first
    assert "TRRC" in metadata.properties["IBanks"] and "TRRC" not in metadata.properties["IPersons"]


def test_every_blueprint_object_is_a_directum_step_in_both_languages():
    from implkit.blueprint import load_blueprint
    from implkit.blueprint.manual import manual_steps
    from implkit.data import blueprints_dir

    blueprint = load_blueprint(blueprints_dir() / "presets" / "retail.yaml")
    for lang in ("ru", "en"):
        steps = manual_steps(blueprint, "directum", lang)
        keys = {s.key for s in steps}
        expected = set(blueprint.addresses()) - {m.address for m in blueprint.manual}
        assert expected <= keys
        assert {f"directum.{k}" for k in ("endpoint", "service_user", "metadata", "rights")} <= keys
        assert all(s.title and s.title.strip() for s in steps)
    ru = {s.key: s.title for s in manual_steps(blueprint, "directum", "ru")}
    assert "DDS" in ru["pipeline.orders"] and "базовое свойство TIN" in ru["field.companies.inn"]
    with pytest.raises(ValueError):
        manual_steps(blueprint, "directum", "de")


def test_audit_list_has_a_directum_column(run_cli):
    table = run_cli("audit", "--list")
    assert table.exit_code == 0 and "Directum" in table.output.splitlines()[0]
    rows = {r["id"]: r for r in json.loads(run_cli("audit", "--list", "--format", "json").output)}
    assert rows["X07"]["directum"]["supported"] and not rows["X07"]["supported"]
    assert not rows["D01"]["directum"]["supported"] and "no deals" in rows["D01"]["directum"]["why_unsupported"]


def test_records_reader_pages_by_id_on_a_drxintegration_root():
    """An installation served as /DrxIntegration, registered with a trailing /odata: every row once,
    a page exactly full ends on the service's 204, and each request carries the Id filter."""
    from implkit.errors import ImplkitError
    from implkit.providers.directum import open_records
    from implkit.sandbox import Sandbox, serve_in_thread
    from implkit.sandbox.directum.models import instance as inst

    with Sandbox() as sandbox:
        created = sandbox.create_directum("drx", service="DrxIntegration", max_entities=5)
        inst.insert(sandbox.store, created["id"], [("Company", {"Name": f"C{i}", "Status": "Active"}, {})
                                                   for i in range(6)])
        with serve_in_thread(sandbox) as root:
            reader = open_records(f"{root}/directum/drx/DrxIntegration/odata",
                                  f"{created['login']}:{created['password']}")
            pages = list(reader.api.read_all("ICompanies", page=3))
            assert [len(p) for p in pages] == [3, 3]
            assert reader.requests_sent() == 3                      # the third answered 204
            rows = [r for page in reader.read("counterparties") for r in page]
            assert [r["name"] for r in rows] == [f"C{i}" for i in range(6)] and rows[0]["type"] == "company"
            reader.close()
            logged = sandbox.store.query("SELECT path, status FROM request_log ORDER BY seq")
            assert all("Id+gt+" in r["path"] or "Id%20gt%20" in r["path"] for r in logged)
            assert [r["status"] for r in logged][:3] == [200, 200, 204]
            wrong = open_records(f"{root}/directum/drx/DrxIntegration", f"{created['login']}:wrong")
            with pytest.raises(ImplkitError) as error:
                list(wrong.read("employees"))
            assert "401" in str(error.value) and "wrong" not in str(error.value)
            wrong.close()
