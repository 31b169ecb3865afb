"""RateLimiter: the schedule it grants under bursts, threads and pauses (fake clock, no wall time)."""

from __future__ import annotations

import threading

import pytest

from implkit.http import RateLimiter
from implkit.http.ratelimit import Limiters, max_in_window


def test_burst_of_requests_is_spaced_at_the_rate(clock):
    limiter = RateLimiter(7, headroom=0, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.acquire()
    times = list(limiter.granted)
    assert len(times) == 50
    assert max_in_window(times, 1.0) == 7  # never 8 in any one-second window
    assert times[-1] - times[0] == pytest.approx(49 / 7)


def test_banked_burst_then_rate(clock):
    limiter = RateLimiter(2, burst=5, headroom=0, clock=clock, sleep=clock.sleep)
    for _ in range(25):
        limiter.acquire()
    times = list(limiter.granted)
    assert times[:5] == [times[0]] * 5  # the bank is spent at once
    assert all(b - a == pytest.approx(0.5) for a, b in zip(times[4:], times[5:]))
    # token-bucket bound: at most burst + rate × t in any window of t seconds
    for window in (1.0, 3.0, 10.0):
        assert max_in_window(times, window) <= 5 + 2 * window


def test_idle_time_refills_the_bucket_but_not_beyond_burst(clock):
    limiter = RateLimiter(1, burst=3, headroom=0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    clock.sleep(100)  # idle a long time
    start = clock()
    for _ in range(5):
        limiter.acquire()
    granted = list(limiter.granted)[3:]
    assert granted[:3] == [start] * 3
    assert granted[3] == pytest.approx(start + 1) and granted[4] == pytest.approx(start + 2)


def test_threads_sharing_a_limiter_never_exceed_the_rate(clock):
    limiter = RateLimiter(7, clock=clock, sleep=clock.sleep)

    def worker():
        for _ in range(20):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = list(limiter.granted)
    assert len(times) == 160
    assert len(set(round(t, 9) for t in times)) == 160  # every slot given once
    assert max_in_window(times, 1.0) <= 7


def test_pause_holds_every_sharer_then_restarts_spaced(clock):
    limiter = RateLimiter(7, burst=7, headroom=0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    start = clock()
    limiter.pause(5)
    for _ in range(3):
        limiter.acquire()
    after = list(limiter.granted)[1:]
    assert after[0] >= start + 5
    assert all(b - a == pytest.approx(1 / 7) for a, b in zip(after, after[1:]))  # no burst right after a 429


def test_two_budgets_take_a_token_from_each(clock):
    per_integration = RateLimiter(7, clock=clock, sleep=clock.sleep)
    per_account = RateLimiter(3, clock=clock, sleep=clock.sleep)
    both = Limiters([per_integration, per_account])
    for _ in range(10):
        both.acquire()
    assert len(per_integration.granted) == len(per_account.granted) == 10
    assert max_in_window(per_account.granted, 1.0) <= 3


@pytest.mark.parametrize("rate, burst, headroom", [(0, 1, 0), (-1, 1, 0), (5, 0, 0), (5, 1, 1.0), (5, 1, -0.1)])
def test_bad_settings_are_refused(rate, burst, headroom):
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, headroom=headroom)


def test_default_headroom_absorbs_arrival_jitter(clock):
    """The server counts arrivals, not sends: jitter of a few ms must not put 8 into one second."""
    import random

    rng = random.Random(1)
    exact = RateLimiter(7, headroom=0, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        exact.acquire()
    jitter = [rng.uniform(0, 0.006) for _ in range(200)]
    exact_arrivals = [t + j for t, j in zip(exact.granted, jitter)]
    assert max_in_window(exact_arrivals, 1.0) == 8  # what drew a 429 from the sandbox

    spaced = RateLimiter(7, clock=clock, sleep=clock.sleep)  # default headroom 5 %
    for _ in range(200):
        spaced.acquire()
    spaced_arrivals = [t + j for t, j in zip(spaced.granted, jitter)]
    assert max_in_window(spaced_arrivals, 1.0) == 7
    gaps = [b - a for a, b in zip(spaced.granted, list(spaced.granted)[1:])]
    assert min(gaps) == pytest.approx(1.05 / 7)


def test_shared_limiter_is_one_budget_per_key():
    a = RateLimiter.shared("amocrm:acme.amocrm.ru", 7)
    assert RateLimiter.shared("amocrm:acme.amocrm.ru", 7) is a
    assert RateLimiter.shared("amocrm:other.amocrm.ru", 7) is not a
    assert RateLimiter.shared("amocrm:acme.amocrm.ru", 3).rate == 3  # a new setting replaces it


class LateClock:
    """A fake clock whose sleeps overshoot now and then, as on a loaded machine."""

    def __init__(self, late_every: int, late_by: float):
        self.now, self.calls = 1000.0, 0
        self.late_every, self.late_by = late_every, late_by

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.calls += 1
        self.now += seconds + (self.late_by if self.calls % self.late_every == 0 else 0.0)


def test_spacing_is_kept_from_the_actual_send_when_a_sleep_overshoots():
    late = LateClock(late_every=3, late_by=0.06)  # every third wake-up is 60 ms late
    limiter = RateLimiter(7, clock=late, sleep=late.sleep)
    for _ in range(100):
        limiter.acquire()
    sent = list(limiter.sent)
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= limiter.interval - 1e-9  # never squeezed after a late predecessor
    assert max_in_window(sent, 1.0) <= 7
    assert sum(1 for x in limiter.lateness if x > 0.05) >= 20  # the overshoots were there


def test_slots_alone_would_have_let_8_into_a_second_after_an_overshoot():
    late = LateClock(late_every=3, late_by=0.06)
    sent = []
    now = 1000.0
    for i in range(100):  # a schedule kept from slots only: slot i = i × interval, sent late sometimes
        slot = now + i * (1.05 / 7)
        sent.append(slot + (0.06 if (i + 1) % late.late_every == 0 else 0.0))
    assert max_in_window(sent, 1.0) == 8  # what the actual-send rule prevents


def test_slow_down_widens_the_spacing_and_recovers(clock):
    limiter = RateLimiter(7, clock=clock, sleep=clock.sleep)
    base = limiter.interval
    limiter.slow_down()
    assert limiter.interval == pytest.approx(base * 1.5)
    limiter.slow_down()
    limiter.slow_down()
    limiter.slow_down()
    assert limiter.interval == pytest.approx(base * 4.0)  # capped
    for _ in range(200):
        limiter.acquire()
    assert limiter.interval == pytest.approx(base)  # calm grants took it back to the configured rate
    assert limiter.slowdowns == 4
