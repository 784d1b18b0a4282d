"""Durable jobs: a server killed mid-job comes back with every job, and finishes them."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from logfactory import ROLE_ARN, RUN_INSTANCES_POLICY, record, write_log
from serverprocess import TRAIL, ServerProcess, start

RUN_INSTANCES = [{"policy": RUN_INSTANCES_POLICY}]


def test_restart_mid_job(start_server: Callable[..., ServerProcess], logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    config = logs.parent / "policygen.toml"  # the trail from a config file, relative to it
    config.write_text(f'[trails]\n"{TRAIL}" = "{logs.name}"\n')
    trail = ("--config", str(config))
    first = start_server(*trail)
    client = first.client()
    done = start(client)
    assert first.final(done)["generatedPolicyResult"]["generatedPolicies"] == RUN_INSTANCES
    with first.frozen_workers():
        interrupted = start(client)
        canceled = start(client)
        client.cancel_policy_generation(jobId=canceled)
        first.kill()  # SIGKILL while `interrupted` is IN_PROGRESS

    second = start_server(*trail, data_dir=first.data_dir)
    second.wait_for_log(f"job {interrupted} resumed")
    client = second.client()
    listed = client.list_policy_generations()["policyGenerations"]
    assert [g["jobId"] for g in listed] == [canceled, interrupted, done]
    resumed = second.final(interrupted)
    assert resumed["jobDetails"]["status"] == "SUCCEEDED"
    assert resumed["generatedPolicyResult"]["generatedPolicies"] == RUN_INSTANCES
    assert second.final(done)["generatedPolicyResult"]["generatedPolicies"] == RUN_INSTANCES
    assert second.final(canceled)["jobDetails"]["status"] == "CANCELED"

    assert second.stop(signal.SIGTERM) == 0  # a clean shutdown
    assert "shutting down" in second.log


def test_job_survives_its_worker_dying(
    start_server: Callable[..., ServerProcess], logs: Path
) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    server = start_server("--trail", f"{TRAIL}={logs}")
    client = server.client()
    with server.frozen_workers():
        job_id = start(client)
        os.kill(server.worker_pids[0], signal.SIGKILL)
    server.wait_for_log(f"job {job_id}: the worker process running it died")
    resumed = server.final(job_id)  # on a new worker
    assert resumed["jobDetails"]["status"] == "SUCCEEDED"
    assert resumed["generatedPolicyResult"]["generatedPolicies"] == RUN_INSTANCES
    after = server.final(start(client))
    assert after["generatedPolicyResult"]["generatedPolicies"] == RUN_INSTANCES
