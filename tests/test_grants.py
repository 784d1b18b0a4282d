"""What identity policies grant, and how a policy is trimmed and split: expected values
written by hand from IAM's documented evaluation rules."""

from __future__ import annotations

import json
import re

import pytest

from policygen.iam.grants import Grants, PolicyError, expand, parse_policy
from policygen.policy.rightsize import size, split_document, trim_document


def grants_of(*statements: dict) -> Grants:
    grants = Grants()
    grants.add(parse_policy({"Version": "2012-10-17", "Statement": list(statements)}), "p")
    return grants


def test_wildcards_match_without_case_and_unknown_actions_are_reported() -> None:
    assert expand("s3:getobject") == {"s3:GetObject"}
    assert expand("sts:GetCaller?dentity") == {"sts:GetCallerIdentity"}
    assert expand("SQS:send*") == {"sqs:SendMessage"}
    assert {"ec2:DescribeInstances", "ec2:DescribeInstanceStatus"} <= expand(
        "EC2:describeinstance*"
    )
    assert expand("s3:NoSuchAction") == frozenset()
    grants = grants_of({"Effect": "Allow", "Action": ["s3:NoSuchAction"], "Resource": "*"})
    assert grants.unknown_patterns == {"s3:NoSuchAction"}


def test_not_action_grants_everything_else() -> None:
    grants = grants_of({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    effective = grants.effective()
    assert "s3:GetObject" in effective
    assert not any(a.startswith("iam:") for a in effective)


def test_only_an_unconditional_deny_on_every_resource_takes_actions_away() -> None:
    grants = grants_of(
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "sqs:PurgeQueue",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        },
        {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:*:*:prod-*"},
    )
    effective = grants.effective()
    assert "sqs:DeleteQueue" not in effective
    assert {"sqs:PurgeQueue", "sqs:SendMessage"} <= effective
    assert [c["statement"] for c in grants.caveats("sqs:PurgeQueue")] == [2]
    assert grants.caveats("sqs:SendMessage")[0]["resource"] == ["arn:aws:sqs:*:*:prod-*"]


@pytest.mark.parametrize(
    "statement, fragment",
    [
        ({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, "Effect must be Allow or Deny"),
        ({"Effect": "Allow", "Resource": "*"}, "exactly one of Action and NotAction"),
        ({"Effect": "Allow", "Action": "s3:*"}, "exactly one of Resource and NotResource"),
        ({"Effect": "Allow", "Action": [], "Resource": "*"}, "non-empty list"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}, "Principal"),
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": ["Bool"]},
            "Condition must be an object",
        ),
    ],
)
def test_policy_grammar_errors_name_the_statement(statement: dict, fragment: str) -> None:
    with pytest.raises(PolicyError, match="statement 0") as raised:
        parse_policy({"Version": "2012-10-17", "Statement": [statement]})
    assert fragment in str(raised.value)


def test_not_action_is_trimmed_to_an_action_list_keeping_its_scope() -> None:
    condition = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "NotAction": "iam:*",
            "Resource": "*",
            "Condition": condition,
        },
    }
    used = {"ec2:DescribeInstances", "iam:GetRole", "s3:GetObject"}
    assert trim_document(document, used) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstances", "s3:GetObject"],
                "Resource": "*",
                "Condition": condition,
            }
        ],
    }


def test_a_fully_used_pattern_stays_and_a_deny_only_policy_is_kept() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetCaller*", "Resource": "*"}],
    }
    assert trim_document(document, {"sts:GetCallerIdentity"}) == document
    assert trim_document(document, {"s3:GetObject"}) is None
    guardrail = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}],
    }
    assert trim_document(guardrail, set()) == guardrail


def test_a_trimmed_policy_over_the_managed_limit_is_split_keeping_every_action() -> None:
    actions = sorted(expand("ec2:*"))
    condition = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "All",
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*",
                "Condition": condition,
            }
        ],
    }
    assert size(document) > 6144
    parts = split_document(document)
    assert len(parts) > 1
    assert all(len(json.dumps(p, separators=(",", ":"))) <= 6144 for p in parts)
    statements = [s for p in parts for s in p["Statement"]]
    assert [a for s in statements for a in s["Action"]] == actions
    assert all(s["Condition"] == condition and s["Resource"] == "*" for s in statements)
    assert [s["Sid"] for s in statements] == [f"All{n}" for n in range(1, len(statements) + 1)]


@pytest.mark.parametrize(
    "document, message",
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes"),
        ('["Statement"]', "a policy document must be a JSON object"),
        ('{"Version": "2012-10-17", "Statement": "s3:*"}', "Statement must be an object or a list"),
        ({"Statement": [{"Effect": "Allow"}, "s3:*"]}, "Statement must be an object or a list"),
    ],
)
def test_documents_that_are_not_policies(document: str | dict, message: str) -> None:
    with pytest.raises(PolicyError, match=f"^{re.escape(message)}"):
        parse_policy(document)


def test_documents_as_iam_returns_them_url_encoded_or_as_text() -> None:
    """GetRolePolicy and GetPolicyVersion return the document URL-encoded; the AWS CLI's
    authorization details hold it parsed; a file may hold it as text."""
    encoded = (
        "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow"
        "%22%2C%22Action%22%3A%22sqs%3ASendMessage%22%2C%22Resource%22%3A%22%2A%22%7D%7D"
    )
    text = '  {"Statement": {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}}'
    for document in (encoded, text):
        [statement] = parse_policy(document)
        assert (statement.effect, statement.patterns, statement.resources) == (
            "Allow",
            ("sqs:SendMessage",),
            ("*",),
        )


def test_star_grants_every_catalogue_action() -> None:
    everything = expand("*")
    assert {"s3:GetObject", "sqs:SendMessage", "ec2:RunInstances"} <= everything
    assert everything == expand("*:*")
