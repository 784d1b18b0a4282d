"""Right-sizing: what a principal holds against what it used, and the trimmed policies.

The trimmed policy is the smallest edit of each policy the principal holds that removes
what went unused in the window, so a reviewer can approve it line by line: statements
keep their `Sid`, `Resource` and `Condition`; a pattern is kept when every action it
covers was used, otherwise replaced by the used actions it covered; a statement left
with no action is dropped; `Deny` statements are never touched; a policy left with no
statement is to be detached. Documents over IAM's size limits are split.

Moves to `policygen.policy.rightsize` with the package restructure.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policygen.iam.analysis import Analysis
from policygen.iam.current import CurrentPermissions, HeldPolicy
from policygen.iam.grants import Grants, expand, parse_statement, statements_of
from policygen.policy.render import MAX_POLICY_CHARS, PASS_ROLE, dumps

#: IAM's quotas on inline policies: the total of one role's, user's or group's inline
#: policies, in characters without white space (reference_iam-quotas).
INLINE_TOTAL_LIMIT = {"role": 10240, "user": 2048, "group": 5120}

Document = dict[str, Any]


def used_actions(analysis: Analysis) -> dict[str, bool]:
    """Action -> whether all its calls were denied: every action the window's calls
    needed, with `iam:PassRole` when roles were seen passed."""
    used = {action: use.denied_only for action, use in analysis.actions.items()}
    if analysis.passed_roles and PASS_ROLE not in used:
        used[PASS_ROLE] = all(u.denied_only for u in analysis.passed_roles.values())
    return used


def size(document: Mapping[str, Any]) -> int:
    """A policy's size as IAM counts it (compact JSON: no white space outside strings)."""
    return len(dumps(document))


def _trim_actions(statement: Mapping[str, Any], index: int, used: frozenset[str]) -> list[str]:
    """The Action entries an Allow statement keeps: each pattern whose actions were all
    used, else the used actions it covered, in the statement's order."""
    parsed = parse_statement(index, statement)
    if parsed.not_action:
        return sorted(parsed.actions() & used)
    kept: list[str] = []
    for pattern in parsed.patterns:
        covered = expand(pattern)
        hit = covered & used
        kept.extend([pattern] if hit and hit == covered else sorted(hit))
    return list(dict.fromkeys(kept))


def _with_actions(statement: Mapping[str, Any], actions: list[str]) -> Document:
    """The statement with `actions` in place of its Action or NotAction, keys in order."""
    value: str | list[str] = actions[0] if len(actions) == 1 else actions
    out: Document = {}
    for key, item in statement.items():
        if key in ("Action", "NotAction"):
            out["Action"] = value
        else:
            out[key] = copy.deepcopy(item)
    return out


def trim_document(document: Mapping[str, Any], used: Iterable[str]) -> Document | None:
    """The policy with only the used actions left (see the module doc); None when no
    statement is left: the policy should be detached."""
    used_set = frozenset(used)
    if not any(s.get("Effect") == "Allow" for s in statements_of(document)):
        return copy.deepcopy(dict(document))
    statements: list[Document] = []
    for index, statement in enumerate(statements_of(document)):
        if statement.get("Effect") == "Deny":
            statements.append(copy.deepcopy(statement))
            continue
        actions = _trim_actions(statement, index, used_set)
        if actions:
            statements.append(_with_actions(statement, actions))
    if not any(s.get("Effect") == "Allow" for s in statements):
        return None
    return {**copy.deepcopy(dict(document)), "Statement": statements}


def _statement_pieces(statement: Document, limit: int) -> list[Document]:
    """The statement, or consecutive runs of its Action list (Sids numbered) that each fit
    `limit` in a policy alone."""

    def fits(piece: Document) -> bool:
        return size({"Version": "2012-10-17", "Statement": [piece]}) <= limit

    if fits(statement):
        return [statement]
    actions = statement["Action"] if isinstance(statement.get("Action"), list) else []
    longest = {"Sid": f"{statement['Sid']}{len(actions)}"} if "Sid" in statement else {}
    runs: list[list[str]] = []
    for action in actions:
        if runs and fits({**statement, **longest, "Action": [*runs[-1], action]}):
            runs[-1].append(action)
        else:
            runs.append([action])
    if not runs or not fits({**statement, "Action": runs[0]}):
        raise ValueError(f"a statement is larger than {limit} characters on its own")
    pieces = [{**statement, "Action": run} for run in runs]
    if "Sid" in statement:
        for number, piece in enumerate(pieces, start=1):
            piece["Sid"] = f"{statement['Sid']}{number}"
    return pieces


def split_document(document: Document, limit: int = MAX_POLICY_CHARS) -> list[Document]:
    """The document as one or more documents of at most `limit` characters each, filled
    greedily with whole statements in order (a statement too large alone is cut into
    runs of its actions, keeping its Resource and Condition)."""
    if size(document) <= limit:
        return [document]
    head = {key: value for key, value in document.items() if key != "Statement"}
    parts: list[Document] = []
    current: list[Document] = []
    for statement in statements_of(document):
        for piece in _statement_pieces(statement, limit - size(head) + 2):
            if current and size({**head, "Statement": [*current, piece]}) > limit:
                parts.append({**head, "Statement": current})
                current = []
            current.append(piece)
    parts.append({**head, "Statement": current})
    return parts


