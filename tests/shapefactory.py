"""The same CloudTrail records written in the shapes people export them in.

Each writer follows the documented or observed output of the tool it stands for; none
uses policygen's reader (`policygen.shapes`), so a test comparing both is a real check.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

Records = list[dict[str, Any]]

#: CloudTrail Lake's columns for `SELECT *`, in its order (eventdata fields).
LAKE_COLUMNS = """eventVersion userIdentity eventTime eventSource eventName awsRegion
sourceIPAddress userAgent errorCode errorMessage requestParameters responseElements
requestId eventId readOnly resources eventType managementEvent recipientAccountId
eventCategory""".split()


def trino(value: Any, *, lower: bool = True) -> str:
    """A value as Trino (Athena, CloudTrail Lake) prints ROW, MAP and ARRAY values: ROW
    field names in lower case, MAP keys (`lower=False`) as they are."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        items = (f"{k.lower() if lower else k}={trino(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(trino(item) for item in value) + "]"
    return str(value)


def lake_time(when: str) -> str:
    """`2026-01-05T10:00:00Z` as Lake prints a TIMESTAMP: `2026-01-05 10:00:00.000`."""
    return when.replace("T", " ").replace("Z", ".000")


def json_array(records: Records) -> bytes:
    return json.dumps(records, indent=1).encode()


def ndjson(records: Records, *, stamp: str = "eventTime") -> bytes:
    """One record a line; `stamp`: `eventTime`, `@timestamp` (Logstash) or `both`."""
    lines = []
    for record in records:
        line = dict(record)
        if stamp != "eventTime":
            line["@timestamp"] = record["eventTime"].replace("Z", ".000Z")
            line["@version"] = "1"
        if stamp == "@timestamp":
            del line["eventTime"]
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode()


def wrapped(records: Records, key: str) -> bytes:
    """NDJSON whose lines hold the record under `key` (as an object; `message`: as text)."""
    lines = []
    for at, record in enumerate(records):
        inner: Any = json.dumps(record) if key == "message" else record
        lines.append(json.dumps({"_index": "cloudtrail", "_id": str(at), key: inner}))
    return ("\n".join(lines) + "\n").encode()


def elastic_response(records: Records) -> bytes:
    """A search response, as Elasticsearch's `_search` returns it."""
    hits = [{"_index": "cloudtrail", "_id": str(n), "_source": r} for n, r in enumerate(records)]
    return json.dumps({"took": 3, "hits": {"total": {"value": len(hits)}, "hits": hits}}).encode()


def eventbridge(records: Records) -> bytes:
    """A JSON array of EventBridge events ("AWS API Call via CloudTrail")."""
    events = [
        {
            "version": "0",
            "id": f"eb-{n}",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws." + r["eventSource"].split(".")[0],
            "account": r["recipientAccountId"],
            "time": r["eventTime"],
            "region": r["awsRegion"],
            "resources": [],
            "detail": {k: v for k, v in r.items() if k != "eventVersion"},
        }
        for n, r in enumerate(records)
    ]
    return json.dumps(events).encode()


def splunk(records: Records) -> bytes:
    """Splunk's JSON export of a search: one `{"result": {"_raw": ...}}` a line."""
    lines = [
        json.dumps({"preview": False, "offset": n, "result": {"_raw": json.dumps(r), "_time": n}})
        for n, r in enumerate(records)
    ]
    return ("\n".join(lines) + "\n").encode()


def splunk_csv(records: Records) -> bytes:
    """Splunk's CSV export of a search: the record as text in the `_raw` column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["_time", "host", "_raw"])
    for record in records:
        writer.writerow([record["eventTime"], "ct", json.dumps(record)])
    return out.getvalue().encode()


def lookup_events(records: Records) -> bytes:
    """`aws cloudtrail lookup-events` output (the CLI joins the pages into one document)."""
    events = [
        {
            "EventId": r["eventID"],
            "EventName": r["eventName"],
            "ReadOnly": str(r.get("readOnly", True)).lower(),
            "EventTime": r["eventTime"].replace("Z", "+00:00"),
            "EventSource": r["eventSource"],
            "Username": r["userIdentity"].get("userName", "session"),
            "Resources": [],
            "CloudTrailEvent": json.dumps(r),
        }
        for r in records
    ]
    return json.dumps({"Events": events}, indent=4).encode()


def lake_row(record: dict[str, Any]) -> dict[str, str]:
    """One record as CloudTrail Lake's query results print it: nested values in Trino's
    text, times as TIMESTAMPs, absent fields as empty cells."""
    by_lower = {key.lower(): value for key, value in record.items()}
    row = {}
    for column in LAKE_COLUMNS:
        value = by_lower.get(column.lower())
        if column == "eventTime":
            value = lake_time(value)
        is_map = column in ("requestParameters", "responseElements")
        row[column] = "" if value is None else trino(value, lower=not is_map)
    return row


def lake_csv(records: Records) -> bytes:
    """A CloudTrail Lake result downloaded as CSV (`SELECT * FROM <event data store>`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, LAKE_COLUMNS)
    writer.writeheader()
    writer.writerows(lake_row(r) for r in records)
    return out.getvalue().encode()


def lake_results(records: Records) -> bytes:
    """`aws cloudtrail get-query-results` output: rows of one-column objects."""
    rows = [[{column: value} for column, value in lake_row(r).items()] for r in records]
    return json.dumps({"QueryStatus": "FINISHED", "QueryResultRows": rows}).encode()


def _lower(value: Any, opaque: bool = False) -> Any:
    if isinstance(value, dict) and not opaque:
        return {k.lower(): _lower(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value


def athena_row(record: dict[str, Any]) -> dict[str, Any]:
    """A row of the CloudTrail table Athena's console creates: lower-case columns,
    `requestparameters` and `responseelements` as JSON text, `readonly` as text."""
    row = {}
    for key, value in record.items():
        if key in ("requestParameters", "responseElements"):
            value = None if value is None else json.dumps(value)
        elif key == "readOnly":
            value = str(value).lower()
        else:
            value = _lower(value)
        row[key.lower()] = value
    return row


def athena_json(records: Records) -> bytes:
    """Athena `UNLOAD ... WITH (format = 'JSON')`: one lower-cased row a line."""
    return ("\n".join(json.dumps(athena_row(r)) for r in records) + "\n").encode()


def athena_csv(records: Records) -> bytes:
    """An Athena query result CSV: every cell quoted, rows and arrays in Trino's text."""
    rows = [athena_row(r) for r in records]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else trino(row.get(c)) for c in columns])
    return out.getvalue().encode()


#: name -> (file name, writer): every shape a test can put the same records in.
SHAPES: dict[str, tuple[str, Callable[[Records], bytes]]] = {
    "json-array": ("export.json", json_array),
    "ndjson": ("events.ndjson", ndjson),
    "ndjson-@timestamp": ("logstash.json", lambda r: ndjson(r, stamp="@timestamp")),
    "ndjson-both-times": ("logstash.json", lambda r: ndjson(r, stamp="both")),
    "elastic-_source": ("elastic.json", lambda r: wrapped(r, "_source")),
    "elastic-response": ("search.json", elastic_response),
    "message-text": ("shipper.log", lambda r: wrapped(r, "message")),
    "eventbridge": ("eventbridge.json", eventbridge),
    "splunk": ("splunk.json", splunk),
    "splunk-csv": ("splunk.csv", splunk_csv),
    "lookup-events": ("lookup.json", lookup_events),
    "lake-csv": ("lake.csv", lake_csv),
    "lake-results": ("lake-results.json", lake_results),
    "athena-json": ("athena.json", athena_json),
    "athena-csv": ("athena.csv", athena_csv),
}
