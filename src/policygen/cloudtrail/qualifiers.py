"""requestParameters -> qualifier: the part of a request that changes which IAM actions a
call needs (an S3 object version, a DynamoDB PartiQL statement's verb).

These are facts about CloudTrail requests, read at scan time so that a scan's counts keep
calls with different needs apart; `policygen.iam.mapping` turns a qualifier into actions.
Rules are keyed by the eventSource host (without `.amazonaws.com`) and the lower-cased
eventName, so that a scanner worker decides without loading the IAM catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from policygen.cloudtrail.params import anywhere

#: The request names an object version: S3 authorizes the `...Version...` action.
VERSION = "version"
#: `partiql:<verb>[+<verb>...]`: the leading keywords of a PartiQL call's statements.
PARTIQL = "partiql:"
PARTIQL_VERBS = frozenset({"select", "insert", "update", "delete"})
#: DynamoDB calls that carry PartiQL statements.
PARTIQL_CALLS = frozenset({"executestatement", "batchexecutestatement", "executetransaction"})
#: S3 calls whose `versionId` parameter names an object version.
_VERSION_ID_CALLS = frozenset(
    {
        "getobject",
        "headobject",
        "selectobjectcontent",
        "getobjectattributes",
        "getobjecttorrent",
        "getobjectacl",
        "putobjectacl",
        "getobjecttagging",
        "putobjecttagging",
        "deleteobjecttagging",
        "deleteobject",
    }
)

Rule = Callable[[dict[str, Any]], str]


def event_host(event_source: str) -> str:
    """`s3.amazonaws.com` -> `s3`: the eventSource as the tables key it."""
    return event_source.strip().lower().removesuffix(".amazonaws.com")


def _s3_version(params: dict[str, Any]) -> str:
    """Qualifier "version" when the request names an object version (`versionId`)."""
    version = params.get("versionId")
    return VERSION if isinstance(version, str) and version else ""


def _copy_source_version(params: dict[str, Any]) -> str:
    """Qualifier "version" when the copy source names a version (`bucket/key?versionId=...`)."""
    source = params.get("x-amz-copy-source")
    return VERSION if isinstance(source, str) and "versionid=" in source.lower() else ""


def _batch_version(params: dict[str, Any]) -> str:
    """Qualifier "version" when any key of a `DeleteObjects` batch names a version."""
    found = any(isinstance(v, str) and v for v in anywhere(params.get("delete"), "versionid"))
    return VERSION if found else ""


_LEADING_WORD = re.compile(r"[\s(]*([A-Za-z]+)")


def _partiql_verbs(params: dict[str, Any]) -> str:
    """`partiql:<verbs>` from the statements' leading keywords; "" when any is unknown."""
    verbs = set()
    for statement in anywhere(params, "statement"):
        match = _LEADING_WORD.match(statement) if isinstance(statement, str) else None
        verb = match.group(1).lower() if match else ""
        if verb not in PARTIQL_VERBS:
            return ""
        verbs.add(verb)
    return PARTIQL + "+".join(sorted(verbs)) if verbs else ""


#: (eventSource host, eventName) -> how its requestParameters choose the qualifier.
_RULES: dict[tuple[str, str], Rule] = {
    **{("s3", name): _s3_version for name in _VERSION_ID_CALLS},
    # these carry the version elsewhere than in `versionId`:
    ("s3", "copyobject"): _copy_source_version,
    ("s3", "uploadpartcopy"): _copy_source_version,
    ("s3", "deleteobjects"): _batch_version,
    **{("dynamodb", name): _partiql_verbs for name in PARTIQL_CALLS},
}

#: The event names of `_RULES`: most calls are ruled out by name alone.
_NAMES = frozenset(name for _, name in _RULES)

#: Bytes that the raw requestParameters must contain (lower-cased) for a rule to find
#: anything; rules not listed always decode.
_RULE_HINTS: dict[Rule, bytes] = {
    _s3_version: b"versionid",
    _copy_source_version: b"versionid",
    _batch_version: b"versionid",
}


def _rule(event_source: str, event_name: str) -> Rule | None:
    name = event_name.lower()
    return _RULES.get((event_host(event_source), name)) if name in _NAMES else None


@cache
def needs_parameters(event_source: str, event_name: str) -> bool:
    """True when requestParameters can change this call's actions (so worth decoding)."""
    return _rule(event_source, event_name) is not None


@cache
def parameter_hint(event_source: str, event_name: str) -> bytes | None:
    """What raw requestParameters must contain before they are worth decoding for this
    call's qualifier; None when they always are. (JSON escapes defeat a byte test, so a
    caller decodes whenever the raw text holds a backslash.)"""
    rule = _rule(event_source, event_name)
    return _RULE_HINTS.get(rule) if rule else None


def qualifier_for(
    event_source: str, event_name: str, request_parameters: dict[str, Any] | None
) -> str:
    """The qualifier (`"version"`, `"partiql:select"`, ...) the mapping needs for this
    request; "" when nothing applies or the parameters are not what was expected."""
    if not isinstance(request_parameters, dict):
        return ""
    rule = _rule(event_source, event_name)
    return rule(request_parameters) if rule else ""
