"""The per-caller token bucket behind ThrottlingException (`server.throttle`), on a clock
the test moves: bursts, refills, the wait it asks for, and who counts as one caller."""

from __future__ import annotations

import pytest

from policygen.server import throttle
from policygen.server.errors import ThrottlingError
from policygen.server.throttle import RateLimiter, caller_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(limiter: RateLimiter, caller: str) -> ThrottlingError:
    with pytest.raises(ThrottlingError) as raised:
        limiter.check(caller)
    return raised.value


def test_a_burst_of_rate_requests_then_one_per_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    limiter.check("key:A")
    limiter.check("key:A")
    error = refused(limiter, "key:A")
    assert error.message == "Rate exceeded: at most 2 requests per second per caller."
    assert error.members["retryAfterSeconds"] == 1  # half a second, rounded up
    limiter.check("key:B")  # another caller has its own bucket
    clock.now += 0.5  # one token back
    limiter.check("key:A")
    refused(limiter, "key:A")
    clock.now += 60  # a long pause refills only up to the burst
    limiter.check("key:A")
    limiter.check("key:A")
    refused(limiter, "key:A")


def test_slow_rates_ask_for_a_longer_wait() -> None:
    limiter = RateLimiter(0.001, clock=Clock())  # one request per 1,000 s, burst of one
    limiter.check("key:A")
    error = refused(limiter, "key:A")
    assert error.members["retryAfterSeconds"] == 1000
    assert error.message == "Rate exceeded: at most 0.001 requests per second per caller."


def test_rate_zero_never_refuses() -> None:
    limiter = RateLimiter(0, clock=Clock())
    for _ in range(100):
        limiter.check("key:A")


def test_too_many_callers_are_forgotten_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_CALLERS", 3)
    limiter = RateLimiter(1, clock=Clock())
    for caller in ("key:A", "key:B", "key:C"):
        limiter.check(caller)
    refused(limiter, "key:A")
    limiter.check("key:D")  # the fourth caller: the three idle buckets are dropped
    limiter.check("key:A")  # so A starts again with a full bucket


def test_who_the_caller_is() -> None:
    claimed = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDCLAIMED/20260105/us-east-1/"
        "access-analyzer/aws4_request, SignedHeaders=host, Signature=00"
    }
    assert caller_key(claimed, "192.0.2.1", "AKIDVERIFIED") == "key:AKIDVERIFIED"
    assert caller_key(claimed, "192.0.2.1") == "key:AKIDCLAIMED"  # no authentication
    assert caller_key({"authorization": "Bearer x"}, "192.0.2.1") == "addr:192.0.2.1"
    assert caller_key({}, None) == "addr:?"
