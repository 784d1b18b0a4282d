"""CloudTrail records in the shapes people hold them, recognised by content, not file name.

The scanner reads CloudTrail's own delivery files (`{"Records":[...]}`) itself, fast; only
a file it cannot read that way comes here. Recognised, each into the same `Record`s:

- a JSON array of records, or NDJSON (one record a line, as log shippers write them),
  with `eventTime`, or only `@timestamp` (Logstash, Elastic);
- a record wrapped by the tool that exported it, found under `CloudTrailEvent` (the JSON
  string of `aws cloudtrail lookup-events`), `_source` (Elasticsearch), `detail`
  (EventBridge), `message` (CloudWatch Logs, shippers), `_raw` or `result` (Splunk), or
  under a dotted key the user names (`record_key`);
- documents holding many of them: `Events` (lookup-events), `Records`, `hits.hits`
  (an Elasticsearch response), `logEvents` (CloudWatch Logs subscriptions), `results`
  (Splunk), `QueryResultRows` (CloudTrail Lake's GetQueryResults); several documents
  concatenated (pages appended to one file) are read one after the other;
- CSV or JSON exports of CloudTrail Lake and Athena: the record's columns, in any letter
  case, nested columns as JSON or as Trino's `{name=value, ...}` text, times as
  `2026-01-05 10:00:00.000`.

A file where none of this finds a record is not a log file (`read` returns None); one
that starts as JSON but is not (cut off, damaged) raises `NotJSON`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from policygen.cloudtrail.records import RAW_ARRAY_DECODER, Record

#: Keys a tool wraps a record in, tried in this order.
WRAPPERS = ("CloudTrailEvent", "_source", "detail", "message", "_raw", "result", "event")
#: Keys of a document that hold many records (dotted: nested).
CONTAINERS = ("Records", "Events", "hits.hits", "logEvents", "results", "QueryResultRows")
#: The record fields whose names Athena and CloudTrail Lake write in lower case.
FIELDS = """eventVersion userIdentity eventTime eventSource eventName awsRegion
sourceIPAddress userAgent errorCode errorMessage requestParameters responseElements
additionalEventData requestID eventID readOnly resources eventType apiVersion
managementEvent recipientAccountId sharedEventID eventCategory vpcEndpointId
serviceEventDetails sessionCredentialFromConsole tlsDetails addendum edgeDeviceDetails
type principalId arn accountId accessKeyId userName sessionContext invokedBy
identityProvider sessionIssuer attributes webIdFederationData sourceIdentity
creationDate mfaAuthenticated ec2RoleDelivery onBehalfOf credentialId""".split()
CANONICAL = {name.lower(): name for name in FIELDS}
#: `resources[]` items name their ARN `ARN`.
RESOURCE_KEYS = {"arn": "ARN", "accountid": "accountId", "type": "type"}
#: Fields whose content is the service's own JSON: never renamed.
OPAQUE = frozenset(
    {"requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"}
)
BOOLEANS = frozenset({"readOnly", "managementEvent", "sessionCredentialFromConsole"})
#: Where a Trino row (`{a=1, b={c=2}}`) starts its next `name=`.
_TRINO_KEY = re.compile(r"[A-Za-z_@$][\w@$.:-]*=")


class NotJSON(ValueError):
    """A file that starts as JSON and is not: damaged, not merely another kind of file."""


class Stamped(Record, frozen=True, gc=False):
    """A record that may carry its time as `@timestamp` only (Logstash, Elastic)."""

    timestamp: str | None = msgspec.field(default=None, name="@timestamp")


STAMPED_DECODER = msgspec.json.Decoder(Stamped)


@dataclass(slots=True)
class Found:
    """What a file held: its records, how it was written, and what could not be used.

    `bad` counts records with a wrongly typed field; `other` counts items that held no
    record at all (a log shipper's own lines, an export's summary row).
    """

    shape: str
    records: list[Record]
    bad: int = 0
    other: int = 0
    wrapper: str = ""

    def describe(self) -> str:
        return f"{self.shape} (records under {self.wrapper})" if self.wrapper else self.shape


class _Reader:
    """Collects records from items of any shape into one `Found`."""

    def __init__(self, shape: str, record_key: str | None) -> None:
        self.found = Found(shape, [])
        self.path = record_key.split(".") if record_key else None

    def item(self, item: Any) -> None:
        """One item: bytes of one JSON value, or an already decoded value."""
        if isinstance(item, bytes | memoryview | msgspec.Raw):
            if self._fast(item):
                return
            try:
                item = msgspec.json.decode(item)
            except msgspec.DecodeError:
                self.found.other += 1
                return
        self.value(item)

    def _fast(self, raw: bytes | memoryview | msgspec.Raw) -> bool:
        """A plain record, decoded straight into a `Record` (most exports): True when done."""
        try:
            record = STAMPED_DECODER.decode(raw)
        except msgspec.DecodeError:  # also a ValidationError: the slow path counts it
            return False
        if record.eventName is None and record.userIdentity is None:
            return False
        self.found.records.append(_timed(record))
        return True

    def value(self, value: Any) -> None:
        """A decoded value: a record, a wrapper, or a document of many records."""
        if isinstance(value, list):
            for element in value:
                self.value(element)
            return
        value = _json_text(value)
        if not isinstance(value, dict):
            self.found.other += 1
            return
        handled = self.path is not None and self._at_path(value)
        if handled or self._wrapped(value) or self._contained(value):
            return
        if _looks_like_record(value):
            self.record(value)
        else:
            self.found.other += 1

    def _at_path(self, value: dict[str, Any]) -> bool:
        """The record (or list of records) under the key the user named, if it is here."""
        inner: Any = value
        for key in self.path or ():
            inner = _json_text(inner)
            inner = inner.get(key) if isinstance(inner, dict) else None
        inner = _json_text(inner)
        if isinstance(inner, dict) and _looks_like_record(inner):
            self.found.wrapper = ".".join(self.path or ())
            self.record(inner)
            return True
        if isinstance(inner, list):
            self.found.wrapper = ".".join(self.path or ())
            for element in inner:
                self._element(element)
            return True
        return False

    def _element(self, element: Any) -> None:
        element = _json_text(element)
        if isinstance(element, dict) and _looks_like_record(element):
            self.record(element)
        else:
            self.found.other += 1

    def _contained(self, value: dict[str, Any]) -> bool:
        """A document holding many records (lookup-events, a search response, ...)."""
        for key in CONTAINERS:
            inner: Any = value
            for part in key.split("."):
                inner = inner.get(part) if isinstance(inner, dict) else None
            if not isinstance(inner, list):
                continue
            if key == "QueryResultRows":
                self.found.shape = "CloudTrail Lake query results"
                inner = [_lake_row(row) for row in inner]
            elif key == "Events":
                self.found.shape = "lookup-events output"
            for element in inner:
                self.value(element)
            return True
        return False

    def _wrapped(self, value: dict[str, Any]) -> bool:
        """A record inside the key a tool wrapped it in (checked before the record test:
        a lookup-events item has `EventName` too)."""
        for key in WRAPPERS:
            inner = _json_text(value.get(key))
            if isinstance(inner, dict) and (_looks_like_record(inner) or key == "result"):
                self.found.wrapper = self.found.wrapper or key
                self.value(inner)
                return True
        return False

    def record(self, value: dict[str, Any]) -> None:
        """A record as a dict (any letter case, nested parts perhaps as text)."""
        try:
            record = STAMPED_DECODER.decode(msgspec.json.encode(_canonical(value)))
        except (msgspec.ValidationError, msgspec.DecodeError, TypeError, ValueError):
            self.found.bad += 1
            return
        self.found.records.append(_timed(record))


def read(text: bytes, record_key: str | None = None) -> Found | None:
    """The records of a file that is not a CloudTrail delivery file, or None when it holds
    none in any shape this module knows."""
    body = text.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body:
        return None
    if body[:1] == b"[":
        try:
            items: Iterable[Any] = RAW_ARRAY_DECODER.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise NotJSON(f"not JSON: {exc}") from None
        return _finish("JSON array", items, record_key)
    if body[:1] == b"{":
        try:
            document = msgspec.json.decode(body)
        except RecursionError as exc:
            raise NotJSON(f"not JSON: {exc}") from None
        except msgspec.DecodeError:
            return _finish("NDJSON", _documents(body), record_key)
        return _finish("JSON", [document], record_key)
    return _csv(body, record_key)


def _finish(shape: str, items: Iterable[Any], record_key: str | None) -> Found | None:
    reader = _Reader(shape, record_key)
    for item in items:
        reader.item(item)
    found = reader.found
    return found if found.records or found.bad else None


def _documents(body: bytes) -> Iterator[Any]:
    """One JSON value a line; or, when a line is not one, values written one after another
    (pretty-printed pages appended to one file, `}{` as Firehose writes)."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    try:
        first = msgspec.json.decode(lines[0])
    except msgspec.DecodeError:
        yield from _concatenated(body.decode("utf-8", errors="replace"))
        return
    yield first
    yield from lines[1:]


