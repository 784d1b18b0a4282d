"""ARNs of the principals and trails policygen works with."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The model's patterns (botocore accessanalyzer 2019-11-01), anchored.
PRINCIPAL_ARN_RE = re.compile(r"arn:[^:]*:iam::[^:]*:(role|user)/.{1,576}", re.DOTALL)
ROLE_ARN_RE = re.compile(r"arn:[^:]*:iam::[^:]*:role/.{1,576}", re.DOTALL)
TRAIL_ARN_RE = re.compile(r"arn:[^:]*:cloudtrail:[^:]*:[^:]*:trail/.{1,576}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM user or role that a policy is generated for."""

    arn: str
    partition: str
    account: str
    kind: str  # "user" or "role"
    name: str  # the last path segment

    @classmethod
    def parse(cls, arn: str) -> Principal:
        """Parse a principal ARN; ValueError explains what is wrong with it."""
        if not PRINCIPAL_ARN_RE.fullmatch(arn):
            raise ValueError(
                f"not an IAM user or role ARN: {arn!r} "
                "(expected arn:<partition>:iam::<account>:user/<name> or .../role/<name>)"
            )
        _, partition, _, _, account, resource = arn.split(":", 5)
        kind, _, path_name = resource.partition("/")
        return cls(arn, partition or "aws", account, kind, path_name.rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class TrailArn:
    """A CloudTrail trail ARN: `arn:aws:cloudtrail:<region>:<account>:trail/<name>`."""

    arn: str
    partition: str
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> TrailArn:
        """Parse a trail ARN; ValueError explains what is wrong with it."""
        if not TRAIL_ARN_RE.fullmatch(arn):
            raise ValueError(
                f"not a CloudTrail trail ARN: {arn!r} "
                "(expected arn:<partition>:cloudtrail:<region>:<account>:trail/<name>)"
            )
        _, partition, _, region, account, resource = arn.split(":", 5)
        return cls(arn, partition, region, account, resource.partition("/")[2])
