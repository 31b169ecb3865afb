"""HttpClient: retries per error kind, Retry-After, no blind write retry, 401 refresh, errors, stats."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from implkit.errors import ApiError, RuntimeFailure
from implkit.http import (
    AccountBlocked,
    HttpError,
    NotFound,
    RateLimited,
    RateLimiter,
    TransportError,
    Unauthorized,
    WriteOutcomeUnknown,
    endpoint_template,
)

OK = httpx.Response(200, json={"id": 1})
PROBLEM_500 = httpx.Response(500, json={"title": "Internal Server Error", "status": 500,
                                        "detail": "An unknown error occurred."})
TOO_MANY = httpx.Response(429, json={"title": "Too Many Requests", "status": 429})


# ---- reads are retried ---------------------------------------------------------------------------

def test_get_retries_5xx_then_succeeds(make_client, script, clock):
    s = script(PROBLEM_500, httpx.Response(502), OK)
    client = make_client(s)
    assert client.get("/api/v4/account") == {"id": 1}
    assert len(s.requests) == 3
    assert client.stats.total == 3 and client.stats.retries == 2
    # exponential backoff with equal jitter: attempt n waits in [b·2^(n-1)/2, b·2^(n-1)]
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5 and 0.5 <= clock.sleeps[1] <= 1.0


def test_get_gives_up_after_max_retries(make_client, script, clock):
    s = script(PROBLEM_500)
    client = make_client(s, max_retries=3)
    with pytest.raises(TransportError) as err:
        client.get("/api/v4/leads")
    assert len(s.requests) == 4  # the first try + 3 retries
    assert err.value.attempts == 4 and err.value.status == 500
    assert "An unknown error occurred" in str(err.value)
    assert err.value.exit_code == 1


@pytest.mark.parametrize("exc", [
    httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
])
def test_get_retries_network_failures(make_client, script, exc):
    s = script(exc, exc, OK)
    client = make_client(s)
    assert client.get("/api/v4/account") == {"id": 1}
    assert len(s.requests) == 3
    assert client.stats.by_status[None] == 2


def test_backoff_is_capped(make_client, script, clock):
    s = script(httpx.ConnectError("refused"))
    client = make_client(s, max_retries=8, backoff=1.0, max_backoff=4.0)
    with pytest.raises(TransportError):
        client.get("/x")
    assert len(clock.sleeps) == 8
    assert max(clock.sleeps) <= 4.0
    assert clock.sleeps[-1] >= 2.0  # capped ceiling 4, equal jitter keeps at least half


# ---- 429 and Retry-After ---------------------------------------------------------------------------

def test_retry_after_header_is_honoured(make_client, script, clock):
    s = script(httpx.Response(429, headers={"Retry-After": "7"}), OK)
    client = make_client(s)
    assert client.get("/api/v4/leads") == {"id": 1}
    assert clock.sleeps == [7.0]


def test_amocrm_body_retry_after_is_honoured(make_client, script, clock):
    s = script(httpx.Response(429, json={"title": "Too Many Requests", "status": 429, "retry_after": 3}), OK)
    client = make_client(s)
    client.get("/api/v4/leads")
    assert clock.sleeps == [3.0]


def test_retry_after_http_date(make_client, script, clock):
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    s = script(httpx.Response(429, headers={"Retry-After": date}), OK)
    client = make_client(s, clock=lambda: now)
    client.get("/api/v4/leads")
    assert clock.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_retry_after_too_long_raises_instead_of_sleeping(make_client, script, clock):
    s = script(httpx.Response(429, json={"title": "Too Many Requests", "status": 429, "retry_after": 300}))
    client = make_client(s, max_wait=60)
    with pytest.raises(RateLimited) as err:
        client.get("/api/v4/leads")
    # three quick retries (seconds), then the server's 300 s is more than this client may wait
    assert len(s.requests) == 4 and len(clock.sleeps) == 3 and sum(clock.sleeps) <= 7
    assert err.value.retry_after == 300
    assert "300" in str(err.value)


def test_one_429_with_the_bodys_300_costs_about_a_second(make_client, script, clock):
    limiter = RateLimiter(7, clock=clock, sleep=clock.sleep)
    s = script(httpx.Response(429, json={"title": "Too Many Requests", "status": 429, "retry_after": 300}), OK)
    client = make_client(s, rate=limiter)
    start = clock()
    assert client.get("/api/v4/leads") == {"id": 1}
    assert len(s.requests) == 2
    assert clock() - start <= 1.5  # not the 300 s the body names
    assert limiter.slowdowns == 1 and limiter.interval > 1 / 7 * 1.05  # and the limiter asks for less


def test_a_server_that_keeps_refusing_is_given_its_own_wait_then_given_up(make_client, script, clock):
    refused = httpx.Response(429, json={"title": "Too Many Requests", "status": 429, "retry_after": 60})
    s = script(refused)
    client = make_client(s, max_retries=10)
    with pytest.raises(RateLimited):
        client.get("/api/v4/leads")
    assert len(s.requests) == 5  # 3 quick retries, then one after the server's own 60 s, then stop
    assert clock.sleeps[-1] == 60.0 and sum(clock.sleeps[:-1]) <= 7


BLOCK_PAGE = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
              "<center><h1>403 Forbidden</h1></center>\r\n</body>\r\n</html>\r\n")


def test_403_after_429s_is_the_block_and_stops_the_client(make_client, script, clock):
    s = script(TOO_MANY, TOO_MANY, httpx.Response(403, text=BLOCK_PAGE, headers={"Content-Type": "text/html"}),
               OK)
    client = make_client(s)
    with pytest.raises(AccountBlocked) as err:
        client.get("/api/v4/leads")
    assert "Stopped" in str(err.value) and err.value.refusals == 2 and err.value.status == 403
    assert len(s.requests) == 3
    with pytest.raises(AccountBlocked):
        client.get("/api/v4/contacts")  # nothing more is sent: each request would deepen the block
    assert len(s.requests) == 3


def test_403_for_missing_rights_after_a_429_is_not_the_block(make_client, script, clock):
    forbidden = httpx.Response(403, json={"title": "Forbidden", "status": 403, "detail": "Access denied"})
    s = script(TOO_MANY, forbidden, OK)
    client = make_client(s)
    with pytest.raises(HttpError) as err:
        client.get("/api/v4/roles")
    assert not isinstance(err.value, AccountBlocked) and "Access denied" in str(err.value)
    assert client.get("/api/v4/leads") == {"id": 1}


def test_403_page_without_a_429_is_an_ordinary_error(make_client, script):
    s = script(httpx.Response(403, text=BLOCK_PAGE), OK)
    client = make_client(s)
    with pytest.raises(HttpError) as err:
        client.get("/api/v4/leads")
    assert not isinstance(err.value, AccountBlocked)


def test_429_exhausted_raises_rate_limited(make_client, script):
    s = script(TOO_MANY)
    client = make_client(s, max_retries=2)
    with pytest.raises(RateLimited) as err:
        client.get("/api/v4/leads")
    assert len(s.requests) == 3 and err.value.status == 429


def test_retry_after_pauses_the_shared_limiter(make_client, script, clock):
    limiter = RateLimiter(7, clock=clock, sleep=clock.sleep)
    s = script(httpx.Response(429, headers={"Retry-After": "5"}), OK)
    client = make_client(s, rate=limiter)
    start = clock()
    client.get("/api/v4/leads")
    # the retry was granted only after the server's 5 s, and the wait was not doubled
    assert limiter.granted[-1] >= start + 5
    assert clock() - start == pytest.approx(5.0, abs=0.2)


# ---- writes are never blindly repeated -------------------------------------------------------------

@pytest.mark.parametrize("method", ["post", "patch"])
@pytest.mark.parametrize("failure", [
    PROBLEM_500, httpx.Response(504), httpx.ReadTimeout("read timed out"),
    httpx.RemoteProtocolError("Server disconnected"), httpx.WriteTimeout("write timed out"),
])
def test_write_with_unknown_outcome_is_not_retried(make_client, script, method, failure):
    s = script(failure, httpx.Response(200, json={"_embedded": {"leads": [{"id": 9}]}}))
    client = make_client(s)
    with pytest.raises(WriteOutcomeUnknown) as err:
        getattr(client, method)("/api/v4/leads", json=[{"name": "x"}])
    assert len(s.requests) == 1  # sent once, never repeated
    assert err.value.exit_code == 1
    assert "re-read" in str(err.value)


@pytest.mark.parametrize("refusal", [TOO_MANY, httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")])
def test_write_refused_before_processing_is_retried(make_client, script, refusal):
    s = script(refusal, httpx.Response(200, json={"_embedded": {"leads": [{"id": 9}]}}))
    client = make_client(s)
    result = client.post("/api/v4/leads", json=[{"name": "x"}])
    assert result["_embedded"]["leads"][0]["id"] == 9
    assert len(s.requests) == 2
    assert client.stats.writes == 2


def test_post_marked_idempotent_is_retried_like_a_read(make_client, script):
    s = script(httpx.Response(503), OK)
    client = make_client(s)
    assert client.post("/rest/crm.deal.list", json={"start": 0}, idempotent=True) == {"id": 1}
    assert len(s.requests) == 2


def test_custom_refusal_predicate_retries_bitrix_query_limit(make_client, script):
    limit = httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    s = script(limit, OK)
    client = make_client(s, is_refused=lambda r: r.status_code == 503 and b"QUERY_LIMIT_EXCEEDED" in r.content)
    assert client.post("/crm.deal.add", json={"fields": {}}) == {"id": 1}
    assert len(s.requests) == 2


def test_delete_retried_after_lost_answer_treats_404_as_done(make_client, script):
    s = script(httpx.ReadTimeout("lost"), httpx.Response(404, json={"title": "Not Found", "status": 404}))
    client = make_client(s)
    assert client.delete("/api/v4/leads/pipelines/5") is None
    assert len(s.requests) == 2


def test_delete_404_on_first_try_is_not_found(make_client, script):
    s = script(httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "Pipeline not found"}))
    with pytest.raises(NotFound, match="Pipeline not found"):
        make_client(s).delete("/api/v4/leads/pipelines/5")


# ---- error answers -------------------------------------------------------------------------------

def test_validation_error_carries_problem_detail(make_client, script):
    body = {"title": "Bad Request", "type": "https://httpstatus.es/400", "status": 400,
            "detail": "Request validation failed",
            "validation-errors": [{"request_id": "0", "errors": [
                {"code": "NotSupportedChoice", "path": "custom_fields_values.0.field_id",
                 "detail": "The value you selected is not a valid choice."}]}]}
    s = script(httpx.Response(400, json=body, headers={"Content-Type": "application/problem+json"}))
    client = make_client(s)
    with pytest.raises(HttpError) as err:
        client.post("/api/v4/leads", json=[{}])
    assert isinstance(err.value, ApiError)
    assert err.value.status == 400 and err.value.method == "POST"
    assert err.value.url == "https://acme.amocrm.ru/api/v4/leads"
    assert err.value.validation_errors[0]["errors"][0]["code"] == "NotSupportedChoice"
    assert str(err.value) == "POST https://acme.amocrm.ru/api/v4/leads → HTTP 400: Request validation failed"
    assert len(s.requests) == 1


def test_html_403_block_page_is_summarised(make_client, script):
    s = script(httpx.Response(403, text="<html><head><title>403 Forbidden</title></head><body>nginx</body></html>"))
    with pytest.raises(HttpError) as err:
        make_client(s).get("/api/v4/leads")
    assert "HTML page: 403 Forbidden" in str(err.value)
    assert len(s.requests) == 1


def test_401_with_long_lived_token_is_not_retried(make_client, script):
    s = script(httpx.Response(401, json={"title": "Unauthorized", "status": 401, "detail": "Token expired"}))
    with pytest.raises(Unauthorized) as err:
        make_client(s).get("/api/v4/account")
    assert len(s.requests) == 1
    assert "re-authorize" in str(err.value)


def test_204_and_empty_body_give_none(make_client, script):
    s = script(httpx.Response(204))
    client = make_client(s)
    assert client.get("/api/v4/sources") is None
    reply = client.request("GET", "/api/v4/sources")
    assert reply.status == 204 and reply.data is None


# ---- accounting ----------------------------------------------------------------------------------

def test_stats_count_per_method_and_path_template(make_client, script):
    events = []
    s = script(PROBLEM_500, OK)
    client = make_client(s, on_request=events.append)
    client.get("/api/v4/leads/pipelines/12/statuses")
    s.steps = [OK]
    client.get("/api/v4/leads/pipelines/13/statuses")
    client.patch("/api/v4/leads/pipelines/13", json={"name": "x"})
    assert client.stats.by_endpoint == {"GET /api/v4/leads/pipelines/{id}/statuses": 3,
                                        "PATCH /api/v4/leads/pipelines/{id}": 1}
    assert client.stats.total == 4 and client.stats.writes == 1 and client.stats.retries == 1
    assert [(e.method, e.status, e.attempt) for e in events] == [
        ("GET", 500, 1), ("GET", 200, 2), ("GET", 200, 1), ("PATCH", 200, 1)]
    snap = client.stats.snapshot()
    assert snap["total"] == 4 and snap["by_status"] == {"200": 3, "500": 1}


def test_endpoint_template():
    assert endpoint_template("/api/v4/leads/pipelines/123/statuses/45") == "/api/v4/leads/pipelines/{id}/statuses/{id}"
    assert endpoint_template("/api/v4/leads?page=2") == "/api/v4/leads"


def test_limiter_spaces_client_requests(make_client, script, clock):
    limiter = RateLimiter(7, headroom=0, clock=clock, sleep=clock.sleep)
    client = make_client(script(OK), rate=limiter)
    for _ in range(15):
        client.get("/api/v4/account")
    times = list(limiter.granted)
    assert len(times) == 15
    assert all(b - a == pytest.approx(1 / 7) for a, b in zip(times, times[1:]))
    assert client.stats.waited == pytest.approx(14 / 7)


def test_errors_are_runtime_failures_for_the_cli(make_client, script):
    with pytest.raises(RuntimeFailure):
        make_client(script(httpx.ConnectError("refused")), max_retries=0).get("/x")


def test_absolute_url_into_the_account_is_allowed_elsewhere_refused(make_client, script):
    s = script(OK)
    client = make_client(s)
    assert client.get("https://acme.amocrm.ru/api/v4/account") == {"id": 1}
    with pytest.raises(ApiError, match="refusing to send"):
        client.get("https://evil.example/api/v4/account")
    assert len(s.requests) == 1


def test_redirect_is_not_followed_with_the_token(make_client, script):
    s = script(httpx.Response(301, headers={"Location": "https://new-acme.amocrm.ru/api/v4/account?access_token=zz1"}))
    with pytest.raises(HttpError) as err:
        make_client(s).get("/api/v4/account")
    assert len(s.requests) == 1 and err.value.status == 301
    assert "new-acme.amocrm.ru" in str(err.value) and "check the tenant URL" in str(err.value)
    assert "zz1" not in str(err.value)
