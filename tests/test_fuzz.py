"""Hostile requests: hypothesis builds requests from botocore's input shapes, breaks them
(missing and extra members, wrong types, huge and non-UTF-8 strings, bad JSON, bad query
values, path tricks in `jobId`, missing or wrong signatures) and sends them over real
HTTP connections to a real server.

A valid request (and one with only unknown members added, which AWS ignores) must succeed;
every broken one must be a typed 4xx: never a 500, a traceback, or the end of the server.
Fuzzed fields carry a marker that an audit hook in the server and its workers reports if it
ever reaches the file system. Each operation is fuzzed once per way of breaking it that
applies to it; `POLICYGEN_FUZZ_EXAMPLES` sets the examples of each (default 15). The
requests sent and the statuses answered are reported in the test summary ("hardening figures").
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from policygen.server import protocol
from policygen.server.app import MAX_BODY_BYTES, OPERATIONS

from logfactory import ACCOUNT, ROLE_ARN, USER_ARN
from serverprocess import KEY, TRAIL, ServerProcess, signed_headers, start

MARKER = "pgfuzzmark"
EXAMPLES = int(os.environ.get("POLICYGEN_FUZZ_EXAMPLES", "15"))
AUDIT_PATH = str(Path(__file__).parent / "audit")
#: jobId values that would reach a file if a job id ever became a path.
PATH_TRICKS = [
    f"../../{MARKER}",
    f"..%2F..%2F{MARKER}",
    f"%2e%2e%2f%2e%2e%2f{MARKER}",
    f"....//....//{MARKER}",
    f"..\\..\\{MARKER}",
    f"/etc/{MARKER}",
    f"{MARKER}%00.json",
    f"{MARKER}\x00",
    f"file:///tmp/{MARKER}",
    f"~/{MARKER}",
    f"$HOME/{MARKER}",
    f"../policygen.sqlite{MARKER}",
    f"..;/{MARKER}",
    f"%252e%252e%252f{MARKER}",
    f"\u2025/{MARKER}",
    f"{MARKER}/../../../server.lock",
]


@dataclass(frozen=True)
class Wire:
    """One request as sent: percent-encoded path and query, body, how it is signed, and
    whether the server must refuse it."""

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    signing: str = "good"  # good, none, bad
    must_fail: bool = False
    kind: str = "valid"

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


# --- valid requests from the model ------------------------------------------------------


def _timestamps(days: tuple[int, int]) -> st.SearchStrategy[Any]:
    """Times inside the window the server accepts, as ISO 8601 or epoch seconds."""
    moments = st.integers(*days).map(lambda day: datetime(2026, 1, 5, tzinfo=UTC) + timedelta(day))
    return st.one_of(
        moments.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        moments.map(lambda t: int(t.timestamp())),
    )


def _marked_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.text(max_size=20).map(lambda t: t + MARKER))


#: Jobs the server has (filled by the `server` fixture), so Get and Cancel also succeed.
KNOWN_JOBS: list[str] = []
_TOKENS = itertools.count()
#: Regions a trail may name (the model allows any string; the server wants region names).
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]

#: Members whose model constraints alone would almost never make a request the server
#: accepts (ARNs of this server's account and trail, a window it allows). Values outside
#: the model come from the mutations.
OVERRIDES: dict[str, Callable[[Shape], st.SearchStrategy[Any]]] = {
    "principalArn": lambda _: st.sampled_from([ROLE_ARN, USER_ARN]),
    "cloudTrailArn": lambda _: st.sampled_from([TRAIL, TRAIL.replace("main", MARKER)]),
    "accessRole": lambda _: st.just(f"arn:aws:iam::{ACCOUNT}:role/{MARKER}"),
    "startTime": lambda _: _timestamps((-10, 0)),
    "endTime": lambda _: _timestamps((0, 10)),
    "trails": lambda shape: st.lists(values(shape.member), min_size=1, max_size=3),
    "regions": lambda _: st.lists(st.sampled_from(REGIONS), max_size=3),
    "jobId": lambda _: st.sampled_from(KNOWN_JOBS),
    # a new token each time: a token reused for another request is (rightly) a conflict
    "clientToken": lambda _: st.builds(lambda: f"{MARKER}-{next(_TOKENS)}"),
}
#: Optional in the model, needed by this server: a window ends where the job says (else
#: "now", past the 90 days allowed), and the server has no default trail.
ALWAYS = {"cloudTrailDetails", "endTime"}
#: Optional members no value drawn at random makes valid (a page token is the server's).
NEVER = {"nextToken"}


def values(shape: Shape, name: str = "") -> st.SearchStrategy[Any]:
    """Values of a shape that the model (and this server's setup) allow."""
    if name in OVERRIDES:
        return OVERRIDES[name](shape)
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure":
        members = {n: values(m, n) for n, m in shape.members.items() if n not in NEVER}
        required = {n: s for n, s in members.items() if n in shape.required_members or n in ALWAYS}
        optional = {n: s for n, s in members.items() if n not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        return st.lists(values(shape.member), max_size=3)
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "long"):
        return st.integers(min_value=meta.get("min", 0), max_value=meta.get("max", 2**31))
    if "enum" in meta:
        return st.sampled_from(meta["enum"])
    return _marked_text()


# --- breaking them -----------------------------------------------------------------------


def encode(operation: OperationModel, params: dict[str, Any]) -> Wire:
    """The HTTP request for `params`, each member where the model puts it."""
    path, query, body = operation.http["requestUri"], [], {}
    for name, member in operation.input_shape.members.items():
        if name not in params:
            continue
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        value = params[name]
        if location == "uri":
            path = path.replace(f"{{{wire_name}}}", quote(_text(value), safe=""))
        elif location == "querystring":
            items = value if isinstance(value, list) else [value]
            query += [f"{wire_name}={quote(_text(item), safe='')}" for item in items]
        else:
            body[name] = value
    path = path.split("{")[0]  # a label left out: the path ends where it would have been
    payload = (
        json.dumps(body).encode() if protocol._has_body_members(operation.input_shape) else b""
    )
    return Wire(operation.http["method"], path, "&".join(query), payload)


def _text(value: Any) -> str | bytes:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str | bytes) else str(value)


