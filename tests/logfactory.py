"""Hand-written CloudTrail records, written where CloudTrail would deliver them."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app/deployer"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/dev/alice"

_ids = itertools.count(1)


def user_identity(arn: str, **extra: Any) -> dict[str, Any]:
    """`userIdentity` for an IAM user ARN or, for a role ARN, one of its sessions."""
    account = arn.split(":")[4]
    if ":user/" in arn:
        return {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": arn,
            "accountId": account,
            "userName": arn.rsplit("/", 1)[-1],
            **extra,
        }
    name = arn.rsplit("/", 1)[-1]
    return {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:session",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/session",
        "accountId": account,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": arn,
                "accountId": account,
                "userName": name,
            },
            "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-01-05T00:00:00Z"},
        },
        **extra,
    }


def record(
    principal: str | dict[str, Any],
    source: str,
    name: str,
    when: str = "2026-01-05T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A realistic `AwsApiCall` management record; `extra` overrides any field."""
    identity = user_identity(principal) if isinstance(principal, str) else principal
    return {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"req-{next(_ids)}",
        "eventID": f"00000000-0000-4000-8000-{next(_ids):012d}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": identity.get("accountId", ACCOUNT),
        "eventCategory": "Management",
        **extra,
    }


def delivery_path(
    root: Path,
    *,
    account: str = ACCOUNT,
    region: str = "us-east-1",
    delivered: str = "20260105T1005Z",
    org: str | None = None,
    compress: bool = True,
    suffix: str = "AbCdEfGh12345678",
) -> Path:
    """Where CloudTrail would deliver a file (its folder is created)."""
    day = f"{delivered[:4]}/{delivered[4:6]}/{delivered[6:8]}"
    parts = ["AWSLogs", *([org] if org else []), account, "CloudTrail", region, day]
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{account}_CloudTrail_{region}_{delivered}_{suffix}.json"
    return folder / (f"{name}.gz" if compress else name)


def write_log(
    root: Path, records: list[dict[str, Any]], *, compress: bool = True, **where: Any
) -> Path:
    """Write one delivery file where CloudTrail would put it; returns its path.

    `where` are `delivery_path`'s keywords (account, region, delivered, org, suffix).
    """
    path = delivery_path(root, compress=compress, **where)
    body = json.dumps({"Records": records}).encode()
    path.write_bytes(gzip.compress(body, mtime=0) if compress else body)
    return path


def aws_policy(statements: list[dict[str, Any]]) -> str:
    """A policy document as GetGeneratedPolicy writes it: compact JSON, keys in AWS's order."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def _allow(sid: int, action: str, resource: str) -> dict[str, Any]:
    return {
        "Sid": f"SupportedServiceSid{sid}",
        "Effect": "Allow",
        "Action": action,
        "Resource": resource,
    }


#: `ec2:RunInstances` alone, written by hand from aws-policy-generation.md §6.2-6.3: one
#: action is a string; with placeholders it is listed under each required resource type,
#: statements sorted by Resource (image's empty account field sorts last).
RUN_INSTANCES_POLICY = aws_policy([_allow(0, "ec2:RunInstances", "*")])
RUN_INSTANCES_PLACEHOLDERS = aws_policy(
    [
        _allow(i, "ec2:RunInstances", resource)
        for i, resource in enumerate(
            [
                "arn:aws:ec2:${Region}:${Account}:instance/${InstanceId}",
                "arn:aws:ec2:${Region}:${Account}:network-interface/${NetworkInterfaceId}",
                "arn:aws:ec2:${Region}:${Account}:security-group/${SecurityGroupId}",
                "arn:aws:ec2:${Region}:${Account}:subnet/${SubnetId}",
                "arn:aws:ec2:${Region}::image/${ImageId}",
            ]
        )
    ]
)
