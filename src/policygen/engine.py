"""The library entry point: one function from logs to an AWS-shaped generation result.

The CLI and the HTTP service both call these functions, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from policygen.analysis import Analysis, AnalysisOptions, DeniedMode, analyse
from policygen.arns import Principal
from policygen.policy import RenderOptions, ResourceMode, render_analysis
from policygen.resources import DEFAULT_MAX_ARNS
from policygen.scanner import DEFAULT_MAX_FILE_BYTES, ProgressCallback, scan
from policygen.sources import DEFAULT_MARGIN, LocalFolder, Selection, TrailSource
from policygen.timeutil import format_time, now, parse_time
from policygen.usage import Usage

#: AWS's longest window for one generation; also the CLI's default look-back.
MAX_WINDOW = timedelta(days=90)

TimeLike = str | int | float | datetime


@dataclass(frozen=True, slots=True)
class TrailProperties:
    """One trail as echoed in `cloudTrailProperties.trailProperties`."""

    cloud_trail_arn: str
    regions: tuple[str, ...] = ()
    all_regions: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "cloudTrailArn": self.cloud_trail_arn,
            "regions": list(self.regions),
            "allRegions": self.all_regions,
        }


@dataclass(slots=True)
class GenerationResult:
    """A finished generation: the analysis, and the inputs that produced it."""

    principal: Principal
    analysis: Analysis
    start: datetime
    end: datetime
    trails: list[TrailProperties] = field(default_factory=list)

    def policies(self, options: RenderOptions | None = None, **flags: Any) -> list[str]:
        """The policy documents, rendered as `options` (or `render_policy_documents`'s
        keyword flags) ask; the default is AWS's exact output."""
        return render(self.analysis, self.principal, options or render_options(**flags))

    def to_api(self, options: RenderOptions | None = None, **flags: Any) -> dict[str, Any]:
        """`generatedPolicyResult` exactly as `GetGeneratedPolicy` returns it."""
        options = options or render_options(**flags)
        return generated_policy_result(
            self.principal.arn,
            self.start,
            self.end,
            self.trails,
            policies=self.policies(options),
            complete=self.analysis.is_complete and not options.service_level,
        )


def render_options(
    *,
    placeholders: bool = False,
    service_level: bool = False,
    resources: ResourceMode | None = None,
    pass_role: bool = False,
    dependent_actions: bool = False,
    max_arns: int = DEFAULT_MAX_ARNS,
) -> RenderOptions:
    """`RenderOptions` from flags: `placeholders` is AWS's `includeResourcePlaceholders`;
    `resources` (star, placeholders, observed), when given, takes its place."""
    return RenderOptions(
        resources=resources or ("placeholders" if placeholders else "star"),
        service_level=service_level,
        pass_role=pass_role,
        dependent_actions=dependent_actions,
        max_arns=max_arns,
    )


def render(analysis: Analysis, principal: Principal, options: RenderOptions) -> list[str]:
    """Render an analysis under `options`, in the principal's partition."""
    return render_analysis(analysis, options, partition=principal.partition)


def render_policy_documents(
    analysis: Analysis,
    principal: Principal,
    *,
    placeholders: bool = False,
    service_level: bool = False,
    resources: ResourceMode | None = None,
    pass_role: bool = False,
    dependent_actions: bool = False,
    max_arns: int = DEFAULT_MAX_ARNS,
) -> list[str]:
    """Render an analysis as policy documents: the single entry point the CLI and the
    server share. The defaults are AWS's exact output (what `GetGeneratedPolicy` returns);
    the other keywords are policygen's extensions (see `RenderOptions`)."""
    options = render_options(
        placeholders=placeholders,
        service_level=service_level,
        resources=resources,
        pass_role=pass_role,
        dependent_actions=dependent_actions,
        max_arns=max_arns,
    )
    return render(analysis, principal, options)


def generated_policy_result(
    principal_arn: str,
    start: datetime,
    end: datetime,
    trails: Iterable[TrailProperties],
    *,
    policies: list[str] | None,
    complete: bool | None,
) -> dict[str, Any]:
    """The `generatedPolicyResult` shape; `policies=None` omits them (job not finished)."""
    properties: dict[str, Any] = {"principalArn": principal_arn}
    if complete is not None:
        properties["isComplete"] = complete
    properties["cloudTrailProperties"] = {
        "trailProperties": [trail.to_api() for trail in trails],
        "startTime": format_time(start),
        "endTime": format_time(end),
    }
    result: dict[str, Any] = {"properties": properties}
    if policies is not None:
        result["generatedPolicies"] = [{"policy": text} for text in policies]
    return result


def resolve_window(start: TimeLike | None, end: TimeLike | None) -> tuple[datetime, datetime]:
    """Parse the window; `end` defaults to now, `start` to 90 days before `end`.

    ValueError when `start` is after `end`.
    """
    end_time = parse_time(end) if end is not None else now()
    start_time = parse_time(start) if start is not None else end_time - MAX_WINDOW
    if start_time > end_time:
        raise ValueError(f"start {format_time(start_time)} is after end {format_time(end_time)}")
    return start_time, end_time


def as_source(logs: str | Path | TrailSource) -> TrailSource:
    """A trail source for an `s3://bucket/prefix` URL (ambient AWS credentials), a path
    (a local folder or file) or an existing source."""
    if isinstance(logs, str) and logs.startswith("s3://"):
        from policygen.s3 import S3Trail

        return S3Trail.from_url(logs)
    if isinstance(logs, str | Path):
        return LocalFolder(Path(logs))
    return logs


def collect_usage(
    principal: Principal,
    source: TrailSource,
    selection: Selection,
    *,
    on_file: ProgressCallback | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Usage:
    """Scan `source` for the principal's calls in `selection`; files larger than
    `max_file_bytes` (stored or decompressed) are skipped and reported."""
    usage = scan(source, selection, principal, on_file=on_file, max_file_bytes=max_file_bytes)
    return usage[principal.arn]


def generate_policy(
    principal_arn: str,
    logs: str | Path | TrailSource,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    regions: Iterable[str] | None = None,
    denied: DeniedMode = "include",
    data_events: bool = True,
    margin: timedelta = DEFAULT_MARGIN,
    trail_arn: str | None = None,
    on_file: ProgressCallback | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> GenerationResult:
    """Generate the least-privilege policy for `principal_arn` from the logs at `logs`.

    Raises ValueError for bad arguments (the message says which) and FileNotFoundError
    when `logs` does not exist. Unreadable log files are reported in the result instead.
    """
    principal = Principal.parse(principal_arn)
    start_time, end_time = resolve_window(start, end)
    region_set = frozenset(regions) if regions else None
    source = as_source(logs)
    selection = Selection(start_time, end_time, region_set, frozenset({principal.account}), margin)
    usage = collect_usage(
        principal, source, selection, on_file=on_file, max_file_bytes=max_file_bytes
    )
    analysis = analyse(usage, AnalysisOptions(denied=denied, data_events=data_events))
    trail = TrailProperties(
        trail_arn or source.describe(), tuple(sorted(region_set or ())), region_set is None
    )
    return GenerationResult(principal, analysis, start_time, end_time, [trail])