def _paths(
    shape: Shape, value: Any, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Shape, bool]]:
    """(path, shape, required) of every member present in `value`, depth first."""
    if shape.type_name != "structure" or not isinstance(value, dict):
        return
    for name, member in shape.members.items():
        if name in value:
            yield (*prefix, name), member, name in shape.required_members
            yield from _paths(member, value[name], (*prefix, name))


def _set(params: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(params))
    target = copy
    for name in path[:-1]:
        target = target[name]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


_DROP = object()
#: Values outside what the model or this server allows, by member name, then by shape.
OUTSIDE: dict[str, st.SearchStrategy[Any]] = {
    "jobId": _marked_text().filter(lambda t: t not in KNOWN_JOBS),
    "regions": st.lists(st.sampled_from(["", "mars-north-1", MARKER, "US-EAST-1"]), min_size=1),
    "startTime": st.sampled_from(["yesterday", "2026-13-01T00:00:00Z", "", "1e999"]),
    "endTime": st.sampled_from(["tomorrow", "2026-01-32T00:00:00Z", "-", "NaN"]),
    "maxResults": st.integers(max_value=0),
}


def _outside(member: Shape, name: str) -> st.SearchStrategy[Any] | None:
    """A strategy for values of `member` that the server must refuse, or None."""
    if name in OUTSIDE:
        return OUTSIDE[name]
    pattern = member.metadata.get("pattern")
    if pattern is not None:
        return st.text(max_size=700).filter(lambda t: re.fullmatch(pattern, t) is None)
    return None


WRONG = {
    "string": st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2)),
    "boolean": st.sampled_from(["yes", 1, [], {}]),
    "integer": st.sampled_from(["abc", "1.5", True]),
    "long": st.sampled_from(["abc", "1.5", True]),
    "timestamp": st.sampled_from([True, [], {}, "yesterday"]),
    "list": st.sampled_from(["region", 1, {"a": 1}]),
    "structure": st.sampled_from(["x", 1, [1], True]),
}
BAD_QUERY = {
    "maxResults": ["abc", "-1", "0", "1.5", "1e3", "99999999999999999999", "%FF", "%00"],
    "includeResourcePlaceholders": ["yes", "1", "", "tru", "%FF"],
    "includeServiceLevelTemplate": ["no", "0", "falsy"],
    "nextToken": ["x", "%25", "eyJ2IjoxfQ", "%FF%FE"],
    "principalArn": ["arn", "%FF", f"arn:aws:iam::{ACCOUNT}:group/{MARKER}"],
}
KINDS = [
    "valid",
    "bad_value",
    "drop",
    "extra",
    "wrong_type",
    "huge",
    "non_utf8",
    "bad_json",
    "bad_query",
    "path_trick",
    "unsigned",
    "bad_signature",
]


@st.composite
def cases(draw: st.DrawFn, operation: OperationModel, kind: str) -> Wire:
    """A request for `operation`, broken as `kind` says (where its values allow)."""
    params = draw(values(operation.input_shape))
    wire = BREAKERS[kind](draw, operation, params)
    if wire is None:  # this example has nothing `kind` can break: not a hostile request
        reject()
    return replace(wire, kind=kind)


