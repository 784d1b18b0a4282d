"""What the console's pages show, read from the job store through the API's backend.

Jobs are reached only through `PolicyGenerationService` (the API's own rules: the
caller's account, retention), policies are rendered by the functions the API renders
with, and the evidence comes from the stored analysis as `policygen explain` reads it;
so the console cannot show what the API would not, nor show it differently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from policygen.core.paths import index_path
from policygen.core.time import format_time
from policygen.iam.analysis import Analysis
from policygen.index.activity import SeenPrincipal, hourly_calls, principals_seen
from policygen.policy.explain import pass_role_entries, use_entry
from policygen.server.backend import PolicyGenerationService, policy_result, scan_report
from policygen.server.console import chart
from policygen.server.errors import ValidationError
from policygen.server.store import JobRecord, Status
from policygen.sources.trailset import trail_regions, union_regions

PAGE_SIZE = 20
#: Resource renderings a reviewer can switch between: the API's placeholders, or policygen's
#: observed ARNs.
RESOURCE_MODES = {"placeholders": "Placeholders", "observed": "Observed ARNs"}


@dataclass(frozen=True, slots=True)
class Rendering:
    """How the job page renders the policy: its query parameters."""

    resources: str = "placeholders"
    pass_role: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Rendering:
        resources = query.get("resources", "placeholders")
        if resources not in RESOURCE_MODES:
            resources = "placeholders"
        return cls(resources, query.get("passRole") == "true")

    def query(self, **changes: Any) -> str:
        """This rendering (with `changes`) as a query string."""
        resources = changes.get("resources", self.resources)
        pass_role = changes.get("pass_role", self.pass_role)
        return f"resources={resources}" + ("&passRole=true" if pass_role else "")


def duration(job: JobRecord, moment: datetime) -> str:
    """`1 h 2 min`, `3 min 4 s` or `5 s`: from start to completion (or to `moment`)."""
    seconds = int(((job.completed_on or moment) - job.started_on).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def outcome(job: JobRecord) -> str:
    """Whether the policy is complete, or why not (or why there is none)."""
    if job.status is Status.IN_PROGRESS:
        return "running"
    if job.status is Status.CANCELED:
        return "canceled: no policy"
    if job.status is Status.FAILED:
        return f"failed: {job.error_code}: {job.error_message}"
    if job.analysis is None:
        return "complete"
    reasons = Analysis.from_dict(job.analysis).incomplete_reasons
    return "incomplete: " + "; ".join(reasons) if reasons else "complete"


@dataclass(frozen=True, slots=True)
class JobRow:
    job: JobRecord
    duration: str
    outcome: str

    @property
    def window(self) -> str:
        return f"{format_time(self.job.spec.start)} to {format_time(self.job.spec.end)}"

    @property
    def trails(self) -> list[str]:
        return [t.cloud_trail_arn for t in self.job.spec.trails]


def job_rows(
    service: PolicyGenerationService, account: str | None, token: str | None, moment: datetime
) -> tuple[list[JobRow], str | None]:
    """A page of the account's jobs, newest first, and the token of the next page."""
    params: dict[str, Any] = {"maxResults": PAGE_SIZE}
    if token:
        params["nextToken"] = token
    listed = service.list_policy_generations(params, account)
    rows = []
    for item in listed["policyGenerations"]:
        try:
            job = service.visible_job(item["jobId"], account, with_analysis=True)
        except ValidationError:  # purged since it was listed
            continue
        rows.append(JobRow(job, duration(job, moment), outcome(job)))
    return rows, listed.get("nextToken")


def index_roots(trails: Mapping[str, str]) -> list[str]:
    """The usage index's names of the configured trails' locations."""
    return [loc if loc.startswith("s3://") else str(Path(loc).resolve()) for loc in trails.values()]


def suggestions(service: PolicyGenerationService, account: str | None) -> list[SeenPrincipal]:
    """Principals seen in the server's indexed trails, for the start form: read again
    only when the index changed (it sums the whole index)."""
    settings = service.settings
    path = index_path(settings.data_dir)
    roots = tuple(index_roots(settings.trails))
    return _seen(str(path), roots, account, _stamp(path))


def _stamp(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """What changes when the index is written: its file's and its log's times and sizes."""
    stamps = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            stat = file.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


@lru_cache(maxsize=64)
def _seen(
    path: str, roots: tuple[str, ...], account: str | None, stamp: tuple[object, ...]
) -> list[SeenPrincipal]:
    return principals_seen(Path(path), roots, account)


@dataclass(slots=True)
class JobPage:
    """Everything the job page shows of one job."""

    job: JobRecord
    duration: str
    outcome: str
    rendering: Rendering
    policies: list[str] = field(default_factory=list)
    complete: bool | None = None
    report: dict[str, Any] | None = None
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pass_roles: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Any] = field(default_factory=list)
    chart: chart.Chart | None = None

    @property
    def services(self) -> list[str]:
        """The IAM services of the policy's actions, as AWS's console groups them."""
        return sorted({name.split(":", 1)[0] for name, _ in self.actions})


def job_page(
    service: PolicyGenerationService,
    job_id: str,
    account: str | None,
    rendering: Rendering,
    moment: datetime,
) -> JobPage:
    """The job's page; ValidationError (shown as 404) for a job the account cannot see."""
    job = service.visible_job(job_id, account, with_analysis=True)
    page = JobPage(job, duration(job, moment), outcome(job), rendering)
    if job.status is not Status.SUCCEEDED or job.analysis is None:
        return page
    result = policy_result(job, resources=rendering.resources, pass_role=rendering.pass_role)
    page.policies = [pretty(p["policy"]) for p in result["generatedPolicies"]]
    page.complete = result["properties"].get("isComplete")
    page.report = scan_report(job, service.settings.trails)
    analysis = Analysis.from_dict(job.analysis)
    page.actions = [(name, use_entry(use)) for name, use in analysis.actions.items()]
    page.pass_roles = pass_role_entries(analysis)
    page.unmapped = list(analysis.unmapped)
    page.chart = activity_chart(service, job, analysis)
    return page


def activity_chart(
    service: PolicyGenerationService, job: JobRecord, analysis: Analysis
) -> chart.Chart:
    """Calls per hour or day from the usage index when it holds the job's trails, else
    first-to-last spans from the analysis."""
    settings = service.settings
    spec = job.spec
    locations = {
        t.cloud_trail_arn: settings.trails[t.cloud_trail_arn]
        for t in spec.trails
        if t.cloud_trail_arn in settings.trails
    }
    regions = union_regions([trail_regions(t) for t in spec.trails])
    rows = hourly_calls(
        index_path(settings.data_dir),
        index_roots(locations),
        spec.principal_arn,
        (spec.start, spec.end),
        regions,
    )
    if rows is not None:
        return chart.bars(rows, spec.start, spec.end)
    uses = {name: (u.count, u.first, u.last) for name, u in analysis.actions.items()}
    return chart.spans(uses, spec.start, spec.end)


def pretty(policy: str) -> str:
    """A policy document as the API returns it (compact JSON), indented for reading."""
    return json.dumps(json.loads(policy), indent=2)
