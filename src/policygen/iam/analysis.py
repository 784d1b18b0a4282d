"""From usage to the set of IAM actions a principal needs, with what could not be mapped.

An `Analysis` is what a job stores: it is independent of how the policy is rendered
(placeholders, service-level template), so one scan answers every rendering.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from policygen.iam import catalogue, mapping, resources
from policygen.scan.usage import CallKey, CallStats, Observed, ScanStats, Usage, join_prefix

DeniedMode = Literal["include", "exclude"]
#: Where the service-level template's services come from (recorded with each analysis).
CLOUDTRAIL_SOURCE = "cloudTrail"
LAST_ACCESSED_SOURCE = "serviceLastAccessed"


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """How calls count toward the policy.

    `denied="include"` is what AWS does: a call refused by IAM still shows intent.
    `data_events=False` keeps to management events only, as AWS does.
    """

    denied: DeniedMode = "include"
    data_events: bool = True


@dataclass(slots=True)
class ActionUse(CallStats):
    """Why an action is in the policy: how often it was needed and when (the `CallStats` of
    every call that needs it), and by which calls."""

    denied_count: int = 0
    events: list[str] = field(default_factory=list)  # "eventSource:eventName"
    #: observed resources by resource type of this action (`policygen.iam.resources`).
    arns: dict[str, list[str]] = field(default_factory=dict)
    #: common prefix of resources seen but not kept (None: all kept).
    arn_overflow: str | None = None
    #: calls whose resources of this action's types could not be derived.
    unresolved: int = 0

    @property
    def denied_only(self) -> bool:
        return self.count > 0 and self.denied_count == self.count

    def observe(self, action: str, observed: Observed, known: set[str]) -> None:
        """Take in the resources one kind of call named, those of types `action` takes
        (IAM names resolved against the `known` full ARNs)."""
        by_type = resources.classify(action, resources.resolve_names(observed.arns, known))
        for resource_type, arns in by_type.items():
            kept = set(self.arns.get(resource_type, ())) | set(arns)
            self.arns[resource_type] = sorted(kept)
        self.arns = dict(sorted(self.arns.items()))
        self.arn_overflow = join_prefix(self.arn_overflow, observed.arn_overflow)
        self.unresolved += observed.unresolved if by_type else observed.calls

    def add_calls(self, key: CallKey, stats: CallStats) -> None:
        """Count the calls of one kind that need this action (`CallStats.add` counts one
        event)."""
        self.merge(stats)
        if key.outcome == "denied":
            self.denied_count += stats.count
        event = f"{key.event_source}:{key.event_name}"
        if event not in self.events:
            self.events.append(event)
            self.events.sort()


@dataclass(slots=True)
class PassRoleUse(ActionUse):
    """`iam:PassRole` to one service, inferred from request parameters: the roles (or EC2
    instance profiles, whose role cannot be named offline) and the calls that passed them."""

    roles: list[str] = field(default_factory=list)
    #: common prefix of roles seen but not kept (None: all kept).
    overflow: str | None = None

    def take(self, key: CallKey, observed: Observed, service: str) -> None:
        self.add_calls(key, observed.pass_calls)
        self.roles = sorted(set(self.roles) | observed.passed.get(service, set()))
        self.overflow = join_prefix(self.overflow, observed.pass_overflow.get(service))


@dataclass(frozen=True, slots=True)
class UnmappedCall:
    """A call policygen could not turn into a known IAM action."""

    event_source: str
    event_name: str
    prefix: str
    count: int
    reason: str


@dataclass(slots=True)
class Analysis:
    """The actions one principal needs, and everything that limits that answer."""

    principal_arn: str
    actions: dict[str, ActionUse] = field(default_factory=dict)
    unmapped: list[UnmappedCall] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)
    catalogue_version: str = ""
    #: inferred `iam:PassRole`, by the service principal the role was passed to.
    passed_roles: dict[str, PassRoleUse] = field(default_factory=dict)
    #: `cloudTrail`, or `serviceLastAccessed` when IAM's last accessed data was used.
    service_level_source: str = CLOUDTRAIL_SOURCE
    #: services IAM saw the principal use in the window (with `serviceLastAccessed`).
    last_accessed_prefixes: list[str] = field(default_factory=list)
    #: why last accessed data was not used, when it was asked for.
    service_level_note: str = ""

    @property
    def service_level_prefixes(self) -> list[str]:
        """IAM services used without full action-level output: the service-level template.

        A service is listed when one of its calls could not be mapped to an action, or
        when last accessed data shows it used but CloudTrail gave none of its actions; and
        only if the prefix is a real IAM service (no invented `prefix:*`).
        """
        with_actions = {action.partition(":")[0] for action in self.actions}
        prefixes = {u.prefix for u in self.unmapped}
        prefixes.update(p for p in self.last_accessed_prefixes if p not in with_actions)
        return sorted(p for p in prefixes if catalogue.has_service(p))

    @property
    def incomplete_reasons(self) -> list[str]:
        """Why the policy may miss permissions; empty when it is complete."""
        reasons = []
        if self.unmapped:
            reasons.append(f"{len(self.unmapped)} kinds of call could not be mapped to IAM actions")
        if self.stats.files_skipped:
            reasons.append(f"{self.stats.files_skipped} log files could not be read")
        if self.stats.records_bad:
            reasons.append(f"{self.stats.records_bad} malformed records were skipped")
        return reasons

    @property
    def is_complete(self) -> bool:
        return not self.incomplete_reasons

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for job storage."""
        data = asdict(self)
        data["stats"]["ignored"] = dict(self.stats.ignored)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        stats = dict(data["stats"])
        scan_stats = ScanStats(**{**stats, "ignored": {}})
        scan_stats.ignored.update(stats.get("ignored", {}))
        return cls(
            data["principal_arn"],
            {name: ActionUse(**use) for name, use in data["actions"].items()},
            [UnmappedCall(**u) for u in data["unmapped"]],
            scan_stats,
            data.get("catalogue_version", ""),
            {s: PassRoleUse(**use) for s, use in data.get("passed_roles", {}).items()},
            data.get("service_level_source", CLOUDTRAIL_SOURCE),
            list(data.get("last_accessed_prefixes", ())),
            data.get("service_level_note", ""),
        )


