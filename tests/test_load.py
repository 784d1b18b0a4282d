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

import httpx

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


class Client:
    """One simulated user: its own connection and key, signing every request."""

    def __init__(self, url: str, key: str, principal: str, tally: Tally) -> None:
        self.url, self.key, self.principal, self.tally = url, key, principal, tally
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1))

    async def call(self, operation: str, method: str, path: str, body: bytes = b"") -> dict:
        url = f"{self.url}{path}"
        headers = {"Content-Type": "application/json"} if body else {}
        headers = signed_headers(method, url, body, self.key, headers)
        began = time.perf_counter()
        try:
            response = await self.http.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.tally.failures.append(f"{operation}: {type(exc).__name__}: {exc}")
            return {}
        self.tally.latencies[operation].append(time.perf_counter() - began)
        if response.status_code != 200:
            self.tally.failures.append(f"{operation}: {response.status_code} {response.text}")
            return {}
        return response.json()

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
        job = f"/policy/generation/{started.get('jobId', 'none')}"
        await self.call("GetGeneratedPolicy", "GET", job)
        await self.call("ListPolicyGenerations", "GET", "/policy/generation?maxResults=10")
        await self.call("GetGeneratedPolicy", "GET", f"{job}?includeResourcePlaceholders=true")
        await self.call("CancelPolicyGeneration", "PUT", job)

    async def run(self, until: float) -> None:
        async with self.http:
            while time.monotonic() < until:
                await self.session()


async def load(url: str, clients: int, seconds: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    users = [Client(url, *CALLERS[n % len(CALLERS)], tally) for n in range(clients)]
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
