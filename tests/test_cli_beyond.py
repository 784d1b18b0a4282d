"""The CLI beyond AWS, as a user runs it: `generate`'s extension flags and key, `explain`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from logfactory import ACCOUNT, ROLE_ARN, record, write_log

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]
FN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/etl"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policygen", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def trail(logs: Path) -> Path:
    write_log(
        logs,
        [
            record(
                ROLE_ARN,
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "2026-01-05T10:00:00Z",
                eventID="ev-create-1",
                requestParameters={"functionName": "etl", "role": FN_ROLE},
            ),
            record(
                ROLE_ARN,
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "2026-01-05T12:00:00Z",
                eventID="ev-create-2",
                requestParameters={"functionName": "etl", "role": FN_ROLE},
            ),
            record(
                ROLE_ARN,
                "kms.amazonaws.com",
                "Decrypt",
                "2026-01-05T11:00:00Z",
                eventID="ev-denied",
                errorCode="AccessDenied",
            ),
        ],
    )
    return logs


def generate(trail: Path, *flags: str) -> tuple[dict, list[dict]]:
    done = run("generate", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW, *flags)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    found = [s for p in result["generatedPolicies"] for s in json.loads(p["policy"])["Statement"]]
    return result, found


def test_default_mode_infers_pass_role_and_carries_the_extension_key(trail: Path) -> None:
    result, found = generate(trail)
    assert set(result) == {"properties", "generatedPolicies", "policygen"}
    [pass_role] = [s for s in found if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == FN_ROLE
    details = result["policygen"]
    assert details["deniedOnly"] == ["kms:Decrypt"]
    assert details["passRole"][0]["service"] == "lambda.amazonaws.com"
    explain = details["explain"]["lambda:CreateFunction"]
    assert explain["count"] == 2
    assert (explain["first"], explain["last"]) == ("2026-01-05T10:00:00Z", "2026-01-05T12:00:00Z")
    assert explain["exampleEventId"] == "ev-create-1"
    assert explain["events"] == ["lambda.amazonaws.com:CreateFunction20150331"]
    assert "iam:PassRole" in {
        d["action"] for d in details["dependentActions"]["lambda:CreateFunction"]
    }


def test_aws_compatible_is_exactly_the_api_shape(trail: Path) -> None:
    result, found = generate(trail, "--aws-compatible", "--resource-placeholders")
    assert set(result) == {"properties", "generatedPolicies"}
    assert all("Condition" not in s and s["Action"] != "iam:PassRole" for s in found)
    assert [s["Resource"] for s in found] == [
        "arn:aws:kms:${Region}:${Account}:key/${KeyId}",
        "arn:aws:lambda:${Region}:${Account}:function:${FunctionName}",
    ]


def test_observed_resources_and_no_pass_role(trail: Path) -> None:
    _, found = generate(trail, "--resources", "observed", "--no-pass-role")
    resources = {s["Action"]: s["Resource"] for s in found}
    assert resources["lambda:CreateFunction"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:etl"
    assert "iam:PassRole" not in resources


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (
            ["--aws-compatible", "--resources", "observed"],
            "cannot be combined with --resources observed",
        ),
        (["--aws-compatible", "--pass-role"], "cannot be combined with --pass-role"),
        (["--resource-placeholders", "--resources", "star"], "contradicts"),
        (["--max-arns", "0"], "--max-arns"),
    ],
)
def test_contradictory_flags_are_input_errors(trail: Path, flags: list[str], fragment: str) -> None:
    done = run("generate", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW, *flags)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_explain_prints_a_table(trail: Path) -> None:
    done = run("explain", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ACTION", "CALLS", "FIRST"]
    row = next(line for line in lines if line.startswith("lambda:CreateFunction"))
    assert row.split()[1:5] == ["2", "2026-01-05T10:00:00Z", "2026-01-05T12:00:00Z", "ev-create-1"]
    assert any(line.startswith("! kms:Decrypt") for line in lines)
    assert any(line.startswith("iam:PassRole -> lambda.amazonaws.com") for line in lines)


def test_explain_json(trail: Path) -> None:
    done = run("explain", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW, "--json")
    assert done.returncode == 0, done.stderr
    explained = json.loads(done.stdout)
    assert explained["kms:Decrypt"]["deniedOnly"] is True
    assert explained["iam:PassRole -> lambda.amazonaws.com"]["roles"] == [FN_ROLE]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--logs", "."], "Missing option '--principal'"),
        (["--principal", "bob", "--logs", "."], "not an IAM user or role ARN"),
        (["--principal", ROLE_ARN, "--logs", "/no/such/dir"], "no such folder"),
    ],
)
def test_explain_bad_input_exits_2(args: list[str], fragment: str) -> None:
    done = run("explain", *args)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_explain_a_principal_without_calls(trail: Path) -> None:
    nobody = f"arn:aws:iam::{ACCOUNT}:role/nobody"
    done = run("explain", "--principal", nobody, "--logs", str(trail), *WINDOW)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no actions: the principal made no API calls in the window\n"
