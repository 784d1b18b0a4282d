"""What a principal did, as the scanner found it: calls counted by kind, plus scan statistics.

This is the hand-over point between scanning and mapping. It holds CloudTrail facts only
(event sources and names, outcomes), never IAM actions, so that one scan (or the usage
index) can be mapped and rendered in every mode without reading the logs again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from policygen.cloudtrail.params import common_prefix

Outcome = Literal["ok", "denied", "error"]

#: errorCode values that mean IAM (or a resource policy) refused the call.
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "Client.UnauthorizedOperation",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthorizationErrorException",
        "NotAuthorized",
        "Forbidden",
        "ForbiddenException",
        "403",
    }
)


def outcome_of(error_code: str | None) -> Outcome:
    """Classify a record's `errorCode`: refused by IAM, failed otherwise, or succeeded.

    Only authorization failures count as denied; throttling, not-found and EC2 dry runs
    show the caller was allowed to try, so they are plain use (`error`).
    """
    if not error_code:
        return "ok"
    return "denied" if error_code in DENIED_CODES else "error"


class CallKey(NamedTuple):
    """One kind of call: the CloudTrail facts the mapping needs, nothing more.

    `qualifier` carries the few request-parameter facts that change which IAM action a
    call needs (an S3 `versionId`, a PartiQL statement verb); it is empty for most calls.
    """

    event_source: str
    event_name: str
    qualifier: str = ""
    outcome: Outcome = "ok"
    data_event: bool = False


@dataclass(slots=True)
class CallStats:
    """How often a kind of call happened, when first and last, and one example event."""

    count: int = 0
    first: str = ""
    last: str = ""
    example_event_id: str = ""

    def add(self, event_time: str, event_id: str, count: int = 1) -> None:
        """Count one (or `count`) occurrences at `event_time` (ISO 8601 `Z` strings compare)."""
        self.count += count
        if not self.first or event_time < self.first:
            self.first = event_time
            self.example_event_id = event_id or self.example_event_id
        if event_time > self.last:
            self.last = event_time

    def merge(self, other: CallStats) -> None:
        """Fold in the stats of the same call found elsewhere (another file or worker)."""
        if not other.count:
            return
        if not self.first or (other.first and other.first < self.first):
            self.first = other.first
            self.example_event_id = other.example_event_id or self.example_event_id
        self.last = max(self.last, other.last)
        self.count += other.count


@dataclass(slots=True)
class ScanStats:
    """What a scan read and skipped; shown to the user and used for `isComplete`."""

    files_listed: int = 0
    files_read: int = 0
    files_skipped: int = 0
    bytes_read: int = 0
    records_read: int = 0
    records_matched: int = 0
    records_bad: int = 0
    duplicates: int = 0
    #: files whose calls came from the usage index, and files read again for its edges.
    files_from_index: int = 0
    files_rescanned: int = 0
    #: file path (or key) -> reason, for files that could not be read.
    skipped: dict[str, str] = field(default_factory=dict)
    #: why matched-looking records were ignored (`AwsServiceEvent`, `outside window`, ...).
    ignored: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ScanStats) -> None:
        """Add another partial scan's counters to these."""
        self.files_listed += other.files_listed
        self.files_read += other.files_read
        self.files_skipped += other.files_skipped
        self.bytes_read += other.bytes_read
        self.records_read += other.records_read
        self.records_matched += other.records_matched
        self.records_bad += other.records_bad
        self.duplicates += other.duplicates
        self.files_from_index += other.files_from_index
        self.files_rescanned += other.files_rescanned
        self.skipped.update(other.skipped)
        self.ignored.update(other.ignored)

    def skip(self, path: str, reason: str) -> None:
        """Record a file that could not be read; the scan goes on without it."""
        self.files_skipped += 1
        self.skipped[path] = reason


#: ARNs (and passed roles) kept per kind of call; beyond it only their common prefix is kept.
MAX_OBSERVED = 100


def join_prefix(a: str | None, b: str | None) -> str | None:
    """The common prefix of two overflow prefixes, where None means "nothing overflowed"."""
    if a is None or b is None:
        return b if a is None else a
    return common_prefix([a, b])


def _bounded_add(kept: set[str], new: Iterable[str], overflow: str | None) -> str | None:
    """Add `new` to `kept` up to `MAX_OBSERVED`; returns the common prefix of what did not
    fit (joined with the previous `overflow`), so a wildcard can still cover everything."""
    for value in new:
        if value in kept:
            continue
        if len(kept) < MAX_OBSERVED:
            kept.add(value)
        elif overflow is None or not value.startswith(overflow):
            overflow = join_prefix(overflow, value)
    return overflow


