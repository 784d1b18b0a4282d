"""Calls AWS documents under other actions (issue 17), through `policygen generate`.

Every expected action below is written from AWS's documentation (the Service Authorization
Reference's "API operations defined by ..." tables and the service guides cited in
src/policygen/data/operations.json), not read from the code. Each scenario is one log and
one `policygen generate` run; what each call mapped to is read back from the result's
`policygen.explain` section, which also names the rule or entry for each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from logfactory import ROLE_ARN, record, write_log

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]

Call = tuple[str, str, dict[str, Any] | None, set[str]]

MODIFY = {"budgets:ModifyBudget"}
VIEW = {"budgets:ViewBudget"}

#: The issue's table: (eventSource host, eventName, requestParameters, AWS's actions).
ISSUE_TABLE: list[Call] = [
    *[
        ("budgets", f"{verb}{what}", None, MODIFY)
        for verb in ("Create", "Update", "Delete")
        for what in ("Budget", "Notification", "Subscriber")
    ],
    ("budgets", "DescribeBudget", None, VIEW),
    ("budgets", "DescribeBudgets", None, VIEW),
    ("budgets", "DescribeBudgetPerformanceHistory", None, VIEW),
    ("budgets", "DescribeNotificationsForBudget", None, VIEW),
    ("budgets", "DescribeSubscribersForNotification", None, VIEW),
    ("sqs", "SendMessageBatch", None, {"sqs:SendMessage"}),
    ("sqs", "DeleteMessageBatch", None, {"sqs:DeleteMessage"}),
    ("sqs", "ChangeMessageVisibilityBatch", None, {"sqs:ChangeMessageVisibility"}),
    ("dynamodb", "TransactGetItems", None, {"dynamodb:GetItem"}),
    (
        "dynamodb",
        "TransactWriteItems",
        {
            "transactItems": [
                {"put": {"tableName": "orders", "item": "HIDDEN"}},
                {"update": {"tableName": "stock", "key": "HIDDEN"}},
                {"delete": {"tableName": "carts", "key": "HIDDEN"}},
                {"conditionCheck": {"tableName": "users", "key": "HIDDEN"}},
            ]
        },
        {
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        },
    ),
    ("lambda", "GetLayerVersionByArn", None, {"lambda:GetLayerVersion"}),
    (
        "cloudfront",
        "CreateDistributionWithTags",
        None,
        {"cloudfront:CreateDistribution", "cloudfront:TagResource"},
    ),
]

#: The second sample of the issue: what a request shows decides the extra actions.
WITH_FACTS: list[Call] = [
    (
        "secretsmanager",
        "BatchGetSecretValue",
        {"secretIdList": ["app/db", "app/api"]},
        {"secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue"},
    ),
    (
        "lambda",
        "CreateFunction20150331",
        {"functionName": "f", "tags": {"team": "a"}},
        {"lambda:CreateFunction", "lambda:TagResource"},
    ),
    (
        "ecs",
        "CreateCluster",
        {"clusterName": "c", "tags": [{"key": "team", "value": "a"}]},
        {"ecs:CreateCluster", "ecs:TagResource"},
    ),
    (
        "kms",
        "CreateKey",
        {"keySpec": "SYMMETRIC_DEFAULT", "tags": [{"tagKey": "team", "tagValue": "a"}]},
        {"kms:CreateKey", "kms:TagResource"},
    ),
    (
        "secretsmanager",
        "CreateSecret",
        {"name": "s", "tags": [{"key": "team", "value": "a"}]},
        {"secretsmanager:CreateSecret", "secretsmanager:TagResource"},
    ),
    (
        "ec2",
        "CreateVolume",
        {
            "size": "1",
            "tagSpecificationSet": {
                "items": [{"resourceType": "volume", "tags": [{"key": "Name", "value": "v"}]}]
            },
        },
        {"ec2:CreateVolume", "ec2:CreateTags"},
    ),
    (
        "iam",
        "CreateRole",
        {"roleName": "r", "tags": [{"key": "team", "value": "a"}]},
        {"iam:CreateRole", "iam:TagRole"},
    ),
    (
        "sts",
        "AssumeRole",
        {
            "roleArn": "arn:aws:iam::111122223333:role/target",
            "roleSessionName": "s",
            "tags": [{"key": "project", "value": "p"}],
            "sourceIdentity": "alice",
        },
        {"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"},
    ),
    (
        "s3",
        "CopyObject",
        {
            "bucketName": "dst",
            "key": "k",
            "x-amz-copy-source": "src/k",
            "x-amz-acl": "bucket-owner-full-control",
            "x-amz-tagging": "a=b",
            "x-amz-tagging-directive": "REPLACE",
            "x-amz-object-lock-mode": "GOVERNANCE",
            "x-amz-object-lock-retain-until-date": "2027-01-01T00:00:00Z",
        },
        {
            "s3:GetObject",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutObjectTagging",
            "s3:PutObjectRetention",
        },
    ),
    (
        "apigateway",
        "TagResource",
        {"resourceArn": "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod"},
        {"apigateway:PUT"},  # v1: PUT /tags/{resource_arn}
    ),
]

#: The same calls when the request does not show the condition: no extra action.
WITHOUT_FACTS: list[Call] = [
    (
        "secretsmanager",
        "BatchGetSecretValue",
        {"filters": [{"key": "tag-key", "values": ["app"]}]},
        {
            "secretsmanager:BatchGetSecretValue",
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecrets",  # selecting by filters lists secrets
        },
    ),
    ("lambda", "CreateFunction", {"functionName": "f"}, {"lambda:CreateFunction"}),
    ("ecs", "CreateCluster", {"clusterName": "c", "tags": []}, {"ecs:CreateCluster"}),
    ("kms", "CreateKey", None, {"kms:CreateKey"}),
    (
        "ec2",
        "CreateVolume",
        {"size": "1", "tagSpecificationSet": {"items": [{"resourceType": "volume", "tags": []}]}},
        {"ec2:CreateVolume"},
    ),
    ("iam", "CreateRole", {"roleName": "r"}, {"iam:CreateRole"}),
    (
        "sts",
        "AssumeRole",
        {"roleArn": "arn:aws:iam::111122223333:role/target", "roleSessionName": "s"},
        {"sts:AssumeRole"},
    ),
    (
        "s3",
        "CopyObject",
        {"bucketName": "dst", "key": "k", "x-amz-copy-source": "src/k"},
        {"s3:GetObject", "s3:PutObject"},
    ),
    (
        "apigateway",
        "TagResource",
        {"resource-arn": "arn:aws:apigateway:us-east-1::/apis/xyz789"},
        {"apigateway:POST"},  # v2: POST /v2/tags/{resource-arn}
    ),
    (
        "dynamodb",
        "TransactWriteItems",
        {"transactItems": [{"put": {"tableName": "orders"}}]},
        {"dynamodb:PutItem"},
    ),
]

#: Nothing in the log tells: the actions every variant may need.
UNKNOWN_FACTS: list[Call] = [
    ("apigateway", "TagResource", None, {"apigateway:POST", "apigateway:PUT"}),
    (
        "dynamodb",
        "TransactWriteItems",
        None,
        {
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        },
    ),
    (
        "cloudfront",
        "CreateDistributionWithTags2020_05_31",
        None,
        {"cloudfront:CreateDistribution", "cloudfront:TagResource"},
    ),
]


def generate(logs: Path, calls: list[Call]) -> dict[str, Any]:
    """One log holding `calls`, and `policygen generate`'s JSON result for it."""
    records = [
        record(ROLE_ARN, f"{host}.amazonaws.com", name, requestParameters=params)
        for host, name, params, _ in calls
    ]
    write_log(logs, records)
    return json.loads(policygen("generate", logs))


