"""The rest-json wire format of Access Analyzer, driven by botocore's own service model.

Requests are read and validated against the operation's input shape (required members,
types, patterns, lengths, minimums); responses and errors are written from the output and
error shapes. Nothing about paths, members or status codes is copied by hand, so what the
server accepts and sends is what the SDKs' model says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from policygen.core.time import format_time, parse_time
from policygen.policy.explain import EXTENSION_KEY
from policygen.server.errors import CommonError, FieldProblem, ServiceError, ValidationError

SERVICE_NAME = "accessanalyzer"
API_VERSION = "2019-11-01"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"
CONTENT_TYPE = "application/json"
#: policygen's one extra response member (GetGeneratedPolicy: why a result is incomplete),
#: the same key as the CLI result's.
EXTENSION_MEMBER = EXTENSION_KEY


@cache
def service_model() -> ServiceModel:
    """Access Analyzer's model (2019-11-01) as installed with botocore."""
    data = Loader().load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(data, service_name=SERVICE_NAME)


def operation(name: str) -> OperationModel:
    """An operation of the model by name (`StartPolicyGeneration`)."""
    return service_model().operation_model(name)


# --- routing -------------------------------------------------------------------------


def route_path(operation_model: OperationModel) -> str:
    """The operation's path in Starlette's syntax (`{jobId}`; greedy `{key+}` -> `{key:path}`)."""
    uri = operation_model.http["requestUri"].split("?", 1)[0]
    return re.sub(r"\{(\w+)\+\}", r"{\1:path}", uri)


def _path_regex(uri: str) -> re.Pattern[str]:
    pattern = re.escape(uri.split("?", 1)[0])
    pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", pattern)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(pattern)


@cache
def _routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    model = service_model()
    return tuple(
        (op.http["method"], _path_regex(op.http["requestUri"]), op.name)
        for op in map(model.operation_model, model.operation_names)
    )


def match_operation(method: str, path: str) -> str | None:
    """The model's operation for a method and path, if any (to name unsupported ones)."""
    for op_method, regex, name in _routes():
        if op_method == method and regex.fullmatch(path):
            return name
    return None


# --- requests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRequest:
    """The parts of an HTTP request the rest-json protocol reads."""

    path_params: Mapping[str, str]
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]
    body: bytes


def parse_request(operation_model: OperationModel, request: RawRequest) -> dict[str, Any]:
    """The operation's input as Python values, validated against its input shape.

    Members are read from where the model puts them (URI label, query string, header,
    JSON body). Raises ValidationError listing every problem (`fieldValidationFailed`),
    or `cannotParse` when the body is not a JSON object.
    """
    shape = operation_model.input_shape
    if shape is None:
        return {}
    body = _json_body(request.body) if _has_body_members(shape) else {}
    raw: dict[str, Any] = {}
    textual: set[str] = set()
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        value = _located_value(location, wire, member, request, body, name)
        if value is not None:
            raw[name] = value
            if location is not None:
                textual.add(name)
    problems: list[FieldProblem] = []
    result = _structure(shape, raw, "", problems, textual)
    if problems:
        raise ValidationError.for_fields(problems)
    return result


def _has_body_members(shape: Shape) -> bool:
    return any("location" not in m.serialization for m in shape.members.values())


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("The request body is not valid JSON.", reason="cannotParse") from None
    if not isinstance(parsed, dict):
        raise ValidationError("The request body must be a JSON object.", reason="cannotParse")
    return parsed


def _located_value(
    location: str | None,
    wire: str,
    member: Shape,
    request: RawRequest,
    body: Mapping[str, Any],
    name: str,
) -> Any:
    if location == "uri":
        return request.path_params.get(wire)
    if location == "querystring":
        values = request.query.get(wire)
        if not values:
            return None
        return list(values) if member.type_name == "list" else values[-1]
    if location == "header":
        return request.headers.get(wire.lower())
    return body.get(name)


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _structure(
    shape: Shape,
    value: Any,
    path: str,
    problems: list[FieldProblem],
    textual: Collection[str] = (),
) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append((path, "Member must be an object"))
        return {}
    result: dict[str, Any] = {}
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append((_at(path, name), "Member must not be null"))
    for name, member in shape.members.items():
        if value.get(name) is None:
            continue
        parsed = _value(member, value[name], _at(path, name), problems, name in textual)
        if parsed is not None:
            result[name] = parsed
    return result


def _value(shape: Shape, value: Any, path: str, problems: list[FieldProblem], text: bool) -> Any:
    """Convert and check one member; problems are appended, None returned for bad values."""
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path, problems)
    if kind == "list":
        return _list(shape, value, path, problems, text)
    converter = _SCALARS.get(kind)
    if converter is None:
        return value
    try:
        converted = converter(value, text)
    except (TypeError, ValueError) as exc:
        problems.append((path, str(exc)))
        return None
    for problem in _constraints(shape, converted):
        problems.append((path, problem))
    return converted


def _list(shape: Shape, value: Any, path: str, problems: list[FieldProblem], text: bool) -> Any:
    if not isinstance(value, list):
        problems.append((path, "Member must be a list"))
        return None
    problems.extend((path, p) for p in _constraints(shape, value))
    items = [_value(shape.member, v, f"{path}[{i}]", problems, text) for i, v in enumerate(value)]
    return [item for item in items if item is not None]


