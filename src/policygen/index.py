"""The usage index: what every user and role did, hour by hour, kept in SQLite.

`policygen index --logs PATH` scans the files of a trail (a local folder, or the trail's
bucket and prefix in S3) that it has not seen before (all principals, one pass) and adds
their calls to the index; a job whose files are all indexed is then answered without
reading a log file (in S3: with the listing a scan would make, and no GET).

Rows are calls counted by (principal, event hour, stream, region, CloudTrail call,
outcome), with the first and last event time and the latest delivery time of the files
they came from. A job's window rarely starts and ends on an hour, so:
- hours wholly inside the window are summed;
- in the two edge hours, a row whose first and last event times are both inside (or both
  outside) the window is taken (or dropped) whole;
- an edge hour with a row that straddles the window's edge, or an hour with calls from
  files delivered after the window's end plus the delivery margin (which a scan would not
  read), is scanned again from the logs for that principal, that hour only.
Policies, and counts, then equal a full scan's (see docs/behaviour.md for the limits).

The index covers a job when every file the job's scan would read is indexed, unchanged in
size, and the index knows no other file in that part of the trail.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from policygen import fanout
from policygen.arns import Principal
from policygen.dedupe import Dedupe
from policygen.scanner import DEFAULT_MAX_FILE_BYTES, BatchResult, Scan, ScanQuery, scan
from policygen.sources import LocalFolder, LogObject, Selection, TrailSource, delivery_of
from policygen.timeutil import format_time
from policygen.usage import CallKey, CallStats, Observed, ScanStats, Usage

SCHEMA_VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(3000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
#: Files folded into the index per transaction.
FLUSH_FILES = 1024
#: CloudTrail puts a file in the folder of the day it delivers it, so new files of a trail
#: in S3 are found by listing from a day before the latest delivery already indexed.
RELIST = timedelta(days=1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, root TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS files (
    source INTEGER NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    account TEXT NOT NULL, log_region TEXT NOT NULL, delivered INTEGER,
    bytes INTEGER NOT NULL, records INTEGER NOT NULL, bad INTEGER NOT NULL, skipped TEXT,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_delivery ON files (source, account, delivered);
CREATE TABLE IF NOT EXISTS calls (
    source INTEGER NOT NULL, principal TEXT NOT NULL, hour TEXT NOT NULL,
    account TEXT NOT NULL, log_region TEXT NOT NULL, region TEXT NOT NULL,
    event_source TEXT NOT NULL, event_name TEXT NOT NULL, qualifier TEXT NOT NULL,
    outcome TEXT NOT NULL, data_event INTEGER NOT NULL,
    count INTEGER NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, example TEXT NOT NULL,
    delivered INTEGER,
    resources TEXT,  -- observed resources and passed roles (`usage.Observed`, JSON) or NULL
    PRIMARY KEY (source, principal, hour, account, log_region, region,
                 event_source, event_name, qualifier, outcome, data_event)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent (
    source INTEGER NOT NULL, stream TEXT NOT NULL, delivered INTEGER, event_id TEXT NOT NULL
);
"""

UPSERT_CALL = """
INSERT INTO calls (source, principal, hour, account, log_region, region, event_source,
                   event_name, qualifier, outcome, data_event, count, first, last, example,
                   delivered, resources)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
    count = count + excluded.count,
    example = CASE WHEN excluded.first < first THEN excluded.example ELSE example END,
    first = min(first, excluded.first),
    last = max(last, excluded.last),
    delivered = max(coalesce(delivered, excluded.delivered),
                    coalesce(excluded.delivered, delivered)),
    resources = coalesce(excluded.resources, resources)
"""


class IndexUnusable(Exception):
    """The index file cannot be used (another schema version, not SQLite)."""


@dataclass(slots=True)
class IngestReport:
    """What `policygen index` did."""

    files_listed: int = 0
    files_new: int = 0
    #: the delivery time listing started from (None: the whole trail was listed).
    listed_from: datetime | None = None
    #: indexed files whose size changed since: windows over them are scanned, not indexed.
    files_changed: list[str] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)


