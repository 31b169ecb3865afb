"""Both limiters, per portal: the leaky bucket (503) and the per-(credential, method) operating budget (429)."""

from __future__ import annotations

from implkit.sandbox.bitrix24 import operations
from implkit.sandbox.bitrix24.models import BASE_COST, COUNT_COST, ROW_COST
from implkit.sandbox.bitrix24.seed import seed_portal

from b24_helpers import TCP_TOO, fixture

QUERY_LIMIT = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
TIME_LIMIT = {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."}


@TCP_TOO
def test_bucket_of_fifty_then_503_then_drains_two_a_second(acme, sandbox):
    statuses = [acme.call("user.current").status_code for _ in range(51)]
    assert statuses[:50] == [200] * 50
    refused = acme.call("user.current")
    assert statuses[50] == 503 and refused.status_code == 503 and refused.json() == QUERY_LIMIT
    assert refused.headers["content-type"].startswith("application/json")
    sandbox.clock.advance(1.0)
    assert [acme.call("user.current").status_code for _ in range(3)] == [200, 200, 503]


def test_portals_have_separate_buckets_and_enterprise_is_larger(acme, other, sandbox):
    for _ in range(50):
        acme.call("user.current")
    assert acme.call("user.current").status_code == 503
    assert other.call("user.current").status_code == 200
    operations.set_plan(sandbox.bitrix24, "other", enterprise=True)
    statuses = [other.call("user.current").status_code for _ in range(249)]
    assert statuses == [200] * 249                              # 1 earlier + 249 = a bucket of 250
    assert other.call("user.current").status_code == 503
    sandbox.clock.advance(1.0)
    assert [other.call("user.current").status_code for _ in range(6)] == [200] * 5 + [503]


def test_observed_limit_bodies_are_matched_exactly():
    assert fixture("observed/error_QUERY_LIMIT_EXCEEDED.response.json") == QUERY_LIMIT
    assert fixture("observed/error_OPERATION_TIME_LIMIT.response.json") == TIME_LIMIT


def _seeded(sandbox, deals: int) -> None:
    seed_portal(sandbox.store, sandbox.portal_id("acme"), deals=deals, seed=3, now=sandbox.clock.now())


def test_operating_grows_with_counted_rows_not_with_start_minus_one(acme, sandbox):
    _seeded(sandbox, 400)
    acme.unlimited()

    def operating(method: str, body: dict) -> float:
        return acme.ok(method, body)["time"]["operating"]

    counted = [operating("crm.deal.list", {"select": ["ID"], "start": 0}) for _ in range(3)]
    steps = [b - a for a, b in zip([0.0] + counted, counted)]
    expected = BASE_COST + 50 * ROW_COST + 400 * COUNT_COST
    assert all(abs(step - expected) < 1e-9 for step in steps)
    # the item dialect is another method: its own budget, and start=-1 charges no count
    uncounted = [operating("crm.item.list", {"entityTypeId": 2, "select": ["id"], "start": -1}) for _ in range(3)]
    steps = [b - a for a, b in zip([0.0] + uncounted, uncounted)]
    assert all(abs(step - (BASE_COST + 50 * ROW_COST)) < 1e-9 for step in steps)
    # a filter that matches fewer rows counts fewer
    narrow = acme.ok("crm.contact.list", {"filter": {"HAS_PHONE": "N", "HAS_EMAIL": "N"}, "start": 0})
    assert narrow["time"]["operating"] == BASE_COST + len(narrow["result"]) * ROW_COST + narrow["total"] * COUNT_COST


def test_budget_blocks_the_method_for_the_credential_until_baskets_expire(acme, harness, sandbox):
    acme.unlimited()
    runtime = sandbox.bitrix24.runtime("acme")
    acme.ok("crm.deal.list")
    key = next(k for k, m in runtime.budget._baskets if m == "crm.deal.list")
    start = sandbox.clock.now()
    runtime.budget.record(key, "crm.deal.list", start, 480 - BASE_COST - 0.001)   # as if 10 minutes of paging
    crossing = acme.call("crm.deal.list")
    assert crossing.status_code == 200                              # the call that crosses still completes
    assert crossing.json()["time"]["operating"] > 480
    assert crossing.json()["time"]["operating_reset_at"] == int(start) + 600
    blocked = acme.call("crm.deal.list")
    assert blocked.status_code == 429 and blocked.json() == TIME_LIMIT
    assert acme.call("crm.deal.get", {"id": 1}).status_code == 400  # another method still runs (Not found)
    other_hook = harness.portal("acme")                            # another webhook: its own budget
    assert other_hook.call("crm.deal.list").status_code == 200
    inside = acme.ok("batch", {"cmd": {"x": "crm.deal.list", "y": "user.current"}})["result"]
    assert inside["result_error"] == {"x": TIME_LIMIT} and list(inside["result"]) == ["y"]
    sandbox.clock.advance(599)
    assert acme.call("crm.deal.list").status_code == 429
    sandbox.clock.advance(1)
    assert acme.call("crm.deal.list").status_code == 200


def test_offset_export_hits_429_where_the_cursor_does_not(acme, sandbox):
    """The cost model makes the documented advice matter: counting every page exhausts the budget."""
    acme.unlimited()
    runtime = sandbox.bitrix24.runtime("acme")
    _seeded(sandbox, 200)
    acme.ok("crm.deal.list", {"start": -1})
    key = next(k for k, m in runtime.budget._baskets if m == "crm.deal.list")
    # pretend the portal holds 2.4 M rows: the docs' 49.9 s count per page
    runtime.budget.record(key, "crm.deal.list", sandbox.clock.now(), 0)
    pages_until_refused = 0
    while acme.call("crm.deal.list", {"start": 0}).status_code == 200:
        runtime.budget.record(key, "crm.deal.list", sandbox.clock.now(), 2_387_743 * COUNT_COST)
        pages_until_refused += 1
        sandbox.clock.advance(0.5)
    assert pages_until_refused == 10           # 480 s / 49.9 s
    assert acme.call("crm.item.list", {"entityTypeId": 2, "start": -1}).status_code == 200


def test_faults_are_injected_deterministically(acme, sandbox):
    operations.set_faults(sandbox.bitrix24, "acme", "5xx=0.5", seed=11)
    first = [acme.call("user.current").status_code for _ in range(12)]
    operations.set_faults(sandbox.bitrix24, "acme", "5xx=0.5", seed=11)
    sandbox.clock.advance(30)
    again = [acme.call("user.current").status_code for _ in range(12)]
    assert first == again and 200 in first and any(s >= 500 for s in first)
    failed = next(i for i, s in enumerate(first) if s >= 500)
    operations.set_faults(sandbox.bitrix24, "acme", "5xx=0.5", seed=11)
    sandbox.clock.advance(30)
    responses = [acme.call("user.current") for _ in range(failed + 1)]
    assert responses[failed].headers["content-type"].startswith("application/json")
    assert set(responses[failed].json()) == {"error", "error_description"}


@TCP_TOO
def test_dropped_connection_fault(acme, sandbox):
    import httpx
    import pytest
    operations.set_faults(sandbox.bitrix24, "acme", "drop=1", seed=1)
    with pytest.raises(httpx.RemoteProtocolError):
        acme.call("user.current")
    operations.set_faults(sandbox.bitrix24, "acme", None)
    assert acme.call("user.current").status_code == 200
    log = operations.request_log(sandbox.bitrix24, "acme")
    assert [entry["status"] for entry in log][-2:] == [0, 200]


def test_token_expiry_fault_makes_the_client_refresh(harness, sandbox):
    http = harness.http()
    app = sandbox.portal_oauth("acme")
    operations.set_faults(sandbox.bitrix24, "acme", "expire_token_after=3", seed=0)
    answers = [http.post(app["client_endpoint"] + "user.current", json={"auth": app["access_token"]})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 401]
    assert answers[2].json()["error"] == "expired_token"
