"""Answering from index rows: which rows a window holds whole, and the hours scanned again."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from policygen.core.arns import Principal
from policygen.core.time import format_time
from policygen.iam.facts import RULES
from policygen.index.schema import HOUR
from policygen.scan.scanner import scan
from policygen.scan.usage import CallKey, CallStats, Observed, ScanStats, Usage
from policygen.sources.base import LogObject, Selection, TrailSource


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


@dataclass(frozen=True, slots=True)
class Row:
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


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def index_stats(files: list[tuple[Any, ...]]) -> ScanStats:
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


def fold_rows(rows: list[Row], selection: Selection, usage: Usage) -> list[str]:
    """Add the rows the window holds whole to `usage`; the hours that must be rescanned."""
    start, end = format_time(selection.start)[:19], format_time(selection.end)[:19]
    limit = int((selection.end + selection.margin).timestamp())
    rescan: set[str] = set()
    taken: list[Row] = []
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
        usage.add_call(row.call(), stats, observed)
        usage.stats.records_matched += stats.count
    return sorted(rescan)


def rescan(
    source: IndexedSource,
    selection: Selection,
    principal: Principal,
    hour: str,
    rows: list[Row],
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
    found = scan(source, part, principal, workers=1, rules=RULES)[principal.arn]
    for call, stats in found.calls.items():
        usage.add_call(call, stats, found.observed.get(call))
        usage.stats.records_matched += stats.count
    usage.stats.files_rescanned += found.stats.files_read
    usage.stats.duplicates += found.stats.duplicates
