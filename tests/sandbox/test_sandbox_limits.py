"""Rate limits, the block, and the documented size limits."""

from __future__ import annotations

import pytest

TOO_MANY = {"title": "Too Many Requests", "type": "https://httpstatus.es/429", "status": 429,
            "detail": "You have sent too many requests in a given amount of time. Please try again later.",
            "retry_after": 300}


@pytest.mark.parametrize("transport", ["asgi", "tcp"])
def test_burst_over_the_integration_rate_gets_the_documented_429(make_harness, transport):
    harness = make_harness(transport, integration_rps=7, account_rps=50)
    harness.sandbox.create_account("alpha")
    harness.sandbox.clock.freeze()        # every request in the same instant: exact counts
    client = harness.client("alpha", harness.sandbox.token("alpha"))
    statuses = [client.get("/account").status_code for _ in range(10)]
    assert statuses == [200] * 7 + [429] * 3
    refused = client.get("/account")
    assert refused.json() == TOO_MANY
    assert refused.headers["content-type"] == "application/problem+json"
    harness.sandbox.clock.advance(1.0)    # the window slides
    assert client.get("/account").status_code == 200


def test_account_rate_is_shared_by_integrations(make_harness):
    harness = make_harness(integration_rps=7, account_rps=10)
    harness.sandbox.create_account("alpha")
    harness.sandbox.clock.freeze()
    first = harness.client("alpha", harness.sandbox.token("alpha"))
    second = harness.client("alpha", harness.sandbox.token("alpha"))   # another long-lived token: another integration
    assert [first.get("/account").status_code for _ in range(7)] == [200] * 7
    assert [second.get("/account").status_code for _ in range(5)] == [200] * 3 + [429] * 2


def test_repeated_429_blocks_the_account_until_reset(make_harness):
    harness = make_harness(integration_rps=2, account_rps=50, block_after=5)
    sandbox = harness.sandbox
    sandbox.create_account("alpha")
    sandbox.create_account("beta")
    sandbox.clock.freeze()
    client = harness.client("alpha", sandbox.token("alpha"))
    statuses = [client.get("/account").status_code for _ in range(8)]
    assert statuses == [200, 200, 429, 429, 429, 429, 429, 403]
    sandbox.clock.advance(3600)
    blocked = client.get("/account")
    assert blocked.status_code == 403 and blocked.headers["content-type"].startswith("text/html")
    assert harness.client("beta", sandbox.token("beta")).get("/account").status_code == 200   # only alpha
    control = harness.client()
    assert control.get("/_sandbox/alpha/faults").json()["blocked"] is True
    assert control.post("/_sandbox/alpha/reset").status_code == 200
    assert client.get("/account").status_code == 200


def test_more_than_250_items_in_one_write_is_422(alpha):
    answer = alpha.post("/leads", json=[{"name": f"l{i}"} for i in range(251)])
    assert answer.status_code == 422
    assert answer.json() == {"title": "Unprocessable Entity", "type": "https://httpstatus.es/422", "status": 422,
                             "detail": "Limit 250 per page"}
    assert alpha.get("/leads").status_code == 204          # nothing half-written
    assert alpha.post("/leads", json=[{"name": f"l{i}"} for i in range(250)]).status_code == 200


def test_list_pages_end_without_next(alpha):
    alpha.post("/contacts", json=[{"name": f"c{i}"} for i in range(250)])
    alpha.post("/contacts", json=[{"name": f"d{i}"} for i in range(10)])
    first = alpha.get("/contacts", params={"limit": 250})
    assert len(first.json()["_embedded"]["contacts"]) == 250
    assert first.json()["_links"]["next"]["href"].endswith("page=2&limit=250")
    second = alpha.get("/contacts", params={"limit": 250, "page": 2}).json()
    assert len(second["_embedded"]["contacts"]) == 10
    assert "next" not in second["_links"]
    assert {"first", "prev"} <= set(second["_links"])
    assert alpha.get("/contacts", params={"limit": 250, "page": 3}).status_code == 204
    assert len(alpha.get("/contacts").json()["_embedded"]["contacts"]) == 50    # default page size


