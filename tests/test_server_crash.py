"""Crashes and shutdowns: nothing is lost.

kill -9 while jobs run, three times over: after the restart every job is listed and ends
SUCCEEDED or FAILED with a reason, and the database passes SQLite's integrity check after
every kill. SIGTERM lets running jobs finish within the grace period, and is bounded when
they cannot (a frozen worker is killed; its job resumes at the next start).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logfactory import ROLE_ARN, record, write_log
from serverprocess import DEADLINE, FINAL, TRAIL, ServerProcess, is_worker, start, wait_until

StartServer = Callable[..., ServerProcess]
ROUNDS, JOBS_PER_ROUND = 3, 6


def write_trail(logs: Path, files: int = 30) -> None:
    """Enough files that a job takes a while, and so is often killed mid-scan."""
    calls = [("ec2.amazonaws.com", "RunInstances"), ("s3.amazonaws.com", "ListBuckets")]
    for n in range(files):
        records = [record(ROLE_ARN, source, name) for source, name in calls * 20]
        write_log(logs, records, suffix=f"{n:016d}", delivered=f"20260105T{n % 24:02d}05Z")


def integrity(data_dir: Path) -> str:
    database = sqlite3.connect(data_dir / "policygen.sqlite")
    try:
        return database.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        database.close()


def statuses(client: Any, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {job: client.get_generated_policy(jobId=job)["jobDetails"] for job in job_ids}


def count(client: Any, job_ids: list[str], status: str) -> int:
    return sum(d["status"] == status for d in statuses(client, job_ids).values())


def freeze(pids: list[int], sig: int = signal.SIGSTOP) -> None:
    for pid in pids:
        if is_worker(pid):
            os.kill(pid, sig)


def test_kill_9_while_jobs_run(
    start_server: StartServer, logs: Path, record_property: Callable[[str, object], None]
) -> None:
    write_trail(logs)
    trail = ("--trail", f"{TRAIL}={logs}")
    data_dir: Path | None = None
    started: list[str] = []
    in_progress_at_kill = []
    for round_ in range(ROUNDS):
        server = start_server(*trail, data_dir=data_dir)
        data_dir, client = server.data_dir, server.client()
        # the jobs this server resumed must end first: a worker stopped inside its write of a
        # result would hold the store's lock, and the next StartPolicyGeneration would wait
        # out the lock's timeout and fail (seen once in CI)
        resumed = list(started)
        wait_until(
            lambda c=client, r=resumed: not count(c, r, "IN_PROGRESS"), what="resumed jobs to end"
        )
        with server.frozen_workers():
            started += [start(client) for _ in range(JOBS_PER_ROUND)]
        server.wait_for_log(r"job \S+: SUCCEEDED")  # jobs are running: catch them at it
        freeze(server.worker_pids)
        in_progress_at_kill.append(count(client, started, "IN_PROGRESS"))
        if round_ == 0:  # the server alone: its workers must notice and go on their own
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(DEADLINE)
            freeze(server.worker_pids, signal.SIGCONT)
            orphans = tuple(server.worker_pids)
            wait_until(lambda pids=orphans: not any(map(is_worker, pids)), what="orphans to go")
        else:
            server.kill()  # the server and its (frozen) workers
        assert integrity(data_dir) == "ok"

    final = start_server(*trail, data_dir=data_dir)
    client = final.client()
    paginator = client.get_paginator("list_policy_generations")
    listed = [g["jobId"] for p in paginator.paginate() for g in p["policyGenerations"]]
    assert sorted(listed) == sorted(started)
    ended = {job: final.final(job)["jobDetails"] for job in started}
    outcomes = Counter(details["status"] for details in ended.values())
    assert set(outcomes) <= {"SUCCEEDED", "FAILED"}
    for details in ended.values():
        if details["status"] == "FAILED":
            assert details["jobError"]["code"] == "SERVICE_ERROR"
            assert "did not finish" in details["jobError"]["message"]
    assert integrity(data_dir) == "ok"
    assert any(in_progress_at_kill)
    record_property(
        "crash: kill -9 rounds, jobs, in progress at each kill, outcomes",
        (ROUNDS, len(started), in_progress_at_kill, dict(outcomes)),
    )


def job_status(data_dir: Path, job_id: str) -> str:
    database = sqlite3.connect(data_dir / "policygen.sqlite")
    try:
        row = database.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        return row.fetchone()[0]
    finally:
        database.close()


def test_sigterm_lets_a_running_job_finish(start_server: StartServer, logs: Path) -> None:
    write_trail(logs, files=3)
    server = start_server("--trail", f"{TRAIL}={logs}", "--shutdown-grace", "60")
    with server.frozen_workers():
        job_id = start(server.client())
        server.process.send_signal(signal.SIGTERM)
        server.wait_for_log(r"shutdown: waiting up to 60s for 1 running job")
    assert server.process.wait(DEADLINE) == 0  # once the thawed worker finished the job
    assert job_status(server.data_dir, job_id) == "SUCCEEDED"
    assert "stopping" not in server.log


def test_sigterm_is_bounded(start_server: StartServer, logs: Path) -> None:
    write_trail(logs, files=3)
    trail = ("--trail", f"{TRAIL}={logs}")
    server = start_server(*trail, "--shutdown-grace", "0.2")
    with server.frozen_workers():  # a worker that cannot finish, nor notice it should stop
        job_id = start(server.client())
        # bounded: `stop` fails the test if the server is still running after its deadline
        assert server.stop(signal.SIGTERM) == 0
    server.wait_for_log("shutdown: killing the workers that did not stop")
    assert job_status(server.data_dir, job_id) == "IN_PROGRESS"
    again = start_server(*trail, data_dir=server.data_dir)
    assert again.final(job_id)["jobDetails"]["status"] in FINAL - {"CANCELED"}
    assert again.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"
