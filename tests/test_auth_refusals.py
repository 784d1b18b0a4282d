"""SigV4 refusals, each with the AWS error type and the exact message, written by hand.

A refusal that names the wrong problem sends a client author the wrong way; the messages
follow AWS's where AWS has one (the signature mismatch, the invalid token, the clock skew
wording) and say what to fix elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from policygen.server.auth import RequestHead
from policygen.server.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)
from test_auth import SIGNED_AT, URL, _replace, refusal, signed, verify

Headers = list[tuple[str, str]]
CREDENTIAL = "AKIDEXAMPLEKEY000001/20260105/eu-west-1/access-analyzer/aws4_request"
SCOPE_HINT = (
    "Credential must have exactly 5 slash-delimited elements, "
    "e.g. keyid/date/region/service/aws4_request."
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


def _authorization(headers: Headers, value: Callable[[str], str]) -> Headers:
    return [(k, value(v) if k == "authorization" else v) for k, v in headers]


HEADER_CASES: list[tuple[str, Callable[[Headers], Headers], type, str]] = [
    (
        "no-authorization",
        lambda h: [(k, v) for k, v in h if k != "authorization"],
        MissingAuthenticationTokenError,
        "Missing Authentication Token",
    ),
    (
        "algorithm",
        lambda h: _replace(h, "authorization", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA1 "),
        IncompleteSignatureError,
        "Unsupported signing algorithm; use AWS4-HMAC-SHA256.",
    ),
    (
        "empty-authorization",
        lambda h: _authorization(h, lambda v: ""),
        IncompleteSignatureError,
        "Authorization header requires 'Credential' parameter. Authorization header requires "
        "'SignedHeaders' parameter. Authorization header requires 'Signature' parameter.",
    ),
    (
        "no-signature",
        lambda h: _authorization(h, lambda v: v.split(", Signature=")[0]),
        IncompleteSignatureError,
        "Authorization header requires 'Signature' parameter.",
    ),
    (
        "equals-in-credential",  # the first "=" ends a field's name: key "a=AKID..."
        lambda h: _replace(h, "authorization", "Credential=", "Credential=a="),
        UnrecognizedClientError,
        "The security token included in the request is invalid.",
    ),
    (
        "four-part-scope",
        lambda h: _replace(h, "authorization", "/aws4_request", ""),
        IncompleteSignatureError,
        SCOPE_HINT,
    ),
    (
        "empty-region",
        lambda h: _replace(h, "authorization", "/eu-west-1/", "//"),
        IncompleteSignatureError,
        SCOPE_HINT,
    ),
    (
        "bad-scope-date",
        lambda h: _replace(h, "authorization", "/20260105/", "/2026015/"),
        IncompleteSignatureError,
        SCOPE_HINT,
    ),
    (
        "wrong-terminator",
        lambda h: _replace(h, "authorization", "/aws4_request", "/aws4_reques"),
        IncompleteSignatureError,
        SCOPE_HINT,
    ),
    (
        "bad-date",
        lambda h: _replace(h, "x-amz-date", "T", "t"),
        IncompleteSignatureError,
        "The request needs an X-Amz-Date in the ISO 8601 basic format (20260105T000000Z).",
    ),
    (
        "no-date",
        lambda h: [(k, v) for k, v in h if k != "x-amz-date"],
        IncompleteSignatureError,
        "The request needs an X-Amz-Date in the ISO 8601 basic format (20260105T000000Z).",
    ),
    (
        "scope-date-mismatch",
        lambda h: _replace(h, "x-amz-date", "20260105", "20260106"),
        InvalidSignatureError,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20260105' != '20260106', from '20260106T120000Z'.",
    ),
    (
        "unknown-key",
        lambda h: _replace(h, "authorization", "AKIDEXAMPLEKEY000001", "AKIDOTHERKEY00000001"),
        UnrecognizedClientError,
        "The security token included in the request is invalid.",
    ),
    (
        "date-not-signed",
        lambda h: _replace(
            h, "authorization", "SignedHeaders=host;x-amz-date", "SignedHeaders=host"
        ),
        IncompleteSignatureError,
        "SignedHeaders must include x-amz-date.",
    ),
    (
        "host-not-signed",
        lambda h: _replace(h, "authorization", "SignedHeaders=host;", "SignedHeaders="),
        IncompleteSignatureError,
        "SignedHeaders must include host.",
    ),
    (
        "signed-header-absent",
        lambda h: _replace(h, "authorization", "SignedHeaders=host;", "SignedHeaders=a-b;host;"),
        IncompleteSignatureError,
        "Signed header 'a-b' is not in the request.",
    ),
    (
        "content-hash",
        lambda h: [*h, ("x-amz-content-sha256", "0" * 64)],
        InvalidSignatureError,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    (
        "signature",
        lambda h: _replace(h, "authorization", "Signature=", "Signature=0"),
        InvalidSignatureError,
        MISMATCH,
    ),
    (
        "signature-beyond-latin-1",  # compared as bytes: a mismatch, not a server error
        lambda h: _replace(h, "authorization", "Signature=", "Signature=\u20ac"),
        InvalidSignatureError,
        MISMATCH,
    ),
    (
        "neither-required-header-signed",
        lambda h: _replace(
            h, "authorization", "SignedHeaders=host;x-amz-date", "SignedHeaders=accept"
        ),
        IncompleteSignatureError,
        "SignedHeaders must include host, x-amz-date.",
    ),
]


@pytest.mark.parametrize(
    "change, error, message", [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES]
)
def test_header_refusals(
    monkeypatch: pytest.MonkeyPatch, change: Callable, error: type, message: str
) -> None:
    head = signed(monkeypatch)
    assert dict(head.headers)["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature="
    )
    broken = RequestHead(head.method, head.raw_path, head.query_string, change(list(head.headers)))
    caught = refusal(broken)
    assert (type(caught), caught.message) == (error, message)


def _presigned(monkeypatch: pytest.MonkeyPatch, query: Callable[[str], str]) -> RequestHead:
    head = signed(monkeypatch, presign=60)
    return RequestHead(head.method, head.raw_path, query(head.query_string), head.headers)


PRESIGNED_CASES: list[tuple[str, Callable[[str], str], type, str]] = [
    (
        "no-expires",
        lambda q: "&".join(p for p in q.split("&") if not p.startswith("X-Amz-Expires=")),
        IncompleteSignatureError,
        "X-Amz-Expires must be a number of seconds from 1 to 604800.",
    ),
    (
        "zero-expires",
        lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=0"),
        IncompleteSignatureError,
        "X-Amz-Expires must be a number of seconds from 1 to 604800.",
    ),
    (
        "over-a-week",
        lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"),
        IncompleteSignatureError,
        "X-Amz-Expires must be a number of seconds from 1 to 604800.",
    ),
    (
        "no-signature",
        lambda q: "&".join(p for p in q.split("&") if not p.startswith("X-Amz-Signature=")),
        IncompleteSignatureError,
        "A presigned URL requires 'Signature' parameter.",
    ),
    (
        "token",
        lambda q: q + "&X-Amz-Security-Token=abc",
        UnrecognizedClientError,
        "The security token included in the request is invalid.",
    ),
    (
        "algorithm",
        lambda q: q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4"),
        IncompleteSignatureError,
        "Unsupported signing algorithm; use AWS4-HMAC-SHA256.",
    ),
]


@pytest.mark.parametrize(
    "query, error, message",
    [c[1:] for c in PRESIGNED_CASES],
    ids=[c[0] for c in PRESIGNED_CASES],
)
def test_presigned_refusals(
    monkeypatch: pytest.MonkeyPatch, query: Callable, error: type, message: str
) -> None:
    caught = refusal(_presigned(monkeypatch, query))
    assert (type(caught), caught.message) == (error, message)


def test_presigned_url_valid_until_its_last_second(monkeypatch: pytest.MonkeyPatch) -> None:
    head = signed(monkeypatch, presign=60)
    assert verify(head, moment=SIGNED_AT + timedelta(seconds=60)).region == "eu-west-1"
    caught = refusal(head, moment=SIGNED_AT + timedelta(seconds=61))
    assert caught.message == (
        "Signature expired: the presigned URL signed at 20260105T120000Z was valid for 60 seconds."
    )
    # a presigned URL is not bound by the clock skew, only by its expiry
    long = signed(monkeypatch, presign=3600)
    assert verify(long, moment=SIGNED_AT + timedelta(minutes=59)).account == "111122223333"


@pytest.mark.parametrize("seconds", [1, 604800])  # X-Amz-Expires' bounds, both allowed
def test_presigned_expiry_bounds_are_accepted(
    monkeypatch: pytest.MonkeyPatch, seconds: int
) -> None:
    head = signed(monkeypatch, presign=seconds)
    assert f"X-Amz-Expires={seconds}&" in f"{head.query_string}&"
    assert verify(head, moment=SIGNED_AT + timedelta(seconds=seconds)).region == "eu-west-1"


def test_both_mechanisms_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    head = signed(monkeypatch)
    both = RequestHead(head.method, head.raw_path, "X-Amz-Algorithm=AWS4-HMAC-SHA256", head.headers)
    caught = refusal(both)
    assert (type(caught), caught.message) == (
        IncompleteSignatureError,
        "Only one auth mechanism allowed: the Authorization header or the X-Amz-* query "
        "parameters.",
    )


def test_clock_skew_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    head = signed(monkeypatch)
    early = refusal(head, moment=SIGNED_AT - timedelta(minutes=16))
    assert early.message == (
        "Signature not yet current: 20260105T120000Z is still later than 20260105T115900Z "
        "(20260105T114400Z + 15 min.)"
    )
    late = refusal(head, moment=SIGNED_AT + timedelta(minutes=16))
    assert late.message == (
        "Signature expired: 20260105T120000Z is now earlier than 20260105T120100Z "
        "(20260105T121600Z - 15 min.)"
    )


def test_clock_skew_messages_are_in_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        late = refusal(signed(monkeypatch), moment=SIGNED_AT + timedelta(minutes=16))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert late.message == (
        "Signature expired: 20260105T120000Z is now earlier than 20260105T120100Z "
        "(20260105T121600Z - 15 min.)"
    )


def test_signed_body_and_query_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"a":1}'
    head = signed(monkeypatch, "PUT", f"{URL}?b=2&a=1", body)
    assert verify(head, body).access_key_id == "AKIDEXAMPLEKEY000001"
    # signed header names are read trimmed and in any case
    loose = _replace(
        list(head.headers), "authorization", "SignedHeaders=host;", "SignedHeaders=HOST ;"
    )
    assert verify(RequestHead(head.method, head.raw_path, head.query_string, loose), body)