@runtime_checkable
class IndexedSource(TrailSource, Protocol):
    """A source the index can keep: it names itself, and its files, the same every time
    (`LocalFolder`, `S3Trail`)."""

    def location(self) -> str:
        """The source's stable name (resolved path, `s3://bucket/prefix`)."""
        ...

    def relative_key(self, obj: LogObject) -> str:
        """The file's name inside the source."""
        ...


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class UsageIndex:
    """One SQLite file holding the usage of every indexed trail folder."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open (`create`: and make) the index at `path`; readers never write to it, so a
        job can read while `policygen index` adds files."""
        self.path = path
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = _connect(path)
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION and not (create and version == 0):
            self.db.close()
            raise IndexUnusable(f"{path}: index schema {version}, expected {SCHEMA_VERSION}")
        if create:
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def existing(cls, path: Path) -> UsageIndex | None:
        """The index at `path` if there is one, opened to read (jobs never create it)."""
        return cls(path, create=False) if path.is_file() else None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> UsageIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def source_id(self, source: IndexedSource, *, create: bool = False) -> int | None:
        """The id of an indexed source (by its location)."""
        key = source.location()
        row = self.db.execute("SELECT id FROM sources WHERE root = ?", (key,)).fetchone()
        if row is None and create:
            return self.db.execute("INSERT INTO sources (root) VALUES (?)", (key,)).lastrowid
        return row[0] if row else None

    # --- ingesting ------------------------------------------------------------------

    def ingest(
        self,
        source: IndexedSource | Path,
        *,
        workers: int | None = None,
        on_file: Callable[[LogObject], None] | None = None,
        on_listed: Callable[[int, int], None] | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        engine: fanout.Engine | None = None,
        full: bool = False,
    ) -> IngestReport:
        """Index the files of `source` (a folder, or any `IndexedSource`) not indexed
        before; `on_listed(listed, new)` is told what will be read before reading starts.
        `engine` None reads them in `workers` processes here.

        A folder is walked whole (that is cheap, and older logs are often copied in
        later); a remote trail is listed from `RELIST` before its latest indexed delivery,
        unless `full` (older logs were copied into it)."""
        if isinstance(source, Path):
            source = LocalFolder(source)
        if isinstance(source, LocalFolder) and not source.root.is_dir():
            what = "not a folder" if source.root.exists() else "no such folder"
            raise FileNotFoundError(f"{what}: {source.root}")
        source_id = self.source_id(source, create=True)
        assert source_id is not None
        report = IngestReport()
        if not full and not isinstance(source, LocalFolder):
            report.listed_from = self._relist_from(source_id)
        start = EPOCH if report.listed_from is None else report.listed_from
        known = dict(
            self.db.execute(
                "SELECT key, size FROM files WHERE source = ? AND (delivered >= ?"
                " OR delivered IS NULL)",
                (source_id, int(start.timestamp())),
            )
        )
        new: list[LogObject] = []
        for obj in source.list_objects(Selection(start, FAR, margin=timedelta(0))):
            report.files_listed += 1
            size = known.get(source.relative_key(obj))
            if size is None:
                new.append(obj)
            elif size != obj.size:
                report.files_changed.append(obj.key)
        report.files_new = len(new)
        if on_listed is not None:
            on_listed(report.files_listed, report.files_new)
        query = ScanQuery(None, format_time(EPOCH), format_time(FAR), None, max_file_bytes, True)
        writer = _Writer(self, source_id, source, query)
        fanout.run(
            source, new, query, writer.add_batch, workers=workers, on_file=on_file, engine=engine
        )
        writer.flush()
        report.stats = writer.stats
        return report

    def _relist_from(self, source_id: int) -> datetime | None:
        """`RELIST` before the latest delivery indexed from a source, if any."""
        row = self.db.execute("SELECT MAX(delivered) FROM files WHERE source = ?", (source_id,))
        latest = row.fetchone()[0]
        return None if latest is None else datetime.fromtimestamp(latest, UTC) - RELIST

    # --- answering ------------------------------------------------------------------

    def usage(
        self,
        principal: Principal,
        source: IndexedSource,
        selection: Selection,
        listed: list[LogObject] | None = None,
    ) -> Usage | None:
        """The principal's usage in `selection`, or None when the index does not cover it.

        `listed`: the files of `source` for `selection`, when the caller has listed them."""
        source_id = self.source_id(source)
        if source_id is None:
            return None
        if listed is None:
            listed = list(source.list_objects(selection))
        files = self._covered(source_id, source, listed, principal.account, selection)
        if files is None:
            return None
        rows = self._rows(source_id, principal, selection)
        usage = Usage(principal.arn, stats=_index_stats(files))
        for hour in _fold_rows(rows, selection, usage):
            _rescan(source, selection, principal, hour, rows, usage)
        return usage

    def _covered(
        self,
        source_id: int,
        source: IndexedSource,
        listed: list[LogObject],
        account: str,
        selection: Selection,
    ) -> list[tuple[Any, ...]] | None:
        """The index rows of exactly the listed files, or None if they differ."""
        low = int(selection.start.replace(second=0, microsecond=0).timestamp())
        high = int((selection.end + selection.margin).timestamp())
        rows = self.db.execute(
            "SELECT key, size, log_region, bytes, records, bad, skipped FROM files"
            " WHERE source = ? AND ((account = ? AND delivered BETWEEN ? AND ?)"
            " OR delivered IS NULL)",
            (source_id, account, low, high),
        ).fetchall()
        indexed = {
            row[0]: row
            for row in rows
            if not row[2] or selection.regions is None or row[2] in selection.regions
        }
        if len(indexed) != len(listed):
            return None
        for obj in listed:
            row = indexed.get(source.relative_key(obj))
            if row is None or row[1] != obj.size:
                return None
        return list(indexed.values())

    def _rows(self, source_id: int, principal: Principal, selection: Selection) -> list[_Row]:
        """The principal's index rows in the window's hours, regions and account."""
        sql = (
            "SELECT hour, region, event_source, event_name, qualifier, outcome, data_event,"
            " count, first, last, example, delivered, log_region, resources FROM calls"
            " WHERE source = ? AND principal = ? AND hour BETWEEN ? AND ?"
            " AND account IN (?, '')"
        )
        params: list[Any] = [
            source_id,
            principal.arn,
            _hour(selection.start),
            _hour(selection.end),
            principal.account,
        ]
        found = [_Row(*row) for row in self.db.execute(sql, params)]
        regions = selection.regions
        if regions is None:
            return found
        return [
            r
            for r in found
            if r.region in regions and (not r.log_region or r.log_region in regions)
        ]


