"""Trail sources: where the log files of a window are, and their bytes.

A source lists only what a job needs. In the CloudTrail layout
(`AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`) folders are
pruned by account, region and delivery day before anything is read. Outside it (exports,
hand-made folders) any file may hold records, whatever its name, and an account in a
name is not trusted (copies get renamed, anonymised logs keep their old names): only the
region and delivery time in a CloudTrail file name prune there. Every prune is counted in
`Selection.pruned`, so that an empty result can say what was left out.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from policygen.cloudtrail.layout import LOG_NAME_RE

DEFAULT_MARGIN = timedelta(hours=1)
_PRUNE_LOCK = threading.Lock()


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
    #: what the listing left out, by reason ("files of account 1234...", ...).
    pruned: Counter[str] = field(default_factory=Counter, compare=False, hash=False)

    def prune(self, reason: str, count: int = 1) -> None:
        """Count files (or folders) left out for `reason`; S3 listings call it from threads."""
        with _PRUNE_LOCK:
            self.pruned[reason] += count

    def wants_region(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def wants_account(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def first_day(self) -> date:
        return self.start.astimezone(UTC).date()

    def last_day(self) -> date:
        return (self.end + self.margin).astimezone(UTC).date()


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


class FileFilter:
    """Which file names a selection wants. In the layout (`layout`) only `.json[.gz]` files
    are logs, and a CloudTrail file name prunes by account; anywhere, it prunes by region
    and delivery time. Prunes are counted in `selection.pruned`.

    Asked about every file listed (millions in a year of an organization's trail), so it
    is built once per listing and compares a name's delivery time as the name writes it
    (`20260105T1005Z`): from the window's first minute to `margin` after its end.
    """

    __slots__ = ("first", "last", "selection")

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        # to the minute, as names write it: a window from 10:00:30 wants the file of 10:00
        first = selection.start.astimezone(UTC)
        last = (selection.end + selection.margin).astimezone(UTC)
        self.first, self.last = f"{first:%Y%m%dT%H%MZ}", f"{last:%Y%m%dT%H%MZ}"

    def __call__(self, name: str, layout: bool = True) -> bool:
        if name.startswith(".") or "CloudTrail-Digest" in name or "CloudTrail-Insight" in name:
            return False
        match = LOG_NAME_RE.search(name)
        if match is None:
            return not layout or name.endswith((".json", ".json.gz"))
        selection = self.selection
        if layout and not selection.wants_account(match["account"]):
            selection.prune(f"files of account {match['account']}")
        elif not selection.wants_region(match["region"]):
            selection.prune("files of other regions")
        elif not self.first <= match["ts"] <= self.last:
            selection.prune("files delivered outside the window")
        else:
            return True
        return False
