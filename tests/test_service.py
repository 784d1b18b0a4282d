"""The backend's rules, in process: jobs run by calling the worker function directly."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policygen.server import workers as jobs
from policygen.server.backend import PolicyGenerationService
from policygen.server.errors import (
    AccessDeniedError,
    ConflictError,
    ServiceQuotaExceededError,
    ValidationError,
)
from policygen.server.settings import ServerSettings
from policygen.server.store import Status, Store

from logfactory import (
    ACCOUNT,
    OTHER_ACCOUNT,
    ROLE_ARN,
    RUN_INSTANCES_PLACEHOLDERS,
    RUN_INSTANCES_POLICY,
    USER_ARN,
    record,
    write_log,
)

TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
EU_TRAIL = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/eu"
ACCESS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AccessAnalyzerMonitorServiceRole"
NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
START = datetime(2026, 1, 5, tzinfo=UTC)
END = datetime(2026, 1, 6, tzinfo=UTC)


@dataclass
class Clock:
    moment: datetime = NOW

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class Runner:
    """Records submissions; tests run them with `run`."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def warm_up(self) -> None:
        pass

    def shutdown(self, grace: float = 0) -> None:
        pass


@dataclass
class Backend:
    service: PolicyGenerationService
    runner: Runner
    clock: Clock

    def start(self, principal: str = ROLE_ARN, token: str | None = None, **details: Any) -> str:
        params: dict[str, Any] = {"policyGenerationDetails": {"principalArn": principal}}
        if details.get("cloudTrailDetails", True) is not None:
            params["cloudTrailDetails"] = {
                "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
                "accessRole": ACCESS_ROLE,
                "startTime": START,
                "endTime": END,
                **details,
            }
        if token:
            params["clientToken"] = token
        return self.service.start_policy_generation(params)["jobId"]

    def run(self, job_id: str) -> str:
        return jobs.run_job(jobs.WorkerConfig.for_settings(self.service.settings), job_id)

    def get(self, job_id: str, **flags: bool) -> dict[str, Any]:
        return self.service.get_generated_policy({"jobId": job_id, **flags})

    def list(self, **params: Any) -> dict[str, Any]:
        return self.service.list_policy_generations(params)


@pytest.fixture
def make_backend(tmp_path: Path, logs: Path):
    def make(**settings: Any) -> Backend:
        base = ServerSettings(data_dir=tmp_path / "data", trails={TRAIL: str(logs)})
        config = replace(base, **settings)
        clock, runner = Clock(), Runner()
        store = Store(config.db_path)
        service = PolicyGenerationService(config, store, runner=runner, clock=clock)  # type: ignore[arg-type]
        service.start_up()
        return Backend(service, runner, clock)

    return make


@pytest.fixture
def backend(make_backend) -> Backend:
    return make_backend()


def field_names(error: ValidationError) -> list[str]:
    return [f["name"] for f in error.members["fieldList"]]


