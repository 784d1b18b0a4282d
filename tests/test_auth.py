"""SigV4 verification in process: requests signed by botocore, then checked (or tampered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from policygen.server.auth import Authenticator, Caller, RequestHead
from policygen.server.errors import (
    CommonError,
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)
from policygen.server.settings import AccessKey

KEY = AccessKey("AKIDEXAMPLEKEY000001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "111122223333")
SIGNED_AT = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8080/policy/generation"


def authenticator(moment: datetime = SIGNED_AT) -> Authenticator:
    return Authenticator({KEY.access_key_id: KEY}, timedelta(minutes=15), clock=lambda: moment)


def signed(
    monkeypatch: pytest.MonkeyPatch,
    method: str = "GET",
    url: str = URL,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    presign: int | None = None,
    service: str = "access-analyzer",
    secret: str = KEY.secret_access_key,
) -> RequestHead:
    """What the server receives for a request botocore signed at SIGNED_AT."""
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None)
    )
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    credentials = Credentials(KEY.access_key_id, secret)
    if presign is None:
        SigV4Auth(credentials, service, "eu-west-1").add_auth(request)
    else:
        SigV4QueryAuth(credentials, service, "eu-west-1", expires=presign).add_auth(request)
    parts = urlsplit(request.url)
    sent = [(name.lower(), value) for name, value in request.headers.items()]
    return RequestHead(method, parts.path, parts.query, [*sent, ("host", parts.netloc)])


def verify(head: RequestHead, body: bytes = b"", moment: datetime = SIGNED_AT) -> Caller:
    check = authenticator(moment)
    return check.verify(head, check.check_head(head), body)


def refusal(head: RequestHead, body: bytes = b"", moment: datetime = SIGNED_AT) -> CommonError:
    with pytest.raises(CommonError) as caught:
        verify(head, body, moment)
    return caught.value


def test_botocore_signatures_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"policyGenerationDetails":{"principalArn":"arn:aws:iam::111122223333:role/x"}}'
    head = signed(monkeypatch, "PUT", URL, body, {"Content-Type": "application/json"})
    assert verify(head, body) == Caller(KEY.access_key_id, "111122223333", "eu-west-1")
    odd = f"{URL}/a%2F..%2Fb%20c?includeResourcePlaceholders=true&z=%FF"
    assert verify(signed(monkeypatch, url=odd)).account == "111122223333"
    presigned = signed(monkeypatch, presign=60)
    caller = verify(presigned, moment=SIGNED_AT + timedelta(seconds=59))
    assert caller == Caller(KEY.access_key_id, "111122223333", "eu-west-1")


@pytest.mark.parametrize(
    "offset, ok",
    [
        (timedelta(minutes=15), True),
        (timedelta(minutes=15, seconds=1), False),
        (-timedelta(minutes=15), True),
        (-timedelta(minutes=15, seconds=1), False),
    ],
)
def test_clock_skew_bounds(monkeypatch: pytest.MonkeyPatch, offset: timedelta, ok: bool) -> None:
    head = signed(monkeypatch)
    if ok:
        verify(head, moment=SIGNED_AT + offset)
    else:
        assert isinstance(refusal(head, moment=SIGNED_AT + offset), InvalidSignatureError)


def test_presigned_url_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refusal(signed(monkeypatch, presign=60), moment=SIGNED_AT + timedelta(seconds=61))
    assert error.message.startswith("Signature expired")


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda h: [(k, v) for k, v in h if k != "authorization"], MissingAuthenticationTokenError),
        (lambda h: [*h, ("x-amz-security-token", "token")], UnrecognizedClientError),
        (
            lambda h: _replace(h, "authorization", "AKIDEXAMPLEKEY000001", "AKIDOTHERKEY00000001"),
            UnrecognizedClientError,
        ),
        (
            lambda h: _replace(h, "authorization", "Signature=", "Signature=0"),
            InvalidSignatureError,
        ),
        (lambda h: _replace(h, "authorization", "/aws4_request", ""), IncompleteSignatureError),
        (lambda h: _replace(h, "authorization", "SignedHeaders=", "X="), IncompleteSignatureError),
        (lambda h: _replace(h, "x-amz-date", "20260105", "20260106"), InvalidSignatureError),
        (lambda h: [(k, v) for k, v in h if k != "host"], IncompleteSignatureError),
        (lambda h: [*h, ("x-amz-content-sha256", "0" * 64)], InvalidSignatureError),
    ],
)
def test_refusals(monkeypatch: pytest.MonkeyPatch, change, error: type[CommonError]) -> None:
    head = signed(monkeypatch)
    broken = RequestHead(head.method, head.raw_path, head.query_string, change(list(head.headers)))
    assert type(refusal(broken)) is error


def test_tampering_and_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    head = signed(monkeypatch, "PUT", URL, b'{"a":1}')
    assert isinstance(refusal(head, b'{"a":2}'), InvalidSignatureError)
    moved = RequestHead(head.method, head.raw_path + "/x", head.query_string, head.headers)
    assert isinstance(refusal(moved, b'{"a":1}'), InvalidSignatureError)
    other = refusal(signed(monkeypatch, service="s3"))
    assert other.message == "Credential should be scoped to correct service: 'access-analyzer'."
    assert isinstance(refusal(signed(monkeypatch, secret="wrong")), InvalidSignatureError)


def _replace(headers: list[tuple[str, str]], name: str, old: str, new: str) -> list:
    return [(k, v.replace(old, new) if k == name else v) for k, v in headers]
