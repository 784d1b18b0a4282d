"""A real `policygen serve` process for tests: started on a free port, read by its log.

Servers authenticate with the test access keys in `KEYS` unless started with `auth=False`
(`--no-auth`); boto3 clients and raw requests from here sign with them. Readiness and job
progress are observed (log lines, `/health`, job status), never waited for with fixed
sleeps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN

T = TypeVar("T")
DEADLINE = 60.0
FINAL = {"SUCCEEDED", "FAILED", "CANCELED"}
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
ACCESS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AccessAnalyzerMonitorServiceRole"
START, END = "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"
REGION = "us-east-1"
#: access key id -> (secret, account): what test servers are configured with.
KEYS = {
    "AKIDPOLICYGENTEST01": ("test/secret+one", ACCOUNT),
    "AKIDPOLICYGENTEST02": ("test/secret+two", ACCOUNT),
    "AKIDPOLICYGENOTHER1": ("test/secret+other", OTHER_ACCOUNT),
}
KEY, SECOND_KEY, OTHER_KEY = KEYS


def write_credentials(path: Path) -> Path:
    """A credentials file holding `KEYS`."""
    path.write_text(
        "".join(
            f'[{key}]\nsecret_access_key = "{secret}"\naccount = "{account}"\n'
            for key, (secret, account) in KEYS.items()
        )
    )
    return path


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    key: str = KEY,
    headers: dict[str, str] | None = None,
    service: str = "access-analyzer",
) -> dict[str, str]:
    """The headers (Authorization, X-Amz-Date, ...) botocore's signer adds for `key`."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, KEYS[key][0]), service, REGION).add_auth(request)
    return dict(request.headers.items())


def start(client: Any, principal: str = ROLE_ARN, **details: Any) -> str:
    """StartPolicyGeneration over TRAIL in the test window; `details` override its members."""
    cloud_trail = {
        "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
        "accessRole": ACCESS_ROLE,
        "startTime": START,
        "endTime": END,
        **details,
    }
    answer = client.start_policy_generation(
        policyGenerationDetails={"principalArn": principal}, cloudTrailDetails=cloud_trail
    )
    return answer["jobId"]


def wait_until(check: Callable[[], T], timeout: float = DEADLINE, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServerProcess:
    """`policygen serve --port 0 --workers 1` with its stderr collected line by line."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        auth: bool = True,
        python: tuple[str, ...] = ("-m", "policygen"),
    ) -> None:
        self.data_dir = data_dir
        if auth:
            credentials = write_credentials(data_dir.with_name(f"{data_dir.name}-keys.toml"))
            access = ["--credentials-file", str(credentials)]
        else:
            access = ["--no-auth"]
        command = [
            sys.executable, *python, "serve", "--port", "0",
            "--data-dir", str(data_dir), "--workers", "1", *access, *args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.worker_pids: list[int] = []
        self._clients: dict[str, Any] = {}
        try:
            self.url = self.wait_for_log(r"serving on (http://\S+)")[1]
            self.worker_pids.append(int(self.wait_for_log(r"worker ready: pid (\d+)")[1]))
            wait_until(self._healthy, what="/health")
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    @property
    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """The first log line matching `pattern`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    log = "".join(self.lines)
                    raise AssertionError(f"no log line matching {pattern!r}:\n{log}")
                self._changed.wait(remaining)

    def client(
        self,
        access_key: str = KEY,
        secret: str | None = None,
        token: str | None = None,
        **config: Any,
    ) -> Any:
        """A boto3 Access Analyzer client for this server (no retries: errors surface),
        signing with a test key (or with `secret`, to sign wrongly, and a session token)."""
        key = f"{access_key}{secret}{token}{sorted(config.items())}"
        if key not in self._clients:
            self._clients[key] = boto3.client(
                "accessanalyzer",
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret or KEYS[access_key][0],
                aws_session_token=token,
                config=Config(retries={"total_max_attempts": 1}, **config),
            )
        return self._clients[key]

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        key: str | None = KEY,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> httpx.Response:
        """A raw HTTP request (`path` with its query, sent as written), signed with `key`
        unless it is None."""
        url = f"{self.url}{path}"
        sent = dict(headers or {})
        if key is not None:
            sent = signed_headers(method, url, body, key, sent)
        with httpx.Client(timeout=timeout) as http:
            return http.send(http.build_request(method, url, content=body, headers=sent))

    def final(self, job_id: str, **flags: bool) -> dict[str, Any]:
        """GetGeneratedPolicy once the job has left IN_PROGRESS."""
        client = self.client()

        def finished() -> dict[str, Any] | None:
            answer = client.get_generated_policy(jobId=job_id, **flags)
            return answer if answer["jobDetails"]["status"] in FINAL else None

        return wait_until(finished, what=f"job {job_id} to finish")

    @contextmanager
    def frozen_workers(self) -> Iterator[None]:
        """Stop the worker processes (SIGSTOP), so a job stays IN_PROGRESS until thawed."""
        for pid in self.worker_pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in self.worker_pids:
                _signal(pid, signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEADLINE) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        _signal(self.process.pid, sig)
        return self.process.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Clean-up after a test: SIGTERM, as an operator stops it (so its processes write
        their coverage data), then SIGKILL whatever is left after `timeout` seconds."""
        if self.process.poll() is None:
            with suppress(subprocess.TimeoutExpired):
                self.stop(signal.SIGTERM, timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the server and its workers (a crash, or clean-up after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
        for pid in self.worker_pids:
            if is_worker(pid):
                _signal(pid, signal.SIGKILL)


def is_worker(pid: int) -> bool:
    """Still a multiprocessing worker (not a recycled pid)?"""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)
