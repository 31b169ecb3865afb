"""Both Bitrix24 limits: the leaky bucket (503) and the operating budget (429), on a frozen sandbox clock.

The client's limiter, HTTP retries and operating pauses sleep by advancing
the sandbox clock, so the tests count requests and refusals, never wall time.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from implkit.http import RateLimiter
from implkit.providers.bitrix24 import open_records
from implkit.sandbox.bitrix24.seed import seed_portal


class Spy(httpx.BaseTransport):
    """Counts answers by status and batch commands the portal refused for a limit."""

    def __init__(self, inner):
        self.inner, self.statuses, self.refused_commands = inner, [], 0

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        self.statuses.append(response.status_code)
        body = response.content.decode("utf-8", "replace")
        self.refused_commands += body.count("OPERATION_TIME_LIMIT") if response.status_code == 200 else 0
        return response


@pytest.fixture
def clock(portal):
    clock = portal.sandbox.clock
    clock.freeze()
    return clock


def provider_on(portal, clock, spy, rate):
    return portal.provider(transport=spy, rate=rate, clock=clock.now, sleep=clock.advance, backoff=0.5)


def test_the_client_bucket_keeps_a_long_run_under_the_portal_limit(portal, clock):
    spy = Spy(portal.transport)
    rate = RateLimiter(2.0, 50, clock=clock.now, sleep=clock.advance)
    provider = provider_on(portal, clock, spy, rate)
    for _ in range(130):  # 50 at once, then 2 a second
        provider.api.call("crm.category.list", {"entityTypeId": 2})
    provider.close()
    assert spy.statuses.count(503) == 0 and len(spy.statuses) == 130
    assert rate.waited > 35  # the 80 requests after the burst waited ~0.5 s each


def test_without_the_bucket_the_portal_refuses_and_the_client_retries(portal, clock):
    spy = Spy(portal.transport)
    provider = provider_on(portal, clock, spy, RateLimiter(1000.0, 1000, clock=clock.now, sleep=clock.advance))
    for _ in range(80):
        provider.api.call("crm.category.list", {"entityTypeId": 2})
    provider.close()
    refused = spy.statuses.count(503)
    assert refused > 0  # the control: the portal's bucket is real
    assert len(spy.statuses) == 80 + refused  # every refused request was sent again, none lost


def _charge(portal, method: str, seconds: float) -> None:
    """Another process of the same webhook already spent `seconds` of `method`'s budget."""
    fingerprint = hashlib.sha256(portal.secret.encode()).hexdigest()[:8]
    budget = portal.runtime().budget
    budget.record(f"webhook:{portal.user}:{fingerprint}", method, portal.sandbox.clock.now(), seconds)


def test_the_export_pauses_before_the_operating_limit_instead_of_being_refused(portal, clock):
    seed_portal(portal.sandbox.store, portal.account_id, deals=6000, seed=3, now=int(clock.now()))
    _charge(portal, "crm.deal.list", 470.0)
    spy = Spy(portal.transport)
    reader = open_records(portal.base, portal.webhook, transport=spy, clock=clock.now, sleep=clock.advance,
                          rate=RateLimiter(2.0, 50, clock=clock.now, sleep=clock.advance))
    started = clock.now()
    rows = [r for page in reader.api.export_chain("crm.deal.list", {"select": ["ID"]}) for r in page]
    assert len(rows) == 6000 and len({r["ID"] for r in rows}) == 6000
    assert spy.refused_commands == 0 and 429 not in spy.statuses
    assert reader.api.budget.pauses >= 1 and clock.now() - started >= 500  # waited for the basket to expire
    assert len(spy.statuses) == 3  # 2,500 rows a request: 6,000 rows in 3


def test_refused_batch_commands_are_waited_out_and_sent_again(portal, clock):
    seed_portal(portal.sandbox.store, portal.account_id, deals=300, seed=3, now=int(clock.now()))
    _charge(portal, "crm.deal.list", 500.0)  # already over: the portal refuses every command
    spy = Spy(portal.transport)
    reader = open_records(portal.base, portal.webhook, transport=spy, clock=clock.now, sleep=clock.advance,
                          rate=RateLimiter(2.0, 50, clock=clock.now, sleep=clock.advance))
    rows = [r for page in reader.api.export_chain("crm.deal.list", {"select": ["ID"]}) for r in page]
    assert len(rows) == 300
    assert spy.refused_commands > 0  # the portal did refuse…
    assert reader.api.budget.pauses >= 1  # …and the client waited instead of failing


def test_a_429_on_a_single_call_is_waited_out(portal, clock):
    _charge(portal, "crm.category.list", 500.0)
    spy = Spy(portal.transport)
    provider = provider_on(portal, clock, spy, RateLimiter(2.0, 50, clock=clock.now, sleep=clock.advance))
    answer = provider.api.call("crm.category.list", {"entityTypeId": 2})
    provider.close()
    assert answer["result"]["categories"][0]["id"] == 0
    assert 429 in spy.statuses and spy.statuses[-1] == 200
    body = json.dumps(answer)
    assert "OPERATION_TIME_LIMIT" not in body
