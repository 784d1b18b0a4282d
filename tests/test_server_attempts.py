"""Jobs interrupted mid-read by a real `policygen serve`: a server that keeps dying under a
job resumes it twice, then fails it; a job canceled while its worker reads stays canceled.

The job reads its one log file from moto's S3 through a proxy that holds every object GET
unanswered, so the job's worker is mid-job, for sure, once the proxy has seen its GET; then
the server is killed (SIGKILL, server and workers) and started again on the same data
folder. The store counts attempts from 1 at Start; a job found IN_PROGRESS at start-up
with 3 attempts behind it is failed instead of resumed (`backend.MAX_ATTEMPTS`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logfactory import ROLE_ARN, record, write_log
from motoserver import MotoServer, S3Proxy, allow, make_role, upload_tree
from serverprocess import DEADLINE, TRAIL, ServerProcess, start


class HeldGets:
    """A proxy rule: object GETs are counted, then held until `release` (never answered
    while the test runs); listings pass."""

    def __init__(self) -> None:
        self.seen = 0
        self.released = threading.Event()
        self._changed = threading.Condition()

    def __call__(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "GET" and "list-type" not in query and path.count("/") >= 2:
            with self._changed:
                self.seen += 1
                self._changed.notify_all()
            self.released.wait(DEADLINE)
        return None

    def wait_for(self, count: int) -> None:
        """Until the proxy has seen `count` object GETs in all."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.seen >= count, DEADLINE):
                raise AssertionError(f"the proxy saw {self.seen} GETs, not {count}")


def put_trail(moto: MotoServer, logs: Path, name: str) -> tuple[str, str]:
    """The one log file in a bucket of moto's S3, and a role allowed to read it: the
    server's `--trail` value and the role's ARN."""
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    bucket = f"t-attempts-{name}"
    moto.client("s3").create_bucket(Bucket=bucket)
    assert upload_tree(moto, logs, bucket) == 1
    reader = make_role(moto, f"{bucket}-reader", allow("s3:GetObject", "s3:ListBucket"))
    return f"{TRAIL}=s3://{bucket}", reader


@pytest.fixture
def held(moto: MotoServer) -> Iterator[tuple[S3Proxy, HeldGets]]:
    proxy = S3Proxy(moto.url)
    rule = HeldGets()
    proxy.reset(rule)
    yield proxy, rule
    rule.released.set()
    proxy.close()


def test_a_job_interrupted_three_times_is_failed(
    moto: MotoServer,
    held: tuple[S3Proxy, HeldGets],
    logs: Path,
    start_server: Callable[..., ServerProcess],
) -> None:
    proxy, gets = held
    trail, reader = put_trail(moto, logs, "restarts")
    args = ("--trail", trail)
    env = moto.env(AWS_ENDPOINT_URL_S3=proxy.url)

    server = start_server(*args, **env)
    job_id = start(server.client(), accessRole=reader)  # attempt 1
    for attempt in (1, 2):
        gets.wait_for(attempt)  # the worker is reading the log file
        server.kill()
        server = start_server(*args, data_dir=server.data_dir, **env)
        server.wait_for_log(f"job {job_id} resumed: the server stopped while it ran")
    gets.wait_for(3)  # attempt 3 reads the file too
    server.kill()

    last = start_server(*args, data_dir=server.data_dir, **env)
    last.wait_for_log(f"job {job_id} failed: ")
    answer = last.client().get_generated_policy(jobId=job_id)
    details = answer["jobDetails"]
    assert details["status"] == "FAILED"
    assert details["jobError"] == {
        "code": "SERVICE_ERROR",
        "message": "policy generation did not finish: the server stopped while it ran (3 attempts)",
    }
    assert "generatedPolicies" not in answer["generatedPolicyResult"]
    assert gets.seen == 3  # the failed job was not run a fourth time
    assert f"job {job_id} resumed" not in last.log


def test_a_job_canceled_while_its_worker_reads_stays_canceled(
    moto: MotoServer,
    held: tuple[S3Proxy, HeldGets],
    logs: Path,
    start_server: Callable[..., ServerProcess],
) -> None:
    proxy, gets = held
    trail, reader = put_trail(moto, logs, "cancel")
    server = start_server("--trail", trail, **moto.env(AWS_ENDPOINT_URL_S3=proxy.url))
    client = server.client()
    job_id = start(client, accessRole=reader)
    gets.wait_for(1)  # the worker is reading the log file
    client.cancel_policy_generation(jobId=job_id)
    gets.released.set()  # the read ends; the worker checks the job before going on
    server.wait_for_log(f"job {job_id}: CANCELED")
    answer = client.get_generated_policy(jobId=job_id)
    assert answer["jobDetails"]["status"] == "CANCELED"
    assert "generatedPolicies" not in answer["generatedPolicyResult"]
