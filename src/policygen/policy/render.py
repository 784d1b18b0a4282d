"""The policy builder: IAM actions in, policy text out, exactly as AWS writes it.

Format (aws-policy-generation.md §6): compact JSON, `Version` then `Statement`; each
statement `Sid`, `Effect`, `Action`, `Resource`; Sids `SupportedServiceSid0..N` in
output order; actions sorted in code-point order; `Action` a string when there is one.
With placeholders each action goes under the ARN template of each required resource
type (only `${Partition}` filled in), the `*` statement first and the rest sorted by
`Resource`. Output is split into managed policies of at most 6,144 characters.

Beyond AWS (`RenderOptions`, defined here and only here): observed resource ARNs,
inferred `iam:PassRole` statements with an `iam:PassedToService` condition, and the
catalogue's dependent actions. The default options are AWS's exact output.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from policygen.iam import dependents
from policygen.iam.passrole import is_instance_profile
from policygen.iam.resources import (
    DEFAULT_MAX_ARNS,
    PARTITION,
    Resources,
    capped,
    observed_resources,
    placeholder_resources,
)

if TYPE_CHECKING:
    from policygen.iam.analysis import ActionUse, Analysis, PassRoleUse

VERSION = "2012-10-17"
#: IAM's managed-policy size limit, in characters without white space.
MAX_POLICY_CHARS = 6144
SUPPORTED_SID = "SupportedServiceSid"
PASS_ROLE_SID = "PassRoleSid"
DEPENDENT_SID = "DependentActionSid"
SERVICE_LEVEL_SID = "ServiceLevelSid"
PASS_ROLE = "iam:PassRole"
#: The role a passed EC2 instance profile stands for: it cannot be resolved offline.
ROLE_TEMPLATE = "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}"

Statement = dict[str, Any]
T = TypeVar("T")
ResourceMode = Literal["star", "placeholders", "observed"]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How an analysis becomes policy text; the one place the output modes are defined.

    The defaults are **strict AWS-compatible** output, byte for byte what
    `GetGeneratedPolicy` returns: `Resource` `*` or placeholders, no `Condition`, no
    `iam:PassRole`, no dependent actions. `RenderOptions.policygen()` is policygen's own
    mode, which adds inferred `iam:PassRole`; observed resources and dependent actions
    are opt-in in either.
    """

    resources: ResourceMode = "star"
    service_level: bool = False
    pass_role: bool = False
    dependent_actions: bool = False
    max_arns: int = DEFAULT_MAX_ARNS

    def __post_init__(self) -> None:
        if self.resources not in ("star", "placeholders", "observed"):
            raise ValueError(
                f"resources must be star, placeholders or observed: {self.resources!r}"
            )
        if self.max_arns < 1:
            raise ValueError(f"max ARNs per statement must be at least 1: {self.max_arns}")

    @property
    def aws_compatible(self) -> bool:
        """True when the output is exactly what AWS would write."""
        return self.resources != "observed" and not self.pass_role and not self.dependent_actions

    @classmethod
    def policygen(cls, **options: Any) -> RenderOptions:
        """policygen's own mode: AWS's layout plus inferred `iam:PassRole`."""
        return cls(**{"pass_role": True, **options})


class Group(NamedTuple):
    """Statements to write: a Sid prefix, their Resource list, actions and Condition."""

    sid_prefix: str
    resources: Resources
    actions: list[str]
    condition: dict[str, Any] | None = None


