"""The scanner: log files in, the principals' own API calls counted out.

Per file: gunzip (isal), decode only the declared record fields (msgspec), keep the
`AwsApiCall` records of users and roles inside the window, and count them by `CallKey`.
For a one-principal job, bytes that cannot hold the principal's records are never
decoded: the principal's ARN is looked for with StringZilla's SIMD substring search
(about five times as fast as `bytes.find` on JSON text); a file without it is skipped
whole, and in a file written the way CloudTrail writes
(`{"Records":[{"eventVersion":...},...]}`) only the records around an occurrence of the
ARN are cut out and decoded; the identity check on the decoded record then rejects
records that merely mention the ARN.

Files are scanned in batches (`scan_batch`), in this process or in worker processes
(`policygen.fanout`); the parent folds each batch into a `Scan`, in listing order, and
drops re-delivered duplicates there (`policygen.dedupe`), so that the answer does not
depend on how the files were spread over processes. A file that cannot be read is
recorded in `ScanStats.skipped`; the scan goes on.

A file that is not a delivery file (an export, a SIEM's NDJSON, lookup-events output) is
read by `policygen.shapes`, only after the delivery-file decoder has failed on it: the
fast path is the same as without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import stringzilla
from isal import isal_zlib

from policygen import mapping, observe, shapes
from policygen.arns import Principal
from policygen.dedupe import Dedupe
from policygen.observe import ObserveLevel
from policygen.records import (
    LOG_DECODER,
    PARAMS_DECODER,
    RAW_LOG_DECODER,
    RECORD_DECODER,
    Record,
    data_event,
)
from policygen.sources import LOG_NAME_RE, LogObject, Selection, account_of, delivery_of
from policygen.timeutil import format_time
from policygen.usage import CallKey, CallStats, Observed, ScanStats, Usage, outcome_of

if TYPE_CHECKING:
    from policygen.fanout import Engine

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 16 + 15
#: Default cap on one file's decompressed size: real delivery files are a few MB at most.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
#: How every record of a file written by CloudTrail starts, and how the next one follows.
RECORD_START = b'{"eventVersion":'
NEXT_RECORD = b',{"eventVersion":'
LOG_HEAD = b'{"Records":['
LOG_TAIL = b"]}"

ProgressCallback = Callable[[LogObject], None]


class FileError(Exception):
    """A log file that cannot be used; the message is the reason reported to the user."""


class NotALogFile(FileError):
    """Valid JSON without a `Records` array: a log file only if it is named like one."""


@dataclass(frozen=True, slots=True)
class ScanQuery:
    """What to keep from the records: whose calls (None: every user and role), and when.

    `hourly` keeps calls apart by event hour and region, for the usage index; `observe`
    says which resource facts to collect (`policygen.observe.ObserveLevel`).
    """

    principal: Principal | None
    start: str
    end: str
    regions: frozenset[str] | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    hourly: bool = False
    observe: ObserveLevel = "all"
    #: the dotted key a record is under in an export (`_source`, `detail`); None: found.
    record_key: str | None = None

    @classmethod
    def for_selection(
        cls, principal: Principal | None, selection: Selection, **options: Any
    ) -> ScanQuery:
        return cls(
            principal,
            format_time(selection.start),
            format_time(selection.end),
            selection.regions,
            **options,
        )


def decompress(data: bytes, max_bytes: int) -> bytes:
    """Gunzip `data` if it is gzip (every member), refusing output beyond `max_bytes`.

    The cap stops gzip bombs (and applies to plain files too); a truncated or damaged
    stream is a `FileError`.
    """
    if not data.startswith(GZIP_MAGIC):
        if len(data) > max_bytes:
            raise FileError(f"larger than {max_bytes} bytes")
        return data
    parts: list[bytes] = []
    size = 0
    remaining = data
    try:
        while remaining:
            inflater = isal_zlib.decompressobj(GZIP_WBITS)
            part = inflater.decompress(remaining, max_bytes + 1 - size)
            size += len(part)
            if size > max_bytes:
                raise FileError(f"decompresses to more than {max_bytes} bytes")
            if not inflater.eof:
                raise FileError("corrupt gzip: truncated")
            parts.append(part)
            remaining = inflater.unused_data
            if not remaining.startswith(GZIP_MAGIC):
                break  # trailing padding after the last member, as gzip(1) tolerates
    except isal_zlib.error as exc:
        raise FileError(f"corrupt gzip: {exc}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _raw_records(text: bytes) -> list[msgspec.Raw]:
    """The undecoded records of `{"Records": [...]}` (other shapes: `other_shapes`)."""
    try:
        return RAW_LOG_DECODER.decode(text).Records
    except msgspec.ValidationError:
        raise NotALogFile("no Records array") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise FileError(f"not JSON: {exc}") from None


def other_shapes(
    text: bytes, record_key: str | None, stats: ScanStats, error: FileError
) -> list[Record]:
    """The records of a file that is not a delivery file, in any shape `policygen.shapes`
    knows; `error` (why it is not a delivery file) when it holds none."""
    try:
        found = shapes.read(text, record_key)
    except shapes.NotJSON as exc:
        raise FileError(str(exc)) from None
    if found is None:
        if text.lstrip()[:1] not in (b"{", b"["):  # text, CSV: another kind of file
            raise NotALogFile(str(error)) from None
        raise error
    stats.shapes[found.describe()] += 1
    stats.records_bad += found.bad
    if found.other:
        stats.ignored["not a CloudTrail record"] += found.other
    return found.records


def decode_records(text: bytes, stats: ScanStats) -> list[Record]:
    """Decode a log file's records; a malformed record is counted and dropped, not fatal."""
    try:
        return LOG_DECODER.decode(text).Records
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, RecursionError) as exc:  # nesting deeper than msgspec allows
        raise FileError(f"not JSON: {exc}") from None
    records = []
    for raw in _raw_records(text):
        try:
            records.append(RECORD_DECODER.decode(raw))
        except msgspec.ValidationError:
            stats.records_bad += 1
    return records


