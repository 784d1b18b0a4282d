"""The hot loop: one batch of files -> a compact `BatchResult` of counted calls.

Runs in worker processes (or Spark executors) as well as in the caller's: it keeps only
the `AwsApiCall` records of users and roles inside the window, and counts them by call
kind, with the qualifier and resource facts of the calls that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import stringzilla

from policygen.cloudtrail import qualifiers
from policygen.cloudtrail.layout import LOG_NAME_RE
from policygen.cloudtrail.records import PARAMS_DECODER, Record, data_event
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
        self.files = FileResults()
        #: each counted record's entry in `_acc`, in the order of `files.ids`.
        self._refs: list[Any] = []

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
            account = tasks.accounts[at] if tasks.accounts is not None else None
            delivered = tasks.delivered[at] if tasks.delivered is not None else None
            self._count(records, account, delivered)
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
                    at = index[ident] = len(rows)
                    rows.append([arn, call, tuple(bucket), CallStats(), None, None])
                row = rows[at]
                row[3].merge(CallStats(*leaf[:4]))
                row[4] = _later(row[4], leaf[4])
                row[5] = joined(row[5], leaf[5])
                position[id(leaf)] = at
        self.files.refs = list(map(position.__getitem__, map(id, self._refs)))
        return BatchResult([tuple(row) for row in rows], self.files, self.stats)


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
    tally = Tally(query)
    for at in range(len(tasks)):
        tally.add_file(tasks, at)
    return tally.result()
