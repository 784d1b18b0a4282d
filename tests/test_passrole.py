"""iam:PassRole from request shapes as the services document them, and partitions.

The request parameters below follow the services' API references (botocore's models of
Firehose `CreateDeliveryStream` and Config `PutConfigurationRecorder`), in CloudTrail's
lower-camel-case spelling; the role ARNs are written by hand. Firehose and Config carry
roles at several depths, which only the deep `**.roleARN` search finds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policygen.cloudtrail.params import anywhere, partition_of, strings_at
from policygen.cloudtrail.records import RECORD_DECODER
from policygen.core.arns import Principal
from policygen.iam import facts as observe
from policygen.iam import passrole
from policygen.pipeline import generate_policy
from policygen.policy.render import RenderOptions

from logfactory import ACCOUNT, record, write_log

FIREHOSE = "firehose.amazonaws.com"
CONFIG = "config.amazonaws.com"
DELIVERY = f"arn:aws:iam::{ACCOUNT}:role/firehose/delivery"
BACKUP = f"arn:aws:iam::{ACCOUNT}:role/firehose/backup"
READER = f"arn:aws:iam::{ACCOUNT}:role/firehose/kinesis-reader"
RECORDER = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
)

CREATE_DELIVERY_STREAM = {
    "deliveryStreamName": "clickstream",
    "deliveryStreamType": "KinesisStreamAsSource",
    "kinesisStreamSourceConfiguration": {
        "kinesisStreamARN": f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/clicks",
        "roleARN": READER,
    },
    "extendedS3DestinationConfiguration": {
        "roleARN": DELIVERY,
        "bucketARN": "arn:aws:s3:::clickstream-archive",
        "prefix": "raw/",
        "bufferingHints": {"sizeInMBs": 64, "intervalInSeconds": 300},
        "compressionFormat": "GZIP",
        "s3BackupMode": "Enabled",
        "s3BackupConfiguration": {
            "roleARN": BACKUP,
            "bucketARN": "arn:aws:s3:::clickstream-backup",
        },
        "cloudWatchLoggingOptions": {"enabled": False},
    },
}

PUT_CONFIGURATION_RECORDER = {
    "configurationRecorder": {
        "name": "default",
        "roleARN": RECORDER,
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
    }
}


def passed(source: str, name: str, params: dict[str, Any], region: str = "eu-west-1") -> set:
    raw = json.dumps(
        record(
            ACCOUNT and f"arn:aws:iam::{ACCOUNT}:role/ops",
            source,
            name,
            requestParameters=params,
            awsRegion=region,
        )
    )
    return set(observe.facts(RECORD_DECODER.decode(raw))[1])


def test_firehose_create_delivery_stream_passes_every_role_at_any_depth() -> None:
    assert passed(FIREHOSE, "CreateDeliveryStream", CREATE_DELIVERY_STREAM) == {
        (FIREHOSE, READER),
        (FIREHOSE, DELIVERY),
        (FIREHOSE, BACKUP),
    }


def test_config_put_configuration_recorder_passes_its_role() -> None:
    assert passed(CONFIG, "PutConfigurationRecorder", PUT_CONFIGURATION_RECORDER) == {
        (CONFIG, RECORDER)
    }


def test_deep_search_ignores_case_and_other_keys() -> None:
    node = {"a": [{"RoleArn": "x"}, {"b": {"rolearn": "y", "role": "z"}}], "ROLEARN": "w"}
    assert sorted(anywhere(node, "roleARN")) == ["w", "x", "y"]
    assert sorted(strings_at(node, "**.roleARN")) == ["w", "x", "y"]
    assert list(anywhere([[[{"roleARN": "deep"}]]], "roleARN")) == ["deep"]
    assert list(anywhere("roleARN", "roleARN")) == []


def test_deep_search_survives_very_deep_input() -> None:
    node: dict[str, Any] = {"roleARN": DELIVERY}
    for _ in range(50_000):
        node = {"next": node}
    assert list(anywhere(node, "roleARN")) == [DELIVERY]


def test_firehose_pass_role_reaches_the_policy(logs: Path) -> None:
    ops = f"arn:aws:iam::{ACCOUNT}:role/ops"
    write_log(
        logs,
        [
            record(
                ops,
                FIREHOSE,
                "CreateDeliveryStream",
                requestParameters=CREATE_DELIVERY_STREAM,
                awsRegion="eu-west-1",
            )
        ],
        region="eu-west-1",
    )
    result = generate_policy(ops, logs, start="2026-01-05T00:00:00Z", end="2026-01-06T00:00:00Z")
    api = result.to_api(RenderOptions(pass_role=True))
    statements = json.loads(api["generatedPolicies"][0]["policy"])["Statement"]
    pass_role = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role == [
        {
            "Sid": pass_role[0]["Sid"],
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": sorted([BACKUP, DELIVERY, READER]),
            "Condition": {"StringEquals": {"iam:PassedToService": FIREHOSE}},
        }
    ]


@pytest.mark.parametrize(
    "region, partition",
    [
        ("us-east-1", "aws"),
        ("eu-central-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_of(region: str, partition: str) -> None:
    assert partition_of(region) == partition


@pytest.mark.parametrize(
    "region, partition",
    [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso")],
)
def test_role_named_without_arn_gets_the_regions_partition(region: str, partition: str) -> None:
    """Glue takes a role name; the ARN it stands for is in the caller's partition."""
    params = {"name": "etl", "role": "service/glue-etl", "command": {"name": "glueetl"}}
    assert passed("glue.amazonaws.com", "CreateJob", params, region) == {
        ("glue.amazonaws.com", f"arn:{partition}:iam::{ACCOUNT}:role/service/glue-etl")
    }


