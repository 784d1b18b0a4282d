"""Folding ingest batches into the index, a transaction every `FLUSH_FILES` files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from policygen.cloudtrail.layout import delivery_of
from policygen.index.rows import IndexedSource
from policygen.index.schema import FLUSH_FILES, UPSERT_CALL
from policygen.scan.fold import Scan
from policygen.scan.query import ScanQuery
from policygen.scan.tally import BatchResult
from policygen.scan.usage import Observed, ScanStats
from policygen.sources.base import LogObject
from policygen.sources.dedupe import Dedupe


class Writer:
    """Folds ingest batches into the index, a transaction every `FLUSH_FILES` files."""

    def __init__(
        self, db: sqlite3.Connection, source_id: int, source: IndexedSource, query: ScanQuery
    ) -> None:
        self.db, self.source_id, self.source = db, source_id, source
        self.dedupe = Dedupe()
        self.dedupe.restore(self._recent())
        self.scan = Scan(query, self.dedupe)
        self.stats = ScanStats()
        self.files: list[tuple[Any, ...]] = []

    def _recent(self) -> Iterator[tuple[str, int | None, str]]:
        yield from self.db.execute(
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
        db, source_id = self.db, self.source_id
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
        before = self.db.execute(
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
