"""Hostile log files end to end: each is counted and skipped, the job (and the CLI) still
succeed with `isComplete` false, and the reasons are listed.

The cap on a file's size is set to 1 MB here, so a gzip bomb and an oversized record stay
cheap to write.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logfactory import ROLE_ARN, delivery_path, record, write_log
from serverprocess import END, START, TRAIL, ServerProcess, start

CAP = "1MB"
GOOD = record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")
#: Records of the principal that are malformed: each is counted and skipped.
MALFORMED = [
    {**GOOD, "eventID": "bad-1", "eventTime": 5},  # wrongly typed
    {**GOOD, "eventID": "bad-2", "userIdentity": "root"},  # wrongly typed structure
    {k: v for k, v in GOOD.items() if k != "eventName"} | {"eventID": "bad-3"},  # missing
    {k: v for k, v in GOOD.items() if k != "eventTime"} | {"eventID": "bad-4"},  # missing
    1,
    None,
    "record",
]


def hostile_trail(root: Path) -> dict[str, str]:
    """A trail with one good file, one of good and malformed records, and one hostile file
    of each kind; returns each skipped file's name (relative to `root`) -> its reason."""
    write_log(root, [GOOD])
    mixed = [record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets"), *MALFORMED]
    write_log(root, mixed, suffix="Mixed00000000000")
    arn = ROLE_ARN.encode()  # files without the principal's ARN are never decoded
    whole = gzip.compress(json.dumps({"Records": [GOOD]}).encode())
    huge = record(ROLE_ARN, "kms.amazonaws.com", "Decrypt", requestParameters={"x": "a" * 2**20})
    hostile = {
        "Truncated0000000": (whole[: len(whole) // 2], "corrupt gzip"),
        "Bomb000000000000": (gzip.compress(b" " * 50_000_000), "decompresses to more than"),
        "NotJson000000000": (gzip.compress(b"\x00garbage " + arn), "not JSON"),
        "NoRecords0000000": (gzip.compress(json.dumps({"Events": [ROLE_ARN]}).encode()), "no Rec"),
        "Deep000000000000": (gzip.compress(b'{"Records":[' + b"[" * 10**5 + arn), "not JSON"),
        "HugeRecord000000": (gzip.compress(json.dumps({"Records": [huge]}).encode()), "more than"),
    }
    reasons = {}
    for suffix, (data, reason) in hostile.items():
        path = delivery_path(root, suffix=suffix)
        path.write_bytes(data)
        reasons[str(path.relative_to(root))] = reason
    plain = delivery_path(root, suffix="PlainTooLarge000", compress=False)
    plain.write_bytes(json.dumps({"Records": [huge]}).encode())
    reasons[str(plain.relative_to(root))] = "larger than"
    return reasons


def check_skipped(skipped: dict[str, str], expected: dict[str, str]) -> None:
    assert sorted(skipped) == sorted(expected)
    for name, reason in expected.items():
        assert reason in skipped[name], (name, skipped[name])


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile")
    return root, hostile_trail(root)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, trail: tuple[Path, dict[str, str]]
) -> Iterator[ServerProcess]:
    root, _ = trail
    args = ("--trail", f"{TRAIL}={root}", "--max-file-bytes", CAP)
    server = ServerProcess(tmp_path_factory.mktemp("data"), *args)
    try:
        yield server
    finally:
        server.close()


def policy_actions(result: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in result["generatedPolicies"]:
        for statement in json.loads(policy["policy"])["Statement"]:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def test_job_succeeds_incomplete_with_reasons(
    server: ServerProcess, trail: tuple[Path, dict[str, str]]
) -> None:
    _, expected = trail
    job_id = start(server.client())
    answer = server.final(job_id)  # boto3: the extension member is not in its model
    assert answer["jobDetails"]["status"] == "SUCCEEDED"
    assert "policygen" not in answer
    result = answer["generatedPolicyResult"]
    assert result["properties"]["isComplete"] is False
    assert policy_actions(result) == {"ec2:RunInstances", "s3:ListAllMyBuckets"}

    raw = server.request("GET", f"/policy/generation/{job_id}").json()
    report = raw["policygen"]
    assert report["isComplete"] is False
    assert report["incompleteReasons"] == [
        f"{len(expected)} log files could not be read",
        f"{len(MALFORMED)} malformed records were skipped",
    ]
    check_skipped(report["skippedFiles"], expected)
    assert report["scan"]["recordsMalformed"] == len(MALFORMED)
    assert report["scan"]["filesSkipped"] == len(expected)


def test_cli_reports_the_same(server: ServerProcess, trail: tuple[Path, dict[str, str]]) -> None:
    root, expected = trail
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", "generate", "--principal", ROLE_ARN),
            *("--logs", str(root), "--start", START, "--end", END, "--max-file-bytes", CAP),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["properties"]["isComplete"] is False
    assert policy_actions(result) == {"ec2:RunInstances", "s3:ListAllMyBuckets"}
    skipped = result["policygen"]["skippedFiles"]
    skipped = {str(Path(path).relative_to(root)): reason for path, reason in skipped.items()}
    check_skipped(skipped, expected)
    assert f"incomplete: {len(MALFORMED)} malformed records were skipped" in done.stderr
    for name in expected:
        assert f"skipped {root / name}: " in done.stderr