def test_resolve_keeps_only_the_right_kind() -> None:
    profile = f"arn:aws-cn:iam::{ACCOUNT}:instance-profile/web"
    assert passrole._resolve(profile, "instance-profile", "aws-cn", ACCOUNT) == profile
    assert passrole._resolve(profile, "role", "aws-cn", ACCOUNT) is None
    assert passrole._resolve("web", "instance-profile", "aws-cn", ACCOUNT) == profile
    assert passrole._resolve("web", "role", "aws-cn", ACCOUNT) is None
    assert passrole._resolve("web*", "role-or-name", "aws", ACCOUNT) is None
    assert passrole._resolve("web", "role-or-name", "aws", "") is None
    assert passrole._resolve("arn:aws:iam::x", "role-or-name", "aws", ACCOUNT) is None


@pytest.mark.parametrize(
    "principal, partition",
    [
        (f"arn:aws-cn:iam::{ACCOUNT}:role/app", "aws-cn"),
        (f"arn:aws-us-gov:iam::{ACCOUNT}:user/alice", "aws-us-gov"),
        (f"arn:aws-iso:iam::{ACCOUNT}:role/app", "aws-iso"),
    ],
)
def test_placeholders_use_the_principals_partition(
    logs: Path, principal: str, partition: str
) -> None:
    region = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}.get(partition, "us-iso-east-1")
    assert Principal.parse(principal).partition == partition
    write_log(
        logs,
        [record(principal, "sqs.amazonaws.com", "DeleteQueue", awsRegion=region)],
        region=region,
    )
    result = generate_policy(
        principal, logs, start="2026-01-05T00:00:00Z", end="2026-01-06T00:00:00Z"
    )
    policy = json.loads(result.to_api(placeholders=True)["generatedPolicies"][0]["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "SupportedServiceSid0",
            "Effect": "Allow",
            "Action": "sqs:DeleteQueue",
            "Resource": f"arn:{partition}:sqs:${{Region}}:${{Account}}:${{QueueName}}",
        }
    ]


