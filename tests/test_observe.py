"""Scan-time resource facts: which ARNs and passed roles a call yields, and how they are kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policygen.cloudtrail.records import RECORD_DECODER
from policygen.iam import catalogue, passrole
from policygen.iam import facts as observe
from policygen.pipeline import generate_policy
from policygen.scan.usage import MAX_OBSERVED, CallKey, Observed, Usage

from logfactory import ACCOUNT, ROLE_ARN, record, write_log

WINDOW = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}
BUCKET_ARN = "arn:aws:s3:::data"
OBJECT_ARN = "arn:aws:s3:::data/in/a.csv"
LAMBDA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/etl"


def facts(source: str, name: str, **fields: Any) -> tuple[list[str], list[tuple[str, str]]]:
    raw = json.dumps(record(ROLE_ARN, source, name, **fields))
    return observe.facts(RECORD_DECODER.decode(raw))


def s3_get(key: str = "in/a.csv", bucket: str = "data", **fields: Any) -> dict[str, Any]:
    return record(
        ROLE_ARN,
        "s3.amazonaws.com",
        "GetObject",
        managementEvent=False,
        eventCategory="Data",
        requestParameters={"bucketName": bucket, "key": key},
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        **fields,
    )


def test_resources_list_is_read() -> None:
    arns, passed = observe.facts(RECORD_DECODER.decode(json.dumps(s3_get())))
    assert arns == [OBJECT_ARN, BUCKET_ARN]
    assert passed == []


@pytest.mark.parametrize(
    "source, name, params, expected",
    [
        ("s3.amazonaws.com", "GetBucketPolicy", {"bucketName": "data"}, [BUCKET_ARN]),
        (
            "dynamodb.amazonaws.com",
            "GetItem",
            {"tableName": "orders"},
            [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"],
        ),
        (
            "ssm.amazonaws.com",
            "GetParameter",
            {"name": "/app/db/password"},
            [f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/db/password"],
        ),
        (
            "sqs.amazonaws.com",
            "SendMessage",
            {"queueUrl": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/jobs"},
            [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs"],
        ),
        (
            "ec2.amazonaws.com",
            "StopInstances",
            {"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}},
            [f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"],
        ),
        (
            "iam.amazonaws.com",
            "CreateRole",
            {"path": "/app/", "roleName": "worker", "assumeRolePolicyDocument": "{}"},
            [f"arn:aws:iam::{ACCOUNT}:role/app/worker"],
        ),
        # A bare role name could be on any path: kept as a name, resolved at analysis.
        (
            "iam.amazonaws.com",
            "GetRole",
            {"roleName": "worker"},
            [f"name:arn:aws:iam::{ACCOUNT}:role/worker"],
        ),
        # Partial ARNs and qualifiers are not sure either.
        ("lambda.amazonaws.com", "GetFunction", {"functionName": "etl:prod"}, []),
    ],
)
def test_names_in_request_parameters(
    source: str, name: str, params: dict[str, Any], expected: list[str]
) -> None:
    assert facts(source, name, requestParameters=params)[0] == expected


def test_arns_inside_documents_are_not_resources() -> None:
    policy = {"Statement": [{"Resource": "arn:aws:s3:::other-bucket"}]}
    arns, _ = facts(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        requestParameters={"bucketName": "data", "bucketPolicy": policy},
    )
    assert arns == [BUCKET_ARN]


def test_created_resource_ids_in_responses_are_not_used() -> None:
    arns, _ = facts(
        "ec2.amazonaws.com",
        "CreateSubnet",
        requestParameters={"vpcId": "vpc-0123456789abcdef0"},
        responseElements={
            "subnet": {"subnetArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-1"}
        },
    )
    assert arns == [f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0123456789abcdef0"]


def test_response_arns_of_existing_resources_are_used() -> None:
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf"
    arns, _ = facts(
        "secretsmanager.amazonaws.com",
        "PutSecretValue",
        requestParameters={"secretId": "db"},
        responseElements={"arn": secret, "versionId": "v1"},
    )
    assert arns == [secret]


@pytest.mark.parametrize(
    "source, name, params, expected",
    [
        (
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            {"functionName": "etl", "role": LAMBDA_ROLE},
            [("lambda.amazonaws.com", LAMBDA_ROLE)],
        ),
        (
            "ecs.amazonaws.com",
            "RegisterTaskDefinition",
            {
                "family": "web",
                "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task",
                "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
            },
            [
                ("ecs-tasks.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/web-task"),
                ("ecs-tasks.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"),
            ],
        ),
        (
            "cloudformation.amazonaws.com",
            "CreateStack",
            {"stackName": "app", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/cfn"},
            [("cloudformation.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/cfn")],
        ),
        (
            "events.amazonaws.com",
            "PutTargets",
            {"rule": "r", "targets": [{"id": "1", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ev"}]},
            [("events.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/ev")],
        ),
        (
            "glue.amazonaws.com",
            "CreateJob",
            {"name": "j", "role": "service-role/AWSGlueServiceRole-x"},
            [
                (
                    "glue.amazonaws.com",
                    f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSGlueServiceRole-x",
                )
            ],
        ),
        (
            "ec2.amazonaws.com",
            "RunInstances",
            {
                "iamInstanceProfile": {
                    "arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web/web",
                    "name": "web",
                }
            },
            [("ec2.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:instance-profile/web/web")],
        ),
        (
            "s3.amazonaws.com",
            "PutBucketReplication",
            {"bucketName": "data", "ReplicationConfiguration": {"Role": LAMBDA_ROLE}},
            [("s3.amazonaws.com", LAMBDA_ROLE)],
        ),
        # Lambda's `role` must be a role ARN: anything else is not a passed role.
        ("lambda.amazonaws.com", "CreateFunction", {"role": "etl"}, []),
    ],
)
def test_passed_roles(
    source: str, name: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert facts(source, name, requestParameters=params)[1] == expected


def test_pass_rules_name_catalogue_actions() -> None:
    for action in passrole.RULES:
        assert catalogue.canonical(*catalogue.split_action(action)) == action, action


def test_only_kinds_with_resources_or_roles_are_observed() -> None:
    assert observe.wants("s3.amazonaws.com", "GetObject")
    assert observe.wants("lambda.amazonaws.com", "CreateFunction20150331")
    assert not observe.wants("ec2.amazonaws.com", "DescribeInstances")
    assert not observe.wants("sts.amazonaws.com", "GetCallerIdentity")


def test_observed_set_is_bounded_and_remembers_the_overflow() -> None:
    observed = Observed()
    for i in range(MAX_OBSERVED + 30):
        observed.add([f"arn:aws:s3:::data/logs/{i:04d}"], [], "2026-01-05T10:00:00Z", "e")
    assert len(observed.arns) == MAX_OBSERVED
    assert observed.arn_overflow == "arn:aws:s3:::data/logs/01"
    assert observed.calls == MAX_OBSERVED + 30
    assert observed.unresolved == 0


def test_usage_merge_and_json_round_trip() -> None:
    key = CallKey("lambda.amazonaws.com", "CreateFunction")
    left, right = Usage(ROLE_ARN), Usage(ROLE_ARN)
    left.observe(
        key, ["arn:a"], [("lambda.amazonaws.com", LAMBDA_ROLE)], "2026-01-05T11:00:00Z", "b"
    )
    right.observe(key, [], [], "2026-01-05T09:00:00Z", "a")
    left.merge(right)
    merged = left.observed[key]
    assert (merged.calls, merged.unresolved, merged.arns) == (2, 1, {"arn:a"})
    assert merged.passed == {"lambda.amazonaws.com": {LAMBDA_ROLE}}
    assert merged.pass_calls.count == 1
    text = json.dumps(merged.to_dict())
    assert Observed.from_dict(json.loads(text)) == merged


def test_scan_records_facts_only_for_the_principals_calls(logs: Path) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/other"
    write_log(
        logs,
        [s3_get(), {**s3_get(key="x"), "userIdentity": record(other, "s", "n")["userIdentity"]}],
    )
    usage = generate_policy(ROLE_ARN, logs, **WINDOW).analysis
    assert usage.actions["s3:GetObject"].arns == {"object": [OBJECT_ARN]}


def test_iam_names_resolve_against_full_arns_seen_elsewhere(logs: Path) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/app/worker"
    create = record(
        ROLE_ARN,
        "iam.amazonaws.com",
        "CreateRole",
        requestParameters={"path": "/app/", "roleName": "worker"},
    )
    attach = record(
        ROLE_ARN,
        "iam.amazonaws.com",
        "AttachRolePolicy",
        requestParameters={"roleName": "worker", "policyArn": "arn:aws:iam::aws:policy/X"},
    )
    unknown = record(
        ROLE_ARN, "iam.amazonaws.com", "GetRolePolicy", requestParameters={"roleName": "nobody"}
    )
    write_log(logs, [create, attach, unknown])
    actions = generate_policy(ROLE_ARN, logs, **WINDOW).analysis.actions
    assert actions["iam:AttachRolePolicy"].arns == {"role": [role]}
    assert actions["iam:CreateRole"].arns == {"role": [role]}
    assert (actions["iam:GetRolePolicy"].arns, actions["iam:GetRolePolicy"].unresolved) == ({}, 1)
