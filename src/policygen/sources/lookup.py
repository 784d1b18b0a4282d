"""CloudTrail event history as a source: `cloudtrail-lookup://[region,...]`, read with LookupEvents.

Many accounts have no trail writing to S3; CloudTrail's event history (the last 90 days of
management events, per region) is what they have. This source asks `LookupEvents` for the
window, a week at a time per region, and hands each day to the scanner as one delivery
file (`{"Records":[...]}` of the events' `CloudTrailEvent` JSON), so nothing downstream
knows the difference.

LookupEvents is slow on purpose: two requests a second per account and region, 50 events
a page. Requests are paced (`rate`, per region, shared by every reader in the process),
throttling (`ThrottlingException`) is retried by botocore and then, with a longer
exponential back-off, here; an IAM user's events are asked for by its user name (the one
attribute the API filters on that a principal has). Roles cannot be filtered: the API's
user name of a role's event is the session name, so every event of the window is read.

Older than 90 days nothing can be had: the window is cut to the history, and the cut
(how many days, and from when) is counted in `Selection.pruned`, which the CLI prints.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import ClientError

from policygen.core import aws
from policygen.core.aws import AwsAccess
from policygen.core.time import format_time, now, parse_time
from policygen.sources.base import LogObject, Selection

SCHEME = "cloudtrail-lookup://"
#: How far back the event history goes.
HISTORY = timedelta(days=90)
#: LookupEvents' largest page (MaxResults 1-50).
PAGE_SIZE = 50
#: CloudTrail's limit: two LookupEvents requests a second, per account and region.
DEFAULT_RATE = 2.0
#: Rounds of back-off after botocore's own retries also met throttling.
THROTTLE_ROUNDS = 6
#: First back-off, doubled each round (seconds), and its ceiling.
DEFAULT_BACKOFF = 2.0
MAX_BACKOFF = 30.0
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
#: The part of the window each object stands for: one query (and its pages) each. A week
#: keeps a 90-day window to 13 queries a region (a request costs half a second) while a
#: busy account's week of events still fits in memory.
CHUNK = timedelta(days=7)
#: `Selection.pruned`'s reason for the days the history does not reach.
HISTORY_REASON = "days before CloudTrail event history's 90 days, which start"


class RateLimit:
    """At most `rate` calls a second, spaced evenly, across threads."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Return when the next call may be made."""
        with self._lock:
            moment = self.clock()
            at = max(moment, self._next)
            self._next = at + self.interval
        if at > moment:
            self.sleep(at - moment)


_limits: dict[tuple[AwsAccess, str, float], RateLimit] = {}
_limits_lock = threading.Lock()


def rate_limit(access: AwsAccess, region: str, rate: float) -> RateLimit:
    """The process's pace for one account's (credentials') requests to one region."""
    with _limits_lock:
        return _limits.setdefault((access, region, rate), RateLimit(rate))


def is_lookup_url(location: str) -> bool:
    return location.startswith(SCHEME)


