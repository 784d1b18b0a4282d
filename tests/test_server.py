"""`policygen serve` as users reach it: a real server process, real boto3, the real AWS CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from logfactory import ACCOUNT, ROLE_ARN, USER_ARN, record, write_log
from serverprocess import ACCESS_ROLE, END, KEY, KEYS, START, TRAIL, ServerProcess, start

UNKNOWN_TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/nowhere"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trail")
    calls = [("ec2", "RunInstances"), ("s3", "ListBuckets"), ("ec2", "NotARealCall")]
    write_log(root, [record(ROLE_ARN, f"{s}.amazonaws.com", name) for s, name in calls])
    write_log(root, [record(USER_ARN, "kms.amazonaws.com", "ListAliases")], suffix="U" * 16)
    return root


SAMPLE_TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/sample"
SAMPLE_LOGS = Path(__file__).parents[1] / "examples" / "sample-trail"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trail: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("data"),
        *("--trail", f"{TRAIL}={trail}", "--trail", f"{SAMPLE_TRAIL}={SAMPLE_LOGS}"),
    )
    try:
        yield server
    finally:
        server.close()


def policygen_generate(principal: str, logs: Path, trail_arn: str, *flags: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", "generate", "--principal", principal),
            *("--logs", str(logs), "--start", START, "--end", END, "--trail-arn", trail_arn),
            "--aws-compatible",  # the API is AWS-exact by default; the CLI is not
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


PLACEHOLDERS, TEMPLATE = "--resource-placeholders", "--service-level-template"
# The policies both sides must print, written out by hand (aws-policy-generation.md §6):
# ListBuckets is s3:ListAllMyBuckets; NotARealCall maps to nothing, so ec2 gets the
# service-level statement; RunInstances has five required resource types, their templates
# sorted in code-point order ("$" before ":", so the image comes last).
TEST_TRAIL_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow",'
    '"Action":["ec2:RunInstances","s3:ListAllMyBuckets"],"Resource":"*"}]}'
)
EC2 = "arn:aws:ec2:${Region}:${Account}:"
RUN_INSTANCES = '"Effect":"Allow","Action":"ec2:RunInstances","Resource":'
TEST_TRAIL_ALL_FLAGS_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow",'
    '"Action":"s3:ListAllMyBuckets","Resource":"*"},'
    f'{{"Sid":"SupportedServiceSid1",{RUN_INSTANCES}"{EC2}instance/${{InstanceId}}"}},'
    f'{{"Sid":"SupportedServiceSid2",{RUN_INSTANCES}'
    f'"{EC2}network-interface/${{NetworkInterfaceId}}"}},'
    f'{{"Sid":"SupportedServiceSid3",{RUN_INSTANCES}'
    f'"{EC2}security-group/${{SecurityGroupId}}"}},'
    f'{{"Sid":"SupportedServiceSid4",{RUN_INSTANCES}"{EC2}subnet/${{SubnetId}}"}},'
    f'{{"Sid":"SupportedServiceSid5",{RUN_INSTANCES}"arn:aws:ec2:${{Region}}::image/${{ImageId}}"}},'
    '{"Sid":"ServiceLevelSid0","Effect":"Allow","Action":"ec2:*","Resource":"*"}]}'
)
# alice's calls in examples/sample-trail/manifest.json: HeadObject is s3:GetObject,
# ListObjects s3:ListBucket, Invoke lambda:InvokeFunction, ExecuteStatement (a SELECT)
# dynamodb:PartiQLSelect; denied calls count (RunInstances, CreateRole, GetBucketPolicy).
# S3's object and bucket actions stay under "*", as in AWS's own sample (§3.1).
SAMPLE_TRAIL_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow",'
    '"Action":["ec2:CreateTags","ec2:DescribeInstances","ec2:DescribeSecurityGroups",'
    '"ec2:DescribeVpcs","kafka:ListClustersV2","lambda:ListFunctions",'
    '"logs:DescribeLogGroups","s3:GetBucketPolicy","s3:GetObject","s3:ListAllMyBuckets",'
    '"s3:ListBucket","s3:PutObject","sts:GetCallerIdentity"],"Resource":"*"},'
    '{"Sid":"SupportedServiceSid1","Effect":"Allow",'
    '"Action":["dynamodb:DescribeTable","dynamodb:PartiQLSelect"],'
    '"Resource":"arn:aws:dynamodb:${Region}:${Account}:table/${TableName}"},'
    f'{{"Sid":"SupportedServiceSid2",{RUN_INSTANCES}"{EC2}instance/${{InstanceId}}"}},'
    f'{{"Sid":"SupportedServiceSid3",{RUN_INSTANCES}'
    f'"{EC2}network-interface/${{NetworkInterfaceId}}"}},'
    f'{{"Sid":"SupportedServiceSid4",{RUN_INSTANCES}'
    f'"{EC2}security-group/${{SecurityGroupId}}"}},'
    f'{{"Sid":"SupportedServiceSid5",{RUN_INSTANCES}"{EC2}subnet/${{SubnetId}}"}},'
    f'{{"Sid":"SupportedServiceSid6",{RUN_INSTANCES}"arn:aws:ec2:${{Region}}::image/${{ImageId}}"}},'
    '{"Sid":"SupportedServiceSid7","Effect":"Allow","Action":"iam:CreateRole",'
    '"Resource":"arn:aws:iam::${Account}:role/${RoleNameWithPath}"},'
    '{"Sid":"SupportedServiceSid8","Effect":"Allow","Action":"iam:GetUser",'
    '"Resource":"arn:aws:iam::${Account}:user/${UserNameWithPath}"},'
    '{"Sid":"SupportedServiceSid9","Effect":"Allow","Action":"kms:Decrypt",'
    '"Resource":"arn:aws:kms:${Region}:${Account}:key/${KeyId}"},'
    '{"Sid":"SupportedServiceSid10","Effect":"Allow",'
    '"Action":["lambda:GetFunction","lambda:InvokeFunction","lambda:UpdateFunctionCode"],'
    '"Resource":"arn:aws:lambda:${Region}:${Account}:function:${FunctionName}"},'
    '{"Sid":"SupportedServiceSid11","Effect":"Allow","Action":"logs:FilterLogEvents",'
    '"Resource":"arn:aws:logs:${Region}:${Account}:log-group:${LogGroupName}"},'
    '{"Sid":"SupportedServiceSid12","Effect":"Allow","Action":"secretsmanager:GetSecretValue",'
    '"Resource":"arn:aws:secretsmanager:${Region}:${Account}:secret:${SecretId}"},'
    '{"Sid":"SupportedServiceSid13","Effect":"Allow","Action":"ssm:GetParameter",'
    '"Resource":"arn:aws:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}"}]}'
)


@pytest.mark.parametrize(
    "sample, principal, flags, policy, complete",
    [
        pytest.param(False, ROLE_ARN, (), TEST_TRAIL_POLICY, False, id="test-trail"),
        pytest.param(
            False,
            ROLE_ARN,
            (PLACEHOLDERS, TEMPLATE),
            TEST_TRAIL_ALL_FLAGS_POLICY,
            False,
            id="test-trail-all-flags",
        ),
        pytest.param(
            True,
            USER_ARN,
            (PLACEHOLDERS,),
            SAMPLE_TRAIL_POLICY,
            True,
            id="sample-trail-placeholders",
        ),
    ],
)
def test_api_policy_equals_cli_policy(
    server: ServerProcess,
    trail: Path,
    sample: bool,
    principal: str,
    flags: tuple[str, ...],
    policy: str,
    complete: bool,
) -> None:
    trail_arn, logs = (SAMPLE_TRAIL, SAMPLE_LOGS) if sample else (TRAIL, trail)
    trails = [{"cloudTrailArn": trail_arn, "allRegions": True}]
    job_id = start(server.client(), principal, trails=trails)
    assert server.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"
    query = {
        "includeResourcePlaceholders": str(PLACEHOLDERS in flags).lower(),
        "includeServiceLevelTemplate": str(TEMPLATE in flags).lower(),
    }
    api = server.request("GET", f"/policy/generation/{job_id}?{urlencode(query)}").json()
    cli = policygen_generate(principal, logs, trail_arn, *flags)
    assert api["generatedPolicyResult"] == cli
    assert cli["generatedPolicies"] == [{"policy": policy}]
    assert cli["properties"]["isComplete"] is complete


def test_get_with_and_without_placeholders(server: ServerProcess) -> None:
    client = server.client()
    job_id = start(client)
    plain = server.final(job_id)
    details = plain["jobDetails"]
    assert details["status"] == "SUCCEEDED"
    assert details["completedOn"] >= details["startedOn"]
    result = plain["generatedPolicyResult"]
    assert result["properties"]["cloudTrailProperties"]["trailProperties"] == [
        {"cloudTrailArn": TRAIL, "regions": [], "allRegions": True}
    ]
    [policy] = [json.loads(p["policy"]) for p in result["generatedPolicies"]]
    assert {s["Resource"] for s in policy["Statement"]} == {"*"}
    placed = client.get_generated_policy(jobId=job_id, includeResourcePlaceholders=True)
    resources = {
        s["Resource"]
        for p in placed["generatedPolicyResult"]["generatedPolicies"]
        for s in json.loads(p["policy"])["Statement"]
    }
    assert "arn:aws:ec2:${Region}:${Account}:instance/${InstanceId}" in resources


def test_in_progress_then_canceled(server: ServerProcess) -> None:
    client = server.client()
    with server.frozen_workers():
        job_id = start(client)
        pending = client.get_generated_policy(jobId=job_id)
        assert pending["jobDetails"]["status"] == "IN_PROGRESS"
        assert "completedOn" not in pending["jobDetails"]
        result = pending["generatedPolicyResult"]
        assert "generatedPolicies" not in result
        assert result["properties"]["principalArn"] == ROLE_ARN
        assert "isComplete" not in result["properties"]
        assert result["properties"]["cloudTrailProperties"]["endTime"].isoformat() == (
            "2026-01-06T00:00:00+00:00"
        )
        assert (
            client.cancel_policy_generation(jobId=job_id)["ResponseMetadata"]["HTTPStatusCode"]
            == 200
        )
        canceled = client.get_generated_policy(jobId=job_id)["jobDetails"]
        assert canceled["status"] == "CANCELED"
        assert canceled["completedOn"] >= canceled["startedOn"]
    # The worker, thawed, drops the canceled job and is free for the next one.
    assert server.final(start(client))["jobDetails"]["status"] == "SUCCEEDED"
    client.cancel_policy_generation(jobId=job_id)  # canceling a finished job is a no-op
    assert client.get_generated_policy(jobId=job_id)["jobDetails"]["status"] == "CANCELED"


def test_list_pages_newest_first(server: ServerProcess) -> None:
    client = server.client()
    pager = f"arn:aws:iam::{ACCOUNT}:user/pager"
    ids = [start(client, principal=pager) for _ in range(3)]
    paginator = client.get_paginator("list_policy_generations")
    pages = list(paginator.paginate(principalArn=pager, PaginationConfig={"PageSize": 2}))
    assert [[g["jobId"] for g in p["policyGenerations"]] for p in pages] == [
        ids[:0:-1],
        ids[:1],
    ]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", pages[0]["nextToken"])  # opaque, URL-safe
    start(client)  # a job of ROLE_ARN too, whatever ran before on this server
    everything = client.list_policy_generations()["policyGenerations"]
    assert {g["principalArn"] for g in everything} >= {pager, ROLE_ARN}
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.list_policy_generations(nextToken="not-a-token")
    assert caught.value.response["fieldList"][0]["name"] == "nextToken"


def test_client_token_makes_start_idempotent(server: ServerProcess) -> None:
    client = server.client()
    details = {"policyGenerationDetails": {"principalArn": ROLE_ARN}, "clientToken": "retry-1"}
    yesterday = datetime.now(UTC) - timedelta(days=1)  # endTime left out: it means "now"
    trail = {
        "trails": [{"cloudTrailArn": TRAIL}],
        "accessRole": ACCESS_ROLE,
        "startTime": yesterday,
    }
    first = client.start_policy_generation(**details, cloudTrailDetails=trail)["jobId"]
    again = client.start_policy_generation(**details, cloudTrailDetails=trail)["jobId"]
    assert again == first
    with pytest.raises(client.exceptions.ConflictException) as caught:
        other = {**trail, "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}]}
        client.start_policy_generation(**details, cloudTrailDetails=other)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (error["resourceId"], error["resourceType"]) == (first, "PolicyGeneration")


def invalid(client: Any, call: str, **params: Any) -> dict[str, Any]:
    with pytest.raises(client.exceptions.ValidationException) as caught:
        getattr(client, call)(**params)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response


@pytest.mark.parametrize(
    "principal, details, field",
    [
        (f"arn:aws:iam::{ACCOUNT}:group/devs", {}, "policyGenerationDetails.principalArn"),
        (ROLE_ARN, {"trails": [{"cloudTrailArn": "my-trail"}]}, "trails[0].cloudTrailArn"),
        (ROLE_ARN, {"accessRole": USER_ARN}, "cloudTrailDetails.accessRole"),
        (ROLE_ARN, {"startTime": END, "endTime": START}, "cloudTrailDetails.startTime"),
        (ROLE_ARN, {"startTime": "2025-09-01T00:00:00Z"}, "cloudTrailDetails.startTime"),
    ],
)
def test_start_validation(server: ServerProcess, principal: str, details: dict, field: str) -> None:
    cloud_trail = {
        "trails": [{"cloudTrailArn": TRAIL}],
        "accessRole": ACCESS_ROLE,
        "startTime": START,
        "endTime": END,
        **details,
    }
    response = invalid(
        server.client(),
        "start_policy_generation",
        policyGenerationDetails={"principalArn": principal},
        cloudTrailDetails=cloud_trail,
    )
    assert response["reason"] == "fieldValidationFailed"
    assert response["fieldList"][0]["name"].endswith(field)


def test_other_validation_errors(server: ServerProcess) -> None:
    client = server.client()
    no_trail = invalid(
        client, "start_policy_generation", policyGenerationDetails={"principalArn": ROLE_ARN}
    )
    assert no_trail["fieldList"][0]["name"] == "cloudTrailDetails"
    for call in ("get_generated_policy", "cancel_policy_generation"):
        unknown = invalid(client, call, jobId="c557dc4a-0338-4489-95dd-739014860ff9")
        assert unknown["fieldList"] == [
            {"name": "jobId", "message": unknown["fieldList"][0]["message"]}
        ]
    unchecked = server.client(parameter_validation=False)  # past botocore's own checks
    too_few = invalid(unchecked, "list_policy_generations", maxResults=0)
    assert too_few["fieldList"][0]["name"] == "maxResults"
    unsupported = invalid(client, "list_analyzers")
    assert unsupported["reason"] == "notSupported"
    assert "ListAnalyzers" in unsupported["Error"]["Message"]


def test_unknown_trail_fails_the_job(server: ServerProcess) -> None:
    job_id = start(server.client(), trails=[{"cloudTrailArn": UNKNOWN_TRAIL}])
    details = server.final(job_id)["jobDetails"]
    assert details["status"] == "FAILED"
    assert details["jobError"]["code"] == "RESOURCE_NOT_FOUND_ERROR"
    assert UNKNOWN_TRAIL in details["jobError"]["message"]


def aws(server: ServerProcess, *args: str) -> subprocess.Popen[str]:
    """The AWS CLI (v1, from the test extra) pointed at the server."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": KEYS[KEY][0],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [sys.executable, "-m", "awscli", "accessanalyzer", *args]
    return subprocess.Popen(
        [*command, "--endpoint-url", server.url, "--output", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, Any, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, json.loads(out) if out.strip() else None, err


def test_aws_cli(server: ServerProcess) -> None:
    cloud_trail = json.dumps(
        {
            "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
            "accessRole": ACCESS_ROLE,
            "startTime": START,
            "endTime": END,
        }
    )
    code, started, err = finish(
        aws(
            server,
            "start-policy-generation",
            "--policy-generation-details",
            f"principalArn={ROLE_ARN}",
            "--cloud-trail-details",
            cloud_trail,
        )
    )
    assert code == 0, err
    job_id = started["jobId"]
    server.final(job_id)
    running = [
        aws(server, "get-generated-policy", "--job-id", job_id, "--include-resource-placeholders"),
        aws(server, "list-policy-generations", "--principal-arn", ROLE_ARN),
        aws(server, "cancel-policy-generation", "--job-id", job_id),
        aws(server, "get-generated-policy", "--job-id", "no-such-job"),
    ]
    (got_code, got, _), (list_code, listed, _), (cancel_code, _, _), (bad_code, _, bad_err) = map(
        finish, running
    )
    assert (got_code, list_code, cancel_code) == (0, 0, 0)
    assert got["jobDetails"]["status"] == "SUCCEEDED"
    assert "${InstanceId}" in got["generatedPolicyResult"]["generatedPolicies"][0]["policy"]
    assert job_id in [g["jobId"] for g in listed["policyGenerations"]]
    assert bad_code != 0
    assert "ValidationException" in bad_err


def test_one_log_line_per_request(server: ServerProcess) -> None:
    client = server.client()
    answer = client.list_policy_generations(principalArn=USER_ARN)
    request_id = answer["ResponseMetadata"]["RequestId"]
    line = server.wait_for_log(f"id={request_id}").string
    assert '"GET /policy/generation" 200 ListPolicyGenerations' in line
    assert server.log.count(request_id) == 1
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.get_generated_policy(jobId="nope")
    failed_id = caught.value.response["ResponseMetadata"]["RequestId"]
    assert "400 GetGeneratedPolicy ValidationException" in server.wait_for_log(failed_id).string
