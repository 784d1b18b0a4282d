"""Log file bytes -> records: gunzip (isal), the record cutter for one principal, msgspec.

For a one-principal job, bytes that cannot hold the principal's records are never
decoded: the principal's ARN is looked for with StringZilla's SIMD substring search
(about five times as fast as `bytes.find` on JSON text); a file without it is skipped
whole, and in a file written the way CloudTrail writes
(`{"Records":[{"eventVersion":...},...]}`) only the records around an occurrence of the
ARN are cut out and decoded.

A file that is not a delivery file (an export, a SIEM's NDJSON, lookup-events output) is
read by `policygen.cloudtrail.shapes`, only after the delivery-file decoder has failed on
it: the fast path is the same as without it.
"""

from __future__ import annotations

import msgspec
import stringzilla
from isal import isal_zlib

from policygen.cloudtrail import shapes
from policygen.cloudtrail.records import (
    LOG_DECODER,
    RAW_LOG_DECODER,
    RECORD_DECODER,
    Record,
)
from policygen.scan.usage import ScanStats

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 16 + 15
#: How every record of a file written by CloudTrail starts, and how the next one follows.
RECORD_START = b'{"eventVersion":'
NEXT_RECORD = b',{"eventVersion":'
LOG_HEAD = b'{"Records":['
LOG_TAIL = b"]}"


class FileError(Exception):
    """A log file that cannot be used; the message is the reason reported to the user."""


class NotALogFile(FileError):
    """Valid JSON without a `Records` array: a log file only if it is named like one."""


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
    return b"".join(parts)  # one member: the very same bytes, not a copy


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
    """The records of a file that is not a delivery file, in any shape `shapes` knows;
    `error` (why it is not a delivery file) when it holds none."""
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


def _array_end(text: bytes) -> int | None:
    """Where the `Records` array of a CloudTrail-written file closes, or None if it is not one."""
    if not text.startswith(LOG_HEAD):
        return None
    end = len(text)
    while end and text[end - 1] in b" \t\r\n":
        end -= 1
    return end - 2 if text[end - 2 : end] == LOG_TAIL else None


def candidate_records(text: bytes, needle: bytes, found: int = 0) -> list[Record] | None:
    """Decode only the records in which `needle` occurs; None when that cannot be done safely.

    A record is cut out from the record start before the occurrence to the next record
    start after it. In a file that is not laid out as CloudTrail writes it, or where a cut
    does not decode as exactly one record (a wrongly typed field included), None tells the
    caller to decode the whole file instead, which also accounts for bad records. `found`
    is where to start looking (the caller may know the first occurrence).
    """
    array_end = _array_end(text)
    if array_end is None:
        return None
    view = memoryview(text)
    records = []
    find, rfind, decode = stringzilla.find, stringzilla.rfind, RECORD_DECODER.decode
    found = find(text, needle, found)
    try:
        while found >= 0:
            start = rfind(text, RECORD_START, 0, found)
            end = find(text, NEXT_RECORD, found)  # none after the array: only `]}` is
            if start < 0:
                return None
            if end < 0:
                end = array_end
            records.append(decode(view[start:end]))
            # (mutants that search from the start again loop forever, growing `records`)
            found = find(text, needle, end)  # pragma: no mutate
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return records