def applies(operation: OperationModel, kind: str) -> bool:
    """Whether an operation's input has what `kind` breaks."""
    shape = operation.input_shape
    located = [m.serialization.get("location") for m in shape.members.values()]
    typed_query = [
        m
        for m in shape.members.values()
        if m.serialization.get("location") == "querystring"
        and m.type_name in ("integer", "boolean")
    ]
    rules = {
        "drop": bool(shape.required_members),
        "wrong_type": None in located or bool(typed_query),
        "bad_json": None in located,
        "bad_query": "querystring" in located,
        "path_trick": "{jobId}" in operation.http["requestUri"],
    }
    return rules.get(kind, True)


def _drop(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    required = [p for p, _, req in _paths(op.input_shape, params) if req]
    if not required:
        return None
    return replace(encode(op, _set(params, draw(st.sampled_from(required)), _DROP)), must_fail=True)


def _bad_value(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    """A value of the member's JSON type outside the model's pattern or minimum (or this
    server's rules: unknown jobs, regions, unreadable times)."""
    paths = [
        (p, strategy)
        for p, m, _ in _paths(op.input_shape, params)
        if (strategy := _outside(m, p[-1])) is not None
    ]
    if not paths:
        return None
    path, strategy = draw(st.sampled_from(paths))
    return replace(encode(op, _set(params, path, draw(strategy))), must_fail=True)


def _extra(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire:
    extra = draw(st.one_of(st.none(), st.integers(), _marked_text(), st.lists(st.integers())))
    wire = encode(op, {**params})
    if wire.body:
        document = json.loads(wire.body)
        document[f"extra{MARKER}"] = extra
        return replace(wire, body=json.dumps(document).encode())
    return replace(wire, query="&".join(filter(None, [wire.query, f"extra{MARKER}=1"])))


def _wrong_type(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    shape = op.input_shape
    body = [
        (path, member)
        for path, member, _ in _paths(shape, params)
        if "location" not in shape.members[path[0]].serialization
    ]
    query = [
        ((name,), member)
        for name, member in shape.members.items()
        if member.serialization.get("location") == "querystring"
        and member.type_name in ("integer", "boolean")
    ]
    candidates = body + query
    if not candidates:
        return None
    path, member = draw(st.sampled_from(candidates))
    in_query = member.serialization.get("location") == "querystring"
    wrong = st.sampled_from(BAD_QUERY[path[0]]) if in_query else WRONG[member.type_name]
    return replace(encode(op, _set(params, path, draw(wrong))), must_fail=True)


def _huge(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire:
    wire = encode(op, params)
    if wire.body:  # beyond the body limit: refused before it is parsed
        filler = "x" * (MAX_BODY_BYTES + draw(st.integers(1, 1000)))
        return replace(wire, body=wire.body[:-1] + f',"huge":"{filler}"}}'.encode(), must_fail=True)
    filler = quote(draw(st.sampled_from(["x", "é", MARKER])) * 20_000, safe="")
    if "{jobId}" in op.http["requestUri"]:
        return replace(wire, path=op.http["requestUri"].split("{")[0] + filler, must_fail=True)
    return replace(wire, query=f"principalArn={filler}", must_fail=True)


def _non_utf8(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    junk = draw(st.binary(min_size=1, max_size=8).map(lambda b: b"\xff" + b + MARKER.encode()))
    wire = encode(op, params)
    if wire.body:
        at = draw(st.integers(0, len(wire.body)))
        return replace(wire, body=wire.body[:at] + junk + wire.body[at:], must_fail=True)
    name = "jobId" if "{jobId}" in op.http["requestUri"] else "principalArn"
    return replace(encode(op, {**params, name: junk}), must_fail=True)


def _bad_json(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    wire = encode(op, params)
    if not wire.body:
        return None
    broken = draw(
        st.one_of(
            st.integers(1, len(wire.body) - 1).map(lambda n: wire.body[:n]),
            st.sampled_from([b"[]", b'"x"', b"null", b"{", b"{'a': 1}", b"NaN", b"{}{}"]),
            st.binary(min_size=1, max_size=64).map(lambda b: b"{" + b),
        )
    )
    return replace(wire, body=broken, must_fail=True)


def _bad_query(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    names = [
        m.serialization.get("name", n)
        for n, m in op.input_shape.members.items()
        if m.serialization.get("location") == "querystring"
    ]
    if not names:
        return None
    name = draw(st.sampled_from(names))
    wire = encode(op, {k: v for k, v in params.items() if k != name})
    bad = f"{name}={draw(st.sampled_from(BAD_QUERY[name]))}"
    return replace(wire, query="&".join(filter(None, [wire.query, bad])), must_fail=True)


def _path_trick(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire | None:
    if "{jobId}" not in op.http["requestUri"]:
        return None
    trick = draw(st.sampled_from(PATH_TRICKS))
    encoded = quote(trick, safe=draw(st.sampled_from(["", "/", "/%.\\"])))
    return replace(encode(op, params), path=f"/policy/generation/{encoded}", must_fail=True)


def _unsigned(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire:
    return replace(encode(op, params), signing="none", must_fail=True)


def _bad_signature(draw: st.DrawFn, op: OperationModel, params: dict[str, Any]) -> Wire:
    return replace(encode(op, params), signing="bad", must_fail=True)


BREAKERS: dict[str, Callable[[st.DrawFn, OperationModel, dict[str, Any]], Wire | None]] = {
    "valid": lambda draw, op, params: encode(op, params),
    "bad_value": _bad_value,
    "drop": _drop,
    "extra": _extra,
    "wrong_type": _wrong_type,
    "huge": _huge,
    "non_utf8": _non_utf8,
    "bad_json": _bad_json,
    "bad_query": _bad_query,
    "path_trick": _path_trick,
    "unsigned": _unsigned,
    "bad_signature": _bad_signature,
}


# --- sending and judging -------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    error_type: str | None
    body: bytes


def send(server: ServerProcess, wire: Wire) -> Answer:
    """Send exactly these bytes (http.client does not re-encode), signed as asked."""
    url = urlsplit(server.url)
    headers = {"Content-Type": "application/json"} if wire.body else {}
    if wire.signing != "none":
        headers = signed_headers(wire.method, f"{server.url}{wire.target}", wire.body, KEY, headers)
    if wire.signing == "bad":
        headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request(wire.method, wire.target, body=wire.body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.getheader("x-amzn-ErrorType"), response.read())
    finally:
        connection.close()


def judge(answer: Answer, wire: Wire) -> None:
    """A success for a valid request, a typed 4xx for a broken one; never a 500 or a
    traceback."""
    assert b"Traceback" not in answer.body, wire
    if not wire.must_fail:
        assert answer.status == 200, (answer, wire)
        return
    assert 400 <= answer.status < 500, (answer, wire)
    assert answer.error_type, (answer, wire)
    assert "message" in json.loads(answer.body), (answer, wire)


def server_still_well(server: ServerProcess) -> None:
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
    log = server.log
    assert "AUDIT" not in log, "a request field reached the file system"
    assert "Traceback" not in log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    environment = {"PYTHONPATH": AUDIT_PATH, "POLICYGEN_AUDIT_MARKER": MARKER}
    trail = ("--trail", f"{TRAIL}=/nonexistent")
    server = ServerProcess(tmp_path_factory.mktemp("data"), *trail, env=environment)
    try:
        KNOWN_JOBS[:] = [start(server.client()) for _ in range(3)]
        yield server
    finally:
        server.close()


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize(
    "name, kind",
    [(n, k) for n in OPERATIONS for k in KINDS if applies(protocol.operation(n), k)],
)
def test_hostile_requests(
    server: ServerProcess, name: str, kind: str, record_property: Callable[[str, object], None]
) -> None:
    operation = protocol.operation(name)
    statuses: Counter[int] = Counter()
    before = sorted(path.name for path in server.data_dir.iterdir())

    @FUZZ
    @given(cases(operation, kind))
    def fuzz(wire: Wire) -> None:
        answer = send(server, wire)
        statuses[answer.status] += 1
        judge(answer, wire)

    fuzz()
    server_still_well(server)
    assert sorted(path.name for path in server.data_dir.iterdir()) == before
    record_property(f"fuzz: {name} {kind}", dict(sorted(statuses.items())))


#: Requests that are not valid HTTP, or HTTP that no route takes.
RAW = [
    b"GET /policy/generation/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /policy/generation?principalArn=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS /policy/generation HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/policy/generation HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /policy/generation HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"PUT /policy/generation HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}",
    b"PUT /policy/generation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"PUT /policy/generation HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n",
]


@pytest.mark.parametrize("raw", RAW, ids=[r[:20].decode("latin-1") for r in RAW])
def test_malformed_http(server: ServerProcess, raw: bytes) -> None:
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 4"), answer[:300]
    assert "x-amzn-errortype: " in head, answer[:300]
    assert b"Traceback" not in answer
    server_still_well(server)


@pytest.mark.parametrize(
    "answer, wire",
    [
        (Answer(400, "ValidationException", b'{"message": "no"}'), Wire("GET", "/x")),
        (Answer(200, None, b"{}"), Wire("GET", "/x", must_fail=True)),
        (Answer(400, None, b'{"message": "no"}'), Wire("GET", "/x", must_fail=True)),
        (Answer(500, "InternalServerException", b'{"message": "x"}'), Wire("GET", "/x")),
    ],
    ids=["refuses-valid", "accepts-hostile", "untyped-refusal", "server-error"],
)
def test_judge_fails_a_server_that_answers_wrongly(answer: Answer, wire: Wire) -> None:
    """A server refusing every request (or accepting every one) must fail the fuzz test."""
    with pytest.raises(AssertionError):
        judge(answer, wire)