def test_rules_give_each_action_every_parameter_of_the_service() -> None:
    """The table builder: one rule per parameter path, the same tuple for every action."""
    rules = passrole._rules(
        "glue.amazonaws.com",
        "glue:CreateJob glue:CreateCrawler",
        "role",
        "x.role",
        kind="role-or-name",
    )
    expected = (
        passrole.PassRule("role", "glue.amazonaws.com", "role-or-name"),
        passrole.PassRule("x.role", "glue.amazonaws.com", "role-or-name"),
    )
    assert rules == {"glue:CreateJob": expected, "glue:CreateCrawler": expected}
    assert passrole._rules("lambda.amazonaws.com", "lambda:CreateFunction", "role") == {
        "lambda:CreateFunction": (passrole.PassRule("role", "lambda.amazonaws.com", "role"),)
    }


@pytest.mark.parametrize(
    "value, kind, arn",
    [
        # Glue and EMR take a role name with its path; IAM paths begin and end with "/".
        (
            "/service-role/AWSGlueServiceRole-X",
            "role-or-name",
            "role/service-role/AWSGlueServiceRole-X",
        ),
        ("EMR_DefaultRole_X/", "role-or-name", "role/EMR_DefaultRole_X"),
        ("/web/X", "instance-profile", "instance-profile/web/X"),
        ("X/", "instance-profile", "instance-profile/X"),
    ],
)
def test_names_lose_the_slashes_around_them(value: str, kind: passrole.Kind, arn: str) -> None:
    assert passrole._resolve(value, kind, "aws", ACCOUNT) == f"arn:aws:iam::{ACCOUNT}:{arn}"


def test_a_target_without_a_usable_role_does_not_hide_the_next_ones() -> None:
    """EventBridge PutTargets: every target's RoleArn, skipping repeats and non-roles."""
    first, second = (f"arn:aws:iam::{ACCOUNT}:role/events/{n}" for n in ("first", "second"))
    params = {
        "rule": "nightly",
        "targets": [
            {"id": "1", "arn": "arn:aws:sqs:eu-west-1:111122223333:q", "roleArn": first},
            {"id": "2", "arn": "arn:aws:kinesis:eu-west-1:111122223333:stream/s", "roleArn": first},
            {"id": "3", "arn": "arn:aws:lambda:eu-west-1:1:function:f", "roleArn": "not-a-role"},
            {"id": "4", "arn": "arn:aws:ecs:eu-west-1:111122223333:cluster/c", "roleArn": second},
        ],
    }
    assert passed("events.amazonaws.com", "PutTargets", params) == {
        ("events.amazonaws.com", first),
        ("events.amazonaws.com", second),
    }


EC2 = "ec2.amazonaws.com"
PROFILE_RULES = passrole.RULES["ec2:RunInstances"]


def test_an_instance_profile_named_twice_is_passed_once() -> None:
    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile/team/web"
    params = {"iamInstanceProfile": {"arn": profile, "name": "web"}}
    assert passrole.passed_roles(PROFILE_RULES, params, "aws", ACCOUNT) == [(EC2, profile)]


def test_two_instance_profiles_of_different_names_are_both_passed() -> None:
    params = {
        "iamInstanceProfile": {"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web", "name": "db"}
    }
    assert passrole.passed_roles(PROFILE_RULES, params, "aws", ACCOUNT) == [
        (EC2, f"arn:aws:iam::{ACCOUNT}:instance-profile/web"),
        (EC2, f"arn:aws:iam::{ACCOUNT}:instance-profile/db"),
    ]


def test_a_role_named_like_a_profile_already_passed_is_still_passed() -> None:
    """A role and an instance profile of the same name are different things."""
    rules = (
        passrole.PassRule("iamInstanceProfile.arn", EC2, "instance-profile"),
        passrole.PassRule("role", "glue.amazonaws.com", "role-or-name"),
    )
    params = {
        "iamInstanceProfile": {"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web"},
        "role": "web",
    }
    assert passrole.passed_roles(rules, params, "aws", ACCOUNT) == [
        (EC2, f"arn:aws:iam::{ACCOUNT}:instance-profile/web"),
        ("glue.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/web"),
    ]
