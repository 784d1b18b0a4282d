"""`UsageIndex`: ingesting a trail's new files, and a principal's usage from the rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policygen.core.arns import Principal
from policygen.core.time import format_time
from policygen.iam.facts import RULES
from policygen.index.rows import IndexedSource, Row, fold_rows, hour_of, index_stats, rescan
from policygen.index.schema import (
    EPOCH,
    FAR,
    RELIST,
    SCHEMA,
    SCHEMA_VERSION,
    IndexUnusable,
    connect,
)
from policygen.index.writer import Writer
from policygen.scan import pool
from policygen.scan.query import DEFAULT_MAX_FILE_BYTES, ScanQuery
from policygen.scan.usage import ScanStats, Usage
from policygen.sources.base import LogObject, Selection
from policygen.sources.local import LocalFolder


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


class UsageIndex:
    """One SQLite file holding the usage of every indexed trail folder."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open (`create`: and make) the index at `path`; readers never write to it, so a
        job can read while `policygen index` adds files."""
        self.path = path
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = connect(path)
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
        engine: pool.Engine | None = None,
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
        query = ScanQuery(
            None, format_time(EPOCH), format_time(FAR), None, max_file_bytes, True, rules=RULES
        )
        writer = Writer(self.db, source_id, source, query)
        pool.run(
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
        usage = Usage(principal.arn, stats=index_stats(files))
        for hour in fold_rows(rows, selection, usage):
            rescan(source, selection, principal, hour, rows, usage)
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

    def _rows(self, source_id: int, principal: Principal, selection: Selection) -> list[Row]:
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
            hour_of(selection.start),
            hour_of(selection.end),
            principal.account,
        ]
        found = [Row(*row) for row in self.db.execute(sql, params)]
        regions = selection.regions
        if regions is None:
            return found
        return [
            r
            for r in found
            if r.region in regions and (not r.log_region or r.log_region in regions)
        ]
