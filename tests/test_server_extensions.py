"""policygen's extension query flags on GetGeneratedPolicy, through a real server and boto3."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from logfactory import ACCOUNT, ROLE_ARN, record, write_log
from serverprocess import END, KEY, KEYS, START, TRAIL, ServerProcess, start

LAMBDA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/fn-exec"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trail")
    create = record(
        ROLE_ARN,
        "lambda.amazonaws.com",
        "CreateFunction20150331",
        requestParameters={"functionName": "fn", "role": LAMBDA_ROLE},
    )
    get = record(
        ROLE_ARN,
        "s3.amazonaws.com",
        "GetObject",
        managementEvent=False,
        eventCategory="Data",
        requestParameters={"bucketName": "reports", "key": "2026/q1.csv"},
        resources=[
            {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::reports/2026/q1.csv"},
            {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::reports"},
        ],
    )
    write_log(root, [create, get])
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trail: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("data"), "--trail", f"{TRAIL}={trail}")
    try:
        yield server
    finally:
        server.close()


def client_with_query(server: ServerProcess, **query: str) -> Any:
    """A boto3 client that adds extension flags to GetGeneratedPolicy's query string.

    This is how a Python user reaches the extensions: botocore only sends modelled
    members, so a `before-sign` hook appends the flags before the request is signed.
    """
    client = boto3.client(
        "accessanalyzer",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=KEYS[KEY][0],
        config=Config(retries={"total_max_attempts": 1}),
    )

    def add_query(request: Any, **_: Any) -> None:
        request.url += ("&" if "?" in request.url else "?") + urlencode(query)

    client.meta.events.register("before-sign.accessanalyzer.GetGeneratedPolicy", add_query)
    return client


def cli_policies(logs: Path, *flags: str) -> list[str]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", "generate", "--principal", ROLE_ARN),
            *("--logs", str(logs), "--start", START, "--end", END, *flags),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [p["policy"] for p in json.loads(done.stdout)["generatedPolicies"]]


def test_observed_resources_and_pass_role_match_the_cli(server: ServerProcess, trail: Path) -> None:
    job_id = start(server.client())
    server.final(job_id)
    client = client_with_query(server, resources="observed", passRole="true")
    answer = client.get_generated_policy(jobId=job_id)
    policies = [p["policy"] for p in answer["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == cli_policies(trail, "--resources", "observed", "--pass-role")
    statements = [s for text in policies for s in json.loads(text)["Statement"]]
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert by_action['"s3:GetObject"']["Resource"] == "arn:aws:s3:::reports/2026/q1.csv"
    pass_role = by_action['"iam:PassRole"']
    assert pass_role["Resource"] == LAMBDA_ROLE
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
    }


def test_without_flags_the_answer_stays_aws_exact(server: ServerProcess, trail: Path) -> None:
    job_id = start(server.client())
    answer = server.final(job_id)
    policies = [p["policy"] for p in answer["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == cli_policies(trail, "--aws-compatible")
    assert "Condition" not in policies[0]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"resources": "everything"}, "resources"),
        ({"passRole": "yes"}, "passRole"),
        ({"maxArns": "0"}, "maxArns"),
    ],
)
def test_bad_extension_values_are_validation_errors(
    server: ServerProcess, query: dict[str, str], field: str
) -> None:
    job_id = start(server.client())
    server.final(job_id)
    with pytest.raises(ClientError) as caught:
        client_with_query(server, **query).get_generated_policy(jobId=job_id)
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [f["name"] for f in error["fieldList"]] == [field]
