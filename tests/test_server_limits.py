"""The configurable limits, and what a server answers when they are hit (real processes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, record, write_log
from serverprocess import KEY, SECOND_KEY, TRAIL, ServerProcess, start

StartServer = Callable[..., ServerProcess]


def test_concurrency_daily_quota_and_allowed_accounts(
    start_server: StartServer, logs: Path
) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    server = start_server(
        *("--max-concurrent-jobs", "1", "--max-jobs-per-day", "2", "--allow-account", ACCOUNT),
        POLICYGEN_TRAILS=f"{TRAIL}={logs}",  # the trail from the environment
    )
    client = server.client()
    with server.frozen_workers():
        running = start(client)
        with pytest.raises(client.exceptions.ConflictException) as conflict:
            start(client)
        client.cancel_policy_generation(jobId=running)
    error = conflict.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (error["resourceId"], error["resourceType"]) == (running, "PolicyGeneration")
    assert running in error["Error"]["Message"]

    assert server.final(start(client))["jobDetails"]["status"] == "SUCCEEDED"
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as quota:
        start(client)  # the canceled job counts toward the day's two
    error = quota.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert (error["resourceId"], error["resourceType"]) == (ACCOUNT, "PolicyGeneration")

    with pytest.raises(client.exceptions.AccessDeniedException) as denied:
        start(client, principal=f"arn:aws:iam::{OTHER_ACCOUNT}:role/app")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert OTHER_ACCOUNT in denied.value.response["Error"]["Message"]


def test_rate_limit_throttles_each_caller(start_server: StartServer) -> None:
    # one request per 1,000 seconds: the second is throttled however slow the machine is
    server = start_server("--rate-limit", "0.001")
    client = server.client(access_key=KEY)
    client.list_policy_generations()
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        client.list_policy_generations()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert 1 <= error["retryAfterSeconds"] <= 1000
    server.client(access_key=SECOND_KEY).list_policy_generations()  # its own allowance


def test_internal_error_hides_details(start_server: StartServer) -> None:
    server = start_server("--db-timeout", "0.1")
    client = server.client()
    backup = sqlite3.connect(server.data_dir / "policygen.sqlite", isolation_level=None)
    backup.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(client.exceptions.InternalServerException) as caught:
            start(client)
    finally:
        backup.execute("ROLLBACK")
        backup.close()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "locked" not in error["Error"]["Message"]
    assert "Traceback" not in error["Error"]["Message"]
    server.wait_for_log("database is locked")  # the details are in the server's log
    start(client)  # and the server carries on
