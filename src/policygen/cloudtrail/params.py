"""Reading values out of CloudTrail `requestParameters` by path, and building ARNs.

Parameter names are matched case-insensitively: CloudTrail writes most services'
parameters in lowerCamel case (`roleArn`) but some in the API's own case
(`ReplicationConfiguration.Role`), and EC2 sometimes wraps them in a `...Request` object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: At most this many values are taken from one path, whatever the request holds.
MAX_VALUES = 50


def _child(node: object, key: str) -> object:
    if not isinstance(node, dict):
        return None
    if key in node:
        return node[key]
    lowered = key.lower()
    for name, value in node.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def _descend(node: object, segments: list[str]) -> Iterator[object]:
    """Values at `segments` below `node`; `name[]` steps into each element of a list."""
    nodes = [node]
    for segment in segments:
        many = segment.endswith("[]")
        key = segment.removesuffix("[]")
        found: list[object] = []
        for item in nodes:
            value = _child(item, key)
            if many and isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        nodes = found
    yield from nodes


def anywhere(node: object, key: str) -> Iterator[object]:
    """Every value stored under `key` (any case) at any depth; iterative, so that deeply
    nested input cannot exhaust the stack."""
    stack = [node]
    lowered = key.lower()
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, value in item.items():
                if isinstance(name, str) and name.lower() == lowered:
                    yield value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _roots(params: dict[str, Any]) -> list[object]:
    """The parameters, plus the body of an EC2-style single `...Request` wrapper."""
    roots: list[object] = [params]
    if len(params) == 1:
        ((name, body),) = params.items()
        if isinstance(name, str) and name.endswith("Request") and isinstance(body, dict):
            roots.append(body)
    return roots


def strings_at(params: dict[str, Any], path: str) -> list[str]:
    """The non-empty strings at `path` (`a.b`, `items[].roleArn`, `**.roleARN` for any
    depth); lists of strings at the end are flattened. At most `MAX_VALUES`."""
    out: list[str] = []
    for root in _roots(params):
        if path.startswith("**."):
            values: Iterator[object] = anywhere(root, path[3:])
        else:
            values = _descend(root, path.split("."))
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item and item not in out:
                    out.append(item)
                    if len(out) >= MAX_VALUES:
                        return out
    return out


def partition_of(region: str) -> str:
    """The partition a region belongs to (`cn-north-1` -> `aws-cn`)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def is_arn(value: str) -> bool:
    """A concrete ARN: `arn:` with at least six fields, and no wildcard in it."""
    concrete = "*" not in value and "?" not in value
    return concrete and value.startswith("arn:") and value.count(":") >= 5


def common_prefix(values: list[str]) -> str:
    """The longest string every value starts with (character-wise, unlike paths)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    size = 0
    while size < len(low) and low[size] == high[size]:
        size += 1
    return low[:size]
