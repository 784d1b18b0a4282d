"""Rendering beyond AWS: observed resources, inferred PassRole, dependent actions, and the
strict AWS-compatible mode that must stay byte-identical to AWS."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from policygen.iam.analysis import Analysis
from policygen.pipeline import generate_policy, render_policy_documents
from policygen.policy.render import MAX_POLICY_CHARS, RenderOptions, render_analysis
from test_policy import AWS_EXAMPLE_CALLS, AWS_EXAMPLE_POLICY

from logfactory import ACCOUNT, ROLE_ARN, record, write_log

WINDOW = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}
PASSED = "iam:PassedToService"


def statements(policies: list[str]) -> list[dict[str, Any]]:
    return [s for text in policies for s in json.loads(text)["Statement"]]


def by_action(policies: list[str]) -> dict[str, list[Any]]:
    """Action -> the Resource of each statement that grants it."""
    found: dict[str, list[Any]] = {}
    for statement in statements(policies):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            found.setdefault(action, []).append(statement["Resource"])
    return found


def s3_object_call(name: str, bucket: str, key: str, when: str = "2026-01-05T10:00:00Z") -> dict:
    return record(
        ROLE_ARN,
        "s3.amazonaws.com",
        name,
        when,
        managementEvent=False,
        eventCategory="Data",
        requestParameters={"bucketName": bucket, "key": key},
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
    )


def list_bucket(bucket: str) -> dict:
    return record(
        ROLE_ARN,
        "s3.amazonaws.com",
        "ListObjects",
        requestParameters={"bucketName": bucket},
        resources=[{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
    )


def create_function(name: str, role: str) -> dict:
    return record(
        ROLE_ARN,
        "lambda.amazonaws.com",
        "CreateFunction20150331",
        requestParameters={"functionName": name, "role": role, "runtime": "python3.12"},
    )


def analysis_of(logs: Path, records: list[dict]) -> Analysis:
    write_log(logs, records)
    return generate_policy(ROLE_ARN, logs, **WINDOW).analysis


def test_object_arns_only_on_object_actions_and_bucket_arns_only_on_bucket_actions(
    logs: Path,
) -> None:
    analysis = analysis_of(
        logs, [s3_object_call("GetObject", "data", "in/a.csv"), list_bucket("data")]
    )
    found = by_action(render_analysis(analysis, RenderOptions(resources="observed")))
    assert found["s3:GetObject"] == ["arn:aws:s3:::data/in/a.csv"]
    assert found["s3:ListBucket"] == ["arn:aws:s3:::data"]


def test_many_arns_become_one_wildcard_beyond_the_cap(logs: Path) -> None:
    calls = [s3_object_call("PutObject", "data", f"out/2026/{i:03d}.csv") for i in range(25)]
    analysis = analysis_of(logs, calls)
    few = by_action(render_analysis(analysis, RenderOptions(resources="observed", max_arns=30)))
    assert len(few["s3:PutObject"][0]) == 25
    capped = by_action(render_analysis(analysis, RenderOptions(resources="observed")))
    assert capped["s3:PutObject"] == ["arn:aws:s3:::data/out/2026/0*"]


def test_wildcard_falls_back_to_the_template_when_the_common_prefix_is_too_short(
    logs: Path,
) -> None:
    calls = [s3_object_call("GetObject", f"{chr(97 + i)}-bucket", "k") for i in range(3)]
    analysis = analysis_of(logs, calls)
    options = RenderOptions(resources="observed", max_arns=2)
    assert by_action(render_analysis(analysis, options))["s3:GetObject"] == ["arn:aws:s3:::*/*"]


def test_placeholders_where_no_arn_could_be_derived(logs: Path) -> None:
    run = record(
        ROLE_ARN,
        "ec2.amazonaws.com",
        "RunInstances",
        requestParameters={
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890"}]},
            "subnetId": "subnet-0123456789abcdef0",
        },
        responseElements={"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}},
    )
    found = by_action(
        render_analysis(analysis_of(logs, [run]), RenderOptions(resources="observed"))
    )
    assert sorted(found["ec2:RunInstances"]) == [
        "arn:aws:ec2:${Region}:${Account}:instance/${InstanceId}",
        "arn:aws:ec2:${Region}:${Account}:network-interface/${NetworkInterfaceId}",
        "arn:aws:ec2:${Region}:${Account}:security-group/${SecurityGroupId}",
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-0123456789abcdef0",
        "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890",
    ]


def test_calls_without_resources_keep_the_placeholder_next_to_the_observed_arns(
    logs: Path,
) -> None:
    named = record(
        ROLE_ARN, "dynamodb.amazonaws.com", "GetItem", requestParameters={"tableName": "t"}
    )
    hidden = record(ROLE_ARN, "dynamodb.amazonaws.com", "GetItem", requestParameters=None)
    found = by_action(
        render_analysis(analysis_of(logs, [named, hidden]), RenderOptions(resources="observed"))
    )
    assert sorted(found["dynamodb:GetItem"]) == [
        "arn:aws:dynamodb:${Region}:${Account}:table/${TableName}",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t",
    ]


def test_observed_without_any_fact_is_exactly_placeholders(logs: Path) -> None:
    calls = [
        record(ROLE_ARN, "kms.amazonaws.com", "ListAliases"),
        record(ROLE_ARN, "iam.amazonaws.com", "GetRole"),
    ]
    analysis = analysis_of(logs, calls)
    observed = render_analysis(analysis, RenderOptions(resources="observed"))
    assert observed == render_analysis(analysis, RenderOptions(resources="placeholders"))


def example_logs(logs: Path) -> Path:
    calls = [
        record(ROLE_ARN, source, name)
        for source, names in AWS_EXAMPLE_CALLS.items()
        for name in names.split()
    ]
    write_log(logs, calls)
    return logs


@pytest.mark.parametrize("options", [RenderOptions(), RenderOptions.policygen()])
def test_aws_example_is_byte_identical_in_strict_and_default_modes(
    logs: Path, options: RenderOptions
) -> None:
    result = generate_policy(ROLE_ARN, example_logs(logs), **WINDOW)
    assert result.policies(options) == [AWS_EXAMPLE_POLICY]


def test_strict_mode_never_writes_pass_role_or_conditions(logs: Path) -> None:
    analysis = analysis_of(logs, [create_function("etl", f"arn:aws:iam::{ACCOUNT}:role/etl")])
    for resources in ("star", "placeholders"):
        text = "".join(render_analysis(analysis, RenderOptions(resources=resources)))
        assert "iam:PassRole" not in text
        assert "Condition" not in text
    assert RenderOptions().aws_compatible
    assert not RenderOptions.policygen().aws_compatible


def test_pass_role_one_statement_per_service_with_its_condition(logs: Path) -> None:
    task = record(
        ROLE_ARN,
        "ecs.amazonaws.com",
        "RegisterTaskDefinition",
        requestParameters={
            "family": "web",
            "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task",
            "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/exec",
        },
    )
    calls = [
        create_function("a", f"arn:aws:iam::{ACCOUNT}:role/fn-b"),
        create_function("b", f"arn:aws:iam::{ACCOUNT}:role/fn-a"),
        task,
    ]
    found = statements(render_analysis(analysis_of(logs, calls), RenderOptions.policygen()))
    pass_role = [s for s in found if s["Action"] == "iam:PassRole"]
    assert pass_role == [
        {
            "Sid": "PassRoleSid0",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [
                f"arn:aws:iam::{ACCOUNT}:role/exec",
                f"arn:aws:iam::{ACCOUNT}:role/web-task",
            ],
            "Condition": {"StringEquals": {PASSED: "ecs-tasks.amazonaws.com"}},
        },
        {
            "Sid": "PassRoleSid1",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [f"arn:aws:iam::{ACCOUNT}:role/fn-a", f"arn:aws:iam::{ACCOUNT}:role/fn-b"],
            "Condition": {"StringEquals": {PASSED: "lambda.amazonaws.com"}},
        },
    ]
    assert found[0]["Sid"] == "SupportedServiceSid0"


def test_instance_profile_becomes_a_role_placeholder_in_its_account(logs: Path) -> None:
    run = record(
        ROLE_ARN,
        "ec2.amazonaws.com",
        "RunInstances",
        requestParameters={"iamInstanceProfile": {"name": "web"}},
    )
    found = statements(render_analysis(analysis_of(logs, [run]), RenderOptions.policygen()))
    [pass_role] = [s for s in found if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/${{RoleNameWithPath}}"
    assert pass_role["Condition"] == {"StringEquals": {PASSED: "ec2.amazonaws.com"}}


def test_denied_exclusion_drops_the_roles_passed_by_denied_calls(logs: Path) -> None:
    write_log(
        logs,
        [create_function("a", f"arn:aws:iam::{ACCOUNT}:role/r") | {"errorCode": "AccessDenied"}],
    )
    result = generate_policy(ROLE_ARN, logs, denied="exclude", **WINDOW)
    assert result.analysis.passed_roles == {}


def test_dependent_actions_only_with_the_option_and_never_pass_role(logs: Path) -> None:
    analysis = analysis_of(logs, [create_function("etl", f"arn:aws:iam::{ACCOUNT}:role/etl")])
    without = statements(render_analysis(analysis, RenderOptions.policygen()))
    assert not [s for s in without if s["Sid"].startswith("DependentActionSid")]
    found = statements(render_analysis(analysis, RenderOptions.policygen(dependent_actions=True)))
    dependent = [s for s in found if s["Sid"].startswith("DependentActionSid")]
    assert [s["Action"] for s in dependent] == ["lambda:PassCapacityProvider"]
    assert [s["Sid"] for s in found if s["Action"] == "iam:PassRole"] == ["PassRoleSid0"]


def test_split_holds_with_long_resource_lists(logs: Path) -> None:
    key = "k" * 900
    calls = [s3_object_call("GetObject", f"bucket-{i:02d}", key) for i in range(15)]
    calls += [s3_object_call("PutObject", f"bucket-{i:02d}", key) for i in range(15)]
    calls += [
        create_function(f"f{i}", f"arn:aws:iam::{ACCOUNT}:role/{'r' * 60}{i:02d}")
        for i in range(60)
    ]
    analysis = analysis_of(logs, calls)
    options = RenderOptions.policygen(resources="observed", max_arns=100)
    policies = render_analysis(analysis, options)
    # By hand (compact JSON): an object ARN is 923 characters, 926 quoted with its comma;
    # a statement of one s3 action and k of them is 85 + 926k - 1 characters (Sid of 20),
    # and only k = 6 fits in 6,144 with the 39 of the document around it: so each action
    # gets pieces of 6, 6 and 3 objects (39 + 84 + 926k = 5679, 2901). The first policy
    # also holds the CreateFunction statement (123 and a comma): 5679 + 124 = 5803. The
    # PassRole statement (60 role ARNs of 93, the condition) is 5912: 5951 alone.
    assert [len(text) for text in policies] == [5803, 5679, 2901, 5679, 5679, 2901, 5951]
    assert [[s["Sid"] for s in json.loads(text)["Statement"]] for text in policies] == [
        ["SupportedServiceSid0", "SupportedServiceSid1"],
        ["SupportedServiceSid2"],
        ["SupportedServiceSid3"],
        ["SupportedServiceSid4"],
        ["SupportedServiceSid5"],
        ["SupportedServiceSid6"],
        ["PassRoleSid0"],
    ]
    pieces = [
        (s["Action"], s["Resource"][0][13:22], s["Resource"][-1][13:22], len(s["Resource"]))
        for s in statements(policies)[1:-1]
    ]
    assert pieces == [
        ("s3:GetObject", "bucket-00", "bucket-05", 6),
        ("s3:GetObject", "bucket-06", "bucket-11", 6),
        ("s3:GetObject", "bucket-12", "bucket-14", 3),
        ("s3:PutObject", "bucket-00", "bucket-05", 6),
        ("s3:PutObject", "bucket-06", "bucket-11", 6),
        ("s3:PutObject", "bucket-12", "bucket-14", 3),
    ]
    for text in policies:
        assert len(re.sub(r"\s", "", text)) <= MAX_POLICY_CHARS
    whole = statements(render_analysis(analysis, options, limit=10**9))

    def grants(found: list[dict]) -> set[tuple[str, str]]:
        return {
            (action, resource)
            for s in found
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        }

    assert grants(statements(policies)) == grants(whole)
    sids = [s["Sid"] for s in statements(policies)]
    supported = [sid for sid in sids if sid.startswith("SupportedServiceSid")]
    assert supported == [f"SupportedServiceSid{i}" for i in range(len(supported))]


def test_analysis_round_trip_renders_the_same(logs: Path) -> None:
    calls = [
        s3_object_call("GetObject", "data", "a"),
        create_function("etl", f"arn:aws:iam::{ACCOUNT}:role/etl"),
        record(
            ROLE_ARN,
            "ec2.amazonaws.com",
            "RunInstances",
            requestParameters={"iamInstanceProfile": {"name": "p"}},
        ),
    ]
    analysis = analysis_of(logs, calls)
    stored = Analysis.from_dict(json.loads(json.dumps(analysis.to_dict())))
    assert stored == analysis
    options = RenderOptions.policygen(resources="observed", dependent_actions=True)
    assert render_analysis(stored, options) == render_analysis(analysis, options)


def test_render_entry_point_defaults_are_aws_exact(logs: Path) -> None:
    result = generate_policy(ROLE_ARN, example_logs(logs), **WINDOW)
    assert render_policy_documents(result.analysis, result.principal) == [AWS_EXAMPLE_POLICY]
    with pytest.raises(ValueError, match="resources"):
        render_policy_documents(result.analysis, result.principal, resources="everything")  # type: ignore[arg-type]


def test_pass_role_roles_are_capped_like_arns(logs: Path) -> None:
    calls = [create_function(f"f{i}", f"arn:aws:iam::{ACCOUNT}:role/fn-{i}") for i in range(3)]
    analysis = analysis_of(logs, calls)
    found = statements(render_analysis(analysis, RenderOptions.policygen(max_arns=2)))
    [pass_role] = [s for s in found if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/fn-*"