def _string(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise TypeError("Member must be a string")
    return value


def _boolean(value: Any, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError("Member must be a boolean (true or false)")


def _integer(value: Any, text: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if text and isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
        return int(value)
    raise TypeError("Member must be an integer")


def _timestamp(value: Any, text: bool) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError("Member must be an ISO 8601 timestamp or epoch seconds")
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        raise ValueError("Member must be an ISO 8601 timestamp or epoch seconds") from None


_SCALARS = {
    "string": _string,
    "boolean": _boolean,
    "integer": _integer,
    "long": _integer,
    "timestamp": _timestamp,
}


def _constraints(shape: Shape, value: Any) -> list[str]:
    """The model's `min`, `max`, `pattern` and `enum` rules that `value` breaks."""
    meta = shape.metadata
    problems = []
    size, what = _measure(value)
    if size is not None and "min" in meta and size < meta["min"]:
        problems.append(f"Member must have {what} greater than or equal to {meta['min']}")
    if size is not None and "max" in meta and size > meta["max"]:
        problems.append(f"Member must have {what} less than or equal to {meta['max']}")
    if (
        "pattern" in meta
        and isinstance(value, str)
        and not _pattern(meta["pattern"]).fullmatch(value)
    ):
        problems.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if "enum" in meta and value not in meta["enum"]:
        problems.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    return problems


def _measure(value: Any) -> tuple[int | None, str]:
    """What `min`/`max` apply to: an integer's value, a string's or list's length."""
    if isinstance(value, int):
        return value, "value"
    if isinstance(value, str | list):
        return len(value), "length"
    return None, ""


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """A model pattern, applied to the whole value."""
    return re.compile(pattern)


# --- responses -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireResponse:
    """What to send: status, headers and JSON body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


def serialize(shape: Shape | None, data: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """Write `data` as the shape's headers and JSON body; absent (None) members are left out.

    `EXTENSION_MEMBER`, policygen's own top-level member, is written as it is: SDKs parse
    only modelled members, so they ignore it.
    """
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    if shape is not None:
        for name, member in shape.members.items():
            value = data.get(name)
            if value is None:
                continue
            if member.serialization.get("location") == "header":
                headers[member.serialization.get("name", name)] = str(value)
            else:
                body[name] = _json_value(member, value)
    if data.get(EXTENSION_MEMBER) is not None:
        body[EXTENSION_MEMBER] = data[EXTENSION_MEMBER]
    return headers, json.dumps(body, separators=(",", ":")).encode()


def _json_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            name: _json_value(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_json_value(shape.member, item) for item in value]
    if kind == "timestamp":
        return format_time(parse_time(value))  # a datetime, or text the engine formatted
    return value


#: A key of an operation's output (never a model member) whose value are extra headers:
#: policygen's additions that leave the AWS-shaped body as it is.
EXTRA_HEADERS = "__headers__"
#: Where the service-level template's services came from (GetGeneratedPolicy).
TEMPLATE_SOURCE_HEADER = "x-policygen-service-level-template-source"
#: Output fields of the backend (never model members) that travel as headers.
HEADER_FIELDS = {"serviceLevelTemplateSource": TEMPLATE_SOURCE_HEADER}


def response(operation_model: OperationModel, data: Mapping[str, Any]) -> WireResponse:
    """The operation's success response (its modelled status, usually 200)."""
    headers, body = serialize(operation_model.output_shape, data)
    headers.update(data.get(EXTRA_HEADERS, {}))
    headers.update((h, str(data[f])) for f, h in HEADER_FIELDS.items() if data.get(f) is not None)
    status = operation_model.http.get("responseCode", 200)
    return WireResponse(status, {"Content-Type": CONTENT_TYPE, **headers}, body)


def error_response(error: ServiceError) -> WireResponse:
    """The error as AWS sends it: the model's status, `x-amzn-ErrorType`, members in JSON.

    A common error (in no model) is sent with its own status and just a `message`.
    """
    if isinstance(error, CommonError):
        headers: dict[str, str] = {}
        body = json.dumps({"message": error.message}).encode()
        status = error.status
    else:
        shape = service_model().shape_for(error.code)
        headers, body = serialize(shape, error.members)
        status = shape.metadata["error"]["httpStatusCode"]
    return WireResponse(
        status, {"Content-Type": CONTENT_TYPE, ERROR_TYPE_HEADER: error.code, **headers}, body
    )


#: policygen's own query flags, beyond the model: how GetGeneratedPolicy renders a result.
#: Wire name -> (keyword of `GenerationResult.to_api`, parser). AWS clients never send them.
EXTENSION_QUERY: dict[str, dict[str, tuple[str, Callable[[str], Any]]]] = {}


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"Member must be one of {', '.join(allowed)}")
        return text

    return parse


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("Member must be true or false")
    return text == "true"


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("Member must be a whole number >= 1")
    return int(text)


EXTENSION_QUERY["GetGeneratedPolicy"] = {
    "resources": ("resources", _choice("star", "placeholders", "observed")),
    "passRole": ("pass_role", _flag),
    "dependentActions": ("dependent_actions", _flag),
    "maxArns": ("max_arns", _positive),
}


def parse_extensions(operation_name: str, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """policygen's extension query flags of an operation, as `to_api` keywords.

    Unknown query parameters are ignored, as AWS ignores them; a known flag with a bad
    value is a `ValidationException` naming it.
    """
    flags: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for wire, (keyword, parse) in EXTENSION_QUERY.get(operation_name, {}).items():
        values = query.get(wire)
        if not values:
            continue
        try:
            flags[keyword] = parse(values[-1])
        except ValueError as exc:
            problems.append((wire, str(exc)))
    if problems:
        raise ValidationError.for_fields(problems)
    return flags
