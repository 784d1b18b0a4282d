"""SigV4 authentication: requests signed as AWS clients sign them, checked with botocore.

The server does not implement SigV4 a second time. It reads the signature's parts from
the request, looks the access key up in the configured credentials, rebuilds the request
as botocore's signer sees it (method, path and query as sent, the signed headers, the
body) and has `botocore.auth.SigV4Auth` compute the signature the client must have
computed; the two are compared in constant time. Both signed headers (`Authorization`)
and presigned URLs (`X-Amz-*` query parameters) are accepted.

Everything the head of a request decides (no signature, a malformed one, an unknown key,
the wrong service, a clock outside the allowed skew) is refused before the body is read;
only the signature itself needs the body. Failures are AWS's common errors.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from policygen.core.time import now
from policygen.server.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)
from policygen.server.protocol import service_model
from policygen.server.settings import AccessKey

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
#: The longest a presigned URL may be valid, as AWS allows (seven days).
MAX_EXPIRES = 7 * 24 * 3600
SIGNATURE_PARAM = "X-Amz-Signature"
SECURITY_TOKEN = "X-Amz-Security-Token"
CONTENT_SHA256 = "x-amz-content-sha256"
#: What AWS answers for an access key (or session token) it does not know.
INVALID_TOKEN = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a verified request: the access key, its account, the signing region."""

    access_key_id: str
    account: str
    region: str


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request as received, before its body: the path and query exactly as sent
    (percent-encoded), header names in lower case, repeated headers kept."""

    method: str
    raw_path: str
    query_string: str
    headers: Sequence[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The first value of a header (name in lower case), if sent."""
        return next((value for key, value in self.headers if key == name), None)

    def query(self) -> dict[str, str]:
        """Decoded query parameters (the last of repeated ones)."""
        pairs = (part.partition("=") for part in self.query_string.split("&") if part)
        return {unquote(key): unquote(value) for key, _, value in pairs}


@dataclass(frozen=True, slots=True)
class Claim:
    """A signature whose head checks passed: what `verify` needs to recompute it."""

    key: AccessKey
    amz_date: str
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool


class Authenticator:
    """Verifies SigV4 signatures against the server's access keys."""

    def __init__(
        self,
        keys: Mapping[str, AccessKey],
        clock_skew: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.keys = keys
        self.clock_skew = clock_skew
        self.clock = clock
        self.service = service_model().signing_name

    def check_head(self, head: RequestHead) -> Claim:
        """Everything but the signature itself: raises the AWS error for the first problem."""
        query = head.query()
        authorization = head.header("authorization")
        if authorization is None and "X-Amz-Algorithm" not in query:
            raise MissingAuthenticationTokenError("Missing Authentication Token")
        if authorization is not None and "X-Amz-Algorithm" in query:
            raise IncompleteSignatureError(
                "Only one auth mechanism allowed: the Authorization header or the X-Amz-* "
                "query parameters."
            )
        presigned = authorization is None
        fields = _query_fields(query) if presigned else _header_fields(authorization or "")
        if fields["algorithm"] != ALGORITHM:
            raise IncompleteSignatureError(f"Unsupported signing algorithm; use {ALGORITHM}.")
        amz_date = query.get("X-Amz-Date") if presigned else head.header("x-amz-date")
        if amz_date is None or not AMZ_DATE_RE.fullmatch(amz_date):
            raise IncompleteSignatureError(
                "The request needs an X-Amz-Date in the ISO 8601 basic format (20260105T000000Z)."
            )
        key_id, scope_date, region, service = _credential_scope(fields["credential"])
        key = self.keys.get(key_id)
        if key is None or head.header(SECURITY_TOKEN.lower()) or SECURITY_TOKEN in query:
            raise UnrecognizedClientError(INVALID_TOKEN)
        if service != self.service:
            raise InvalidSignatureError(
                f"Credential should be scoped to correct service: '{self.service}'."
            )
        if scope_date != amz_date[:8]:
            raise InvalidSignatureError(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        self._check_time(amz_date, _expires(query) if presigned else None)
        signed = tuple(name.strip().lower() for name in fields["signedheaders"].split(";"))
        _check_signed_headers(head, signed, presigned)
        return Claim(key, amz_date, region, signed, fields["signature"], presigned)

    def verify(self, head: RequestHead, claim: Claim, body: bytes) -> Caller:
        """The caller, when the signature is the one botocore computes for this request."""
        digest = hashlib.sha256(body).hexdigest()
        declared = head.header(CONTENT_SHA256)
        if declared is not None and declared != digest:
            raise InvalidSignatureError(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        expected = _Recomputation(claim, self.service).compute(_aws_request(head, claim, digest))
        given = claim.signature.encode("latin-1", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise InvalidSignatureError(MISMATCH)
        return Caller(claim.key.access_key_id, claim.key.account, claim.region)

    def _check_time(self, amz_date: str, expires: int | None) -> None:
        """Within the clock skew (AWS words the errors this way), and before a presigned
        URL expires."""
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        moment = self.clock()
        minutes = f"{self.clock_skew.total_seconds() / 60:g} min."
        if signed_at > moment + self.clock_skew:
            raise InvalidSignatureError(
                f"Signature not yet current: {amz_date} is still later than "
                f"{_amz(moment + self.clock_skew)} ({_amz(moment)} + {minutes})"
            )
        if expires is not None:
            if moment > signed_at + timedelta(seconds=expires):
                raise InvalidSignatureError(
                    f"Signature expired: the presigned URL signed at {amz_date} "
                    f"was valid for {expires} seconds."
                )
        elif signed_at < moment - self.clock_skew:
            raise InvalidSignatureError(
                f"Signature expired: {amz_date} is now earlier than "
                f"{_amz(moment - self.clock_skew)} ({_amz(moment)} - {minutes})"
            )


def _amz(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(AMZ_DATE_FORMAT)


def _header_fields(authorization: str) -> dict[str, str]:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` as a dict."""
    algorithm, _, rest = authorization.strip().partition(" ")
    fields = {"algorithm": algorithm}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.lower()] = value.strip()
    _require(fields, "Authorization header")
    return fields


def _query_fields(query: Mapping[str, str]) -> dict[str, str]:
    """The same fields from a presigned URL's `X-Amz-*` parameters."""
    names = {"X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature"}
    fields = {name[len("X-Amz-") :].lower(): query[name] for name in names if name in query}
    fields["algorithm"] = query.get("X-Amz-Algorithm", "")
    _require(fields, "A presigned URL")
    return fields


def _require(fields: Mapping[str, str], where: str) -> None:
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n.lower())]
    if missing:
        raise IncompleteSignatureError(
            " ".join(f"{where} requires '{name}' parameter." for name in missing)
        )


def _credential_scope(credential: str) -> tuple[str, str, str, str]:
    """`<key id>/<YYYYMMDD>/<region>/<service>/aws4_request` -> (key id, date, region, service)."""
    parts = credential.split("/")
    if (
        len(parts) != 5
        or parts[4] != "aws4_request"
        or not re.fullmatch(r"\d{8}", parts[1])
        or not all(parts[:4])
    ):
        raise IncompleteSignatureError(
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/aws4_request."
        )
    return parts[0], parts[1], parts[2], parts[3]


def _expires(query: Mapping[str, str]) -> int:
    text = query.get("X-Amz-Expires", "")
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRES:
        raise IncompleteSignatureError(
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES}."
        )
    return int(text)


def _check_signed_headers(head: RequestHead, signed: Sequence[str], presigned: bool) -> None:
    """`host` (and, for the header form, `x-amz-date`) must be signed, and every signed
    header sent: otherwise the signature would not cover what the server relies on."""
    required = {"host"} if presigned else {"host", "x-amz-date"}
    lacking = sorted(required.difference(signed))
    if lacking:
        raise IncompleteSignatureError(f"SignedHeaders must include {', '.join(lacking)}.")
    absent = [name for name in signed if head.header(name) is None]
    if absent:
        raise IncompleteSignatureError(f"Signed header {absent[0]!r} is not in the request.")


def _aws_request(head: RequestHead, claim: Claim, body_sha256: str) -> AWSRequest:
    """The request as the client's signer saw it. The URL's host is irrelevant (the signed
    `host` header is used). The payload's hash is given as botocore reads it from an
    `X-Amz-Content-SHA256` header (it would otherwise hash the body itself, slowly)."""
    query = head.query_string
    if claim.presigned:  # the signature does not sign itself
        pairs = [p for p in query.split("&") if p.partition("=")[0] != SIGNATURE_PARAM]
        query = "&".join(pairs)
    url = f"http://policygen{head.raw_path}" + (f"?{query}" if query else "")
    headers = HTTPHeaders()
    for name, value in head.headers:
        if name in claim.signed_headers:
            headers[name] = value
    if CONTENT_SHA256 not in headers:  # when signed, it was checked to be this hash
        headers[CONTENT_SHA256] = body_sha256
    request = AWSRequest(method=head.method, url=url, headers=headers)
    request.context["timestamp"] = claim.amz_date
    return request


class _Recomputation(SigV4Auth):
    """botocore's signer, told which headers the client signed instead of choosing them."""

    def __init__(self, claim: Claim, service: str) -> None:
        key = claim.key
        credentials = Credentials(key.access_key_id, key.secret_access_key)
        super().__init__(credentials, service, claim.region)
        self.signed = claim.signed_headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self.signed:
            for value in request.headers.get_all(name) or ():
                headers[name] = value
        return headers

    def compute(self, request: AWSRequest) -> str:
        """The signature SigV4 gives this request with the claimed key and scope."""
        canonical = self.canonical_request(request)
        return self.signature(self.string_to_sign(request, canonical), request)
