"""API operations whose IAM actions AWS names otherwise: families, cited entries, and the
actions a request's facts add.

AWS's Service Authorization Reference maps each API operation to the actions it authorizes
("API operations defined by <service>"). Most operations authorize the action of the same
name; the rest are here, in three forms a reviewer can check line by line:

- entries in `data/operations.json`, each with the page that says so;
- families, rules over a name's shape that AWS documents for whole groups of calls
  (`SendMessageBatch` -> `sqs:SendMessage`, `GetLayerVersionByArn` -> `GetLayerVersion`,
  `CreateDistributionWithTags` -> `CreateDistribution` + `TagResource`), applied only
  when the operation's own name is no action and the base name is one;
- conditional actions, added (or standing instead of the entry's, `replace`) when the
  logged request shows the condition (`policygen.cloudtrail.conditions`): tags sent on create,
  session tags, S3 copy headers, a transaction's items.

Each result carries the rule that produced it, for `policygen explain`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from policygen.cloudtrail.conditions import CREATE_VERB
from policygen.iam import catalogue


@dataclass(frozen=True, slots=True)
class Grant:
    """One action a call needs and the rule or entry that says so."""

    action: str
    rule: str


@dataclass(frozen=True, slots=True)
class _Conditional:
    fact: str
    actions: tuple[str, ...]
    replace: bool
    source: str


@dataclass(frozen=True, slots=True)
class _Table:
    entries: dict[tuple[str, str], tuple[tuple[str, ...], str]]
    conditional: dict[tuple[str, str], tuple[_Conditional, ...]]
    tag_on_create: dict[str, tuple[str, str]]
    no_action: dict[tuple[str, str], str]


def _keys(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["prefix"], op.lower()) for op in item["operations"]]


@cache
def _table() -> _Table:
    """`data/operations.json`, indexed by (IAM prefix, lower-cased operation)."""
    data = json.loads(files("policygen").joinpath("data/operations.json").read_text())
    entries = {
        key: (tuple(item["actions"]), item["source"])
        for item in data["entries"]
        for key in _keys(item)
    }
    conditional: dict[tuple[str, str], tuple[_Conditional, ...]] = {}
    for item in data["conditional"]:
        rule = _Conditional(
            item["when"], tuple(item["actions"]), bool(item.get("replace")), item["source"]
        )
        for key in _keys(item):
            conditional[key] = (*conditional.get(key, ()), rule)
    tags = {p: (v["action"], v["source"]) for p, v in data["tagOnCreate"].items()}
    no_action = {
        key: f"{item['reason']} ({item['source']})"
        for item in data["noAction"]
        for key in _keys(item)
    }
    return _Table(entries, conditional, tags, no_action)


def entry(prefix: str, name: str) -> tuple[Grant, ...] | None:
    """The cited entry for this operation, if the table has one."""
    found = _table().entries.get((prefix, name.lower()))
    if found is None:
        return None
    actions, source = found
    return tuple(Grant(action, f"operation table entry: {source}") for action in actions)


# ---------------------------------------------------------------------------------------
# Families: (suffix, what it means, where AWS says so). Applied only when the name itself
# is no catalogue action and the base name is one.

_SQS_BATCH = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html"
_SNS_BATCH = "https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html"
_BY_ARN = "https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersionByArn.html"
_WITH_TAGS = (
    "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateDistributionWithTags.html"
)


def _batch(prefix: str, name: str) -> tuple[Grant, ...] | None:
    """`<Action>Batch` -> `<Action>`: a batch of single-message calls is authorized by the
    single-message action (SQS, SNS `PublishBatch`)."""
    base = catalogue.canonical(prefix, name.removesuffix("Batch"))
    if not name.endswith("Batch") or base is None:
        return None
    source = _SNS_BATCH if prefix == "sns" else _SQS_BATCH
    return (Grant(base, f"family *Batch -> the single-message action: {source}"),)


def _by_arn(prefix: str, name: str) -> tuple[Grant, ...] | None:
    """`<Action>ByArn` -> `<Action>`: the same read, addressed by ARN."""
    base = catalogue.canonical(prefix, name.removesuffix("ByArn"))
    if not name.endswith("ByArn") or base is None:
        return None
    return (Grant(base, f"family *ByArn -> the base action: {_BY_ARN}"),)


def _with_tags(prefix: str, name: str) -> tuple[Grant, ...] | None:
    """`<Action>WithTags` -> `<Action>` + `TagResource`: a create that tags what it made."""
    base = catalogue.canonical(prefix, name.removesuffix("WithTags"))
    tag = catalogue.canonical(prefix, "TagResource")
    if not name.endswith("WithTags") or base is None or tag is None:
        return None
    rule = f"family *WithTags -> the base action + TagResource: {_WITH_TAGS}"
    return (Grant(base, rule), Grant(tag, rule))


_FAMILIES = (_batch, _by_arn, _with_tags)


def family(prefix: str, name: str) -> tuple[Grant, ...] | None:
    """The family rule for an operation that is no action by its own name, if one fits."""
    if catalogue.canonical(prefix, name):
        return None
    for rule in _FAMILIES:
        found = rule(prefix, name)
        if found:
            return found
    return None


# ---------------------------------------------------------------------------------------
# Conditional actions


def _tag_action(prefix: str, name: str) -> tuple[str, str] | None:
    """The tagging action a create call with tags needs (`iam:Tag{resource}` names the
    created resource: `CreateRole` -> `iam:TagRole`), with its source."""
    found = _table().tag_on_create.get(prefix)
    if found is None:
        return None
    template, source = found
    action = template.replace("{resource}", CREATE_VERB.sub("", name))
    canon = catalogue.canonical(*catalogue.split_action(action))
    return (canon, source) if canon else None


def with_conditions(
    prefix: str, name: str, facts: frozenset[str], base: tuple[Grant, ...]
) -> tuple[Grant, ...]:
    """`base` with the actions the request's `facts` add; a `replace` rule's actions stand
    instead of `base` when its fact is there."""
    rules = [r for r in _table().conditional.get((prefix, name.lower()), ()) if r.fact in facts]
    added = [
        Grant(action, f"request shows {rule.fact}: {rule.source}")
        for rule in rules
        for action in rule.actions
    ]
    if any(rule.replace for rule in rules):
        base = ()
    if "tags" in facts:
        tag = _tag_action(prefix, name)
        if tag is not None:
            added.append(Grant(tag[0], f"request sends tags on create: {tag[1]}"))
    return (*base, *added)


def tag_on_create_prefixes() -> frozenset[str]:
    """The IAM prefixes whose create calls the table gives a tagging action."""
    return frozenset(_table().tag_on_create)


def no_action_reason(prefix: str, name: str) -> str | None:
    """Why AWS documents no IAM action for this call, where the table knows."""
    table = _table().no_action
    return table.get((prefix, name.lower())) or table.get((prefix, "*"))


def cited_actions() -> set[str]:
    """Every action the table names (for the test that none is invented)."""
    table = _table()
    actions = {a for actions, _ in table.entries.values() for a in actions}
    actions.update(a for rules in table.conditional.values() for r in rules for a in r.actions)
    actions.update(a for a, _ in table.tag_on_create.values() if "{" not in a)
    return actions
