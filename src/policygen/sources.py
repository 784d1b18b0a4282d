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

import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Protocol

#: A delivery file's name (cloudtrail-format.md §1.2).
LOG_NAME_RE = re.compile(
    r"(?P<account>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<ts>\d{8}T\d{4}Z)_[A-Za-z0-9]+"
    r"\.json(?:\.gz)?$"
)
ACCOUNT_RE = re.compile(r"\d{12}")
ORG_RE = re.compile(r"o-[a-z0-9]{10,32}")
SKIPPED_FOLDERS = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})
DEFAULT_MARGIN = timedelta(hours=1)


_PRUNE_LOCK = threading.Lock()
#: `<account>/CloudTrail/` somewhere on a path: the layout, whose account folder can be trusted.
LAYOUT_ACCOUNT_RE = re.compile(r"(?:^|[/\\])(\d{12})[/\\]CloudTrail[/\\]")


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


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a file sits in the CloudTrail layout: its stream and when it was delivered.

    A stream is one account's logs in one region. Files outside the layout have neither
    (stream `""`, delivered `None`).
    """

    stream: str
    delivered: int | None  # epoch seconds


def account_of(key: str) -> str | None:
    """The account whose logs a file is, from its `<account>/CloudTrail/` folder (the
    layout, as the folder walk prunes by); None outside the layout, where names are not
    trusted (a flat folder of renamed or anonymised files)."""
    found = LAYOUT_ACCOUNT_RE.findall(key)
    return found[-1] if found else None


@lru_cache(maxsize=1 << 16)
def delivery_of(key: str) -> Delivery:
    """The stream and delivery time of a file, from its CloudTrail file name (cached: a
    scan asks for each file when batching, reading and folding)."""
    match = LOG_NAME_RE.search(key)
    if match is None:
        return Delivery("", None)
    moment = _parse_delivery(match["ts"])
    return Delivery(f"{match['account']}/{match['region']}", int(moment.timestamp()))


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


def _parse_delivery(stamp: str) -> datetime:
    """`20260105T1005Z` (checked by `LOG_NAME_RE`) as a UTC datetime, without strptime's cost."""
    return datetime(
        int(stamp[0:4]),
        int(stamp[4:6]),
        int(stamp[6:8]),
        int(stamp[9:11]),
        int(stamp[11:13]),
        tzinfo=UTC,
    )


@dataclass(slots=True)
class _Walk:
    """Where a folder sits in the CloudTrail layout, as far as the walk has seen it."""

    in_cloudtrail: bool = False
    region: str | None = None
    ymd: tuple[int, ...] = ()
    #: inside `<account>/`, a folder holding `CloudTrail/`: the layout.
    account: str | None = None


def wants_file(name: str, selection: Selection, layout: bool = True) -> bool:
    """Whether a file of that name can hold wanted events. In the layout (`layout`) only
    `.json[.gz]` files are logs, and a CloudTrail file name prunes by account; anywhere,
    it prunes by region and delivery time. Prunes are counted in `selection.pruned`."""
    if name.startswith(".") or "CloudTrail-Digest" in name or "CloudTrail-Insight" in name:
        return False
    match = LOG_NAME_RE.search(name)
    if match is None:
        return not layout or name.endswith((".json", ".json.gz"))
    if layout and not selection.wants_account(match["account"]):
        selection.prune(f"files of account {match['account']}")
    elif not selection.wants_region(match["region"]):
        selection.prune("files of other regions")
    elif not selection.wants_delivery(_parse_delivery(match["ts"])):
        selection.prune("files delivered outside the window")
    else:
        return True
    return False


def _wants_date_folder(ymd: tuple[int, ...], selection: Selection) -> bool:
    """Prune `YYYY`, `YYYY/MM` and `YYYY/MM/DD` folders to the window's delivery days."""
    first, last = selection.first_day(), selection.last_day()
    lo = (first.year, first.month, first.day)[: len(ymd)]
    hi = (last.year, last.month, last.day)[: len(ymd)]
    return lo <= ymd <= hi


def _child_state(state: _Walk, path: str, selection: Selection) -> _Walk | None:
    """The walk state inside the folder at `path`, or None to prune the folder (counted)."""
    name = os.path.basename(path)
    if name in SKIPPED_FOLDERS:
        return None
    if not state.in_cloudtrail:
        if ACCOUNT_RE.fullmatch(name) and os.path.isdir(os.path.join(path, "CloudTrail")):
            if not selection.wants_account(name):
                selection.prune(f"folders of account {name}")
                return None
            return _Walk(account=name)
        if name == "CloudTrail":
            return _Walk(in_cloudtrail=True, account=state.account)
        return _Walk()
    if state.region is None:
        if selection.wants_region(name):
            return _Walk(True, name, account=state.account)
        selection.prune("region folders of other regions")
        return None
    if len(state.ymd) < 3 and name.isdigit():
        ymd = (*state.ymd, int(name))
        if _wants_date_folder(ymd, selection):
            return _Walk(True, state.region, ymd, state.account)
        selection.prune("day folders outside the window")
        return None
    return state


def _root_state(root: str) -> _Walk:
    """Where a folder given to read sits in the layout: `AWSLogs/<account>` or its
    `CloudTrail` folder are the layout too."""
    name, parent = os.path.basename(root), os.path.basename(os.path.dirname(root))
    if name == "CloudTrail" and ACCOUNT_RE.fullmatch(parent):
        return _Walk(in_cloudtrail=True, account=parent)
    if ACCOUNT_RE.fullmatch(name) and os.path.isdir(os.path.join(root, "CloudTrail")):
        return _Walk(account=name)
    return _Walk()


@dataclass(frozen=True, slots=True)
class LocalFolder:
    """Log files under a local folder, in the CloudTrail S3 layout or any other."""

    root: Path
    follow_symlinks: bool = field(default=False)

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        if self.root.is_file():
            yield LogObject(str(self.root), self.root.stat().st_size, str(self.root))
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such folder: {self.root}")
        root = os.path.abspath(self.root)
        yield from self._walk(str(self.root), _root_state(root), selection)

    def _walk(self, folder: str, state: _Walk, selection: Selection) -> Iterator[LogObject]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=self.follow_symlinks):
                child = _child_state(state, entry.path, selection)
                if child is not None:
                    yield from self._walk(entry.path, child, selection)
            elif entry.is_file() and wants_file(entry.name, selection, state.account is not None):
                yield LogObject(entry.path, entry.stat().st_size, entry.path)

    def read(self, obj: LogObject) -> bytes:
        with open(obj.key, "rb") as handle:
            return handle.read()

    def describe(self) -> str:
        return self.location()

    def location(self) -> str:
        """The folder's resolved path, however it was named: the usage index's name for it."""
        return str(self.root.resolve())

    def relative_key(self, obj: LogObject) -> str:
        """The object's path inside the folder (how the usage index names files)."""
        return Path(obj.key).relative_to(self.root).as_posix()
