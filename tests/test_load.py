"""Load: 100 concurrent clients start, poll, list and cancel jobs against one server on
loopback for a bounded time. No request may fail (rate limiting is off, so a throttle
would be a failure too); p50/p99 latencies per operation go to the test summary.

`POLICYGEN_LOAD_CLIENTS` and `POLICYGEN_LOAD_SECONDS` change the defaults (100, 10 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from logfactory import OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, write_log
from serverprocess import (
    ACCESS_ROLE,
    END,
    KEY,
    OTHER_KEY,
    SECOND_KEY,
    START,
    TRAIL,
    ServerProcess,
    signed_headers,
)

CLIENTS = int(os.environ.get("POLICYGEN_LOAD_CLIENTS", "100"))
SECONDS = float(os.environ.get("POLICYGEN_LOAD_SECONDS", "10"))
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/app/deployer"
#: Callers: two keys of one account, one of another, each with a principal it may use.
CALLERS = [(KEY, ROLE_ARN), (SECOND_KEY, USER_ARN), (OTHER_KEY, OTHER_ROLE)]


@dataclass
class Tally:
    """Latencies per operation, and every request that did not succeed."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)

    def percentile(self, operation: str, share: float) -> float:
        values = sorted(self.latencies[operation])
        return values[min(len(values) - 1, int(share * len(values)))] * 1000


class Connection:
    """A bare HTTP/1.1 keep-alive connection. The load generator shares the machine with
    the server it measures, so it must cost far less CPU than a full HTTP client."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        answer = await reader.readexactly(int(fields["content-length"]))
        if fields.get("connection") == "close":
            await self.close()
        return int(head[0].split()[1]), answer

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class Client:
    """One simulated user: its own connection and key, signing every request."""

    def __init__(self, url: str, key: str, principal: str, tally: Tally) -> None:
        self.url, self.key, self.principal, self.tally = url, key, principal, tally
        self.connection = Connection(url)

    async def call(self, operation: str, method: str, path: str, body: bytes = b"") -> dict:
        headers = {"Content-Type": "application/json"} if body else {}
        headers = signed_headers(method, f"{self.url}{path}", body, self.key, headers)
        began = time.perf_counter()
        try:
            status, answer = await self.connection.request(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.tally.failures.append(f"{operation}: {type(exc).__name__}: {exc}")
            await self.connection.close()
            return {}
        self.tally.latencies[operation].append(time.perf_counter() - began)
        if status != 200:
            self.tally.failures.append(f"{operation}: {status} {answer[:300]!r}")
            return {}
        return json.loads(answer)

    async def session(self) -> None:
        """Start a job, poll it, list, cancel it, read it once more."""
        details = {
            "policyGenerationDetails": {"principalArn": self.principal},
            "cloudTrailDetails": {
                "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
                "accessRole": ACCESS_ROLE,
                "startTime": START,
                "endTime": END,
            },
        }
        started = await self.call(
            "StartPolicyGeneration", "PUT", "/policy/generation", json.dumps(details).encode()
        )
        job_id = started.get("jobId", "none")
        job = f"/policy/generation/{job_id}"
        got = await self.call("GetGeneratedPolicy", "GET", job)
        mine = f"/policy/generation?maxResults=10&principalArn={quote(self.principal, safe='')}"
        listed = await self.call("ListPolicyGenerations", "GET", mine)
        again = await self.call(
            "GetGeneratedPolicy", "GET", f"{job}?includeResourcePlaceholders=true"
        )
        await self.call("CancelPolicyGeneration", "PUT", job)
        # the replies are about this caller's job and principal (no mix-up under load)
        for answer in (got, again):
            if answer.get("jobDetails", {}).get("jobId") != job_id:
                self.tally.failures.append(f"GetGeneratedPolicy: not job {job_id}: {answer}")
        principals = {g["principalArn"] for g in listed.get("policyGenerations", [])}
        if not listed.get("policyGenerations") or principals - {self.principal}:
            self.tally.failures.append(f"ListPolicyGenerations: {principals} for {self.principal}")

    async def run(self, until: float) -> None:
        try:
            while time.monotonic() < until:
                await self.session()
        finally:
            await self.connection.close()


async def load(url: str, clients: int, seconds: float) -> Tally:
    tally = Tally()
    users = [Client(url, *CALLERS[n % len(CALLERS)], tally) for n in range(clients)]
    until = time.monotonic() + seconds
    await asyncio.gather(*(user.run(until) for user in users))
    return tally


def test_hundred_clients(
    start_server: Callable[..., ServerProcess],
    logs: Path,
    record_property: Callable[[str, object], None],
) -> None:
    write_log(logs, [record(p, "ec2.amazonaws.com", "RunInstances") for p in (ROLE_ARN, USER_ARN)])
    write_log(logs, [record(OTHER_ROLE, "s3.amazonaws.com", "ListBuckets")], account=OTHER_ACCOUNT)
    server = start_server("--trail", f"{TRAIL}={logs}", "--workers", "2")
    began = time.monotonic()
    tally = asyncio.run(load(server.url, CLIENTS, SECONDS))
    elapsed = time.monotonic() - began

    assert not tally.failures, tally.failures[:5]
    total = sum(len(values) for values in tally.latencies.values())
    record_property("load: clients, seconds, requests, requests/s",
                    (CLIENTS, round(elapsed, 1), total, round(total / elapsed)))  # fmt: skip
    for operation, values in sorted(tally.latencies.items()):
        p50, p99 = tally.percentile(operation, 0.5), tally.percentile(operation, 0.99)
        record_property(
            f"load: {operation} p50/p99 ms",
            f"{p50:.0f}/{p99:.0f} (n={len(values)}, mean {statistics.mean(values) * 1000:.0f})",
        )
    assert server.process.poll() is None
    database = sqlite3.connect(server.data_dir / "policygen.sqlite")
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    database.close()
