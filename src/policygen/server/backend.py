"""The Access Analyzer backend: what Start, Get, List and Cancel mean, apart from the wire.

Operations take the validated input of `api.protocol.parse_request` and the caller's
account (from its verified access key; None when authentication is off), and return the
output shape's members as Python values (the protocol serialises them). A caller sees only
its own account's jobs (§7 #6). Rules AWS leaves open follow aws-policy-generation.md §7;
docs/server.md lists them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from policygen.core.arns import Principal
from policygen.core.aws import resolve_access
from policygen.core.failures import RESOURCE_NOT_FOUND_ERROR, JobFailure
from policygen.core.time import format_time, now
from policygen.iam.analysis import CLOUDTRAIL_SOURCE, Analysis
from policygen.iam.current import current_permissions
from policygen.pipeline import GenerationResult, generated_policy_result
from policygen.policy.explain import EXTENSION_KEY, why
from policygen.policy.rightsize import RightSizing, right_size
from policygen.server.errors import (
    AccessDeniedError,
    ConflictError,
    ServiceQuotaExceededError,
    ValidationError,
)
from policygen.server.settings import ServerSettings
from policygen.server.store import JobRecord, JobSpec, Status, Store
from policygen.server.workers import SERVICE_ERROR, JobRunner, WorkerConfig
from policygen.sources.trailset import (
    GLOBAL_SERVICES_REGION,
    TrailProperties,
    trail_regions,
    union_regions,
)

log = logging.getLogger("policygen.server.backend")

Params = Mapping[str, Any]
DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
#: A job that was interrupted this many times (restarts, dead workers) is failed, not rerun.
MAX_ATTEMPTS = 3
ONE_SECOND = timedelta(seconds=1)
TOKEN_VERSION = 1
#: Where a job's service-level template came from (`cloudTrail`, `serviceLastAccessed`).


class PolicyGenerationService:
    """Policy generation jobs for every account this server serves."""

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        runner: JobRunner | None = None,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.clock = clock

    @classmethod
    def create(cls, settings: ServerSettings) -> PolicyGenerationService:
        """The service with its store and worker pool, as `policygen serve` runs it."""
        store = Store(settings.db_path, timeout=settings.db_timeout)
        service = cls(settings, store)
        config = WorkerConfig.for_settings(settings)
        service.runner = JobRunner(config, settings.workers, service.resume_or_fail)
        return service

    # --- life cycle ------------------------------------------------------------------

    def start_up(self) -> None:
        """Open the store, forget expired jobs, resume (or fail) jobs a previous run left."""
        self.store.migrate()
        self._forget_expired()
        if self.runner is not None:
            self.runner.warm_up()
        for job in self.store.in_progress():
            self.resume_or_fail(job.job_id, "the server stopped while it ran")

    def shut_down(self) -> None:
        """Stop the workers, letting running jobs finish within the grace period; the
        others resume at the next start."""
        if self.runner is not None:
            self.runner.shutdown(self.settings.shutdown_grace)

    def resume_or_fail(self, job_id: str, reason: str) -> None:
        """Rerun an interrupted job, unless it was interrupted too often: then fail it."""
        job = self.store.get(job_id)
        if job is None or job.status is not Status.IN_PROGRESS:
            return
        if job.attempts >= MAX_ATTEMPTS or self.runner is None:
            message = f"policy generation did not finish: {reason} ({job.attempts} attempts)"
            self.store.finish(job_id, Status.FAILED, self.clock(), error=(SERVICE_ERROR, message))
            log.warning("job %s failed: %s", job_id, message)
            return
        self.store.count_attempt(job_id)
        log.info("job %s resumed: %s", job_id, reason)
        self.runner.submit(job_id)

    # --- operations ------------------------------------------------------------------

    def start_policy_generation(self, params: Params, caller: str | None = None) -> dict[str, Any]:
        """Record a job and hand it to the workers; a retried clientToken returns its job.

        Token lookup, quota checks and the insert share one write transaction, so two
        concurrent Starts cannot both pass a limit or both use a token.
        """
        principal = Principal.parse(params["policyGenerationDetails"]["principalArn"])
        if caller is not None and principal.account != caller:
            raise AccessDeniedError(
                f"The caller's account {caller} cannot generate policies for principals of "
                f"account {principal.account}."
            )
        self._check_account(principal.account)
        token = params.get("clientToken") or None  # an empty token is no token
        fingerprint = request_fingerprint(params)
        submitted = self.clock()
        with self.store.transaction():
            self._forget_expired()
            if token:
                earlier = self.store.by_client_token(principal.account, token)
                if earlier is not None:
                    return {"jobId": self._same_request(earlier, fingerprint)}
            spec = self._spec(principal.arn, params.get("cloudTrailDetails"), submitted)
            self._check_quotas(principal.account, submitted)
            job = JobRecord(
                str(uuid.uuid4()),
                principal.account,
                spec,
                submitted,
                client_token=token,
                request_hash=fingerprint,
                attempts=1,
            )
            self.store.insert(job)
        warn_about_regions(job.job_id, spec)
        if self.runner is not None:
            self.runner.submit(job.job_id)
        return {"jobId": job.job_id}

    def get_generated_policy(self, params: Params, caller: str | None = None) -> dict[str, Any]:
        """The job's details and its policy, rendered now the way the flags ask.

        With the service-level template, a header says where its services came from.
        """
        job = self._job(params["jobId"], caller, with_analysis=True)
        service_level = params.get("includeServiceLevelTemplate", False)
        flags = dict(params.get("extensions", {}))
        rightsize = flags.pop("rightsize", False)
        answer: dict[str, Any] = {
            EXTENSION_KEY: scan_report(job, self.settings.trails),
            "jobDetails": job_details(job),
            "generatedPolicyResult": policy_result(
                job,
                placeholders=params.get("includeResourcePlaceholders", False),
                service_level=service_level,
                **flags,
            ),
        }
        if rightsize and answer[EXTENSION_KEY] is not None:
            answer[EXTENSION_KEY]["rightsize"] = self.rightsize(job)
        if service_level and job.analysis is not None:
            source = job.analysis.get("service_level_source", CLOUDTRAIL_SOURCE)
            answer["serviceLevelTemplateSource"] = source  # a header on the wire
        return answer

    def rightsize(self, job: JobRecord) -> dict[str, Any]:
        """`right_sizing` as `policygen diff --json` prints it; a failure to read IAM is
        reported in its place."""
        try:
            return self.right_sizing(job).to_dict()
        except JobFailure as exc:
            return {"error": {"code": exc.code, "message": exc.message}}

    def right_sizing(self, job: JobRecord) -> RightSizing:
        """The succeeded job's principal's policies, read from IAM now (with the job's
        access role, as the server's `access_role_mode` says), against its calls.
        JobFailure when IAM cannot be read or does not know the principal."""
        assert job.analysis is not None
        principal = Principal.parse(job.spec.principal_arn)
        access = resolve_access(job.spec.access_role, None, self.settings.access_role_mode)
        try:
            current = current_permissions(principal, access=access)
        except ValueError as exc:
            raise JobFailure(RESOURCE_NOT_FOUND_ERROR, str(exc)) from None
        return right_size(current, Analysis.from_dict(job.analysis))

    def list_policy_generations(self, params: Params, caller: str | None = None) -> dict[str, Any]:
        """The caller's jobs newest first, optionally for one principal, a page at a time."""
        principal_arn = params.get("principalArn")
        if principal_arn is not None:
            self._check_account(Principal.parse(principal_arn).account)
        limit = min(params.get("maxResults", DEFAULT_MAX_RESULTS), MAX_MAX_RESULTS)
        before = decode_token(params["nextToken"], principal_arn) if "nextToken" in params else None
        jobs = self.store.page(
            account=caller,
            principal_arn=principal_arn,
            before_seq=before,
            since=self._retention_cutoff(),
            limit=limit + 1,
        )
        result: dict[str, Any] = {"policyGenerations": [summary(job) for job in jobs[:limit]]}
        if len(jobs) > limit:
            result["nextToken"] = encode_token(jobs[limit - 1].seq, principal_arn)
        return result

    def cancel_policy_generation(self, params: Params, caller: str | None = None) -> dict[str, Any]:
        """Cancel a job in progress; a finished job is left as it is (a 200 no-op)."""
        job = self._job(params["jobId"], caller)
        if self.store.finish(job.job_id, Status.CANCELED, self.clock()):
            log.info("job %s canceled", job.job_id)
        return {}

    # --- rules -----------------------------------------------------------------------

    def _check_account(self, account: str) -> None:
        allowed = self.settings.allowed_accounts
        if allowed and account not in allowed:
            raise AccessDeniedError(
                f"This policygen server does not generate policies for account {account}."
            )

    def _forget_expired(self) -> None:
        cutoff = self._retention_cutoff()
        if cutoff is not None:
            self.store.purge(cutoff)

    def _retention_cutoff(self) -> datetime | None:
        """The start time before which a job is forgotten, rounded up to the second: start
        times are stored to the second, so Get, List and the purge then agree on every job
        (an exact cutoff mid-second would hide a job from Get that List still shows)."""
        days = self.settings.retention_days
        if not days:
            return None
        cutoff = self.clock() - timedelta(days=days)
        if cutoff.microsecond:
            cutoff = cutoff.replace(microsecond=0) + timedelta(seconds=1)
        return cutoff

    def visible_job(
        self, job_id: str, caller: str | None, *, with_analysis: bool = False
    ) -> JobRecord:
        """A job as the API would show it to `caller` (the console's way to a job)."""
        return self._job(job_id, caller, with_analysis=with_analysis)

    def _job(self, job_id: str, caller: str | None, *, with_analysis: bool = False) -> JobRecord:
        """A job the caller may see, or the ValidationException AWS SDKs model for a bad id
        (§7 #1): another account's job is as unknown as one that never existed (§7 #6)."""
        job = self.store.get(job_id, with_analysis=with_analysis)
        cutoff = self._retention_cutoff()
        if (
            job is None
            or (cutoff is not None and job.started_on < cutoff)
            or (caller is not None and job.account != caller)
        ):
            raise ValidationError(
                f"No policy generation job with id {job_id!r}.",
                fields=[("jobId", "No such job (unknown, or older than the retention period)")],
            )
        self._check_account(job.account)
        return job

    def _same_request(self, earlier: JobRecord, fingerprint: str) -> str:
        """The earlier job's id for a retry; a different request under the token conflicts."""
        if earlier.request_hash != fingerprint:
            raise ConflictError(
                "The clientToken was already used for a different request "
                f"(policy generation {earlier.job_id}).",
                resource_id=earlier.job_id,
            )
        return earlier.job_id

    def _check_quotas(self, account: str, moment: datetime) -> None:
        concurrent = self.settings.max_concurrent_jobs
        running = self.store.running(account) if concurrent else []
        if concurrent and len(running) >= concurrent:
            raise ConflictError(
                f"Account {account} already has {len(running)} policy generation(s) in progress "
                f"(the limit is {concurrent}): wait for {running[0]} or cancel it.",
                resource_id=running[0],
            )
        daily = self.settings.max_jobs_per_day
        if daily and self.store.started_since(account, moment - timedelta(days=1)) >= daily:
            raise ServiceQuotaExceededError(
                f"Account {account} has started {daily} policy generations in the last 24 hours, "
                "the quota (canceled ones count).",
                resource_id=account,
            )

    def _spec(self, principal_arn: str, details: Params | None, submitted: datetime) -> JobSpec:
        """Resolve the request's window and trails; the echoed end is at the latest one second
        before `startedOn`, as AWS echoes it."""
        latest = submitted - ONE_SECOND
        window = timedelta(days=self.settings.max_window_days)
        if details is None:
            return self._default_spec(principal_arn, latest, window)
        start = details["startTime"].replace(microsecond=0)
        end = min(details.get("endTime", latest), latest).replace(microsecond=0)
        check_window(start, end, window)
        trails = tuple(
            TrailProperties(
                t["cloudTrailArn"], tuple(t.get("regions", ())), bool(t.get("allRegions", False))
            )
            for t in details["trails"]
        )
        if not trails:
            raise ValidationError.for_fields(
                [("cloudTrailDetails.trails", "Member must have length greater than or equal to 1")]
            )
        return JobSpec(principal_arn, start, end, trails, details.get("accessRole"))

    def _default_spec(self, principal_arn: str, end: datetime, window: timedelta) -> JobSpec:
        trail = self.settings.default_trail
        if trail is None:
            raise ValidationError.for_fields(
                [
                    (
                        "cloudTrailDetails",
                        "Member must not be null (this server has no default trail)",
                    )
                ]
            )
        return JobSpec(principal_arn, end - window, end, (TrailProperties(trail, (), True),))


def check_window(start: datetime, end: datetime, window: timedelta) -> None:
    """`startTime` <= `endTime`, and no longer than the window (§7 #13, #15)."""
    if start > end:
        raise ValidationError.for_fields(
            [
                (
                    "cloudTrailDetails.startTime",
                    f"Member must not be after endTime ({format_time(start)} > {format_time(end)})",
                )
            ]
        )
    if end - start > window:
        raise ValidationError.for_fields(
            [
                (
                    "cloudTrailDetails.startTime",
                    f"The time range must not be longer than {window.days} days",
                )
            ]
        )


def warn_about_regions(job_id: str, spec: JobSpec) -> None:
    """Log what a user may not expect: home-region-only trails, and us-east-1 not read."""
    for trail in spec.trails:
        if not trail.all_regions and not trail.regions:
            log.warning(
                "job %s: trail %s has neither regions nor allRegions: reading its home region %s",
                job_id,
                trail.cloud_trail_arn,
                ",".join(sorted(trail_regions(trail) or ())),
            )
    regions = union_regions([trail_regions(t) for t in spec.trails])
    if regions is not None and GLOBAL_SERVICES_REGION not in regions:
        log.warning(
            "job %s does not read %s, where IAM, STS and CloudFront calls are logged",
            job_id,
            GLOBAL_SERVICES_REGION,
        )


def request_fingerprint(params: Params) -> str:
    """A digest of the request without its clientToken: what "the same request" means."""
    request = {name: value for name, value in params.items() if name != "clientToken"}
    canonical = json.dumps(request, sort_keys=True, default=format_time)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_token(before_seq: int, principal_arn: str | None) -> str:
    """An opaque, URL-safe cursor: the position in the newest-first list, and the filter."""
    data = json.dumps({"v": TOKEN_VERSION, "before": before_seq, "principal": principal_arn})
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_token(token: str, principal_arn: str | None) -> int:
    """The cursor in a `nextToken`; ValidationException for one this server did not issue."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        before = data["before"]
        valid = (
            data["v"] == TOKEN_VERSION
            and isinstance(before, int)
            and data["principal"] == principal_arn
        )
    except (binascii.Error, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise ValidationError(
            "The nextToken is not valid for this request.",
            fields=[
                ("nextToken", "Not a token returned by ListPolicyGenerations with this filter")
            ],
        )
    return before


def job_details(job: JobRecord) -> dict[str, Any]:
    """`JobDetails`: status and times, and `jobError` for a failed job."""
    details: dict[str, Any] = {
        "jobId": job.job_id,
        "status": job.status.value,
        "startedOn": job.started_on,
        "completedOn": job.completed_on,
    }
    if job.error_code:
        details["jobError"] = {"code": job.error_code, "message": job.error_message or ""}
    return details


def policy_result(job: JobRecord, **flags: Any) -> dict[str, Any]:
    """`generatedPolicyResult` rendered now from the stored analysis, as the CLI renders it.

    `flags` are `GenerationResult.to_api`'s: AWS's two and policygen's extensions. Before
    success there are no policies and no `isComplete`, but always `properties`.
    """
    spec = job.spec
    if job.status is Status.SUCCEEDED and job.analysis is not None:
        result = GenerationResult(
            Principal.parse(spec.principal_arn),
            Analysis.from_dict(job.analysis),
            spec.start,
            spec.end,
            list(spec.trails),
        )
        return result.to_api(**flags)
    return generated_policy_result(
        spec.principal_arn, spec.start, spec.end, spec.trails, policies=None, complete=None
    )


def summary(job: JobRecord) -> dict[str, Any]:
    """A `PolicyGeneration` list item."""
    return {
        "jobId": job.job_id,
        "principalArn": job.spec.principal_arn,
        "status": job.status.value,
        "startedOn": job.started_on,
        "completedOn": job.completed_on,
    }


def scan_report(job: JobRecord, trail_folders: Mapping[str, str]) -> dict[str, Any] | None:
    """policygen's extension member of a succeeded job: what the scan read, skipped and
    why the result is incomplete. Skipped files are named relative to their trail's
    folder, so callers learn nothing about the server's file system."""
    if job.status is not Status.SUCCEEDED or job.analysis is None:
        return None
    analysis = Analysis.from_dict(job.analysis)
    stats = analysis.stats
    folders = [
        trail_folders[t.cloud_trail_arn]
        for t in job.spec.trails
        if t.cloud_trail_arn in trail_folders
    ]
    return {
        "isComplete": analysis.is_complete,
        "incompleteReasons": analysis.incomplete_reasons,
        **why(analysis, Principal.parse(analysis.principal_arn).account),
        "skippedFiles": {
            _relative(path, folders): reason for path, reason in sorted(stats.skipped.items())
        },
        "scan": {
            "filesRead": stats.files_read,
            "filesSkipped": stats.files_skipped,
            "recordsRead": stats.records_read,
            "recordsMatched": stats.records_matched,
            "recordsMalformed": stats.records_bad,
            "duplicates": stats.duplicates,
        },
    }


def _relative(path: str, folders: list[str]) -> str:
    """`path` inside the first trail folder holding it, else just the file's name."""
    for folder in folders:
        prefix = folder.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return os.path.basename(path)