@dataclass(slots=True)
class PolicyTrim:
    """One held policy, what it grants and what of that was used, and its edit."""

    policy: HeldPolicy
    granted: frozenset[str]
    used: frozenset[str]
    trimmed: list[Document]

    @property
    def action(self) -> str:
        """keep (nothing unused), trim, detach (nothing used), or replace (an AWS managed
        policy cannot be edited: a customer managed policy takes its place)."""
        if not self.trimmed:
            return "detach"
        original = self.policy.document
        if len(self.trimmed) == 1 and statements_of(self.trimmed[0]) == statements_of(original):
            return "keep"
        return "replace" if self.policy.kind == "aws-managed" else "trim"

    def to_dict(self) -> dict[str, Any]:
        held = self.policy
        out: dict[str, Any] = {"name": held.name, "kind": held.kind}
        out.update({k: v for k, v in (("arn", held.arn), ("group", held.group)) if v})
        if held.version:
            out["version"] = held.version
        out["grants"] = len(self.granted)
        out["used"] = sorted(self.used)
        out["action"] = self.action
        if self.trimmed:
            out["trimmed"] = self.trimmed
        return out


def trim_policy(policy: HeldPolicy, used: Iterable[str]) -> PolicyTrim:
    """One held policy's trim (managed ones split at the managed-policy limit)."""
    grants = Grants()
    grants.add((parse_statement(i, s) for i, s in enumerate(statements_of(policy.document))), "")
    granted = frozenset(grants.allowed)
    trimmed = trim_document(policy.document, used)
    if trimmed is None:
        return PolicyTrim(policy, granted, granted & frozenset(used), [])
    parts = [trimmed] if policy.kind == "inline" else split_document(trimmed)
    return PolicyTrim(policy, granted, granted & frozenset(used), parts)


def _inline_over(trims: list[PolicyTrim], kind: str) -> list[str]:
    """Notes on inline totals over IAM's quota (per principal, and per group)."""
    totals: defaultdict[str | None, int] = defaultdict(int)
    for trim in trims:
        if trim.policy.kind == "inline":
            totals[trim.policy.group] += sum(size(doc) for doc in trim.trimmed)
    notes = []
    for group, total in totals.items():
        limit = INLINE_TOTAL_LIMIT["group" if group else kind]
        if total > limit:
            owner = f"group {group}" if group else f"the {kind}"
            notes.append(
                f"the trimmed inline policies of {owner} total {total} characters, over "
                f"IAM's {limit}: make them managed policies"
            )
    return notes


@dataclass(slots=True)
class RightSizing:
    """A principal's grants against its use in a window, and the trimmed policies."""

    current: CurrentPermissions
    grants: Grants
    used: dict[str, bool]
    trims: list[PolicyTrim]
    notes: list[str]

    @property
    def granted(self) -> frozenset[str]:
        """Actions the identity policies grant (less unconditional Denies)."""
        return self.grants.effective()

    def granted_after(self) -> frozenset[str]:
        """Actions the trimmed policies grant."""
        after = Grants()
        for trim in self.trims:
            for document in trim.trimmed:
                statements = statements_of(document)
                after.add((parse_statement(i, s) for i, s in enumerate(statements)), "")
        return after.effective()

    def services(self) -> tuple[dict[str, Any], dict[str, int]]:
        """Per service with a used action: granted count, used and unused actions; and
        the services granted but never used, with how many actions each grants."""
        by_service: defaultdict[str, set[str]] = defaultdict(set)
        for action in self.granted:
            by_service[action.partition(":")[0]].add(action)
        used_services = {a.partition(":")[0] for a in self.used}
        detail = {
            prefix: {
                "granted": len(actions),
                "used": sorted(actions & self.used.keys()),
                "unused": sorted(actions - self.used.keys()),
            }
            for prefix, actions in sorted(by_service.items())
            if prefix in used_services
        }
        unused = {p: len(a) for p, a in sorted(by_service.items()) if p not in used_services}
        return detail, unused

    def used_not_granted(self) -> list[str]:
        """Used actions no identity policy grants: allowed by a resource policy, or
        refused."""
        return sorted(set(self.used) - self.granted)

    def outside_boundary(self) -> list[str]:
        """Granted actions the permissions boundary does not allow (never effective)."""
        boundary = self.current.boundary_grants()
        return [] if boundary is None else sorted(self.granted - boundary.effective())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `policygen diff --json` prints."""
        detail, unused = self.services()
        boundary = self.current.boundary
        used = sorted(self.used)
        return {
            "principalArn": self.current.principal.arn,
            "source": self.current.source,
            "counts": {
                "grantedBefore": len(self.granted),
                "grantedAfter": len(self.granted_after()),
                "used": len(used),
                "usedNotGranted": len(self.used_not_granted()),
                "servicesGrantedNeverUsed": len(unused),
            },
            "services": detail,
            "servicesGrantedNeverUsed": unused,
            "usedNotGranted": self.used_not_granted(),
            "deniedOnly": [a for a in used if self.used[a]],
            "restrictedGrants": {a: self.grants.caveats(a) for a in used if self.grants.caveats(a)},
            "permissionsBoundary": None
            if boundary is None
            else {"arn": boundary.arn, "grantedOutsideBoundary": len(self.outside_boundary())},
            "unknownActions": sorted(self.grants.unknown_patterns),
            "policies": [trim.to_dict() for trim in self.trims],
            "notes": self.notes,
        }


def right_size(current: CurrentPermissions, analysis: Analysis) -> RightSizing:
    """Compare the principal's policies with the window's calls and trim each policy."""
    used = used_actions(analysis)
    trims = [trim_policy(policy, used) for policy in current.policies]
    notes = _inline_over(trims, current.principal.kind)
    if notes:
        for trim in trims:
            if trim.policy.kind == "inline":
                trim.trimmed = [p for doc in trim.trimmed for p in split_document(doc)]
    return RightSizing(current, current.grants(), used, trims, notes)
