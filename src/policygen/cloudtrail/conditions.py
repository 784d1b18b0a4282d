"""Request conditions: what a logged request shows that makes AWS check more (or other)
actions. (Not `policygen.iam.facts`, which collects the resources a call names.)

AWS's operation tables list actions that an operation authorizes only under a condition of
the request: tags sent on create need the tagging action, session tags on `AssumeRole` need
`sts:TagSession`, an S3 copy with an ACL header needs `s3:PutObjectAcl`, and a DynamoDB
transaction needs the action of each item it holds. CloudTrail records the request, so the
condition can be seen; this module only says what the request shows (short tokens such as
`tags`, `acl`, `item:put`), and `policygen.iam.operations` says which actions that means.
Nothing here guesses: a token is produced only when the request holds the value.

Keyed by eventSource host, not by IAM prefix, so that scanner workers never load the IAM
catalogue; `policygen.cloudtrail.qualifiers` adds the facts to a call's qualifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from policygen.cloudtrail.params import anywhere

Params = dict[str, Any]


def _has_content(value: object) -> bool:
    """True when a JSON value holds at least one non-empty scalar (iteratively)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item not in (None, "", False):
            return True
    return False


def _values(params: Params, *keys: str) -> Iterator[object]:
    """The top-level values under any of `keys` (compared lower-cased)."""
    wanted = set(keys)
    for key, value in params.items():
        if isinstance(key, str) and key.lower() in wanted:
            yield value


def _nested(value: object, keys: Iterable[str]) -> Iterator[object]:
    """Every value under one of `keys` (any case) anywhere in `value`."""
    for key in keys:
        yield from anywhere(value, key)


_TAG_KEYS = ("tags", "resourcetags", "taglist", "tagset")
_TAG_SPEC_KEYS = ("tagspecificationset", "tagspecifications", "tagspecification")
_TAG_LEAVES = ("tags", "tag", "tagset")


def tags_on_create(params: Params) -> tuple[str, ...]:
    """`tags` when a create request carries tags: a top-level tag list or map, or an EC2
    tag specification with tags in it (its `resourceType` alone is not a tag)."""
    if any(_has_content(v) for v in _values(params, *_TAG_KEYS)):
        return ("tags",)
    for spec in _values(params, *_TAG_SPEC_KEYS):
        if any(_has_content(v) for v in _nested(spec, _TAG_LEAVES)):
            return ("tags",)
    return ()


def session_options(params: Params) -> tuple[str, ...]:
    """`sessiontags` when `AssumeRole` passes session tags (or transitive tag keys),
    `sourceidentity` when it sets a source identity."""
    facts = []
    if any(_has_content(v) for v in _values(params, "tags", "transitivetagkeys")):
        facts.append("sessiontags")
    if any(isinstance(v, str) and v for v in _values(params, "sourceidentity")):
        facts.append("sourceidentity")
    return tuple(facts)


_OBJECT_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-amz-acl", "acl"),
    ("x-amz-grant-", "acl"),
    ("x-amz-tagging", "tagging"),  # not x-amz-tagging-directive: COPY keeps the source's
    ("x-amz-object-lock-mode", "retention"),
    ("x-amz-object-lock-retain-until-date", "retention"),
    ("x-amz-object-lock-legal-hold", "legalhold"),
)


def object_headers(params: Params) -> tuple[str, ...]:
    """`acl`, `tagging`, `retention`, `legalhold` for the S3 object headers the request set."""
    facts = set()
    for key, value in params.items():
        if not isinstance(key, str) or not _has_content(value):
            continue
        key = key.lower()
        for header, fact in _OBJECT_HEADERS:
            if key == header or (header.endswith("-") and key.startswith(header)):
                facts.add(fact)
    return tuple(sorted(facts))


_ITEM_KINDS = {"put": "put", "update": "update", "delete": "delete", "conditioncheck": "check"}