def dumps(value: Any) -> str:
    """Compact JSON, the only form AWS returns policies in."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _grouped(lists: Mapping[str, Iterable[Resources]]) -> list[tuple[Resources, list[str]]]:
    """(Resource list, sorted actions) pairs in AWS's order: `*` first, then by Resource.

    `lists` gives each action's Resource lists; actions sharing a list share a statement.
    Every other Resource is an ARN or ARN pattern, and `*` sorts before `arn:`.
    """
    by_resources: defaultdict[Resources, set[str]] = defaultdict(set)
    for action, resource_lists in lists.items():
        for resources in resource_lists:
            by_resources[resources].add(action)
    return [(res, sorted(by_resources[res])) for res in sorted(by_resources)]


def group_by_resource(
    actions: Iterable[str], *, placeholders: bool, partition: str
) -> list[tuple[str, list[str]]]:
    """(Resource, sorted actions) pairs in AWS's order: `*` first, then by Resource.

    Without placeholders everything shares `*`. With them, an action is listed under
    every ARN template of its required resource types; actions with none go to `*`.
    """
    lists = {
        action: placeholder_resources(action, partition) if placeholders else [("*",)]
        for action in actions
    }
    return [(resources[0], acts) for resources, acts in _grouped(lists)]


def _statement(
    sid: str, actions: list[str], resources: Resources, condition: dict[str, Any] | None = None
) -> Statement:
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else actions,
        "Resource": resources[0] if len(resources) == 1 else list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _policy(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": statements}


def _size(statements: list[Statement]) -> int:
    return len(dumps(_policy(statements)))


def _runs(items: Iterable[T], fits: Callable[[list[T]], bool]) -> list[list[T]]:
    """Consecutive runs of `items`, each as long as `fits` allows (at least one item)."""
    runs: list[list[T]] = []
    current: list[T] = []
    for item in items:
        if current and not fits([*current, item]):
            runs.append(current)
            current = []
        current.append(item)
    if current:
        runs.append(current)
    return runs


def _fit_statement(sid: str, group: Group, limit: int) -> list[Group]:
    """Cut one statement into consecutive pieces that each fit a policy alone: runs of its
    sorted actions, and, where one action's Resource list is too long, runs of that.

    `sid` is a placeholder of the longest Sid a piece could get, so pieces stay within the
    limit once numbered.
    """

    def fits(actions: list[str], resources: Resources) -> bool:
        return _size([_statement(sid, actions, resources, group.condition)]) <= limit

    pieces = []
    for actions in _runs(group.actions, lambda run: fits(run, group.resources)):
        if fits(actions, group.resources):
            pieces.append(group._replace(actions=actions))
            continue
        runs = _runs(group.resources, lambda run, acts=actions: fits(acts, tuple(run)))
        pieces.extend(group._replace(actions=actions, resources=tuple(run)) for run in runs)
    return pieces


def _pack(groups: list[Group], limit: int) -> list[list[Statement]]:
    """Fill policies greedily with whole statements in order.

    Sids are numbered per prefix and run on across policies. A statement too large for
    one policy is first cut into pieces.
    """
    worst_sid = f"{SUPPORTED_SID}{sum(len(g.actions) * len(g.resources) for g in groups)}"
    pieces = [piece for group in groups for piece in _fit_statement(worst_sid, group, limit)]
    numbers: defaultdict[str, int] = defaultdict(int)
    policies: list[list[Statement]] = []
    current: list[Statement] = []
    for piece in pieces:
        sid = f"{piece.sid_prefix}{numbers[piece.sid_prefix]}"
        numbers[piece.sid_prefix] += 1
        statement = _statement(sid, piece.actions, piece.resources, piece.condition)
        if current and _size([*current, statement]) > limit:
            policies.append(current)
            current = []
        current.append(statement)
    if current:
        policies.append(current)
    return policies


def _service_level_groups(prefixes: Iterable[str]) -> list[Group]:
    return [Group(SERVICE_LEVEL_SID, ("*",), [f"{p}:*"]) for p in sorted(set(prefixes))]


def render_policies(
    actions: Iterable[str],
    *,
    placeholders: bool = False,
    partition: str = "aws",
    service_level: Iterable[str] = (),
    limit: int = MAX_POLICY_CHARS,
) -> list[str]:
    """The AWS-format policy documents for `actions`, each at most `limit` characters.

    `service_level` lists IAM prefixes to grant as `prefix:*` in `ServiceLevelSid`
    statements after the action-level ones (policygen's service-level template).
    """
    groups = [
        Group(SUPPORTED_SID, (resource,), acts)
        for resource, acts in group_by_resource(
            actions, placeholders=placeholders, partition=partition
        )
    ]
    groups.extend(_service_level_groups(service_level))
    return [dumps(_policy(statements)) for statements in _pack(groups, limit)]


def action_resources(
    action: str, use: ActionUse | None, options: RenderOptions, partition: str
) -> list[Resources]:
    """The Resource lists one action is granted on under `options`."""
    if options.resources == "star":
        return [("*",)]
    if options.resources == "placeholders" or use is None:
        return placeholder_resources(action, partition)
    return observed_resources(
        action,
        use.arns,
        partition=partition,
        max_arns=options.max_arns,
        overflow=use.arn_overflow,
        unresolved=use.unresolved > 0,
    )


def pass_role_resources(use: PassRoleUse, partition: str, max_arns: int) -> Resources:
    """The roles of a PassRole statement: the roles passed (capped like observed ARNs),
    and for EC2 instance profiles the role placeholder in the profile's account."""
    roles = [r for r in use.roles if not is_instance_profile(r)]
    listed = set()
    if roles or use.overflow is not None:
        listed.update(capped(roles, ROLE_TEMPLATE, partition, max_arns, use.overflow))
    for profile in use.roles:
        if is_instance_profile(profile):
            account = profile.split(":")[4]
            listed.add(ROLE_TEMPLATE.replace(PARTITION, partition).replace("${Account}", account))
    return tuple(sorted(listed))


def _pass_role_groups(analysis: Analysis, options: RenderOptions, partition: str) -> list[Group]:
    return [
        Group(
            PASS_ROLE_SID,
            pass_role_resources(use, partition, options.max_arns),
            [PASS_ROLE],
            {"StringEquals": {"iam:PassedToService": service}},
        )
        for service, use in sorted(analysis.passed_roles.items())
    ]


def _dependent_groups(analysis: Analysis, options: RenderOptions, partition: str) -> list[Group]:
    added = dependents.added_actions(analysis.actions)
    lists = {action: action_resources(action, None, options, partition) for action in added}
    return [Group(DEPENDENT_SID, res, acts) for res, acts in _grouped(lists)]


def render_analysis(
    analysis: Analysis,
    options: RenderOptions,
    *,
    partition: str = "aws",
    limit: int = MAX_POLICY_CHARS,
) -> list[str]:
    """The policy documents for an analysis under `options`, each within `limit`.

    Statement order: the action-level statements (`SupportedServiceSid`), inferred
    PassRole (`PassRoleSid`, one per service), dependent actions (`DependentActionSid`),
    then the service-level template (`ServiceLevelSid`).
    """
    lists = {
        action: action_resources(action, use, options, partition)
        for action, use in analysis.actions.items()
    }
    groups = [Group(SUPPORTED_SID, res, acts) for res, acts in _grouped(lists)]
    if options.pass_role:
        groups.extend(_pass_role_groups(analysis, options, partition))
    if options.dependent_actions:
        groups.extend(_dependent_groups(analysis, options, partition))
    if options.service_level:
        groups.extend(_service_level_groups(analysis.service_level_prefixes))
    return [dumps(_policy(statements)) for statements in _pack(groups, limit)]