def _counts(key: CallKey, options: AnalysisOptions) -> bool:
    if key.outcome == "denied" and options.denied == "exclude":
        return False
    return options.data_events or not key.data_event


def known_arns(usage: Usage) -> set[str]:
    """Every full ARN the usage saw (resources, passed roles, the principal itself): what
    IAM names seen without their path are resolved against."""
    known = {usage.principal_arn}
    for observed in usage.observed.values():
        known.update(observed.arns)
        for roles in observed.passed.values():
            known.update(roles)
    return known


def analyse(usage: Usage, options: AnalysisOptions | None = None) -> Analysis:
    """Map every call in `usage` to IAM actions under `options`."""
    options = options or AnalysisOptions()
    result = Analysis(usage.principal_arn, stats=usage.stats)
    result.catalogue_version = catalogue.version()
    unmapped: dict[tuple[str, str], UnmappedCall] = {}
    known = known_arns(usage)
    for key, stats in usage.calls.items():
        if not _counts(key, options):
            continue
        mapped = mapping.map_call(key.event_source, key.event_name, key.qualifier)
        if mapped.status == "unmapped":
            ident = (key.event_source, key.event_name)
            previous = unmapped.get(ident)
            count = stats.count + (previous.count if previous else 0)
            unmapped[ident] = UnmappedCall(*ident, mapped.prefix, count, mapped.reason)
            continue
        observed = usage.observed.get(key)
        for action in mapped.actions:
            use = result.actions.setdefault(action, ActionUse())
            use.add_calls(key, stats)
            if observed is not None:
                use.observe(action, observed, known)
        if observed is not None:
            for service in observed.passed:
                result.passed_roles.setdefault(service, PassRoleUse()).take(key, observed, service)
    result.actions = dict(sorted(result.actions.items()))
    result.passed_roles = dict(sorted(result.passed_roles.items()))
    result.unmapped = [unmapped[k] for k in sorted(unmapped)]
    return result