def transact_items(params: Params) -> tuple[str, ...]:
    """`item:put`, `item:update`, `item:delete`, `item:check` for the kinds of item a
    `TransactWriteItems` request holds; nothing when the items are not in the log."""
    found = set()
    for items in _values(params, "transactitems"):
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                for key, value in item.items():
                    kind = _ITEM_KINDS.get(key.lower()) if isinstance(key, str) else None
                    if kind and isinstance(value, dict):
                        found.add(f"item:{kind}")
    return tuple(sorted(found))


#: Resource paths of API Gateway's two management APIs (the path in the resource ARN).
_APIGW_V1 = re.compile(r"::/(?:restapis|apikeys|usageplans|clientcertificates)(?:/|$)")
_APIGW_V2 = re.compile(r"::/apis(?:/|$)")
_ARN_KEYS = ("resourcearn", "resource-arn", "resource_arn", "resourcearns")


def apigateway_version(params: Params) -> tuple[str, ...]:
    """`apigw:v1` or `apigw:v2` from the resource path in the ARN a call names (REST APIs,
    API keys, usage plans and client certificates are v1; `/apis` is v2); nothing for
    paths both share (`/domainnames`, `/vpclinks`) or when no ARN is logged."""
    for value in _nested(params, _ARN_KEYS):
        if isinstance(value, str):
            if _APIGW_V1.search(value):
                return ("apigw:v1",)
            if _APIGW_V2.search(value):
                return ("apigw:v2",)
    return ()


def present(key: str) -> Callable[[Params], tuple[str, ...]]:
    """A reader giving `key` (lower-cased) as the fact when the request sets that
    parameter: `filters` on a batch read that selects by filters rather than by names,
    `trailname` on a CloudTrail Insights read scoped to a trail."""
    fact = key.lower()

    def read(params: Params) -> tuple[str, ...]:
        return (fact,) if any(_has_content(v) for v in _values(params, fact)) else ()

    return read


@dataclass(frozen=True, slots=True)
class FactRule:
    """How one kind of call's request is read, and the bytes its raw text must hold for
    the rule to find anything (None: always read it)."""

    read: Callable[[Params], tuple[str, ...]]
    hint: bytes | None


_TAGS = FactRule(tags_on_create, b"tag")

#: eventSource hosts whose create calls need the tagging action when they carry tags
#: (`policygen.iam.operations` holds the action and AWS's word for each).
TAG_ON_CREATE_HOSTS = frozenset(
    {"ec2", "lambda", "ecs", "kms", "secretsmanager", "budgets", "iam", "sqs", "sns"}
)
#: Verbs of calls that create a resource and accept its tags.
CREATE_VERB = re.compile(r"^(?:Create|Run|Allocate|Copy|Import|Register|Request|Purchase)")

#: (eventSource host, lower-cased eventName) -> rule.
_RULES: dict[tuple[str, str], FactRule] = {
    ("sts", "assumerole"): FactRule(session_options, None),
    ("s3", "copyobject"): FactRule(object_headers, b"x-amz-"),
    ("dynamodb", "transactwriteitems"): FactRule(transact_items, None),
    ("apigateway", "tagresource"): FactRule(apigateway_version, None),
    ("secretsmanager", "batchgetsecretvalue"): FactRule(present("filters"), b"filters"),
    ("cloudtrail", "listinsightsmetricdata"): FactRule(present("trailName"), b"trailname"),
}


def rule_for(host: str, event_name: str) -> FactRule | None:
    """The rule reading this kind of call's request (eventSource `host` without
    `.amazonaws.com`), if its request can matter."""
    rule = _RULES.get((host, event_name.lower()))
    creates = host in TAG_ON_CREATE_HOSTS and CREATE_VERB.match(event_name)
    if rule is None and creates and "tag" not in event_name.lower():  # not CreateTags
        return _TAGS
    return rule


def facts_of(host: str, event_name: str, params: Params) -> tuple[str, ...]:
    """The facts this request shows (sorted, possibly empty)."""
    rule = rule_for(host, event_name)
    return tuple(sorted(set(rule.read(params)))) if rule else ()
