"""A right-sizing scenario: IAM principals in moto, and the calls they made in the logs.

The role holds a managed policy shaped like AWS's broad ones (`s3:*`, `ec2:Describe*`,
with a guardrail Deny), an inline policy limited by Resource and Condition, and a
permissions boundary; the user holds an inline policy and, through its group, another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logfactory import ACCOUNT, record, write_log
from motoserver import TRUST_ANYONE, MotoServer

ROLE = "rightsize-worker"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app/{ROLE}"
USER = "rightsize-bob"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/dev/{USER}"
GROUP = "rightsize-developers"
BROAD = "rightsize-S3AndDescribe"
BROAD_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{BROAD}"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/rightsize-boundary"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
SECURE = {"Bool": {"aws:SecureTransport": "true"}}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


BROAD_POLICY = document(
    {"Sid": "Storage", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Sid": "Look", "Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
    {"Sid": "Guard", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
)
QUEUE_POLICY = document(
    {
        "Sid": "Queue",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"],
        "Resource": QUEUE_ARN,
        "Condition": SECURE,
    },
    {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
)
BOUNDARY_POLICY = document(
    {"Effect": "Allow", "Action": ["s3:*", "ec2:*", "sqs:*", "kms:*"], "Resource": "*"}
)
WHOAMI_POLICY = document(
    {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}
)
TEAM_POLICY = document(
    {
        "Sid": "Orders",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
        "Resource": TABLE_ARN,
    },
    {"Sid": "Logs", "Effect": "Allow", "Action": "logs:*", "Resource": "*"},
)


def create_principals(moto: MotoServer) -> None:
    """The role, the user and their policies in moto's IAM (once per moto)."""
    iam = moto.client("iam")
    if any(r["RoleName"] == ROLE for r in iam.list_roles()["Roles"]):
        return
    for name, policy in (
        (BROAD, BROAD_POLICY),
        ("rightsize-boundary", BOUNDARY_POLICY),
    ):
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(policy))
    iam.create_role(
        RoleName=ROLE,
        Path="/app/",
        AssumeRolePolicyDocument=TRUST_ANYONE,
        PermissionsBoundary=BOUNDARY_ARN,
    )
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=BROAD_ARN)
    iam.put_role_policy(RoleName=ROLE, PolicyName="queue", PolicyDocument=json.dumps(QUEUE_POLICY))
    iam.create_group(GroupName=GROUP)
    iam.put_group_policy(GroupName=GROUP, PolicyName="team", PolicyDocument=json.dumps(TEAM_POLICY))
    iam.create_user(UserName=USER, Path="/dev/")
    iam.add_user_to_group(GroupName=GROUP, UserName=USER)
    iam.put_user_policy(
        UserName=USER, PolicyName="whoami", PolicyDocument=json.dumps(WHOAMI_POLICY)
    )


def write_calls(root: Path) -> None:
    """The window's calls, in CloudTrail's S3 layout."""
    role = [
        record(ROLE_ARN, "s3.amazonaws.com", "GetObject", eventCategory="Data"),
        record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets"),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeInstances"),
        record(ROLE_ARN, "sqs.amazonaws.com", "SendMessage"),
        record(ROLE_ARN, "kms.amazonaws.com", "Decrypt"),
    ]
    user = [
        record(USER_ARN, "dynamodb.amazonaws.com", "GetItem"),
        record(USER_ARN, "sts.amazonaws.com", "GetCallerIdentity"),
    ]
    write_log(root, role)
    write_log(root, user, suffix="UsErCaLlS1234567")