def policygen(command: str, logs: Path) -> str:
    """`policygen <command>` for the role over `logs` in the window; its stdout."""
    args = [command, "--principal", ROLE_ARN, "--logs", str(logs), *WINDOW]
    done = subprocess.run(
        [sys.executable, "-m", "policygen", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def actions_by_event(result: dict[str, Any]) -> dict[str, set[str]]:
    """eventSource:eventName -> the actions the explain section lists it under."""
    found: dict[str, set[str]] = {}
    for action, entry in result["policygen"]["explain"].items():
        if " -> " not in action:  # inferred PassRole entries are keyed `iam:PassRole -> svc`
            for event in entry["events"]:
                found.setdefault(event, set()).add(action)
    return found


@pytest.mark.parametrize(
    "calls",
    [ISSUE_TABLE, WITH_FACTS, WITHOUT_FACTS, UNKNOWN_FACTS],
    ids=["issue-table", "with-facts", "without-facts", "unknown-facts"],
)
def test_documented_actions(logs: Path, calls: list[Call]) -> None:
    result = generate(logs, calls)
    assert result["properties"]["isComplete"] is True
    assert result["policygen"]["unmapped"] == []
    expected = {f"{host}.amazonaws.com:{name}": actions for host, name, _, actions in calls}
    assert actions_by_event(result) == expected
    policy_actions = set()
    for policy in result["generatedPolicies"]:
        for statement in json.loads(policy["policy"])["Statement"]:
            action = statement["Action"]
            policy_actions.update([action] if isinstance(action, str) else action)
    assert policy_actions == set().union(*expected.values())


def test_explain_names_the_rule_or_entry(logs: Path) -> None:
    result = generate(logs, ISSUE_TABLE + WITH_FACTS[-4:-1])
    explain = result["policygen"]["explain"]
    budgets = explain["budgets:ModifyBudget"]["mappedBy"]["budgets.amazonaws.com:CreateBudget"]
    assert budgets.startswith("operation table entry: ")
    assert "service-authorization/latest/reference/list_budgets.html" in budgets
    batch = explain["sqs:SendMessage"]["mappedBy"]["sqs.amazonaws.com:SendMessageBatch"]
    assert batch.startswith("family *Batch -> the single-message action: https://")
    by_arn = explain["lambda:GetLayerVersion"]["mappedBy"]
    assert by_arn["lambda.amazonaws.com:GetLayerVersionByArn"].startswith("family *ByArn")
    tag = explain["cloudfront:TagResource"]["mappedBy"]
    assert tag["cloudfront.amazonaws.com:CreateDistributionWithTags"].startswith("family *WithTags")
    session = explain["sts:TagSession"]["mappedBy"]["sts.amazonaws.com:AssumeRole"]
    assert session.startswith("request shows sessiontags: https://docs.aws.amazon.com/IAM/")
    role_tag = explain["iam:TagRole"]["mappedBy"]["iam.amazonaws.com:CreateRole"]
    assert role_tag.startswith("request sends tags on create: https://")
    same = explain["sts:AssumeRole"]["mappedBy"]["sts.amazonaws.com:AssumeRole"]
    assert same == "the action named like the call"


def test_explain_table_lists_the_rules(logs: Path) -> None:
    write_log(
        logs,
        [
            record(ROLE_ARN, "budgets.amazonaws.com", "DescribeBudgets"),
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs"),
        ],
    )
    lines = policygen("explain", logs).splitlines()
    rules = lines[lines.index("mapped by:") + 1 :]
    assert rules == [
        "  budgets:ViewBudget <- budgets.amazonaws.com:DescribeBudgets: operation table entry: "
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_budgets.html"
    ]
