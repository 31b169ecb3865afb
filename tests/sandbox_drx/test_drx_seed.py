"""The Directum seeder: planted defects are what the reference says they are, read back over the API."""

from __future__ import annotations

import json
import re

import pytest

from implkit.sandbox.directum.seed import seed_instance


def _all(drx, set_name: str, **params) -> list[dict]:
    out, last = [], 0
    while True:
        response = drx.get(f"/odata/{set_name}", params={"$filter": f"Id gt {last}", "$orderby": "Id", "$top": "40",
                                                          **params})
        if response.status_code == 204:
            return out
        page = response.json()["value"]
        out += page
        last = page[-1]["Id"]


@pytest.fixture
def seeded(drx):
    truth = seed_instance(drx.sandbox.store, drx.created["id"], companies=30, persons=10, seed=7)
    return drx, truth


def test_same_seed_same_truth(tmp_path):
    from implkit.sandbox import Sandbox
    truths = []
    for i in range(2):
        with Sandbox() as sandbox:
            created = sandbox.create_directum("acme")
            path = tmp_path / f"t{i}.json"
            seed_instance(sandbox.store, created["id"], companies=20, seed=3, ground_truth_path=path)
            truths.append(json.loads(path.read_text(encoding="utf-8")))
            with pytest.raises(ValueError):
                seed_instance(sandbox.store, created["id"], companies=20, seed=3)
    assert truths[0] == truths[1]


def test_duplicate_groups_follow_the_vendor_rules(seeded):
    drx, truth = seeded
    rows = {r["Id"]: r for r in _all(drx, "ICompanies")}
    defects = truth["defects"]
    for a, b in defects["X01"]["groups"]:
        assert (rows[a]["TIN"], rows[a]["TRRC"]) == (rows[b]["TIN"], rows[b]["TRRC"]) and rows[a]["TIN"]
        assert rows[a]["Name"] != rows[b]["Name"]                     # entered another way
    for a, b in defects["X02"]["groups"]:
        assert rows[a]["TIN"] == rows[b]["TIN"] and rows[a]["TRRC"] and not rows[b]["TRRC"]
    for a, b in defects["X03"]["groups"]:
        assert rows[a]["TIN"] == rows[b]["TIN"] and rows[a]["TRRC"] != rows[b]["TRRC"] and rows[b]["TRRC"]
    for a, b in defects["X04"]["groups"]:
        assert not rows[a]["TIN"] and not rows[b]["TIN"]
        assert rows[a]["Name"].lower() == rows[b]["Name"].lower() and rows[a]["Name"] != rows[b]["Name"]
    contacts = {r["Id"]: r for r in _all(drx, "IContacts", **{"$expand": "Company($select=Id)"})}
    for a, b in defects["X05"]["groups"]:
        assert contacts[a]["Name"] == contacts[b]["Name"]
        assert contacts[a]["Company"]["Id"] == contacts[b]["Company"]["Id"]


def test_other_plants_hold_over_the_api(seeded):
    drx, truth = seeded
    d = truth["defects"]
    counterparties = {r["Id"]: r for r in _all(drx, "ICounterparties")}
    for i in d["X07"]["ids"]:
        assert counterparties[i]["TIN"] and not counterparties[i]["Nonresident"]
    for i in d["X08"]["ids"]:
        assert not re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", counterparties[i]["TRRC"])
    for i in d["X09"]["ids"]:
        assert len(counterparties[i]["PSRN"]) in (12, 13)
    for i in d["X12"]["ids"]:
        assert counterparties[i]["@odata.type"].endswith("IPersonDto")
        assert not counterparties[i]["Phones"] and not counterparties[i]["Email"]
    closed = _all(drx, "ICompanies", **{"$select": "Id,Status"})
    closed_ids = {r["Id"] for r in closed if r["Status"] == "Closed"}
    assert set(d["X10"]["ids"]) <= closed_ids
    for i in d["X10"]["ids"]:
        response = drx.get("/odata/IContacts", params={"$filter": f"Company/Id eq {i} and Status eq 'Active'"})
        assert response.status_code == 200
    for i in closed_ids - set(d["X10"]["ids"]):
        response = drx.get("/odata/IContacts", params={"$filter": f"Company/Id eq {i} and Status eq 'Active'"})
        assert response.status_code == 204
    contacts = {r["Id"]: r for r in _all(drx, "IContacts")}
    for i in d["X11"]["ids"]:
        assert not contacts[i]["Phone"] and not contacts[i]["Email"]
    assert sum(1 for c in contacts.values() if not c["Phone"] and not c["Email"]) == len(d["X11"]["ids"])
    assert truth["counts"]["Company"] == len(_all(drx, "ICompanies", **{"$select": "Id"}))


def test_cli_create_seed_and_bad_input(run_cli, tmp_path):
    db, creds, gt = tmp_path / "s.db", tmp_path / "creds", tmp_path / "gt.json"
    result = run_cli("sandbox", "directum", "create", "acme", "--db", db, "--credentials-file", creds)
    assert result.exit_code == 0, result.output
    login, password = creds.read_text().strip().split(":", 1)
    assert password not in result.output and login == "Integration Service"
    assert (creds.stat().st_mode & 0o777) == 0o600
    result = run_cli("sandbox", "directum", "seed", "acme", "--db", db, "--companies", "15", "--ground-truth", gt)
    assert result.exit_code == 0 and "planted: X01 2" in result.output, result.output
    assert json.loads(gt.read_text(encoding="utf-8"))["defects"]["X01"]["ids"]
    again = run_cli("sandbox", "directum", "seed", "acme", "--db", db)
    assert again.exit_code == 3 and "already has counterparties" in again.output
    assert run_cli("sandbox", "directum", "seed", "nope", "--db", db).exit_code == 3
    assert run_cli("sandbox", "directum", "create", "acme", "--db", db, "--credentials-file", creds).exit_code == 3
    assert run_cli("sandbox", "directum", "create", "Bad Name", "--db", db, "--credentials-file", creds).exit_code == 3
    assert run_cli("sandbox", "directum", "seed", "acme", "--db", tmp_path / "none.db").exit_code == 3