def _concatenated(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at >= len(text):
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise NotJSON(f"not JSON: {exc}") from None
        yield value


def _csv(body: bytes, record_key: str | None) -> Found | None:
    """A CSV export: Lake's or Athena's columns, or a SIEM's with the record as JSON text."""
    text = body.decode("utf-8", errors="replace")
    try:
        header = next(csv.reader(io.StringIO(text[: text.find("\n") + 1 or None])))
    except (StopIteration, csv.Error):
        return None
    names = {name.strip().lower() for name in header}
    columns = {"eventname", "eventsource"} <= names
    wrapped = bool(names & {"_raw", "message", "cloudtrailevent"}) or (
        record_key is not None and record_key.lower() in names
    )
    if not columns and not wrapped:
        return None
    rows: Iterator[Any] = csv.DictReader(io.StringIO(text))
    if columns:
        rows = ({"row": _columns(row)} for row in rows)
        record_key = "row"
    try:
        found = _finish("CSV", rows, record_key)
    except csv.Error:
        return None
    if found is not None and columns:
        found.wrapper = ""
    return found


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """A row of record columns as a record: `a.b` columns nested, empty cells dropped."""
    record: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or cell is None or cell == "":
            continue
        *parents, last = name.strip().split(".")
        place = record
        for parent in parents:
            place = place.setdefault(parent, {})
        place[last] = cell
    return record


def _lake_row(row: Any) -> Any:
    """A `QueryResultRows` row (`[{"column": "value"}, ...]`) as one dict of columns."""
    if not isinstance(row, list):
        return row
    merged: dict[str, Any] = {}
    for cell in row:
        if isinstance(cell, dict):
            merged.update(cell)
    return _columns(merged)


def _looks_like_record(value: dict[str, Any]) -> bool:
    keys = {key.lower() for key in value}
    return "eventname" in keys and ("eventsource" in keys or "useridentity" in keys)


def _json_text(value: Any) -> Any:
    """A JSON object or array held as text (a wrapper's string, a Lake cell), decoded."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _canonical(value: dict[str, Any], keys: dict[str, str] = CANONICAL) -> dict[str, Any]:
    """A record dict with CloudTrail's field names, types and nesting."""
    record: dict[str, Any] = {}
    for key, item in value.items():
        name = keys.get(key.lower(), key)
        record[name] = _field(name, item)
    return record


def _field(name: str, item: Any) -> Any:
    if isinstance(item, str):
        if item in ("", "null", "NULL") and name != "eventTime":
            return None
        if name in BOOLEANS:
            return item.lower() == "true"
        if item[:1] in ("{", "[") and name not in ("errorMessage", "userAgent"):
            decoded = _json_text(item)
            item = decoded if decoded is not item else trino(item)
    if name in OPAQUE:
        return item
    if name == "resources" and isinstance(item, list):
        return [_canonical(r, RESOURCE_KEYS) if isinstance(r, dict) else r for r in item]
    if isinstance(item, dict):
        return _canonical(item)
    return item


def _timed(record: Stamped) -> Record:
    """The record with its time as CloudTrail writes it (`@timestamp` when it has no other)."""
    when = record.eventTime or record.timestamp
    if when is not None and (len(when) != 20 or when[10] != "T"):
        when = iso_time(when)
    if when != record.eventTime:
        return msgspec.structs.replace(record, eventTime=when)
    return record


def iso_time(value: str) -> str | None:
    """`2026-01-05T10:00:00Z` from the forms exports write (`.000Z`, a space, an offset)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trino(text: str) -> Any:
    """A value as Trino (Athena, CloudTrail Lake) prints rows, maps and arrays:
    `{type=Role, arn=arn:aws:iam::1:role/x, attributes={mfaauthenticated=false}}`."""
    value, _ = _trino_value(text, 0, "")
    return value


def _trino_value(text: str, at: int, stops: str) -> tuple[Any, int]:
    if text.startswith("{", at):
        return _trino_row(text, at + 1)
    if text.startswith("[", at):
        items, at = [], at + 1
        while at < len(text) and text[at] != "]":
            item, at = _trino_value(text, at, ",]")
            items.append(item)
            at = _skip_separator(text, at)
        return items, at + 1
    end = at
    while end < len(text) and not (text[end] in stops and _ends_scalar(text, end, stops)):
        end += 1
    scalar = text[at:end].strip()
    return (None if scalar == "null" else scalar), end


def _trino_row(text: str, at: int) -> tuple[dict[str, Any], int]:
    row: dict[str, Any] = {}
    while at < len(text) and text[at] != "}":
        equals = text.find("=", at)
        if equals < 0:
            break
        key = text[at:equals].strip()
        row[key], at = _trino_value(text, equals + 1, ",}")
        at = _skip_separator(text, at)
    return row, at + 1


def _ends_scalar(text: str, at: int, stops: str) -> bool:
    """A `,` ends a scalar only before the next `name=` (rows) or item (arrays)."""
    if text[at] != ",":
        return True
    if "]" in stops:
        return True
    return _TRINO_KEY.match(text, at + 1 + (text[at + 1 : at + 2] == " ")) is not None


def _skip_separator(text: str, at: int) -> int:
    if text.startswith(", ", at):
        return at + 2
    return at + 1 if text.startswith(",", at) else at
