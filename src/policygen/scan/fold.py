"""Folding batch results, in listing order, into usage per principal (or per bucket).

The parent process does this for every engine, and drops re-delivered duplicates here
(`policygen.sources.dedupe`), so that the answer does not depend on how the files were
spread over processes.
"""

from __future__ import annotations

from typing import Any

from policygen.cloudtrail.layout import delivery_of
from policygen.scan.query import ScanQuery
from policygen.scan.tally import BatchResult, joined
from policygen.scan.usage import CallStats, Observed, ScanStats, Usage
from policygen.sources.base import LogObject
from policygen.sources.dedupe import Dedupe


class Scan:
    """Folds batch results, in listing order, into usage per principal (or per bucket)."""

    def __init__(self, query: ScanQuery, dedupe: Dedupe | None = None) -> None:
        self.query = query
        self.stats = ScanStats()
        self.dedupe = dedupe if dedupe is not None else Dedupe()
        #: (principal ARN, call, bucket) -> stats; bucket is (stream, hour, region) or ().
        self.calls: dict[tuple[Any, ...], CallStats] = {}
        #: latest delivery time of a file that contributed to each hourly bucket.
        self.delivered: dict[tuple[Any, ...], int | None] = {}
        #: observed resources, by the same keys (only for calls that can have any).
        self.observed: dict[tuple[Any, ...], Observed] = {}

    def add_batch(self, objs: list[LogObject], batch: BatchResult) -> None:
        """Fold in one batch whose files are `objs`, dropping re-delivered duplicates."""
        counts = [call[3] for call in batch.calls]
        stream = ""
        for obj, result in zip(objs, batch.files, strict=True):
            delivery = delivery_of(obj.key)
            stream = delivery.stream
            if not result.ids:
                continue
            for at in self.dedupe.duplicates(delivery, result.ids):
                counts[result.refs[at]].count -= 1
                batch.stats.duplicates += 1
                batch.stats.records_matched -= 1
        self.stats.merge(batch.stats)
        self._merge_calls(batch, stream)

    def _merge_calls(self, batch: BatchResult, stream: str) -> None:
        hourly = self.query.hourly
        for arn, call, bucket, stats, latest, observed in batch.calls:
            if not stats.count:
                continue
            key = (arn, call, stream, *bucket) if hourly else (arn, call)
            mine = self.calls.get(key)
            if mine is None:
                self.calls[key] = stats
            else:
                mine.merge(stats)
            if observed is not None:
                both = joined(self.observed.get(key), observed)
                assert both is not None
                self.observed[key] = both
            if hourly:
                before = self.delivered.get(key)
                if latest is not None and (before is None or latest > before):
                    self.delivered[key] = latest
                else:
                    self.delivered.setdefault(key, before)

    def results(self) -> dict[str, Usage]:
        """Usage per principal ARN, each carrying the scan's statistics."""
        usage: dict[str, Usage] = {}
        if self.query.principal is not None:
            usage[self.query.principal.arn] = Usage(self.query.principal.arn)
        for key, stats in self.calls.items():
            arn, call = key[0], key[1]
            found = usage.get(arn)
            if found is None:
                found = usage[arn] = Usage(arn)
            found.add_call(call, stats, self.observed.get(key))
        for found in usage.values():
            found.stats = self.stats
        return usage
