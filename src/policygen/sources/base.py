"""Trail sources: where the log files of a window are, and their bytes.

A source lists only what a job needs. In the CloudTrail layout
(`AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`) folders are
pruned by account, region and delivery day before anything is read; files outside the
layout (exports, hand-made folders) are read whole and filtered by their records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from policygen.cloudtrail.layout import LOG_NAME_RE, parse_delivery

DEFAULT_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which events a job wants: a time window, and optionally regions and accounts.

    `margin` is how long after `end` a file may still be delivered carrying events from
    inside the window: folder dates and file names are delivery times, not event times.
    """

    start: datetime
    end: datetime
    regions: frozenset[str] | None = None
    accounts: frozenset[str] | None = None
    margin: timedelta = DEFAULT_MARGIN

    def wants_region(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def wants_account(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def first_day(self) -> date:
        return self.start.astimezone(UTC).date()

    def last_day(self) -> date:
        return (self.end + self.margin).astimezone(UTC).date()

    def wants_delivery(self, delivered: datetime) -> bool:
        """A file delivered at `delivered` can hold events of the window."""
        return self.start.replace(second=0, microsecond=0) <= delivered <= self.end + self.margin


@dataclass(frozen=True, slots=True)
class LogObject:
    """One log file to read: its location in the source and its size in bytes.

    `path` is set when the file is on local disk, so that scanner worker processes open it
    themselves instead of receiving its bytes from the parent.
    """

    key: str
    size: int
    path: str | None = None


class TrailSource(Protocol):
    """Anything logs can be read from: a local folder, an S3 bucket prefix, ..."""

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        """The log files that may hold events of `selection`, pruned as far as the layout allows."""
        ...

    def read(self, obj: LogObject) -> bytes:
        """The file's bytes as stored (possibly gzip-compressed)."""
        ...

    def describe(self) -> str:
        """Where this source reads from, for messages."""
        ...


Contents = Iterator[tuple[LogObject, "bytes | OSError"]]


class BulkSource(TrailSource, Protocol):
    """A source that reads many objects better together (remote: concurrently, ahead).

    Optional: `iter_contents` below uses it when a source has it, `read` otherwise.
    """

    def iter_contents(self, objects: Iterable[LogObject]) -> Contents:
        """Each object with its bytes, or the OSError that makes it unreadable, in order."""
        ...


def iter_contents(source: TrailSource, objects: Iterable[LogObject]) -> Contents:
    """Read `objects` from `source`, in order: in bulk when the source can, else one by one.

    An OSError is yielded, not raised: the file is unreadable, the scan goes on. Other
    exceptions (a refused or failing remote source) end the scan.
    """
    bulk = getattr(source, "iter_contents", None)
    if bulk is not None:
        yield from bulk(objects)
        return
    for obj in objects:
        try:
            data: bytes | OSError = source.read(obj)
        except OSError as exc:
            data = exc
        yield obj, data


def wants_file(name: str, selection: Selection) -> bool:
    """Whether a file of that name can hold wanted events (layout names are pruned by time)."""
    if not (name.endswith(".json.gz") or name.endswith(".json")):
        return False
    if "CloudTrail-Digest" in name or "CloudTrail-Insight" in name:
        return False
    match = LOG_NAME_RE.search(name)
    if match is None:
        return True
    return (
        selection.wants_account(match["account"])
        and selection.wants_region(match["region"])
        and selection.wants_delivery(parse_delivery(match["ts"]))
    )