@dataclass(frozen=True, slots=True)
class _Row:
    hour: str
    region: str
    event_source: str
    event_name: str
    qualifier: str
    outcome: str
    data_event: int
    count: int
    first: str
    last: str
    example: str
    delivered: int | None
    log_region: str
    resources: str | None

    def call(self) -> CallKey:
        return CallKey(
            self.event_source,
            self.event_name,
            self.qualifier,
            self.outcome,  # type: ignore[arg-type]
            bool(self.data_event),
        )


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _index_stats(files: list[tuple[Any, ...]]) -> ScanStats:
    """Scan statistics as a scan of these files would report them."""
    stats = ScanStats(files_listed=len(files), files_from_index=len(files))
    for key, _size, _region, size, records, bad, skipped in files:
        if skipped:
            stats.skip(key, skipped)
            continue
        stats.files_read += 1
        stats.bytes_read += size
        stats.records_read += records
        stats.records_bad += bad
    return stats


def _fold_rows(rows: list[_Row], selection: Selection, usage: Usage) -> list[str]:
    """Add the rows the window holds whole to `usage`; the hours that must be rescanned."""
    start, end = format_time(selection.start)[:19], format_time(selection.end)[:19]
    limit = int((selection.end + selection.margin).timestamp())
    rescan: set[str] = set()
    taken: list[_Row] = []
    for row in rows:
        hour_start = datetime.strptime(row.hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        inside = hour_start >= selection.start and hour_start + HOUR - timedelta(seconds=1) <= (
            selection.end
        )
        if row.delivered is not None and row.delivered > limit:
            rescan.add(row.hour)
        elif inside or (row.first[:19] >= start and row.last[:19] <= end):
            taken.append(row)
        elif not (row.last[:19] < start or row.first[:19] > end):
            rescan.add(row.hour)
    for row in taken:
        if row.hour in rescan:
            continue
        observed = Observed.from_dict(json.loads(row.resources)) if row.resources else None
        stats = CallStats(row.count, row.first, row.last, row.example)
        _add(usage, row.call(), stats, observed)
    return sorted(rescan)


def _add(usage: Usage, call: CallKey, stats: CallStats, observed: Observed | None) -> None:
    mine = usage.calls.get(call)
    if mine is None:
        usage.calls[call] = stats
    else:
        mine.merge(stats)
    usage.stats.records_matched += stats.count
    if observed is not None:
        usage.observed.setdefault(call, Observed()).merge(observed)


def _rescan(
    source: IndexedSource,
    selection: Selection,
    principal: Principal,
    hour: str,
    rows: list[_Row],
    usage: Usage,
) -> None:
    """Scan one hour of the window from the logs, for one principal, into `usage`.

    Only files that can hold the principal's calls of that hour are read: delivered from
    the hour on, up to the latest delivery the index saw for them (and never past what the
    job's own scan would read).
    """
    hour_start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    start = max(selection.start, hour_start)
    end = min(selection.end, hour_start + HOUR - timedelta(seconds=1))
    limit = selection.end + selection.margin
    delivered = [r.delivered for r in rows if r.hour == hour and r.delivered is not None]
    if delivered:
        limit = min(limit, datetime.fromtimestamp(max(delivered), UTC))
    part = replace(selection, start=start, end=end, margin=max(limit - end, timedelta(0)))
    found = scan(source, part, principal, workers=1)[principal.arn]
    for call, stats in found.calls.items():
        _add(usage, call, stats, found.observed.get(call))
    usage.stats.files_rescanned += found.stats.files_read
    usage.stats.duplicates += found.stats.duplicates


class _Writer:
    """Folds ingest batches into the index, a transaction every `FLUSH_FILES` files."""

    def __init__(
        self, index: UsageIndex, source_id: int, source: IndexedSource, query: ScanQuery
    ) -> None:
        self.index, self.source_id, self.source = index, source_id, source
        self.dedupe = Dedupe()
        self.dedupe.restore(self._recent())
        self.scan = Scan(query, self.dedupe)
        self.stats = ScanStats()
        self.files: list[tuple[Any, ...]] = []

    def _recent(self) -> Iterator[tuple[str, int | None, str]]:
        yield from self.index.db.execute(
            "SELECT stream, delivered, event_id FROM recent WHERE source = ? ORDER BY rowid",
            (self.source_id,),
        )

    def add_batch(self, objs: list[LogObject], batch: BatchResult) -> None:
        for obj, result in zip(objs, batch.files, strict=True):
            delivery = delivery_of(obj.key)
            account, _, region = delivery.stream.partition("/")
            self.files.append(
                (
                    self.source_id,
                    self.source.relative_key(obj),
                    obj.size,
                    account,
                    region,
                    delivery.delivered,
                    result.bytes,
                    result.records,
                    result.bad,
                    result.skipped,
                )
            )
        self.scan.add_batch(objs, batch)
        if len(self.files) >= FLUSH_FILES:
            self.flush()

    def flush(self) -> None:
        """Write what was folded so far, the files it came from and the dedupe state."""
        db, source_id = self.index.db, self.source_id
        calls = list(self._call_rows())
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(UPSERT_CALL, calls)
            db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.files)
            db.execute("DELETE FROM recent WHERE source = ?", (source_id,))
            db.executemany(
                "INSERT INTO recent VALUES (?, ?, ?, ?)",
                ((source_id, *row) for row in self.dedupe.state()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stats.merge(self.scan.stats)
        self.scan.stats = ScanStats()
        self.scan.calls.clear()
        self.scan.delivered.clear()
        self.scan.observed.clear()
        self.files.clear()

    def _resources(self, key: tuple[Any, ...], row: tuple[Any, ...]) -> str | None:
        """The row's observed resources, merged with what the index already holds."""
        observed = self.scan.observed.get(key)
        if observed is None:
            return None
        before = self.index.db.execute(
            "SELECT resources FROM calls WHERE source = ? AND principal = ? AND hour = ?"
            " AND account = ? AND log_region = ? AND region = ? AND event_source = ?"
            " AND event_name = ? AND qualifier = ? AND outcome = ? AND data_event = ?",
            row[:11],
        ).fetchone()
        if before and before[0]:
            merged = Observed.from_dict(json.loads(before[0]))
            merged.merge(observed)
            observed = merged
        return json.dumps(observed.to_dict(), separators=(",", ":"))

    def _call_rows(self) -> Iterable[tuple[Any, ...]]:
        for key, stats in self.scan.calls.items():
            arn, call, stream, hour, region = key
            account, _, log_region = stream.partition("/")
            row = (
                self.source_id,
                arn,
                hour,
                account,
                log_region,
                region,
                call.event_source,
                call.event_name,
                call.qualifier,
                call.outcome,
                int(call.data_event),
                stats.count,
                stats.first,
                stats.last,
                stats.example_event_id,
                self.scan.delivered.get(key),
            )
            yield (*row, self._resources(key, row))