def _array_end(text: bytes) -> int:
    """Where the `Records` array of a CloudTrail-written file closes, or -1 if it is not one."""
    if not text.startswith(LOG_HEAD):
        return -1
    end = len(text)
    while end and text[end - 1] in b" \t\r\n":
        end -= 1
    return end - 2 if text[end - 2 : end] == LOG_TAIL else -1


def candidate_records(text: bytes, needle: bytes, found: int = 0) -> list[Record] | None:
    """Decode only the records in which `needle` occurs; None when that cannot be done safely.

    A record is cut out from the record start before the occurrence to the next record
    start after it. In a file that is not laid out as CloudTrail writes it, or where a cut
    does not decode as exactly one record (a wrongly typed field included), None tells the
    caller to decode the whole file instead, which also accounts for bad records. `found`
    is where to start looking (the caller may know the first occurrence).
    """
    array_end = _array_end(text)
    if array_end < 0:
        return None
    view = memoryview(text)
    records = []
    find, rfind, decode = stringzilla.find, stringzilla.rfind, RECORD_DECODER.decode
    found = find(text, needle, found)
    try:
        while found >= 0:
            start = rfind(text, RECORD_START, 0, found)
            end = find(text, NEXT_RECORD, found, array_end)
            if start < 0:
                return None
            if end < 0:
                end = array_end
            records.append(decode(view[start:end]))
            found = find(text, needle, end)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return records


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
    hint = mapping.parameter_hint(source, name)
    if hint is not None:
        raw = bytes(record.requestParameters)
        if b"\\" not in raw and hint not in raw.lower():
            return ""
    try:
        params = PARAMS_DECODER.decode(record.requestParameters)
    except (msgspec.DecodeError, msgspec.ValidationError):
        params = None
    return mapping.qualifier_for(source, name, params)


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
        try:
            return decode_records(text, self.stats)
        except FileError as exc:
            return other_shapes(text, self.query.record_key, self.stats, exc)

    def _count(self, records: list[Record], result: FileResult, task: FileTask) -> None:
        """Count the wanted records. One long loop on purpose: it runs once per record,
        and every function call in it would cost as much as the work it does."""
        query, stats, acc = self.query, self.stats, self._acc
        account = task.account
        accounts = self._accounts
        principal = query.principal
        target = principal.arn if principal else None
        target_type = (
            ("IAMUser" if principal.kind == "user" else "AssumedRole") if principal else ""
        )
        lo, hi = query.start[:19], query.end[:19] + "\x7f"
        regions, hourly, level = query.regions, query.hourly, query.observe
        delivered = task.delivered if hourly else None
        add_id, add_ref = result.ids.append, result.refs.append
        ignored = stats.ignored
        matched = bad = 0
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
            event_type = record.eventType
            if event_type != "AwsApiCall" and event_type is not None:
                ignored[event_type] += 1
                continue
            when = record.eventTime
            if when is None:
                bad += 1
                continue
            if not lo <= when <= hi:
                ignored["outside window"] += 1
                continue
            if regions is not None and record.awsRegion not in regions:
                ignored["other region"] += 1
                continue
            source, name = record.eventSource, record.eventName
            if not source or not name:
                bad += 1
                continue
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
                qualified = mapping.needs_parameters(source, name)
                entry = acc[key] = {} if qualified else _leaf(record, level)
            if entry.__class__ is dict:
                entry = _qualified(entry, record, level)
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
                arns, passed = observe.facts_at(level, record)
                entry[5].add(arns, passed, when, event_id or "")
            if event_id:
                add_id(event_id)
                add_ref(entry)  # type: ignore[arg-type]  # positions after the batch
            matched += 1
        stats.records_read += len(records)
        stats.records_matched += matched
        stats.records_bad += bad

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
                seen[at] = _joined(seen[at], leaf[5])
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


