"""Pagination: fixed 50 rows, start/next/total, start=-1 without counting, the fast export cursor."""

from __future__ import annotations

from b24_helpers import add_deals


def test_offset_pages_with_total_and_next(acme):
    add_deals(acme, 120)
    first = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"], "limit": 500})
    assert len(first["result"]) == 50 and first["total"] == 120 and first["next"] == 50
    second = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"], "start": 50})
    assert second["result"][0]["ID"] == "51" and second["next"] == 100
    last = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"], "start": 100})
    assert len(last["result"]) == 20 and last["total"] == 120 and "next" not in last


def test_start_minus_one_counts_nothing(acme):
    add_deals(acme, 60)
    page = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"], "start": -1})
    assert len(page["result"]) == 50 and page["total"] == 0 and "next" not in page
    items = acme.ok("crm.item.list", {"entityTypeId": 2, "select": ["id"], "start": -1})
    assert len(items["result"]["items"]) == 50 and items["total"] == 0 and "next" not in items


def test_fast_cursor_exports_every_row_once(acme):
    ids = add_deals(acme, 137)
    seen, last = [], 0
    while True:
        page = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"],
                                         "start": -1})["result"]
        seen += [int(r["ID"]) for r in page]
        if len(page) < 50:
            break
        last = int(page[-1]["ID"])
    assert seen == sorted(ids)


def test_descending_order_and_filters(acme):
    add_deals(acme, 10)
    body = acme.ok("crm.deal.list", {"order": {"ID": "DESC"}, "filter": {"@ID": [2, 4, 6], "!ID": 4},
                                     "select": ["ID"]})
    assert [r["ID"] for r in body["result"]] == ["6", "2"] and body["total"] == 2
    body = acme.ok("crm.deal.list", {"filter": {">=OPPORTUNITY": 1008, "%TITLE": "Deal"}, "select": ["ID"]})
    assert [r["ID"] for r in body["result"]] == ["9", "10"]


def test_export_cursor_uses_the_primary_key(sandbox):
    """`>ID` + `ORDER BY ID` + start=-1 must be an index range, not a sort of the table (the docs' point)."""
    from implkit.sandbox.bitrix24 import listing
    from implkit.sandbox.bitrix24.models import ENTITIES, Portal
    portal = Portal(sandbox.store, sandbox.portal_id("acme"), at=0, user_id=1)
    resolve, _ = portal._resolver(ENTITIES[2], camel=False)
    where, args = listing.where_clause({">ID": 10}, resolve, strict=False)
    order = listing.order_clause({"ID": "ASC"}, resolve, strict=False, default="id ASC")
    plan = " ".join(r[3] for r in sandbox.store.query(
        f"EXPLAIN QUERY PLAN SELECT data FROM b24_crm WHERE account_id=? AND entity_type_id=? AND ({where}) "
        f"ORDER BY {order} LIMIT 50", (1, 2, *args)))
    assert "SEARCH" in plan and "TEMP B-TREE" not in plan, plan


def test_id_cursor_with_start_minus_one_sees_deletions(acme, sandbox):
    """The docs' full export (order ID ASC, filter >ID, start=-1, select ID) after deletes: exactly the rows
    the portal still holds, none counted (total 0), whatever page the deleted rows were on."""
    from b24_helpers import NOW
    from implkit.sandbox.bitrix24.seed import seed_portal
    acme.unlimited()
    seed_portal(sandbox.store, sandbox.portal_id("acme"), deals=130, seed=8, now=NOW)
    deleted = [3, 50, 51, 99, 130]
    for deal_id in deleted:
        assert acme.ok("crm.deal.delete", {"id": deal_id})["result"] is True
    seen, last = [], 0
    while True:
        page = acme.ok("crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"],
                                         "start": -1})
        assert page["total"] == 0 and "next" not in page
        seen += [int(r["ID"]) for r in page["result"]]
        if len(page["result"]) < 50:
            break
        last = seen[-1]
    held = sorted(r[0] for r in sandbox.store.query("SELECT id FROM b24_crm WHERE account_id=? AND entity_type_id=2",
                                                    (sandbox.portal_id("acme"),)))
    assert seen == held and len(seen) == 125 and not set(deleted) & set(seen)
