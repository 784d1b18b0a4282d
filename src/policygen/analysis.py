"""From usage to the set of IAM actions a principal needs, with what could not be mapped.

An `Analysis` is what a job stores: it is independent of how the policy is rendered
(placeholders, service-level template), so one scan answers every rendering.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from policygen import catalogue, mapping
from policygen.usage import CallKey, CallStats, ScanStats, Usage

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
class ActionUse:
    """Why an action is in the policy: how often it was needed, when, and by which calls."""

    count: int = 0
    first: str = ""
    last: str = ""
    example_event_id: str = ""
    denied_count: int = 0
    events: list[str] = field(default_factory=list)  # "eventSource:eventName"

    @property
    def denied_only(self) -> bool:
        return self.count > 0 and self.denied_count == self.count

    def add(self, key: CallKey, stats: CallStats) -> None:
        merged = CallStats(self.count, self.first, self.last, self.example_event_id)
        merged.merge(stats)
        self.count, self.first, self.last = merged.count, merged.first, merged.last
        self.example_event_id = merged.example_event_id
        if key.outcome == "denied":
            self.denied_count += stats.count
        event = f"{key.event_source}:{key.event_name}"
        if event not in self.events:
            self.events.append(event)
            self.events.sort()


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
            data.get("service_level_source", CLOUDTRAIL_SOURCE),
            list(data.get("last_accessed_prefixes", ())),
            data.get("service_level_note", ""),
        )


def _counts(key: CallKey, options: AnalysisOptions) -> bool:
    if key.outcome == "denied" and options.denied == "exclude":
        return False
    return options.data_events or not key.data_event


def analyse(usage: Usage, options: AnalysisOptions | None = None) -> Analysis:
    """Map every call in `usage` to IAM actions under `options`."""
    options = options or AnalysisOptions()
    result = Analysis(usage.principal_arn, stats=usage.stats)
    result.catalogue_version = catalogue.version()
    unmapped: dict[tuple[str, str], UnmappedCall] = {}
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
        for action in mapped.actions:
            result.actions.setdefault(action, ActionUse()).add(key, stats)
    result.actions = dict(sorted(result.actions.items()))
    result.unmapped = [unmapped[k] for k in sorted(unmapped)]
    return result