def _leaf(record: Record, level: ObserveLevel) -> list[Any]:
    """A new counter list, starting from this record; observed resources only for kinds
    of call that can have any (at `level`)."""
    when, event_id = record.eventTime, record.eventID or ""
    wanted = observe.wants_at(level, record.eventSource or "", record.eventName or "")
    return [0, when, when, event_id, None, Observed() if wanted else None]


def _qualified(entry: dict[str, list[Any]], record: Record, level: ObserveLevel) -> list[Any]:
    """The counter list of this record's qualifier under a parameter-dependent call."""
    qualifier = _qualifier(record)
    leaf = entry.get(qualifier)
    if leaf is None:
        leaf = entry[qualifier] = _leaf(record, level)
    return leaf


def _joined(mine: Observed | None, other: Observed | None) -> Observed | None:
    """Observed resources of two parts of the same call kind, together."""
    if other is None:
        return mine
    if mine is None:
        return other
    mine.merge(other)
    return mine


def decompress_batch(query: ScanQuery, tasks: list[FileTask]) -> int:
    """Read and gunzip only, as `scan_batch` does: the ceiling the scanner is measured
    against (benchmarks). Returns the uncompressed bytes."""
    size = 0
    for task in tasks:
        data = task.data
        if data is None:
            with open(task.obj.path or task.obj.key, "rb") as handle:
                data = handle.read()
        try:
            size += len(decompress(data, query.max_file_bytes))
        except FileError:
            continue
    return size


def scan_batch(query: ScanQuery, tasks: list[FileTask]) -> BatchResult:
    """Scan some files (in a worker process or in this one) into one compact result."""
    tally = Tally(query)
    for task in tasks:
        tally.add_file(task)
    return tally.result()


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
                joined = _joined(self.observed.get(key), observed)
                assert joined is not None
                self.observed[key] = joined
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
            mine = found.calls.get(call)
            if mine is None:
                found.calls[call] = CallStats(
                    stats.count, stats.first, stats.last, stats.example_event_id
                )
            else:
                mine.merge(stats)
            observed = self.observed.get(key)
            if observed is not None:
                found.observed.setdefault(call, Observed()).merge(observed)
        for found in usage.values():
            found.stats = self.stats
        return usage


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


def scan(
    source: Any,
    selection: Selection,
    principal: Principal | None,
    *,
    on_file: ProgressCallback | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int | None = None,
    observe: ObserveLevel = "all",
    engine: Engine | None = None,
    objects: Iterable[LogObject] | None = None,
    record_key: str | None = None,
) -> dict[str, Usage]:
    """Scan every file of `source` that `selection` needs: usage per principal ARN.

    `workers` processes (default: `fanout.default_workers()`; 1 scans in this process),
    or another `engine` (Spark); `on_file` is called here, in the caller's process, for
    each file as it is done; `observe` is how many resource facts to collect (all, by
    default). `objects` are the files, when the caller has listed them already;
    `record_key` where records are in exports that wrap them (found when None).
    """
    from policygen import fanout  # fanout builds on this module

    query = ScanQuery.for_selection(
        principal, selection, max_file_bytes=max_file_bytes, observe=observe, record_key=record_key
    )
    state = Scan(query)

    def listed(objs: Any) -> Any:
        for obj in objs:
            state.stats.files_listed += 1
            yield obj

    fanout.run(
        source,
        listed(source.list_objects(selection) if objects is None else objects),
        query,
        state.add_batch,
        workers=workers,
        on_file=on_file,
        engine=engine,
    )
    return state.results()
