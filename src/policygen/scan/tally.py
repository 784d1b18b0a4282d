"""The hot loop: one batch of files -> a compact `BatchResult` of counted calls.

Runs in worker processes (or Spark executors) as well as in the caller's: it keeps only
the `AwsApiCall` records of users and roles inside the window, and counts them by call
kind, with the qualifier and resource facts of the calls that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import stringzilla

from policygen.cloudtrail import qualifiers
from policygen.cloudtrail.layout import LOG_NAME_RE, account_of, delivery_of
from policygen.cloudtrail.records import PARAMS_DECODER, Record, data_event
from policygen.scan.decode import (
    FileError,
    NotALogFile,
    candidate_records,
    decode_records,
    decompress,
)
from policygen.scan.query import FactRules, ObserveLevel, ScanQuery
from policygen.scan.usage import CallKey, CallStats, Observed, ScanStats, outcome_of
from policygen.sources.base import LogObject


@dataclass(slots=True)
class FileResult:
    """What one file added: the eventIDs it counted and, for each, its call's position in
    `BatchResult.calls` (so that the parent can take back a duplicate); and what the
    usage index records about the file."""

    ids: list[str] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)
    bytes: int = 0
    records: int = 0
    bad: int = 0
    skipped: str | None = None


@dataclass(slots=True)
class BatchResult:
    """A batch's counts: compact, to cross process boundaries cheaply.

    `calls` holds (principal ARN, call, bucket, stats, latest delivery, observed
    resources); `bucket` is `(hour, region)` for hourly queries and `()` otherwise.
    """

    calls: list[tuple[str, CallKey, tuple[str, ...], CallStats, int | None, Observed | None]]
    files: list[FileResult]
    stats: ScanStats


@dataclass(frozen=True, slots=True)
class FileTask:
    """One file for `scan_batch`: its bytes (None: read `obj.path`) and delivery time."""

    obj: LogObject
    data: bytes | None
    delivered: int | None
    error: str | None = None
    #: the account whose folder holds the file: in an all-principals scan, only that
    #: account's principals are counted from it, as a one-principal scan would.
    account: str | None = None


def _qualifier(record: Record) -> str:
    """The qualifier of a call whose action depends on its parameters (decoded only when
    their bytes can matter: most S3 object calls name no version)."""
    source, name = record.eventSource or "", record.eventName or ""
    hint = qualifiers.parameter_hint(source, name)
    if hint is not None:
        raw = bytes(record.requestParameters)
        if b"\\" not in raw and hint not in raw.lower():
            return ""
    try:
        params = PARAMS_DECODER.decode(record.requestParameters)
    except (msgspec.DecodeError, msgspec.ValidationError):
        params = None
    return qualifiers.qualifier_for(source, name, params)


class Tally:
    """Counts records by kind of call within one batch; the hot loop of every scan."""

    def __init__(self, query: ScanQuery) -> None:
        self.query = query
        self.stats = ScanStats()
        # raw key -> [count, first, last, example id, latest delivery, observed resources
        # or None], or, for calls whose action depends on requestParameters, a dict
        # qualifier -> such a list.
        self._acc: dict[tuple[Any, ...], Any] = {}
        self._accounts: dict[str, str] = {}
        self.files: list[FileResult] = []

    def add_file(self, task: FileTask) -> None:
        """Scan one file; failures are recorded, never raised."""
        result = FileResult()
        self.files.append(result)
        stats = self.stats
        before = (stats.records_read, stats.records_bad, stats.bytes_read)
        result.skipped = self._scan_file(task, result)
        if result.skipped is not None:
            stats.skip(task.obj.key, result.skipped)
        result.records = stats.records_read - before[0]
        result.bad = stats.records_bad - before[1]
        result.bytes = stats.bytes_read - before[2]

    def _scan_file(self, task: FileTask, result: FileResult) -> str | None:
        """Scan one file into `result`; the reason it could not be read, or None."""
        stats, obj = self.stats, task.obj
        if task.error is not None:
            return task.error
        if obj.size > self.query.max_file_bytes:  # the cap bounds a worker's memory
            return f"larger than {self.query.max_file_bytes} bytes"
        try:
            data = task.data
            if data is None:
                with open(obj.path or obj.key, "rb") as handle:
                    data = handle.read()
            text = decompress(data, self.query.max_file_bytes)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        except FileError as exc:
            return str(exc)
        stats.files_read += 1
        stats.bytes_read += len(text)
        del data
        try:
            records = self._records(text)
        except NotALogFile as exc:
            if LOG_NAME_RE.search(obj.key):
                return str(exc)
            stats.ignored["not a CloudTrail log file"] += 1
            return None
        except FileError as exc:
            return str(exc)
        if records:
            self._count(records, result, task)
        return None

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
        return decode_records(text, self.stats)

    def _count(self, records: list[Record], result: FileResult, task: FileTask) -> None:
        """Count the wanted records: select them, then count them, each in one loop (they
        run once per record, and a function call per record would cost as much as the
        work it does)."""
        stats = self.stats
        wanted = self._select(records, task.account)
        stats.records_read += len(records)
        query, acc = self.query, self._acc
        hourly, level, rules = query.hourly, query.level, query.rules
        delivered = task.delivered if hourly else None
        add_id, add_ref = result.ids.append, result.refs.append
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
        calls: list[tuple[str, CallKey, tuple[str, ...]]] = []
        counts: list[CallStats] = []
        latest: list[int | None] = []
        seen: list[Observed | None] = []
        position: dict[int, int] = {}
        for key, entry in self._acc.items():
            arn, source, name, error, management, category, *bucket = key
            leaves = entry.items() if entry.__class__ is dict else [("", entry)]
            for qualifier, leaf in leaves:
                outcome = outcome_of(error)
                data = data_event(source, name, management, category)
                call = CallKey(source, name, qualifier, outcome, data)
                ident = (arn, call, *bucket)
                at = index.get(ident)
                if at is None:
                    at = index[ident] = len(calls)
                    calls.append((arn, call, tuple(bucket)))
                    counts.append(CallStats())
                    latest.append(None)
                    seen.append(None)
                counts[at].merge(CallStats(*leaf[:4]))
                latest[at] = _later(latest[at], leaf[4])
                seen[at] = joined(seen[at], leaf[5])
                position[id(leaf)] = at
        for result in self.files:
            result.refs = list(map(position.__getitem__, map(id, result.refs)))
        merged = [(*c, n, d, o) for c, n, d, o in zip(calls, counts, latest, seen, strict=True)]
        return BatchResult(merged, self.files, self.stats)


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


def scan_batch(query: ScanQuery, tasks: list[FileTask]) -> BatchResult:
    """Scan some files (in a worker process or in this one) into one compact result."""
    tally = Tally(query)
    for task in tasks:
        tally.add_file(task)
    return tally.result()


def task_for(obj: LogObject, data: bytes | OSError | None, query: ScanQuery) -> FileTask:
    """A task for `scan_batch`: the file's bytes, None for a local file the worker opens
    itself, or the error that made it unreadable."""
    delivered = delivery_of(obj.key).delivered
    account = account_of(obj.key) if query.principal is None else None
    if isinstance(data, OSError):
        return FileTask(obj, None, delivered, f"unreadable: {data.strerror or data}", account)
    if obj.size > query.max_file_bytes:  # not sent to a worker; reported there
        return FileTask(obj, None, delivered, f"larger than {query.max_file_bytes} bytes", account)
    return FileTask(obj, data, delivered, account=account)
