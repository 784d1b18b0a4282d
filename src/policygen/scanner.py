"""The scanner: log files in, the principal's own API calls counted out.

Per file: gunzip (isal), skip the file outright when the principal's ARN does not occur
in it, decode only the declared record fields (msgspec), keep `AwsApiCall` records of
the principal inside the window, de-duplicate on `eventID`, and count them by `CallKey`.
A file that cannot be read is recorded in `ScanStats.skipped`; the scan goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec
from isal import isal_zlib

from policygen import mapping, observe
from policygen.arns import Principal
from policygen.records import (
    LOG_DECODER,
    PARAMS_DECODER,
    RAW_ARRAY_DECODER,
    RAW_LOG_DECODER,
    RECORD_DECODER,
    Record,
    caller_principal,
    identity_arn,
    is_data_event,
)
from policygen.sources import LOG_NAME_RE, LogObject, Selection, TrailSource, iter_contents
from policygen.timeutil import format_time
from policygen.usage import CallKey, ScanStats, Usage, outcome_of

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 16 + 15
#: Default cap on one file's decompressed size: real delivery files are a few MB at most.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024

ProgressCallback = Callable[[LogObject], None]


class FileError(Exception):
    """A log file that cannot be used; the message is the reason reported to the user."""


class NotALogFile(FileError):
    """Valid JSON without a `Records` array: a log file only if it is named like one."""


@dataclass(frozen=True, slots=True)
class ScanQuery:
    """What to keep from the records: whose calls (None: every user and role), and when."""

    principal: Principal | None
    start: str
    end: str
    regions: frozenset[str] | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def for_selection(
        cls, principal: Principal | None, selection: Selection, **options: int
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
    """The undecoded records of `{"Records": [...]}` or of a bare array of records."""
    for decoder in (RAW_LOG_DECODER, RAW_ARRAY_DECODER):
        try:
            records = decoder.decode(text)
        except msgspec.ValidationError:
            continue
        except (msgspec.DecodeError, RecursionError) as exc:
            raise FileError(f"not JSON: {exc}") from None
        return records if isinstance(records, list) else records.Records
    raise NotALogFile("no Records array")


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


def _qualifier(record: Record) -> str:
    source, name = record.eventSource or "", record.eventName or ""
    if not mapping.needs_parameters(source, name):
        return ""
    try:
        params = PARAMS_DECODER.decode(record.requestParameters)
    except (msgspec.DecodeError, msgspec.ValidationError):
        params = None
    return mapping.qualifier_for(source, name, params)


class Scan:
    """Accumulates the usage of one principal, or of every user and role, over many files."""

    def __init__(self, query: ScanQuery) -> None:
        self.query = query
        self.stats = ScanStats()
        self.usage: dict[str, Usage] = {}
        self._seen: set[str] = set()
        principal = query.principal
        self._needle = principal.arn.encode() if principal else None
        if principal:
            self.usage[principal.arn] = Usage(principal.arn)

    def add_file(self, key: str, data: bytes) -> None:
        """Scan one file's stored bytes; failures are recorded, never raised."""
        stats = self.stats
        try:
            text = decompress(data, self.query.max_file_bytes)
            stats.files_read += 1
            stats.bytes_read += len(text)
            if self._needle is not None and self._needle not in text:
                return
            records = decode_records(text, stats)
        except NotALogFile as exc:
            if LOG_NAME_RE.search(key):
                stats.skip(key, str(exc))
            else:
                stats.ignored["not a CloudTrail log file"] += 1
            return
        except FileError as exc:
            stats.skip(key, str(exc))
            return
        self.add_records(records)

    def add_records(self, records: Iterable[Record]) -> None:
        """Count the wanted records among `records`."""
        query, stats, seen = self.query, self.stats, self._seen
        principal = query.principal
        start, end, regions = query.start[:19], query.end[:19], query.regions
        for record in records:
            stats.records_read += 1
            identity = record.userIdentity
            if identity is None:
                continue
            if principal is None:
                arn = caller_principal(identity)
            else:
                arn = identity_arn(identity, principal.kind)
                if arn != principal.arn:
                    continue
            if arn is None:
                continue
            if record.eventType not in (None, "AwsApiCall"):
                stats.ignored[record.eventType] += 1
                continue
            when = record.eventTime
            if when is None:
                stats.records_bad += 1
                continue
            if not start <= when[:19] <= end:
                stats.ignored["outside window"] += 1
                continue
            if regions is not None and record.awsRegion not in regions:
                stats.ignored["other region"] += 1
                continue
            if not record.eventSource or not record.eventName:
                stats.records_bad += 1
                continue
            event_id = record.eventID or ""
            if event_id:
                if event_id in seen:
                    stats.duplicates += 1
                    continue
                seen.add(event_id)
            stats.records_matched += 1
            key = CallKey(
                record.eventSource,
                record.eventName,
                _qualifier(record),
                outcome_of(record.errorCode),
                is_data_event(record),
            )
            usage = self.usage.get(arn)
            if usage is None:
                usage = self.usage[arn] = Usage(arn)
            usage.record(key, when, event_id)
            observe.observe(usage, key, record)

    def results(self) -> dict[str, Usage]:
        """Usage per principal ARN, each carrying the scan's statistics."""
        for usage in self.usage.values():
            usage.stats = self.stats
        return self.usage


def scan(
    source: TrailSource,
    selection: Selection,
    principal: Principal | None,
    *,
    on_file: ProgressCallback | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> dict[str, Usage]:
    """Scan every file of `source` that `selection` needs, in this process."""
    scan_state = Scan(ScanQuery.for_selection(principal, selection, max_file_bytes=max_file_bytes))
    for obj, data in iter_contents(source, source.list_objects(selection)):
        scan_state.stats.files_listed += 1
        if obj.size > max_file_bytes:  # the cap bounds a worker's memory
            scan_state.stats.skip(obj.key, f"larger than {max_file_bytes} bytes")
            continue
        if isinstance(data, OSError):
            scan_state.stats.skip(obj.key, f"unreadable: {data.strerror or data}")
            continue
        scan_state.add_file(obj.key, data)
        if on_file is not None:
            on_file(obj)
    return scan_state.results()
