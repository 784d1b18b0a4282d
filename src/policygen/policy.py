"""The policy builder: IAM actions in, policy text out, exactly as AWS writes it.

Format (aws-policy-generation.md §6): compact JSON, `Version` then `Statement`; each
statement `Sid`, `Effect`, `Action`, `Resource`; Sids `SupportedServiceSid0..N` in
output order; actions sorted in code-point order; `Action` a string when there is one.
With placeholders each action goes under the ARN template of each required resource
type (only `${Partition}` filled in), the `*` statement first and the rest sorted by
`Resource`. Output is split into managed policies of at most 6,144 characters.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from policygen import catalogue

VERSION = "2012-10-17"
#: IAM's managed-policy size limit, in characters without white space.
MAX_POLICY_CHARS = 6144
SUPPORTED_SID = "SupportedServiceSid"
SERVICE_LEVEL_SID = "ServiceLevelSid"

Statement = dict[str, Any]


def dumps(value: Any) -> str:
    """Compact JSON, the only form AWS returns policies in."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def group_by_resource(
    actions: Iterable[str], *, placeholders: bool, partition: str
) -> list[tuple[str, list[str]]]:
    """(Resource, sorted actions) pairs in AWS's order: `*` first, then by Resource.

    Without placeholders everything shares `*`. With them, an action is listed under
    every ARN template of its required resource types; actions with none go to `*`.
    """
    star: set[str] = set()
    by_arn: defaultdict[str, set[str]] = defaultdict(set)
    for action in actions:
        formats = catalogue.required_arn_formats(action) if placeholders else ()
        if not formats:
            star.add(action)
        for arn in formats:
            by_arn[arn.replace("${Partition}", partition)].add(action)
    groups = [("*", sorted(star))] if star else []
    groups.extend((arn, sorted(by_arn[arn])) for arn in sorted(by_arn))
    return groups


def _statement(sid: str, actions: list[str], resource: str) -> Statement:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else actions,
        "Resource": resource,
    }


def _policy(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": statements}


def _size(statements: list[Statement]) -> int:
    return len(dumps(_policy(statements)))


def _fit_statement(
    sid: str, actions: list[str], resource: str, limit: int
) -> list[tuple[list[str], str]]:
    """Split one statement's actions into consecutive chunks that each fit a policy alone.

    `sid` is a placeholder of the longest Sid the chunk could get, so chunks stay within
    the limit once numbered.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    for action in actions:
        candidate = [*current, action]
        if current and _size([_statement(sid, candidate, resource)]) > limit:
            chunks.append(current)
            candidate = [action]
        current = candidate
    if current:
        chunks.append(current)
    return [(chunk, resource) for chunk in chunks]


def _pack(groups: list[tuple[str, str, list[str]]], limit: int) -> list[list[Statement]]:
    """Fill policies greedily with whole statements in order.

    `groups` are (Sid prefix, Resource, actions); Sids are numbered per prefix and run on
    across policies. A statement too large for one policy is first cut into chunks.
    """
    worst_sid = f"{SUPPORTED_SID}{sum(len(actions) for _, _, actions in groups)}"
    pieces = [
        (sid_prefix, chunk, resource)
        for sid_prefix, resource, actions in groups
        for chunk, resource in _fit_statement(worst_sid, actions, resource, limit)
    ]
    numbers: defaultdict[str, int] = defaultdict(int)
    policies: list[list[Statement]] = []
    current: list[Statement] = []
    for sid_prefix, actions, resource in pieces:
        statement = _statement(f"{sid_prefix}{numbers[sid_prefix]}", actions, resource)
        numbers[sid_prefix] += 1
        if current and _size([*current, statement]) > limit:
            policies.append(current)
            current = []
        current.append(statement)
    if current:
        policies.append(current)
    return policies


def render_policies(
    actions: Iterable[str],
    *,
    placeholders: bool = False,
    partition: str = "aws",
    service_level: Iterable[str] = (),
    limit: int = MAX_POLICY_CHARS,
) -> list[str]:
    """The policy documents for `actions`, each at most `limit` characters.

    `service_level` lists IAM prefixes to grant as `prefix:*` in `ServiceLevelSid`
    statements after the action-level ones (policygen's service-level template).
    """
    groups = [
        (SUPPORTED_SID, resource, acts)
        for resource, acts in group_by_resource(
            actions, placeholders=placeholders, partition=partition
        )
    ]
    groups.extend((SERVICE_LEVEL_SID, "*", [f"{p}:*"]) for p in sorted(set(service_level)))
    return [dumps(_policy(statements)) for statements in _pack(groups, limit)]
