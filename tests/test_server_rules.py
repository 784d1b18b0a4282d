"""The backend's account rules against a real `policygen serve` (test_service.py checks the
same rules in process, on a fake clock): the daily quota and retention."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from logfactory import ACCOUNT, ROLE_ARN, record, write_log
from serverprocess import TRAIL, ServerProcess, start, wait_until


def test_daily_quota_counts_cancellations(
    start_server: Callable[..., ServerProcess], logs: Path
) -> None:
    server = start_server("--trail", f"{TRAIL}={logs}", "--max-jobs-per-day", "2")
    client = server.client()
    client.cancel_policy_generation(jobId=start(client))
    start(client)
    with pytest.raises(ClientError) as caught:
        start(client)
    error = caught.value.response
    assert error["Error"]["Code"] == "ServiceQuotaExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert error["resourceId"] == ACCOUNT


def test_retention_forgets_old_jobs_and_their_tokens(
    start_server: Callable[..., ServerProcess], logs: Path
) -> None:
    """Retention of 0.00002 days (1.7 s): the job is forgotten once it is older than that."""
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    server = start_server("--trail", f"{TRAIL}={logs}", "--retention-days", "0.00002")
    client = server.client()
    request = {
        "policyGenerationDetails": {"principalArn": ROLE_ARN},
        "cloudTrailDetails": {
            "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
            "accessRole": f"arn:aws:iam::{ACCOUNT}:role/reader",
            "startTime": "2026-01-05T00:00:00Z",
            "endTime": "2026-01-06T00:00:00Z",
        },
        "clientToken": "once",
    }
    job_id = client.start_policy_generation(**request)["jobId"]
    assert client.start_policy_generation(**request)["jobId"] == job_id  # idempotent

    def forgotten() -> bool:
        try:
            client.get_generated_policy(jobId=job_id)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ValidationException"
            return True
        return False

    wait_until(forgotten, what="the job to pass its retention")
    assert client.list_policy_generations()["policyGenerations"] == []  # List agrees with Get
    assert client.start_policy_generation(**request)["jobId"] != job_id  # token expired too
