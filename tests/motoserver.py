"""AWS for tests: moto in server mode as its own process, and a fault-injecting S3 proxy.

moto listens on a free loopback port; policygen reaches it through `AWS_ENDPOINT_URL`
(and the proxy through `AWS_ENDPOINT_URL_S3`), as it would reach LocalStack. Readiness is
polled, never slept for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx

from logfactory import ACCOUNT
from serverprocess import wait_until

REGION = "us-east-1"
#: The window of the `synth_trail` fixture (its deliveries run into the next day).
SYNTH_START, SYNTH_END = "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z"
#: Credentials of the "server's own" identity; moto accepts any until IAM is enforced.
AMBIENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Keep the machine's own AWS configuration out of the tests.
ISOLATED = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": REGION,
}
TRUST_ANYONE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def allow(*actions: str, resource: str = "*") -> str:
    """An identity policy allowing `actions`."""
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class MotoServer:
    """`python -m moto.server` on 127.0.0.1 (account ACCOUNT), killed at the end."""

    def __init__(self) -> None:
        env = {**os.environ, **ISOLATED, "MOTO_ACCOUNT_ID": ACCOUNT}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            self.url = self._announced_url()
            wait_until(self._ready, what="moto")
        except BaseException:
            self.kill()
            raise

    def _announced_url(self) -> str:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if match := re.search(r"Running on (http://\S+)", line):
                threading.Thread(target=self._drain, daemon=True).start()
                return match[1]
        raise AssertionError("moto exited before listening")

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for _ in self.process.stderr:
            pass

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/moto-api/data.json", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def client(self, service: str, **credentials: str) -> Any:
        """A boto3 client of this moto (as the ambient identity unless told otherwise)."""
        keys = credentials or {
            "aws_access_key_id": AMBIENT["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AMBIENT["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **keys)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a policygen process that talks to this moto."""
        return {**ISOLATED, **AMBIENT, "AWS_ENDPOINT_URL": self.url, **extra}

    @contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Make moto check signatures and IAM policies (for access-denied cases)."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


# --- a world in moto: role, bucket, trail, logs ------------------------------------------


@dataclass
class TrailWorld:
    """What `make_trail` created."""

    trail_arn: str
    bucket: str
    prefix: str
    kms_key: str | None = None


def make_role(moto: MotoServer, name: str, policy: str) -> str:
    """A role anyone may assume, with `policy` inline; returns its ARN."""
    iam = moto.client("iam")
    arn = iam.create_role(
        RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=TRUST_ANYONE
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=policy)
    return arn


def make_trail(
    moto: MotoServer,
    name: str,
    bucket: str,
    prefix: str = "",
    *,
    kms: bool = False,
    org: bool = False,
) -> TrailWorld:
    """A bucket (SSE-KMS by default encryption when `kms`) and a trail delivering to it."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=bucket)
    key = None
    if kms:
        key = moto.client("kms").create_key(Description=f"{name} logs")["KeyMetadata"]["Arn"]
        rule = {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        }
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    options: dict[str, Any] = {"S3KeyPrefix": prefix} if prefix else {}
    if key:
        options["KmsKeyId"] = key
    trail = moto.client("cloudtrail").create_trail(
        Name=name, S3BucketName=bucket, IsMultiRegionTrail=True, IsOrganizationTrail=org, **options
    )
    return TrailWorld(trail["TrailARN"], bucket, prefix, key)


def upload_tree(
    moto: MotoServer, root: Path, bucket: str, prefix: str = "", rename: Callable[[str], str] = str
) -> int:
    """Upload every file under `root` to `bucket/prefix/<relative path>`; returns the count."""
    s3 = moto.client("s3")
    files = [path for path in root.rglob("*") if path.is_file()]

    def put(path: Path) -> None:
        key = rename(path.relative_to(root).as_posix())
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=path.read_bytes()
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return len(files)


# --- a proxy in front of moto's S3 ---------------------------------------------------------

#: (method, path, query) -> None to pass the request on, or (status, code, message) to fail it.
Rule = Callable[[str, str, dict[str, list[str]]], "tuple[int, str, str] | None"]
HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "content-encoding", "keep-alive"}


class S3Proxy:
    """Passes S3 requests to moto, recording each; `rule` can answer some with an S3 error."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.rule: Rule = lambda *_: None
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=target, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((request.command, parts.path, query))
        failure = self.rule(request.command, parts.path, query)
        if failure is not None:
            status, code, message = failure
            xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            self._reply(request, status, {"Content-Type": "application/xml"}, xml)
            return
        answer = self._http.request(
            request.command, request.path, headers=dict(request.headers), content=body
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        self._reply(request, answer.status_code, headers, answer.content)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def reset(self, rule: Rule | None = None) -> None:
        """Forget the recorded requests and set the failure rule (None: pass everything)."""
        with self._lock:
            self.requests.clear()
        self.rule = rule or (lambda *_: None)

    def counts(self) -> dict[str, int]:
        """Requests by kind: LIST (ListObjectsV2) and GET (GetObject)."""
        with self._lock:
            requests = list(self.requests)
        lists = sum(1 for method, _, query in requests if method == "GET" and "list-type" in query)
        gets = sum(
            1
            for method, path, query in requests
            if method == "GET" and "list-type" not in query and path.count("/") >= 2
        )
        return {"LIST": lists, "GET": gets, "ALL": len(requests)}

    def close(self) -> None:
        self.server.shutdown()
        self._http.close()
