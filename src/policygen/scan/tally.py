"""The hot loop: one batch of files -> a compact `BatchResult` of counted calls.

Runs in worker processes (or Spark executors) as well as in the caller's: it keeps only
the `AwsApiCall` records of users and roles inside the window, and counts them by call
kind, with the qualifier and resource facts of the calls that need them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import msgspec
import stringzilla

from policygen.cloudtrail import qualifiers
from policygen.cloudtrail.layout import LOG_NAME_RE
from policygen.cloudtrail.records import PARAMS_DECODER, RECORD_DECODER, Record, data_event
from policygen.scan import native
from policygen.scan.decode import (
    FileError,
    NotALogFile,
    candidate_records,
    decode_records,
    decompress,
    other_shapes,
)
from policygen.scan.files import FileResults, FileTasks
from policygen.scan.query import FactRules, ObserveLevel, ScanQuery
from policygen.scan.usage import CallKey, CallStats, Observed, ScanStats, outcome_of


@dataclass(slots=True)
class BatchResult:
    """A batch's counts: compact, to cross process boundaries cheaply.

    `calls` holds (principal ARN, call, bucket, stats, latest delivery, observed
    resources); `bucket` is `(hour, region)` for hourly queries and `()` otherwise.
    """

    calls: list[tuple[str, CallKey, tuple[str, ...], CallStats, int | None, Observed | None]]
    files: FileResults
    stats: ScanStats


def _qualifier(record: Record) -> str:
    """The qualifier of a call whose action depends on its parameters."""
    return qualifier_of(
        record.eventSource or "", record.eventName or "", bytes(record.requestParameters)
    )


@lru_cache(maxsize=4096)
def qualifier_of(source: str, name: str, raw: bytes) -> str:
    """The qualifier of a call given its raw requestParameters (decoded only when their
    bytes can matter: most S3 object calls name no version). Cached: the same parameters
    recur (a role reading the same objects), and reading them costs far more than a lookup."""
    hint = qualifiers.parameter_hint(source, name)
    if hint is not None and b"\\" not in raw and hint not in raw.lower():
        return ""
    try:
        params = PARAMS_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        params = None
    return qualifiers.qualifier_for(source, name, params)


class Declined(Exception):
    """The C counter declined a file after counting others: the batch is redone in Python."""


class Tally:
    """Counts records by kind of call within one batch; the hot loop of every scan.

    An all-principals scan counts with the C counter (`native`) where it is built: per file
    it returns the counted records' eventIDs and references to their leaves, and calls back
    here only for what C does not decide (a kind of call's nature, once; a qualifier whose
    parameters may name one; resource facts). A file it declines (not written as CloudTrail
    writes, escapes in a counted field) is decoded here; if the counter had already counted
    files of the batch, the batch is redone in Python (`Declined`), so that keys keep the
    order in which Python sees them.
    """

    def __init__(self, query: ScanQuery, use_native: bool = True) -> None:
        self.query = query
        self.stats = ScanStats()
        # raw key -> [count, first, last, example id, latest delivery, observed resources
        # or None], or, for calls whose action depends on requestParameters, a dict
        # qualifier -> such a list.
        self._acc: dict[tuple[Any, ...], Any] = {}
        self._accounts: dict[str, str] = {}
        self.files = FileResults()
        #: each counted record's entry in `_acc` (counting in C: its leaf's position), in
        #: the order of `files.ids`.
        self._refs: list[Any] = []
        #: counting in C: the resource facts of its leaves that can have any, by position.
        self._observed: dict[int, Observed] = {}
        # The callbacks hold the query and `_observed`, not this Tally: a cycle through the
        # C counter would never be freed.
        self._native = (
            native.counter(
                (query.start[:19], query.end[:19] + "\x7f"),
                query.regions,
                query.hourly,
                (partial(_classify, query), qualifier_of, partial(_observe, query, self._observed)),
            )
            if use_native and query.principal is None
            else None
        )
        self._counted_native = False

    def add_file(self, tasks: FileTasks, at: int) -> None:
        """Scan file `at` of `tasks`; failures are recorded, never raised."""
        stats, files = self.stats, self.files
        records, bad, size, ids = (
            stats.records_read,
            stats.records_bad,
            stats.bytes_read,
            len(files.ids),
        )
        skipped = self._scan_file(tasks, at)
        if skipped is not None:
            stats.skip(tasks.keys[at], skipped)
            files.skipped[at] = skipped
        files.records.append(stats.records_read - records)
        files.bad.append(stats.records_bad - bad)
        files.bytes.append(stats.bytes_read - size)
        if len(files.ids) > ids:
            files.counted.append((at, len(files.ids)))

    def _scan_file(self, tasks: FileTasks, at: int) -> str | None:
        """Scan file `at` of `tasks`; the reason it could not be read, or None."""
        stats, key = self.stats, tasks.keys[at]
        error = tasks.errors.get(at)
        if error is not None:
            return error
        if tasks.sizes[at] > self.query.max_file_bytes:  # the cap bounds a worker's memory
            return f"larger than {self.query.max_file_bytes} bytes"
        try:
            data = tasks.data[at] if tasks.data is not None else None
            if data is None:
                with open(tasks.paths[at] or key, "rb") as handle:
                    data = handle.read()
            text = decompress(data, self.query.max_file_bytes)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        except FileError as exc:
            return str(exc)
        stats.files_read += 1
        stats.bytes_read += len(text)
        del data
        account = tasks.accounts[at] if tasks.accounts is not None else None
        delivered = tasks.delivered[at] if tasks.delivered is not None else None
        if self._native is not None and self._count_native(text, account, delivered):
            return None
        try:
            records = self._records(text)
        except NotALogFile as exc:
            if LOG_NAME_RE.search(key):
                return str(exc)
            stats.ignored["not a CloudTrail log file"] += 1
            return None
        except FileError as exc:
            return str(exc)
        if records:
            self._count(records, account, delivered)
        return None

    def _count_native(self, text: bytes, account: str | None, delivered: int | None) -> bool:
        """Count a file with the C counter; False when it declines the file (nothing
        counted: the file is decoded in Python, and so is the rest of the batch)."""
        found = self._native.scan(text, account, delivered)  # type: ignore[union-attr]
        if found is None:
            if self._counted_native:
                raise Declined
            self._native = None
            return False
        self._counted_native = True
        records, bad, matched, ignored, ids, refs = found
        stats = self.stats
        stats.records_read += records
        stats.records_bad += bad
        stats.records_matched += matched
        stats.ignored.update(ignored)
        self.files.ids += ids
        self._refs += refs
        return True

    def _records(self, text: bytes) -> list[Record]:
        principal = self.query.principal
        if principal is not None:
            needle = principal.arn.encode()
            first = stringzilla.find(text, needle)
            if first < 0:
                return []
            found = candidate_records(text, needle, first)
            if found is not None:
                return found
        try:
            return decode_records(text, self.stats)
        except FileError as exc:
            return other_shapes(text, self.query.record_key, self.stats, exc)

    def _count(self, records: list[Record], account: str | None, delivered: int | None) -> None:
        """Count the wanted records: select them, then count them, each in one loop (they
        run once per record, and a function call per record would cost as much as the
        work it does)."""
        stats = self.stats
        wanted = self._select(records, account)
        stats.records_read += len(records)
        query, acc = self.query, self._acc
        hourly, level, rules = query.hourly, query.level, query.rules
        add_id, add_ref = self.files.ids.append, self._refs.append
        for arn, record in wanted:
            source, name, when = record.eventSource, record.eventName, record.eventTime
            key: tuple[Any, ...] = (
                arn,
                source,
                name,
                record.errorCode,
                record.managementEvent,
                record.eventCategory,
            )
            if hourly:
                key = (*key, when[:13], record.awsRegion or "")
            entry = acc.get(key)
            if entry is None:
                qualified = qualifiers.needs_parameters(source, name)
                entry = acc[key] = {} if qualified else _leaf(record, level, rules)
            if entry.__class__ is dict:
                entry = _qualified(entry, record, level, rules)
            entry[0] += 1
            event_id = record.eventID
            if when < entry[1]:
                entry[1] = when
                entry[3] = event_id or entry[3]
            elif when > entry[2]:
                entry[2] = when
            if delivered is not None:
                entry[4] = _later(entry[4], delivered)
            if entry[5] is not None:
                arns, passed = rules.facts_at(level, record)  # type: ignore[union-attr]
                entry[5].add(arns, passed, when, event_id or "")
            if event_id:
                add_id(event_id)
                add_ref(entry)  # type: ignore[arg-type]  # positions after the batch
        stats.records_matched += len(wanted)

    def _select(self, records: list[Record], account: str | None) -> list[tuple[str, Record]]:
        """The records to count, each with its principal's ARN: API calls of the query's
        principal (or of any user or role of `account`'s folder) in its window and regions.
        What is left out is counted in the stats by reason."""
        query, stats, accounts = self.query, self.stats, self._accounts
        principal = query.principal
        target = principal.arn if principal else None
        target_type = (
            ("IAMUser" if principal.kind == "user" else "AssumedRole") if principal else ""
        )
        lo, hi, regions = query.start[:19], query.end[:19] + "\x7f", query.regions
        ignored, wanted, bad = stats.ignored, [], 0
        for record in records:
            identity = record.userIdentity
            if identity is None:
                continue
            kind = identity.type
            if kind == "AssumedRole":
                context = identity.sessionContext
                issuer = context.sessionIssuer if context is not None else None
                if issuer is None or issuer.type != "Role":
                    continue
                arn = issuer.arn
            elif kind == "IAMUser":
                arn = identity.arn
            else:
                continue
            if target is not None:
                if arn != target or kind != target_type:
                    continue
            elif arn is None:
                continue
            elif account is not None:
                owner = accounts.get(arn)
                if owner is None:
                    owner = accounts[arn] = arn.split(":")[4] if arn.count(":") >= 5 else ""
                if owner != account:
                    ignored["another account's folder"] += 1
                    continue
            event_type, when = record.eventType, record.eventTime
            if event_type != "AwsApiCall" and event_type is not None:
                ignored[event_type] += 1
            elif when is None:
                bad += 1
            elif not lo <= when <= hi:
                ignored["outside window"] += 1
            elif regions is not None and record.awsRegion not in regions:
                ignored["other region"] += 1
            elif not record.eventSource or not record.eventName:
                bad += 1
            else:
                wanted.append((arn, record))
        stats.records_bad += bad
        return wanted

    def result(self) -> BatchResult:
        """The batch's counts by (principal, CallKey, bucket), in first-seen order."""
        index: dict[tuple[Any, ...], int] = {}
        #: [principal ARN, call, bucket, stats, latest delivery, observed resources]
        rows: list[list[Any]] = []
        position: dict[int, int] = {}
        leaves, refs = self._leaves()
        for key, qualifier, leaf, handle in leaves:
            arn, source, name, error, management, category, *bucket = key
            outcome = outcome_of(error)
            data = data_event(source, name, management, category)
            call = CallKey(source, name, qualifier, outcome, data)
            ident = (arn, call, *bucket)
            at = index.get(ident)
            if at is None:
                at = index[ident] = len(rows)
                rows.append([arn, call, tuple(bucket), CallStats(), None, None])
            row = rows[at]
            row[3].merge(CallStats(*leaf[:4]))
            row[4] = _later(row[4], leaf[4])
            row[5] = joined(row[5], leaf[5])
            position[handle] = at
        self.files.refs = list(map(position.__getitem__, refs))
        return BatchResult([tuple(row) for row in rows], self.files, self.stats)

    def _leaves(self) -> tuple[list[tuple[tuple[Any, ...], str, list[Any], int]], Iterable[int]]:
        """(key, qualifier, leaf, handle) as `_acc` holds them, in first-seen order, and the
        handle of each reference's leaf, in the order of `_refs`."""
        if not self._counted_native:
            leaves = [
                (key, qualifier, leaf, id(leaf))
                for key, entry in self._acc.items()
                for qualifier, leaf in (entry.items() if entry.__class__ is dict else [("", entry)])
            ]
            return leaves, map(id, self._refs)
        counter, observed = self._native, self._observed
        assert counter is not None
        keys, counted = counter.keys(), counter.entries()
        # A key's leaves follow it, in first-seen order: sorting by key keeps that order.
        found = sorted((leaf[0], at) for at, leaf in enumerate(counted) if leaf is not None)
        leaves = [
            (keys[key], counted[at][1] or "", [*counted[at][2:], observed.get(at)], at)
            for key, at in found
        ]
        return leaves, self._refs


def _classify(query: ScanQuery, source: str, name: str) -> tuple[bool, bytes | None, bool]:
    """For the C counter, a kind of call: whether its action depends on parameters, what
    they must contain to be decoded (`qualifier_of`), whether it has resource facts."""
    qualified = qualifiers.needs_parameters(source, name)
    hint = qualifiers.parameter_hint(source, name) if qualified else None
    observed = query.rules is not None and query.rules.wants_at(query.level, source, name)
    return qualified, hint, observed


def _observe(query: ScanQuery, observed: dict[int, Observed], leaf: int, raw: bytes) -> None:
    """For the C counter: the resource facts of a record counted into `leaf`."""
    record = RECORD_DECODER.decode(raw)
    arns, passed = query.rules.facts_at(query.level, record)  # type: ignore[union-attr]
    found = observed.get(leaf)
    if found is None:
        found = observed[leaf] = Observed()
    found.add(arns, passed, record.eventTime or "", record.eventID or "")


def _later(a: int | None, b: int | None) -> int | None:
    """The later of two optional delivery times."""
    if a is None:
        return b
    return a if b is None or a >= b else b


def _leaf(record: Record, level: ObserveLevel, rules: FactRules | None) -> list[Any]:
    """A new counter list, starting from this record; observed resources only for kinds
    of call that can have any (at `level`, which is "none" without `rules`)."""
    when, event_id = record.eventTime, record.eventID or ""
    wanted = rules is not None and rules.wants_at(
        level, record.eventSource or "", record.eventName or ""
    )
    return [0, when, when, event_id, None, Observed() if wanted else None]


def _qualified(
    entry: dict[str, list[Any]], record: Record, level: ObserveLevel, rules: FactRules | None
) -> list[Any]:
    """The counter list of this record's qualifier under a parameter-dependent call."""
    qualifier = _qualifier(record)
    leaf = entry.get(qualifier)
    if leaf is None:
        leaf = entry[qualifier] = _leaf(record, level, rules)
    return leaf


def joined(mine: Observed | None, other: Observed | None) -> Observed | None:
    """Observed resources of two parts of the same call kind, together."""
    if other is None:
        return mine
    if mine is None:
        return other
    mine.merge(other)
    return mine


def scan_batch(query: ScanQuery, tasks: FileTasks) -> BatchResult:
    """Scan some files (in a worker process or in this one) into one compact result."""
    try:
        return _scan(Tally(query), tasks)
    except Declined:
        return _scan(Tally(query, use_native=False), tasks)


def _scan(tally: Tally, tasks: FileTasks) -> BatchResult:
    for at in range(len(tasks)):
        tally.add_file(tasks, at)
    return tally.result()