@dataclass(slots=True)
class Observed:
    """Resource facts seen in the calls of one kind: CloudTrail facts, no IAM resource types.

    `arns` are the resources the calls named (from `resources[]`, `requestParameters`,
    `responseElements`); `unresolved` counts calls that named none, so a renderer knows
    the list is partial. `passed` holds the roles (or EC2 instance profiles) the calls
    passed to a service, by service principal; `pass_calls` says when. Both sets are
    bounded: `arn_overflow`/`pass_overflow` are the common prefix of the values that did
    not fit (None while nothing overflowed).
    """

    calls: int = 0
    unresolved: int = 0
    arns: set[str] = field(default_factory=set)
    arn_overflow: str | None = None
    passed: dict[str, set[str]] = field(default_factory=dict)
    pass_overflow: dict[str, str] = field(default_factory=dict)
    pass_calls: CallStats = field(default_factory=CallStats)

    def add(
        self,
        arns: Collection[str],
        passed: Collection[tuple[str, str]],
        event_time: str,
        event_id: str,
    ) -> None:
        """Record one call's facts."""
        self.calls += 1
        if not arns:
            self.unresolved += 1
        elif not self.arns.issuperset(arns):
            self.arn_overflow = _bounded_add(self.arns, arns, self.arn_overflow)
        if passed:
            for service, role in passed:
                self._add_passed(service, [role])
            self.pass_calls.add(event_time, event_id)

    def _add_passed(self, service: str, roles: Iterable[str]) -> None:
        kept = self.passed.setdefault(service, set())
        overflow = _bounded_add(kept, roles, self.pass_overflow.get(service))
        if overflow is not None:
            self.pass_overflow[service] = overflow

    def merge(self, other: Observed) -> None:
        """Fold in the facts of the same kind of call found elsewhere."""
        self.calls += other.calls
        self.unresolved += other.unresolved
        self.arn_overflow = join_prefix(
            _bounded_add(self.arns, sorted(other.arns), self.arn_overflow), other.arn_overflow
        )
        for service, roles in other.passed.items():
            self._add_passed(service, sorted(roles))
        for service, prefix in other.pass_overflow.items():
            joined = join_prefix(self.pass_overflow.get(service), prefix)
            if joined is not None:
                self.pass_overflow[service] = joined
        self.pass_calls.merge(other.pass_calls)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (sorted lists), for the usage index."""
        stats = self.pass_calls
        return {
            "calls": self.calls,
            "unresolved": self.unresolved,
            "arns": sorted(self.arns),
            "arn_overflow": self.arn_overflow,
            "passed": {service: sorted(roles) for service, roles in sorted(self.passed.items())},
            "pass_overflow": dict(sorted(self.pass_overflow.items())),
            "pass_calls": [stats.count, stats.first, stats.last, stats.example_event_id],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observed:
        return cls(
            data["calls"],
            data["unresolved"],
            set(data["arns"]),
            data["arn_overflow"],
            {service: set(roles) for service, roles in data["passed"].items()},
            dict(data["pass_overflow"]),
            CallStats(*data["pass_calls"]),
        )


@dataclass(slots=True)
class Usage:
    """Everything one principal did in the window, keyed by kind of call."""

    principal_arn: str
    calls: dict[CallKey, CallStats] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)
    #: resource facts per kind of call, for the kinds that can have any (`policygen.iam.facts`).
    observed: dict[CallKey, Observed] = field(default_factory=dict)

    def record(self, key: CallKey, event_time: str, event_id: str) -> None:
        """Count one call of kind `key`."""
        stats = self.calls.get(key)
        if stats is None:
            stats = self.calls[key] = CallStats()
        stats.add(event_time, event_id)

    def observe(
        self,
        key: CallKey,
        arns: Collection[str],
        passed: Collection[tuple[str, str]],
        event_time: str,
        event_id: str,
    ) -> None:
        """Record the resource facts of one call of kind `key`."""
        observed = self.observed.get(key)
        if observed is None:
            observed = self.observed[key] = Observed()
        observed.add(arns, passed, event_time, event_id)

    def add_call(self, key: CallKey, stats: CallStats, observed: Observed | None = None) -> None:
        """Fold in one kind of call counted elsewhere (a copy: `stats` is not kept)."""
        mine = self.calls.get(key)
        if mine is None:
            self.calls[key] = CallStats(
                stats.count, stats.first, stats.last, stats.example_event_id
            )
        else:
            mine.merge(stats)
        if observed is not None:
            self.observed.setdefault(key, Observed()).merge(observed)

    def merge(self, other: Usage) -> None:
        """Fold in another partial result for the same principal."""
        for key, stats in other.calls.items():
            self.add_call(key, stats, other.observed.get(key))
        for key in other.observed.keys() - other.calls.keys():
            self.observed.setdefault(key, Observed()).merge(other.observed[key])
        self.stats.merge(other.stats)