def test_job_lifecycle_and_rendering_at_get_time(backend: Backend, logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    job_id = backend.start()
    assert backend.runner.submitted == [job_id]
    pending = backend.get(job_id)
    assert pending["jobDetails"] == {
        "jobId": job_id,
        "status": "IN_PROGRESS",
        "startedOn": NOW,
        "completedOn": None,
    }
    assert "generatedPolicies" not in pending["generatedPolicyResult"]
    assert pending["generatedPolicyResult"]["properties"]["principalArn"] == ROLE_ARN
    assert backend.run(job_id) == "SUCCEEDED"
    properties = {
        "principalArn": ROLE_ARN,
        "isComplete": True,
        "cloudTrailProperties": {
            "trailProperties": [{"cloudTrailArn": TRAIL, "regions": [], "allRegions": True}],
            "startTime": "2026-01-05T00:00:00Z",
            "endTime": "2026-01-06T00:00:00Z",
        },
    }
    for flags, policy, complete in [
        ({}, RUN_INSTANCES_POLICY, True),
        ({"includeResourcePlaceholders": True}, RUN_INSTANCES_PLACEHOLDERS, True),
        # the service-level template makes a result incomplete (aws-policy-generation.md #38)
        ({"includeServiceLevelTemplate": True}, RUN_INSTANCES_POLICY, False),
    ]:
        done = backend.get(job_id, **flags)
        assert done["jobDetails"]["status"] == "SUCCEEDED"
        assert done["generatedPolicyResult"] == {
            "properties": {**properties, "isComplete": complete},
            "generatedPolicies": [{"policy": policy}],
        }


def end_echo(backend: Backend, job_id: str) -> dict[str, Any]:
    return backend.get(job_id)["generatedPolicyResult"]["properties"]["cloudTrailProperties"]


def test_future_end_time_is_clamped_to_just_before_started_on(backend: Backend) -> None:
    job_id = backend.start(startTime=NOW - timedelta(days=2), endTime=NOW + timedelta(days=3))
    assert end_echo(backend, job_id)["endTime"] == "2026-01-10T11:59:59Z"


def test_omitted_end_time_is_echoed_one_second_before_started_on(backend: Backend) -> None:
    params = {
        "policyGenerationDetails": {"principalArn": ROLE_ARN},
        "cloudTrailDetails": {
            "trails": [{"cloudTrailArn": TRAIL}],
            "accessRole": ACCESS_ROLE,
            "startTime": NOW - timedelta(days=2),
        },
    }
    job_id = backend.service.start_policy_generation(params)["jobId"]
    echo = end_echo(backend, job_id)
    assert echo["endTime"] == "2026-01-10T11:59:59Z"
    assert echo["trailProperties"] == [{"cloudTrailArn": TRAIL, "regions": [], "allRegions": False}]


@pytest.mark.parametrize(
    "details, field",
    [
        ({"startTime": END, "endTime": START}, "cloudTrailDetails.startTime"),
        ({"startTime": START - timedelta(days=91)}, "cloudTrailDetails.startTime"),
        ({"trails": []}, "cloudTrailDetails.trails"),
        ({"cloudTrailDetails": None}, "cloudTrailDetails"),
    ],
)
def test_invalid_requests(backend: Backend, details: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        backend.start(**details)
    assert field_names(caught.value) == [field]
    assert backend.runner.submitted == []


def test_window_limit_is_configurable(make_backend) -> None:
    backend = make_backend(max_window_days=1)
    with pytest.raises(ValidationError, match="longer than 1 days"):
        backend.start(endTime=END + timedelta(seconds=1))
    backend.start()  # exactly one day


def test_default_trail_when_no_cloud_trail_details(make_backend) -> None:
    backend = make_backend(default_trail=TRAIL)
    job_id = backend.start(cloudTrailDetails=None)
    props = backend.get(job_id)["generatedPolicyResult"]["properties"]["cloudTrailProperties"]
    assert props["startTime"] == "2025-10-12T11:59:59Z"  # 90 days before the end
    assert props["trailProperties"][0]["cloudTrailArn"] == TRAIL


def test_client_token_makes_start_idempotent(backend: Backend) -> None:
    first = backend.start(token="t-1")
    assert backend.start(token="t-1") == first
    assert backend.runner.submitted == [first]
    with pytest.raises(ConflictError) as caught:
        backend.start(token="t-1", endTime=END - timedelta(hours=1))
    assert caught.value.members["resourceId"] == first
    assert backend.start(token="t-2") != first


def test_empty_client_token_is_no_token(backend: Backend) -> None:
    """Found by the fuzzer: two Starts with clientToken "" hit the token index (a 500)."""
    params = {"policyGenerationDetails": {"principalArn": ROLE_ARN}, "clientToken": ""}
    details = {"trails": [{"cloudTrailArn": TRAIL}], "accessRole": ACCESS_ROLE, "startTime": START}
    for end in (END, END - timedelta(hours=1)):
        cloud_trail = {**details, "endTime": end}
        backend.service.start_policy_generation({**params, "cloudTrailDetails": cloud_trail})
    assert len(backend.runner.submitted) == 2


def test_concurrent_job_limit(make_backend) -> None:
    backend = make_backend(max_concurrent_jobs=1)
    running = backend.start()
    with pytest.raises(ConflictError) as caught:
        backend.start()
    assert caught.value.members == {
        "message": caught.value.message,
        "resourceId": running,
        "resourceType": "PolicyGeneration",
    }
    backend.start(principal=f"arn:aws:iam::{OTHER_ACCOUNT}:role/x")  # per account
    backend.service.cancel_policy_generation({"jobId": running})
    backend.start()


def test_daily_quota_counts_cancellations(make_backend) -> None:
    backend = make_backend(max_jobs_per_day=2)
    first = backend.start()
    backend.service.cancel_policy_generation({"jobId": first})
    backend.start()
    with pytest.raises(ServiceQuotaExceededError) as caught:
        backend.start()
    assert caught.value.members["resourceId"] == ACCOUNT
    backend.clock.moment += timedelta(days=1, seconds=1)
    backend.start()


def test_retention_hides_and_purges_old_jobs(make_backend) -> None:
    backend = make_backend(retention_days=7)
    old = backend.start(token="tok")
    backend.clock.moment += timedelta(days=7, seconds=1)
    with pytest.raises(ValidationError) as caught:
        backend.get(old)
    assert field_names(caught.value) == ["jobId"]
    assert backend.list()["policyGenerations"] == []
    assert backend.start(token="tok") != old  # the token expired with its job


def test_retention_cutoff_mid_second_hides_a_job_from_get_and_list_alike(make_backend) -> None:
    """Retention of 1.5 s; 1.7 s after a job started on a whole second the exact cutoff is
    0.2 s after its start: Get and List must both have forgotten it (List once kept it
    for up to a second longer, comparing the cutoff truncated to the second)."""
    backend = make_backend(retention_days=1.5 / 86400)
    job = backend.start()
    backend.clock.moment += timedelta(seconds=1.7)
    with pytest.raises(ValidationError):
        backend.get(job)
    assert backend.list()["policyGenerations"] == []


def test_list_pages_newest_first(backend: Backend) -> None:
    ids = []
    for n in range(5):
        backend.clock.moment = NOW + timedelta(seconds=n)
        ids.append(backend.start(principal=USER_ARN if n == 1 else ROLE_ARN))
    pages, token = [], None
    while True:
        page = backend.list(maxResults=2, **({"nextToken": token} if token else {}))
        pages.append([g["jobId"] for g in page["policyGenerations"]])
        token = page.get("nextToken")
        if not token:
            break
    assert pages == [ids[:2:-1], ids[2:0:-1], ids[:1]]
    filtered = backend.list(principalArn=USER_ARN)["policyGenerations"]
    assert [(g["jobId"], g["principalArn"]) for g in filtered] == [(ids[1], USER_ARN)]
    assert len(backend.list(maxResults=5000)["policyGenerations"]) == 5


@pytest.mark.parametrize("token", ["garbage!", "eyJ2IjogMX0", ""])
def test_bad_next_token(backend: Backend, token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        backend.list(nextToken=token)
    assert field_names(caught.value) == ["nextToken"]


def test_next_token_is_bound_to_its_filter(backend: Backend) -> None:
    for _ in range(2):
        backend.start()
    token = backend.list(maxResults=1)["nextToken"]
    with pytest.raises(ValidationError):
        backend.list(nextToken=token, principalArn=ROLE_ARN)


def test_cancel(backend: Backend, logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    job_id = backend.start()
    backend.clock.moment += timedelta(seconds=5)
    assert backend.service.cancel_policy_generation({"jobId": job_id}) == {}
    assert backend.run(job_id) == "not in progress"
    details = backend.get(job_id)["jobDetails"]
    assert (details["status"], details["completedOn"]) == ("CANCELED", NOW + timedelta(seconds=5))
    done = backend.start()
    backend.run(done)
    backend.service.cancel_policy_generation({"jobId": done})  # a no-op
    assert backend.get(done)["jobDetails"]["status"] == "SUCCEEDED"
    with pytest.raises(ValidationError):
        backend.service.cancel_policy_generation({"jobId": "no-such-job"})


def test_unknown_trail_fails_the_job(backend: Backend) -> None:
    other = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/unknown"
    job_id = backend.start(trails=[{"cloudTrailArn": other, "allRegions": True}])
    backend.run(job_id)
    details = backend.get(job_id)["jobDetails"]
    assert details["status"] == "FAILED"
    assert details["jobError"]["code"] == "RESOURCE_NOT_FOUND_ERROR"
    assert other in details["jobError"]["message"]
    assert details["completedOn"] is not None


def test_missing_folder_fails_the_job(make_backend, tmp_path: Path) -> None:
    backend = make_backend(trails={TRAIL: str(tmp_path / "gone")})
    job_id = backend.start()
    backend.run(job_id)
    error = backend.get(job_id)["jobDetails"]["jobError"]
    assert error["code"] == "RESOURCE_NOT_FOUND_ERROR"
    assert "gone" in error["message"]


def test_unexpected_error_is_a_service_error(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs, "collect_usage", explode)
    job_id = backend.start()
    backend.run(job_id)
    error = backend.get(job_id)["jobDetails"]["jobError"]
    assert error == {
        "code": "SERVICE_ERROR",
        "message": "policy generation failed: RuntimeError: disk on fire",
    }


def test_several_trails_are_one_deduplicated_scan(make_backend, tmp_path: Path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    shared = record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")
    write_log(folders[0], [shared, record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets")])
    write_log(folders[1], [shared, record(ROLE_ARN, "kms.amazonaws.com", "ListAliases")])
    backend = make_backend(trails={TRAIL: str(folders[0]), EU_TRAIL: str(folders[1])})
    job_id = backend.start(
        trails=[
            {"cloudTrailArn": TRAIL, "allRegions": True},
            {"cloudTrailArn": EU_TRAIL, "allRegions": True},
        ],
    )
    backend.run(job_id)
    job = backend.service.store.get(job_id, with_analysis=True)
    assert sorted(job.analysis["actions"]) == [
        "ec2:RunInstances",
        "kms:ListAliases",
        "s3:ListAllMyBuckets",
    ]
    assert job.analysis["stats"]["duplicates"] == 1


def test_trail_without_regions_reads_its_home_region(
    make_backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "eu"
    write_log(folder, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")], region="us-east-1")
    eu_call = record(ROLE_ARN, "kms.amazonaws.com", "ListAliases", awsRegion="eu-west-1")
    write_log(folder, [eu_call], region="eu-west-1")
    backend = make_backend(trails={EU_TRAIL: str(folder)})
    with caplog.at_level(logging.WARNING, logger="policygen.server.backend"):
        job_id = backend.start(trails=[{"cloudTrailArn": EU_TRAIL, "allRegions": False}])
    assert "home region eu-west-1" in caplog.text
    assert "does not read us-east-1" in caplog.text
    backend.run(job_id)
    job = backend.service.store.get(job_id, with_analysis=True)
    assert list(job.analysis["actions"]) == ["kms:ListAliases"]


def test_allowed_accounts(make_backend) -> None:
    backend = make_backend(allowed_accounts=(ACCOUNT,))
    backend.start()
    stranger = f"arn:aws:iam::{OTHER_ACCOUNT}:role/x"
    with pytest.raises(AccessDeniedError, match=OTHER_ACCOUNT):
        backend.start(principal=stranger)
    with pytest.raises(AccessDeniedError):
        backend.list(principalArn=stranger)


def test_interrupted_jobs_are_resumed_then_failed(backend: Backend) -> None:
    job_id = backend.start()
    service = backend.service
    for attempt in (2, 3):
        service.start_up()  # as after a crash: the job is still IN_PROGRESS
        assert service.store.get(job_id).attempts == attempt
    assert backend.runner.submitted == [job_id] * 3
    service.start_up()
    details = backend.get(job_id)["jobDetails"]
    assert details["status"] == "FAILED"
    assert details["jobError"]["code"] == "SERVICE_ERROR"
    assert "server stopped" in details["jobError"]["message"]


def test_worker_stops_after_the_file_during_which_it_was_canceled(
    backend: Backend, logs: Path
) -> None:
    for n in range(3):
        write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")], suffix=f"{n}" * 16)
    job_id = backend.start()
    store = backend.service.store
    watch = jobs.Watch(store, job_id, None, jobs.os.getppid())
    read: list[object] = []

    def on_file(obj: object) -> None:
        read.append(obj)
        store.finish(job_id, Status.CANCELED, NOW)  # the user cancels during the first file
        watch(obj)

    job = store.get(job_id)
    with pytest.raises(jobs.JobCanceled):
        jobs.generate(job.spec, jobs.WorkerConfig.for_settings(backend.service.settings), on_file)
    assert len(read) == 1


def test_worker_stops_when_the_server_goes_away(backend: Backend) -> None:
    job_id = backend.start()
    orphaned = jobs.Watch(backend.service.store, job_id, None, parent_pid=1)
    with pytest.raises(jobs.JobInterrupted):
        orphaned()
