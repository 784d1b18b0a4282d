"""`generate --format`: the same policy as API output, as a document, as Terraform and as
CloudFormation, each checked with the tool users run on it; and a terminal's view."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policygen.policy.formats import Target, terraform

from clihelp import policygen
from formatcheck import cloudformation_template, lint, terraform_documents
from logfactory import ROLE_ARN, record, write_log

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]
BUCKET_CALL = {"requestParameters": {"bucketName": "reports", "key": "2026/q1.csv"}}


@pytest.fixture
def trail(logs: Path) -> Path:
    write_log(
        logs,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances"),
            record(ROLE_ARN, "s3.amazonaws.com", "GetObject", **BUCKET_CALL),
            record(ROLE_ARN, "sts.amazonaws.com", "GetCallerIdentity"),
        ],
    )
    return logs


def generate(trail: Path, *args: str) -> str:
    done = policygen("generate", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.mark.parametrize("resources", ["star", "placeholders", "observed"])
def test_every_format_carries_the_same_policy(trail: Path, tmp_path: Path, resources: str) -> None:
    api = json.loads(generate(trail, "--resources", resources, "--format", "api"))
    [expected] = [json.loads(p["policy"]) for p in api["generatedPolicies"]]
    assert json.loads(generate(trail, "--resources", resources, "--format", "policy")) == expected
    assert lint(expected) == []

    text = generate(trail, "--resources", resources, "--format", "terraform")
    [(kind, document)] = terraform_documents(text, tmp_path / "tf")
    assert kind == "aws_iam_policy"
    assert document in ({}, expected)  # {}: no terraform binary here, parsed only

    template = cloudformation_template(
        generate(trail, "--resources", resources, "--format", "cloudformation"),
        tmp_path / "template.yaml",
    )
    [resource] = template["Resources"].values()
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"
    assert resource["Properties"]["PolicyDocument"] == expected
    assert resource["Properties"]["Roles"] == ["deployer"]


def test_policy_variables_survive_terraform(tmp_path: Path) -> None:
    """`${...}` is Terraform's interpolation: it must come out of jsonencode as written."""
    document: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Home",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::home/${aws:username}/*",
                "Condition": {"StringLike": {"s3:prefix": ["%{literal}", 'quote " and \\ ']}},
            }
        ],
    }
    text = terraform([Target("home", "user", document, "alice")])
    [(kind, found)] = terraform_documents(text, tmp_path / "tf")
    assert kind == "aws_iam_user_policy"
    assert found in ({}, document)


def test_terminal_shows_the_policy_not_the_api_blob(trail: Path) -> None:
    """On a terminal, without --format: the policy pretty-printed and a short summary."""
    controller, terminal = pty.openpty()
    args = ["generate", "--principal", ROLE_ARN, "--logs", str(trail), *WINDOW]
    process = subprocess.Popen(
        [sys.executable, "-m", "policygen", *args],
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(120) == 0
    os.close(controller)
    screen = b"".join(chunks).decode()
    assert '"SupportedServiceSid0"' in screen
    assert "ec2:RunInstances" in screen
    assert "generatedPolicies" not in screen and '\\"' not in screen
    assert "files read: 1" in screen


def test_format_is_refused_with_all_principals(trail: Path, tmp_path: Path) -> None:
    done = policygen(
        "generate",
        "--all-principals",
        "--out",
        str(tmp_path / "out"),
        "--logs",
        str(trail),
        *WINDOW,
        "--format",
        "terraform",
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "policygen: error: --format goes with --principal or --permission-set"
    )
