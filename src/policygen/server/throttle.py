"""Per-caller request rate limits: the server's real source of `ThrottlingException`."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from policygen.server.errors import ThrottlingError

#: The access key id a SigV4 `Authorization` header claims (used as is without authentication).
CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")
#: Forget idle callers when this many are tracked.
MAX_CALLERS = 10_000


def caller_key(
    headers: Mapping[str, str], address: str | None, verified_key: str | None = None
) -> str:
    """Who is calling: the verified access key id; without authentication the key id the
    request claims; else its address."""
    if verified_key is not None:
        return f"key:{verified_key}"
    match = CREDENTIAL_RE.search(headers.get("authorization", ""))
    return f"key:{match[1]}" if match else f"addr:{address or '?'}"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per caller: `rate` requests per second, bursts of up to `rate` (>= 1).

    Used from the event loop only, so it needs no lock. `rate` 0 disables it.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, caller: str) -> None:
        """Take one request from the caller's allowance, or raise ThrottlingError."""
        if not self.rate:
            return
        moment = self.clock()
        bucket = self._buckets.get(caller) or self._new_bucket(caller, moment)
        bucket.tokens = min(self.burst, bucket.tokens + (moment - bucket.updated) * self.rate)
        bucket.updated = moment
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise ThrottlingError(
                f"Rate exceeded: at most {self.rate:g} requests per second per caller.", wait
            )
        bucket.tokens -= 1

    def _new_bucket(self, caller: str, moment: float) -> _Bucket:
        if len(self._buckets) >= MAX_CALLERS:
            self._buckets.clear()
        bucket = self._buckets[caller] = _Bucket(self.burst, moment)
        return bucket
