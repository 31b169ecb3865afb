"""Fault injection: parsing, determinism under a seed, drops, token expiry."""

from __future__ import annotations

import httpx
import pytest

from implkit.sandbox.faults import FaultSpecError, decide, parse_faults


def test_spec_parses_every_documented_fault():
    spec = parse_faults("5xx=0.1,drop=0.02,latency=50ms,expire_token_after=100,block_after=7")
    assert (spec.server_error, spec.drop, spec.latency_ms, spec.expire_token_after, spec.block_after) == \
        (0.1, 0.02, (50, 50), 100, 7)
    assert parse_faults("latency=10-100ms").latency_ms == (10, 100)
    assert parse_faults(spec.to_text()) == spec


@pytest.mark.parametrize("text, offending", [
    ("5xx=2", "5xx=2"), ("drop=x", "drop=x"), ("latency=fast", "latency=fast"), ("boom=1", "boom"),
    ("expire_token_after=-1", "expire_token_after"), ("drop", "drop"), ("5xx=0.7,drop=0.5", "5xx + drop"),
])
def test_bad_specs_name_the_offending_item(text, offending):
    with pytest.raises(FaultSpecError, match=offending.replace("+", r"\+")):
        parse_faults(text)


def test_decisions_are_a_function_of_seed_and_request_number():
    spec = parse_faults("5xx=0.3,drop=0.1")
    run = [decide(spec, 42, "alpha", n) for n in range(1, 200)]
    assert run == [decide(spec, 42, "alpha", n) for n in range(1, 200)]
    assert run != [decide(spec, 43, "alpha", n) for n in range(1, 200)]
    drops = sum(d.drop for d in run)
    errors = sum(d.server_error is not None for d in run)
    assert 5 <= drops <= 40 and 35 <= errors <= 90


def _statuses(harness, spec: str, seed: int, count: int = 40) -> list:
    harness.sandbox.set_faults("alpha", spec, seed)
    client = harness.client("alpha", harness.sandbox.token("alpha"))
    out = []
    for _ in range(count):
        try:
            out.append(client.get("/account").status_code)
        except httpx.RemoteProtocolError:
            out.append("dropped")
    return out


@pytest.mark.parametrize("transport", ["asgi", "tcp"])
def test_same_seed_same_faults_over_the_wire(make_harness, transport):
    harness = make_harness(transport)
    harness.sandbox.create_account("alpha")
    first = _statuses(harness, "5xx=0.25,drop=0.1", seed=7)
    again = _statuses(harness, "5xx=0.25,drop=0.1", seed=7)       # set_faults restarts the count
    other = _statuses(harness, "5xx=0.25,drop=0.1", seed=8)
    assert first == again
    assert first != other
    assert "dropped" in first and any(s in (500, 502, 503, 504) for s in first) and 200 in first
    log = harness.sandbox.request_log("alpha")
    assert sum(1 for e in log if e["status"] == 0) == first.count("dropped") + again.count("dropped") + \
        other.count("dropped")


def test_server_error_body_is_the_documented_one(make_harness):
    harness = make_harness()
    harness.sandbox.create_account("alpha")
    statuses = _statuses(harness, "5xx=1", seed=1, count=30)
    assert set(statuses) <= {500, 502, 503, 504} and 500 in statuses
    harness.sandbox.set_faults("alpha", "5xx=1", 1)
    client = harness.client("alpha", harness.sandbox.token("alpha"))
    answers = [client.get("/account") for _ in range(30)]
    body = next(a for a in answers if a.status_code == 500).json()
    assert body == {"title": "Internal Server Error", "type": "https://httpstatus.es/500", "status": 500,
                    "detail": "An unknown error occurred."}


def test_expire_token_after_n_requests_forces_a_refresh(make_harness):
    harness = make_harness()
    sandbox = harness.sandbox
    sandbox.create_account("alpha")
    sandbox.set_faults("alpha", "expire_token_after=5", 0)
    info = sandbox.oauth_client("alpha")
    root = harness.client("alpha", api=False)
    form = {"client_id": info["client_id"], "client_secret": info["client_secret"], "redirect_uri": info["redirect_uri"]}
    pair = root.post("/oauth2/access_token", json={**form, "grant_type": "authorization_code",
                                                    "code": info["code"]}).json()          # request 1
    api = harness.client("alpha", pair["access_token"])
    assert [api.get("/account").status_code for _ in range(4)] == [200, 200, 200, 401]  # 2..5: the 5th expires it
    fresh = root.post("/oauth2/access_token", json={**form, "grant_type": "refresh_token",
                                                     "refresh_token": pair["refresh_token"]})  # 6
    assert fresh.status_code == 200
    api = harness.client("alpha", fresh.json()["access_token"])
    assert api.get("/account").status_code == 200


def test_control_api_sets_and_reports_faults(harness):
    harness.sandbox.create_account("alpha")
    control = harness.client()
    answer = control.put("/_sandbox/alpha/faults", json={"spec": "drop=0.5,latency=1ms", "seed": 3})
    assert answer.status_code == 200
    assert answer.json()["spec"] == "drop=0.5,latency=1ms" and answer.json()["seed"] == 3
    bad = control.put("/_sandbox/alpha/faults", json={"spec": "drop=7"})
    assert bad.status_code == 400 and "drop=7" in bad.json()["error"]
    assert control.put("/_sandbox/nobody/faults", json={"spec": ""}).status_code == 404
    assert control.get("/_sandbox/alpha/faults").json()["spec"] == "drop=0.5,latency=1ms"


def test_latency_is_drawn_within_bounds_under_the_seed():
    spec = parse_faults("latency=10-20ms")
    delays = [decide(spec, 5, "alpha", n).latency_ms for n in range(1, 100)]
    assert all(10 <= d <= 20 for d in delays) and len(set(delays)) > 1
    assert delays == [decide(spec, 5, "alpha", n).latency_ms for n in range(1, 100)]
    assert {decide(parse_faults("latency=7ms"), 1, "a", n).latency_ms for n in range(1, 20)} == {7}


def test_a_fault_schedule_replays_from_the_first_request_when_set_again():
    from implkit.sandbox.faults import FaultSchedule, parse_faults

    schedule = FaultSchedule()
    schedule.set(parse_faults("5xx=0.5,drop=0.2"), seed=7)
    first = [schedule.next("acme") for _ in range(20)]
    assert schedule.describe()["requests"] == 20
    schedule.set(parse_faults("5xx=0.5,drop=0.2"), seed=7)
    assert [schedule.next("acme") for _ in range(20)] == first
    assert any(d.drop for d in first) and any(d.server_error for d in first)
    schedule.restart_count()
    assert schedule.describe() == {"spec": parse_faults("5xx=0.5,drop=0.2").to_text(), "seed": 7, "requests": 0}
