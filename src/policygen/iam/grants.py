"""What identity policies grant, action by action.

A right-sizing diff compares concrete actions, so every `Action` / `NotAction` pattern
of a policy is expanded against the IAM catalogue (wildcards `*` and `?`, matched
without regard to case, as IAM matches them). An unconditional `Deny` on every resource
takes its actions away; a `Deny` limited by `Resource` or `Condition`, and every
`Allow`'s own `Resource` and `Condition`, are kept beside the actions they concern so a
report can show them: an action granted only on some resources or under a condition is
still granted, with that caveat, never silently widened or dropped.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote

from policygen.iam import catalogue

#: The elements IAM allows in an identity-based policy statement.
STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)


class PolicyError(ValueError):
    """A policy document that is not valid IAM grammar; the message says where."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a policy, as written (the patterns unexpanded)."""

    index: int
    effect: str
    patterns: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: Mapping[str, Any] | None
    sid: str | None = None

    @property
    def unrestricted(self) -> bool:
        """True when it applies to every resource, unconditionally."""
        return not self.not_resource and "*" in self.resources and not self.condition

    def actions(self) -> frozenset[str]:
        """The catalogue actions the statement applies to."""
        matched = expand_all(self.patterns)
        return frozenset(all_actions()) - matched if self.not_action else matched

    def caveat(self) -> dict[str, Any]:
        """The statement's scope other than its actions: what a report shows beside them."""
        out: dict[str, Any] = {"statement": self.index}
        if self.sid:
            out["sid"] = self.sid
        out["notResource" if self.not_resource else "resource"] = list(self.resources)
        if self.condition:
            out["condition"] = self.condition
        return out


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{what} must be a string or a non-empty list of strings")


def load_document(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document as a dict, from JSON text (URL-encoded, as IAM's API returns it,
    or not) or an already parsed mapping."""
    if isinstance(document, Mapping):
        return dict(document)
    text = document if document.lstrip().startswith("{") else unquote(document)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise PolicyError("a policy document must be a JSON object")
    return parsed


def statements_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `Statement` element as a list (IAM accepts a single object)."""
    raw = document.get("Statement")
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list) and all(isinstance(s, dict) for s in raw):
        return list(raw)
    raise PolicyError("Statement must be an object or a list of objects")


def parse_statement(index: int, raw: Mapping[str, Any]) -> Statement:
    """One statement, checked against the identity-policy grammar."""
    where = f"statement {index}"
    unknown = set(raw) - STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: not allowed in an identity policy: {sorted(unknown)}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be Allow or Deny, not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where}: needs exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError(f"{where}: needs exactly one of Resource and NotResource")
    not_action = "NotAction" in raw
    not_resource = "NotResource" in raw
    condition = raw.get("Condition")
    if condition is not None and not isinstance(condition, dict):
        raise PolicyError(f"{where}: Condition must be an object")
    sid = raw.get("Sid")
    return Statement(
        index,
        effect,
        _strings(raw["NotAction" if not_action else "Action"], f"{where}: Action"),
        not_action,
        _strings(raw["NotResource" if not_resource else "Resource"], f"{where}: Resource"),
        not_resource,
        condition or None,
        sid if isinstance(sid, str) else None,
    )


def parse_policy(document: str | Mapping[str, Any]) -> list[Statement]:
    """The statements of a policy document; PolicyError names what is wrong."""
    doc = load_document(document)
    return [parse_statement(i, s) for i, s in enumerate(statements_of(doc))]


@cache
def all_actions() -> tuple[str, ...]:
    """Every action of the catalogue: what `*` and `NotAction` range over."""
    return tuple(a for p in catalogue.service_prefixes() for a in catalogue.service_actions(p))


@cache
def expand(pattern: str) -> frozenset[str]:
    """The catalogue actions an `Action` entry matches (`s3:Get*`, `ec2:Describe?pc*`,
    `*`); empty for an action the catalogue does not know."""
    if pattern == "*":
        return frozenset(all_actions())
    prefix, _, name = pattern.partition(":")
    prefixes = (
        [p for p in catalogue.service_prefixes() if fnmatch.fnmatchcase(p, prefix.lower())]
        if any(c in prefix for c in "*?")
        else [prefix.lower()]
    )
    matcher = re.compile(fnmatch.translate(name.replace("[", "[[]")), re.IGNORECASE)
    return frozenset(
        action
        for p in prefixes
        for action in catalogue.service_actions(p)
        if matcher.match(action.partition(":")[2])
    )


def expand_all(patterns: Iterable[str]) -> frozenset[str]:
    """The union of `expand` over `patterns`."""
    out: set[str] = set()
    for pattern in patterns:
        out |= expand(pattern)
    return frozenset(out)


@dataclass(slots=True)
class Grants:
    """Actions granted by a set of policies, each with the statements that grant it.

    `allowed` maps an action to the caveats (Resource / Condition) of every Allow that
    grants it; `denied` the actions an unconditional Deny on `*` takes away;
    `partly_denied` those a Deny limited by Resource or Condition concerns.
    """

    allowed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    partly_denied: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unknown_patterns: set[str] = field(default_factory=set)

    def add(self, statements: Iterable[Statement], policy: str) -> None:
        """Take in one policy's statements (`policy` names it in the caveats)."""
        for statement in statements:
            actions = statement.actions()
            if not statement.not_action:
                self.unknown_patterns.update(
                    p for p in statement.patterns if not expand(p) and p != "*"
                )
            caveat = {"policy": policy, **statement.caveat()}
            if statement.effect == "Allow":
                for action in actions:
                    self.allowed.setdefault(action, []).append(caveat)
            elif statement.unrestricted:
                self.denied |= actions
            else:
                for action in actions:
                    self.partly_denied.setdefault(action, []).append(caveat)

    def effective(self) -> frozenset[str]:
        """Allowed and not taken away by an unconditional Deny."""
        return frozenset(self.allowed) - self.denied

    def caveats(self, action: str) -> list[dict[str, Any]]:
        """Why `action` may still be refused: the restricted Allows granting it (when none
        is unrestricted) and the restricted Denies concerning it."""
        allows = self.allowed.get(action, [])
        restricted = [] if any(_unrestricted(c) for c in allows) else allows
        return restricted + self.partly_denied.get(action, [])


def _unrestricted(caveat: Mapping[str, Any]) -> bool:
    return caveat.get("resource") == ["*"] and "condition" not in caveat
