"""Hand-written CloudTrail records as the bytes of a log file, for the in-process scanner
tests (`test_decode`, `test_tally`): small enough to count every expected value by hand."""

from __future__ import annotations

import json
from typing import Any

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