def test_bad_page_parameters_are_400(alpha):
    for params in ({"limit": "abc"}, {"page": "0"}, {"limit": "-5"}):
        answer = alpha.get("/leads", params=params)
        assert answer.status_code == 400
        assert answer.json()["validation-errors"][0]["errors"][0]["path"] in ("limit", "page")


def test_custom_fields_come_50_a_page_whatever_limit_says(alpha):
    alpha.post("/leads/custom_fields", json=[{"type": "text", "name": f"f{i}"} for i in range(120)])
    page = alpha.get("/leads/custom_fields", params={"limit": 250}).json()
    assert len(page["_embedded"]["custom_fields"]) == 50
    assert (page["_total_items"], page["_page"], page["_page_count"]) == (120, 1, 3)
    assert {"next", "last"} <= set(page["_links"])
    last = alpha.get("/leads/custom_fields", params={"page": 3}).json()
    assert len(last["_embedded"]["custom_fields"]) == 20 and "next" not in last["_links"]


def test_events_page_is_at_most_100(alpha):
    alpha.post("/leads", json=[{"name": f"l{i}"} for i in range(150)])
    events = alpha.get("/events", params={"limit": 100}).json()
    assert len(events["_embedded"]["events"]) == 100
    assert events["_links"]["next"]["href"].endswith("limit=100")


def test_users_post_takes_at_most_ten(alpha):
    users = [{"name": f"user{i}", "email": f"u{i}@example.test", "password": "Secret1x"} for i in range(11)]
    answer = alpha.post("/users", json=users)
    assert answer.status_code == 422 and answer.json()["detail"] == "Limit 10 per page"
    assert alpha.post("/users", json=users[:10]).status_code == 200
    assert alpha.get("/users").json()["_total_items"] == 11     # the admin plus ten


def test_fifty_pipelines_and_a_hundred_statuses_at_most(alpha):
    pipelines = [{"name": f"p{i}", "sort": i, "is_main": False, "is_unsorted_on": False} for i in range(49)]
    assert alpha.post("/leads/pipelines", json=pipelines).status_code == 200
    extra = alpha.post("/leads/pipelines", json=[{"name": "p50", "sort": 50, "is_main": False,
                                                  "is_unsorted_on": False}])
    assert extra.status_code == 422
    pipeline = alpha.get("/leads/pipelines").json()["_embedded"]["pipelines"][0]
    have = len(pipeline["_embedded"]["statuses"])           # 3 system + 4 ordinary
    fill = [{"name": f"s{i}", "sort": 100 + i} for i in range(100 - have)]
    assert alpha.post(f"/leads/pipelines/{pipeline['id']}/statuses", json=fill).status_code == 200
    one_more = alpha.post(f"/leads/pipelines/{pipeline['id']}/statuses", json=[{"name": "x", "sort": 9999}])
    assert one_more.status_code == 422


def test_a_limit_above_the_maximum_gives_the_default_page_and_no_next(alpha):
    """Live accounts (Krukov/amocrm_api#76, amocrm-api-php#210): the limit is ignored, 50 come back, no `next`."""
    alpha.post("/leads", json=[{"name": f"l{i}"} for i in range(120)])
    within = alpha.get("/leads", params={"limit": 250}).json()
    assert len(within["_embedded"]["leads"]) == 120 and "next" not in within["_links"]
    for path, limit in (("/leads", 251), ("/leads", 500), ("/events", 101), ("/events", 250)):
        page = alpha.get(path, params={"limit": limit}).json()
        assert len(next(iter(page["_embedded"].values()))) == 50, (path, limit)
        assert "next" not in page["_links"], (path, limit)
    paged = alpha.get("/events", params={"limit": 100}).json()
    assert len(paged["_embedded"]["events"]) == 100 and "next" in paged["_links"]
