"""Hand-written CloudTrail records as the bytes of a log file, and `scan_batch` run on them
in this process, for the scanner tests (`test_decode`, `test_tally`, `test_tally_files`):
small enough to count every expected value by hand."""

from __future__ import annotations

import json
from typing import Any

from policygen.core.arns import Principal
from policygen.scan.files import FileTasks
from policygen.scan.query import ScanQuery
from policygen.scan.tally import BatchResult, scan_batch

from logfactory import user_identity

ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/bob"
DEPLOYER = "arn:aws:iam::111122223333:role/app/deployer"
MALLORY = "arn:aws:iam::444455556666:user/mallory"


def rec(
    name: str, who: str | dict[str, Any] | None = ALICE, when: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A record as CloudTrail writes it (`eventVersion` first) of an S3 call `name` by `who`
    (a user or role ARN, a whole `userIdentity`, or None: no identity) at `when` (10:00)."""
    body: dict[str, Any] = {"eventVersion": "1.09"}
    if who is not None:
        body["userIdentity"] = user_identity(who) if isinstance(who, str) else who
    body["eventTime"] = when or "2026-01-05T10:00:00Z"
    body["eventSource"] = "s3.amazonaws.com"
    body["eventName"] = name
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def delivery(*records: dict[str, Any], tail: bytes = b"") -> bytes:
    """A delivery file laid out as CloudTrail writes it: compact, records back to back."""
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode() + tail


S3 = "s3.amazonaws.com"
EC2 = "ec2.amazonaws.com"
DAY = ("2026-01-05T00:00:00Z", "2026-01-05T23:59:59Z")
T10, T11, T12 = "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z"
LOG_KEY = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
LOG_NAME = LOG_KEY + "111122223333_CloudTrail_us-east-1_20260105T1005Z_AbCd1234.json"
WEB_ROLE = "arn:aws:iam::111122223333:role/web"


def query(principal: str | None = ALICE, **options: Any) -> ScanQuery:
    return ScanQuery(Principal.parse(principal) if principal else None, *DAY, **options)


def scan(
    q: ScanQuery,
    *files: bytes,
    keys: list[str] | None = None,
    **columns: Any,
) -> BatchResult:
    """`scan_batch` over files whose bytes are given (as a parent hands a worker S3 objects)."""
    tasks = FileTasks(
        keys or [f"file{at}.json" for at in range(len(files))],
        [len(data) for data in files],
        [None] * len(files),
        list(files),
        **columns,
    )
    return scan_batch(q, tasks)


def counts(result: BatchResult) -> dict[tuple[str, str, str, str], int]:
    """(principal, eventName, qualifier, outcome) -> count."""
    return {
        (arn, call.event_name, call.qualifier, call.outcome): stats.count
        for arn, call, _, stats, _, _ in result.calls
    }
