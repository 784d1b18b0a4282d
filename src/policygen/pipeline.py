"""The library entry point: one function from logs to an AWS-shaped generation result.

The CLI and the HTTP service both call these functions, so they cannot disagree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from policygen.core.arns import Principal
from policygen.core.paths import index_path
from policygen.core.time import format_time, now, parse_time
from policygen.iam.analysis import Analysis, AnalysisOptions, DeniedMode, analyse
from policygen.iam.facts import RULES
from policygen.iam.resources import DEFAULT_MAX_ARNS
from policygen.index import IndexedSource, IndexUnusable, UsageIndex
from policygen.policy.render import RenderOptions, ResourceMode, render_analysis
from policygen.scan import scanner
from policygen.scan.pool import Engine
from policygen.scan.query import DEFAULT_MAX_FILE_BYTES, ObserveLevel, ProgressCallback
from policygen.scan.usage import Usage
from policygen.sources.base import DEFAULT_MARGIN, LogObject, Selection, TrailSource
from policygen.sources.open import Location, open_location
from policygen.sources.trailset import TrailProperties

#: AWS's longest window for one generation; also the CLI's default look-back.
MAX_WINDOW = timedelta(days=90)

TimeLike = str | int | float | datetime


@dataclass(slots=True)
class GenerationResult:
    """A finished generation: the analysis, and the inputs that produced it."""

    principal: Principal
    analysis: Analysis
    start: datetime
    end: datetime
    trails: list[TrailProperties] = field(default_factory=list)

    def policies(self, options: RenderOptions | None = None, **flags: Any) -> list[str]:
        """The policy documents, rendered as `options` (or `render_options`'s keyword
        flags) ask; the default is AWS's exact output."""
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


def render_policy_documents(analysis: Analysis, principal: Principal, **flags: Any) -> list[str]:
    """Render an analysis as policy documents: the single entry point the CLI and the
    server share. `flags` are `render_options`'s: their defaults are AWS's exact output
    (what `GetGeneratedPolicy` returns), the others policygen's extensions."""
    return render(analysis, principal, render_options(**flags))


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


def scan(
    source: TrailSource, selection: Selection, principal: Principal | None, **options: Any
) -> dict[str, Usage]:
    """`policygen.scan.scanner.scan` with the IAM knowledge that reads resource facts
    (`policygen.iam.facts.RULES`): usage per principal ARN, as every job scans."""
    return scanner.scan(source, selection, principal, rules=RULES, **options)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """How to read the logs: not what (the `Job`) nor how calls count (`AnalysisOptions`),
    but where the scan runs, how many resource facts it keeps and which files it skips.

    `workers=1` scans in this process; `engine` runs the scan elsewhere (Spark); `observe`
    is how many resource facts a scan collects (all: any rendering can be asked for);
    files larger than `max_file_bytes` (stored or decompressed) are skipped and reported.
    With `use_index`, one principal's calls come from the usage index in `data_dir`
    (`paths.data_dir`) when it covers the window; a scan of every principal never reads it.
    """

    on_file: ProgressCallback | None = None
    workers: int | None = None
    observe: ObserveLevel = "all"
    engine: Engine | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    data_dir: str | Path | None = None
    use_index: bool = True

    def scan(
        self,
        source: TrailSource,
        selection: Selection,
        principal: Principal | None,
        objects: list[LogObject] | None = None,
    ) -> dict[str, Usage]:
        """`scanner.scan` under these options (of `objects` when already listed): usage
        per principal ARN."""
        return scan(
            source,
            selection,
            principal,
            on_file=self.on_file,
            workers=self.workers,
            observe=self.observe,
            engine=self.engine,
            max_file_bytes=self.max_file_bytes,
            objects=objects,
        )


def collect_usage(
    principal: Principal,
    source: TrailSource,
    selection: Selection,
    options: ScanOptions | None = None,
) -> Usage:
    """The principal's calls in `selection`: from the usage index when it covers the
    window, else from a scan of `source` (in worker processes when it is large, or on
    `options.engine`: Spark).

    The index is only read here, never created (it holds every resource fact).
    """
    options = options or ScanOptions()
    indexed = _single_indexed(source) if options.use_index else None
    listed = None
    if indexed is not None:
        usage, listed = indexed_usage(principal, source, indexed, selection, options.data_dir)
        if usage is not None:
            return usage
    return options.scan(source, selection, principal, listed)[principal.arn]


def _single_indexed(source: TrailSource) -> IndexedSource | None:
    """The one source the index can keep (a folder, an S3 trail) that `source` reads:
    itself, or a job's only trail."""
    members = getattr(source, "members", None)
    if members is not None and len(members) == 1:
        source = members[0][0]
    return source if isinstance(source, IndexedSource) else None