def parse_url(url: str) -> tuple[str, ...]:
    """`cloudtrail-lookup://us-east-1,eu-west-1` -> the regions (none: the default region).

    ValueError says what is wrong.
    """
    if not is_lookup_url(url):
        raise ValueError(f"not an event history URL: {url!r} (expected {SCHEME}[region,...])")
    names = [name.strip() for name in url[len(SCHEME) :].strip("/").split(",") if name.strip()]
    for name in names:
        if not REGION_RE.fullmatch(name):
            raise ValueError(f"not a region in {url!r}: {name!r} (expected e.g. us-east-1)")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class EventHistory:
    """CloudTrail event history of `regions`, read with `access` (a `TrailSource`).

    `username` filters to an IAM user's events (None: every event). `rate` is requests a
    second per region; `backoff` the first wait after throttling outlasted botocore's
    retries.
    """

    regions: tuple[str, ...] = ()
    access: AwsAccess = field(default_factory=AwsAccess)
    username: str | None = None
    rate: float = DEFAULT_RATE
    backoff: float = DEFAULT_BACKOFF

    @classmethod
    def from_url(cls, url: str, access: AwsAccess | None = None, **options: object) -> EventHistory:
        return cls(parse_url(url), access or AwsAccess(), **options)  # type: ignore[arg-type]

    # --- TrailSource -------------------------------------------------------------------

    def describe(self) -> str:
        return self.location()

    def location(self) -> str:
        return SCHEME + ",".join(self.regions)

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        """One object per region and day of the window that the history still holds."""
        earliest = now() - HISTORY
        start = max(selection.start, earliest)
        if selection.start < earliest:
            days = max(1, round((earliest - selection.start) / timedelta(days=1)))
            selection.prune(f"{HISTORY_REASON} {format_time(earliest)}", days)
        for region in self._regions():
            if not selection.wants_region(region):
                selection.prune("regions not asked for")
                continue
            moment = start
            while moment < selection.end:
                until = min(moment + CHUNK, selection.end)
                yield LogObject(f"{SCHEME}{region}/{format_time(moment)}/{format_time(until)}", 0)
                moment = until

    def read(self, obj: LogObject) -> bytes:
        """The events of one object's region and time, as a delivery file."""
        region, start, end = obj.key[len(SCHEME) :].split("/")
        arguments: dict[str, object] = {
            "StartTime": parse_time(start),
            "EndTime": parse_time(end),
            "MaxResults": PAGE_SIZE,
        }
        if self.username:
            arguments["LookupAttributes"] = [
                {"AttributeKey": "Username", "AttributeValue": self.username}
            ]
        events: list[str] = []
        while True:
            page = self._page(region, arguments)
            events.extend(
                e["CloudTrailEvent"] for e in page.get("Events", ()) if "CloudTrailEvent" in e
            )
            token = page.get("NextToken")
            if not token:
                break
            arguments["NextToken"] = token
        return ('{"Records":[' + ",".join(events) + "]}").encode()

    # --- requests ----------------------------------------------------------------------

    def _regions(self) -> tuple[str, ...]:
        if self.regions:
            return self.regions
        region = self.access.region
        if region is None:
            try:
                region = aws.client(self.access, "cloudtrail").meta.region_name
            except aws.aws_errors():  # botocore's NoRegionError
                region = None
        if not region:
            raise ValueError(f"give a region: {SCHEME}us-east-1 (or set AWS_DEFAULT_REGION)")
        return (region,)

    def _page(self, region: str, arguments: dict[str, object]) -> dict:
        """One LookupEvents page, paced, throttling outlasted with exponential back-off."""
        client = aws.client(self.access, "cloudtrail", region)
        what = f"cloudtrail:LookupEvents in {region}"
        pace = rate_limit(self.access, region, self.rate)
        delay, round_ = self.backoff, 0
        while True:
            pace.wait()
            try:
                return client.lookup_events(**arguments)
            except ClientError as exc:
                if aws.error_code(exc) not in THROTTLING_CODES or round_ == THROTTLE_ROUNDS:
                    raise aws.failure(exc, what) from exc
            except aws.aws_errors() as exc:
                raise aws.failure(exc, what) from exc
            time.sleep(delay * (0.5 + random.random() / 2))
            delay, round_ = min(delay * 2, MAX_BACKOFF), round_ + 1


def history_note(pruned: dict[str, int]) -> str | None:
    """The line that says how much of the window the event history could not give."""
    for reason, days in pruned.items():
        if reason.startswith(HISTORY_REASON):
            since = reason.rsplit(" ", 1)[-1]
            return (
                f"CloudTrail event history holds the last 90 days only: events before "
                f"{since} cannot be read ({days} days of the window are not covered)"
            )
    return None


def principal_username(principal_arn: str) -> str | None:
    """The LookupEvents user name that filters to this principal: an IAM user's name."""
    resource = principal_arn.split(":", 5)[-1]
    return resource.rsplit("/", 1)[-1] if resource.startswith("user/") else None
