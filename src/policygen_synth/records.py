"""Record templates: one CloudTrail record per (caller, call, outcome), rendered once.

A record is built as a dict in CloudTrail's field order, with `@@X@@` slots for what
changes per record (time, ids); `compile_template` encodes it once into a `%`-format, so
writing a record later costs one format, which is what keeps gigabyte corpora fast.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter

import msgspec

from policygen_synth.calls import DEFAULT_DENIED_CODE, DENIED_CODE, ERRORS, Call
from policygen_synth.spec import Json

#: eventVersion mix; versions before 1.06/1.07 lack managementEvent/eventCategory.
VERSIONS = (
    ("1.05", 3),
    ("1.06", 1),
    ("1.07", 2),
    ("1.08", 30),
    ("1.09", 25),
    ("1.10", 10),
    ("1.11", 29),
)
OLD_VERSIONS = (("1.05", 1), ("1.07", 1), ("1.08", 2))  # for pre-2021 suffixed names
LEGACY_NAME = re.compile(r"(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})$")
TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}

#: Host headers that do not follow `<label>.<region>.amazonaws.com` (or global `<label>.…`).
HOSTS = {"s3": "${bucket}.s3.${region}.amazonaws.com", "signin": "${region}.signin.aws.amazon.com"}
SLOT_RE = re.compile(rb"@@[TERQVS]@@")
SLOT_INDEX = {b"@@T@@": 0, b"@@E@@": 1, b"@@R@@": 2, b"@@Q@@": 3, b"@@V@@": 4, b"@@S@@": 5}
SLOT_WIDTH = (20, 36, 36, 16, 12, 36)  # time, eventID, request uuid, S3 request id, var, shared


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-rendered record: `fmt % pick(values)` fills its per-record slots."""

    fmt: bytes
    pick: itemgetter
    size: int  # bytes once filled
    key: int  # manifest key index, or -1 when the record is nobody's own API call


def compile_template(record: dict[str, Json], key: int) -> Template:
    text = msgspec.json.encode(record)
    slots = [SLOT_INDEX[m] for m in SLOT_RE.findall(text)]
    fmt = SLOT_RE.sub(b"%b", text.replace(b"%", b"%%"))
    size = len(text) + sum(SLOT_WIDTH[s] - 5 for s in slots)
    return Template(fmt, itemgetter(*slots), size, key)


def _expand(value: Json, ctx: dict[str, str]) -> Json:
    """Fill `${name}` fields of a table entry from the context (strict: typos raise)."""
    if isinstance(value, str):
        return string.Template(value).substitute(ctx) if "$" in value else value
    if isinstance(value, dict):
        return {k: _expand(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expand(v, ctx) for v in value]
    return value


def _version_at_least(version: str, minor: int) -> bool:
    return int(version.split(".")[1]) >= minor


@dataclass(frozen=True, slots=True)
class Caller:
    """How one record shows its caller: identity, client, address, eventVersion."""

    identity: dict[str, Json]
    agent: str
    ip: str
    version: str
    console: bool = False


def build_record(
    call: Call,
    caller: Caller,
    ctx: dict[str, str],
    error: tuple[str, str] | None,
    recipient: str,
    shared: bool = False,
) -> dict[str, Json]:
    """A record in CloudTrail's field order, with `@@X@@` slots for per-record values."""
    version = caller.version
    service_side = bool(call.invoked_by) or call.event_type == "AwsServiceEvent"
    agent = call.invoked_by or caller.agent
    if call.label == "s3" and not call.invoked_by:
        agent = f"[{agent}]"
    record: dict[str, Json] = {
        "eventVersion": version,
        "userIdentity": caller.identity,
        "eventTime": "@@T@@",
        "eventSource": call.source,
        "eventName": call.name,
        "awsRegion": ctx["region"],
        "sourceIPAddress": call.invoked_by or caller.ip,
        "userAgent": agent,
    }
    if error:
        record["errorCode"], record["errorMessage"] = error
    record["requestParameters"] = _expand(call.params, ctx)
    record["responseElements"] = None if error else _expand(call.response, ctx)
    if call.extra is not None or call.label == "s3":
        record["additionalEventData"] = _expand(call.extra, ctx) or _s3_extra(ctx)
    if call.event_type != "AwsConsoleSignIn":
        record["requestID"] = "@@Q@@" if call.label == "s3" else "@@R@@"
    record["eventID"] = "@@E@@"
    record["readOnly"] = call.read_only
    if call.resources:
        record["resources"] = _expand(list(call.resources), ctx)
    record["eventType"] = call.event_type
    if call.label == "lambda" and not LEGACY_NAME.search(call.name):
        record["apiVersion"] = "2015-03-31"
    if _version_at_least(version, 6):
        record["managementEvent"] = not call.data
    record["recipientAccountId"] = recipient
    if shared:
        record["sharedEventID"] = "@@S@@"
    if _version_at_least(version, 7):
        record["eventCategory"] = "Data" if call.data else "Management"
    if _version_at_least(version, 8) and not service_side:
        region = "" if call.global_ else ".${region}"
        host = HOSTS.get(call.label) or f"{call.label}{region}.amazonaws.com"
        record["tlsDetails"] = {**TLS, "clientProvidedHostHeader": _expand(host, ctx)}
        if caller.console:
            record["sessionCredentialFromConsole"] = "true"
    return record


def _s3_extra(ctx: dict[str, str]) -> dict[str, Json]:
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": ctx["amz_id"],
        "bytesTransferredOut": 1843,
    }


def _denial(call: Call, ctx: dict[str, str]) -> tuple[str, str]:
    """The errorCode and AWS-style message of a call IAM refused."""
    action = call.denied_action
    message = (
        f"User: {ctx['caller']} is not authorized to perform: {action} on resource: "
        f"{_expand(call.target, ctx)} because no identity-based policy allows the {action} action"
    )
    code = DENIED_CODE.get(call.label, DEFAULT_DENIED_CODE)
    if code == "Client.UnauthorizedOperation":
        message = (
            f"You are not authorized to perform this operation. {message}. "
            f"Encoded authorization failure message: {ctx['encoded']}"
        )
    return code, message


def outcomes(
    call: Call, denied: float, ctx: dict[str, str]
) -> Iterator[tuple[str, tuple[str, str] | None, float]]:
    """(outcome, error, share) for each way a principal's call can end."""
    allowed = 1.0 - denied
    errors = sum(share for _, share in call.errors)
    yield "ok", None, allowed * (1.0 - errors)
    if denied:
        yield "denied", _denial(call, ctx), denied
    for code, share in call.errors:
        yield "error", (code, _expand(ERRORS[code], ctx)), allowed * share


def draw_version(rng: random.Random, name: str) -> str:
    table = OLD_VERSIONS if LEGACY_NAME.search(name) else VERSIONS
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]