def indexed_usage(
    principal: Principal,
    source: TrailSource,
    indexed: IndexedSource,
    selection: Selection,
    data_dir: str | Path | None,
) -> tuple[Usage | None, list[LogObject] | None]:
    """The usage from the index in `data_dir` when it covers the window (None when there is
    none, it does not cover it, or it cannot be read: the scan is always there to fall back
    on), and the listing of `source` made to find out, if one was: the scan reads it
    instead of listing again (for S3, the same LIST requests twice)."""
    path = index_path(data_dir)
    try:
        index = UsageIndex.existing(path)
    except (IndexUnusable, sqlite3.DatabaseError):
        return None, None
    if index is None:
        return None, None
    with index:
        if index.source_id(indexed) is None:
            return None, None
        listed = list(source.list_objects(selection))
        return index.usage(principal, indexed, selection, listed), listed


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """Every choice of a generation but the principal and the logs, for both entry points:
    the window and regions (the `Job`), how calls count (`AnalysisOptions`) and how the
    logs are read (`ScanOptions`). `data_dir` and `use_index` apply to one principal: a
    scan of every principal never reads the usage index."""

    start: TimeLike | None = None
    end: TimeLike | None = None
    regions: Iterable[str] | None = None
    denied: DeniedMode = "include"
    data_events: bool = True
    margin: timedelta = DEFAULT_MARGIN
    trail_arn: str | None = None
    on_file: ProgressCallback | None = None
    workers: int | None = None
    data_dir: str | Path | None = None
    use_index: bool = True
    observe: ObserveLevel = "all"
    engine: Engine | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def job(self, logs: Location) -> Job:
        return Job.of(logs, self.start, self.end, self.regions, self.margin, self.trail_arn)

    def analysis(self) -> AnalysisOptions:
        return AnalysisOptions(self.denied, self.data_events)

    def scan(self) -> ScanOptions:
        return ScanOptions(
            self.on_file,
            self.workers,
            self.observe,
            self.engine,
            self.max_file_bytes,
            self.data_dir,
            self.use_index,
        )


def generate_policy(
    principal_arn: str, logs: Location, options: GenerateOptions | None = None, **flags: Any
) -> GenerationResult:
    """Generate the least-privilege policy for `principal_arn` from the logs at `logs`,
    as `options` (or `GenerateOptions`'s keyword `flags`) say.

    Raises ValueError for bad arguments (the message says which) and FileNotFoundError
    when `logs` does not exist. Unreadable log files are reported in the result instead.
    """
    options = options or GenerateOptions(**flags)
    principal = Principal.parse(principal_arn)
    return options.job(logs).generate(principal, options.analysis(), options.scan())


def generate_all_policies(
    logs: Location, options: GenerateOptions | None = None, **flags: Any
) -> list[GenerationResult]:
    """One generation per IAM user and role found in the logs, from a single scan.

    Each principal's result equals what `generate_policy` gives for it (its calls are
    taken only from its own account's folder), sorted by principal ARN.
    """
    options = options or GenerateOptions(**flags)
    return options.job(logs).generate_all(options.analysis(), options.scan())


@dataclass(frozen=True, slots=True)
class Job:
    """What one generation reads: the source, the window and the regions."""

    source: TrailSource
    start: datetime
    end: datetime
    regions: frozenset[str] | None
    margin: timedelta
    trail_arn: str | None

    @classmethod
    def of(
        cls,
        logs: Location,
        start: TimeLike | None,
        end: TimeLike | None,
        regions: Iterable[str] | None,
        margin: timedelta,
        trail_arn: str | None,
    ) -> Job:
        start_time, end_time = resolve_window(start, end)
        region_set = frozenset(regions) if regions else None
        source = open_location(logs).source
        return cls(source, start_time, end_time, region_set, margin, trail_arn)

    def selection(self, accounts: frozenset[str] | None) -> Selection:
        return Selection(self.start, self.end, self.regions, accounts, self.margin)

    def generate(
        self, principal: Principal, options: AnalysisOptions, scan: ScanOptions
    ) -> GenerationResult:
        """One principal's generation; its calls are taken from its own account's folder."""
        selection = self.selection(frozenset({principal.account}))
        usage = collect_usage(principal, self.source, selection, scan)
        return self.result(principal, usage, options)

    def generate_all(self, options: AnalysisOptions, scan: ScanOptions) -> list[GenerationResult]:
        """One generation per principal in the logs, from a single scan, by principal ARN."""
        found = scan.scan(self.source, self.selection(None), None)
        return [self.result(Principal.parse(arn), found[arn], options) for arn in sorted(found)]

    def result(
        self, principal: Principal, usage: Usage, options: AnalysisOptions
    ) -> GenerationResult:
        """The generation result for one principal's usage."""
        trail = TrailProperties(
            self.trail_arn or self.source.describe(),
            tuple(sorted(self.regions or ())),
            self.regions is None,
        )
        analysis = analyse(usage, options)
        return GenerationResult(principal, analysis, self.start, self.end, [trail])
