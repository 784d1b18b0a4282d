"""A stand-in for CloudTrail's LookupEvents, served over HTTP on loopback (moto lacks it).

It answers as botocore's model of the API says the service does (JSON 1.1 protocol,
`X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`,
SigV4-signed requests for service `cloudtrail`): events newest first, at most 50 a page
(`MaxResults` 1-50), an opaque `NextToken` tied to the query, one lookup attribute at
most, only the last 90 days, and `ThrottlingException` (HTTP 400) for the requests a
test says to throttle. Every request is recorded so that tests can check what was asked.
policygen reaches it through `AWS_ENDPOINT_URL_CLOUDTRAIL`, with real boto3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
HISTORY = timedelta(days=90)
ATTRIBUTE_FIELDS = {
    "EventId": "EventId",
    "EventName": "EventName",
    "ReadOnly": "ReadOnly",
    "Username": "Username",
    "EventSource": "EventSource",
    "AccessKeyId": "AccessKeyId",
}
SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/cloudtrail/aws4_request")


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Asked:
    """One request as received: its region, body, and whether it was throttled."""

    region: str
    body: dict[str, Any]
    throttled: bool = False


@dataclass
class History:
    """The events of each region, and what the stand-in was asked."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: requests to refuse with ThrottlingException, by their position (0: the first).
    throttle: set[int] = field(default_factory=set)
    #: an error code to answer every request with (AccessDeniedException, ...).
    refuse: str | None = None
    asked: list[Asked] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, region: str, record: dict[str, Any]) -> None:
        """Hold a record as CloudTrail's event history does (its lookup fields derived)."""
        identity = record["userIdentity"]
        username = identity.get("userName") or identity.get("arn", "").rsplit("/", 1)[-1]
        self.events.setdefault(region, []).append(
            {
                "EventId": record["eventID"],
                "EventName": record["eventName"],
                "ReadOnly": str(record.get("readOnly", True)).lower(),
                "AccessKeyId": identity.get("accessKeyId", ""),
                "EventTime": _epoch(record["eventTime"]),
                "EventSource": record["eventSource"],
                "Username": username,
                "Resources": [],
                "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
            }
        )

    def answer(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            position = len(self.asked)
            throttled = position in self.throttle
            self.asked.append(Asked(region, body, throttled))
        if throttled:
            raise ApiError("ThrottlingException", "Rate exceeded")
        if self.refuse:
            raise ApiError(
                self.refuse, "User is not authorized to perform: cloudtrail:LookupEvents"
            )
        return self._page(region, body)

    def _page(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        size = body.get("MaxResults", 50)
        if not isinstance(size, int) or not 1 <= size <= 50:
            raise ApiError("InvalidMaxResultsException", "MaxResults must be 1-50")
        attributes = body.get("LookupAttributes", [])
        if len(attributes) > 1:
            raise ApiError("InvalidLookupAttributesException", "only one attribute is allowed")
        start = body.get("StartTime", float("-inf"))
        end = body.get("EndTime", float("inf"))
        if start > end:
            raise ApiError("InvalidTimeRangeException", "StartTime is after EndTime")
        oldest = (datetime.now(UTC) - HISTORY).timestamp()
        found = [
            event
            for event in self.events.get(region, [])
            if max(start, oldest) <= event["EventTime"] <= end
            and all(
                event[ATTRIBUTE_FIELDS[a["AttributeKey"]]] == a["AttributeValue"]
                for a in attributes
            )
        ]
        found.sort(key=lambda event: event["EventTime"], reverse=True)
        query = hashlib.sha256(json.dumps([region, start, end, attributes]).encode()).hexdigest()
        offset = _offset(body.get("NextToken"), query)
        page: dict[str, Any] = {"Events": found[offset : offset + size]}
        if offset + size < len(found):
            token = f"{query}:{offset + size}".encode()
            page["NextToken"] = base64.b64encode(token).decode()
        return page


def _offset(token: str | None, query: str) -> int:
    if token is None:
        return 0
    try:
        made_for, offset = base64.b64decode(token).decode().split(":")
        if made_for == query:
            return int(offset)
    except ValueError:
        pass
    raise ApiError("InvalidNextTokenException", "invalid NextToken")


def _epoch(when: str) -> float:
    return datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()


def _handler(history: History) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            scope = SCOPE_RE.search(self.headers.get("Authorization", ""))
            try:
                if scope is None:
                    raise ApiError("MissingAuthenticationTokenException", "not signed", 403)
                if self.headers.get("X-Amz-Target") != TARGET:
                    raise ApiError("UnknownOperationException", "only LookupEvents", 400)
                answer = history.answer(scope[1], json.loads(body or b"{}"))
                self._send(200, answer)
            except ApiError as exc:
                self._send(exc.status, {"__type": exc.code, "message": exc.message})

        def _send(self, status: int, document: dict[str, Any]) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def lookup_server(history: History) -> Iterator[str]:
    """Serve `history` on a free loopback port; yields the endpoint URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(history))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
