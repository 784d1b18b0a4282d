"""IAM Identity Center permission sets: the roles one provisions in every account of an
organization trail give one policy for its inline policy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from clihelp import policygen
from formatcheck import cloudformation_template, lint, terraform_documents
from logfactory import ACCOUNT, OTHER_ACCOUNT, record, write_log

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]
SSO = "role/aws-reserved/sso.amazonaws.com"
DATA_ENG = f"arn:aws:iam::{ACCOUNT}:{SSO}/AWSReservedSSO_DataEng_0123456789abcdef"
DATA_ENG_OTHER = (
    f"arn:aws:iam::{OTHER_ACCOUNT}:{SSO}/eu-west-1/AWSReservedSSO_DataEng_fedcba9876543210"
)
ADMIN = f"arn:aws:iam::{ACCOUNT}:{SSO}/AWSReservedSSO_Admin_aaaaaaaaaaaaaaaa"
PLAIN = f"arn:aws:iam::{ACCOUNT}:role/app/deployer"
ORDERS = {"requestParameters": {"tableName": "orders"}}
ORG = "o-abc123def4"


@pytest.fixture
def org_trail(logs: Path) -> Path:
    """Two accounts' folders of one organization trail."""
    write_log(
        logs,
        [
            record(DATA_ENG, "s3.amazonaws.com", "GetObject"),
            record(DATA_ENG, "dynamodb.amazonaws.com", "GetItem", **ORDERS),
            record(ADMIN, "iam.amazonaws.com", "ListRoles"),
            record(PLAIN, "ec2.amazonaws.com", "RunInstances"),
        ],
        org=ORG,
    )
    other = [
        record(DATA_ENG_OTHER, "dynamodb.amazonaws.com", "GetItem", **ORDERS),
        record(DATA_ENG_OTHER, "glue.amazonaws.com", "GetTable"),
        record(DATA_ENG_OTHER, "glue.amazonaws.com", "GetTable"),
    ]
    write_log(logs, other, org=ORG, account=OTHER_ACCOUNT)
    return logs


def permission_set(trail: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return policygen(
        "generate", "--permission-set", "DataEng", "--logs", str(trail), *WINDOW, *args
    )


def test_one_policy_for_the_roles_of_every_account(org_trail: Path) -> None:
    done = permission_set(org_trail, "--format", "api")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["permissionSet"] == "DataEng"
    assert result["roles"] == [DATA_ENG, DATA_ENG_OTHER]
    [policy] = [json.loads(p["policy"]) for p in result["generatedPolicies"]]
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SupportedServiceSid0",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "glue:GetTable", "s3:GetObject"],
                "Resource": "*",
            }
        ],
    }
    assert result["accounts"] == {
        ACCOUNT: {"dynamodb:GetItem": 1, "s3:GetObject": 1},
        OTHER_ACCOUNT: {"dynamodb:GetItem": 1, "glue:GetTable": 2},
    }
    assert f"account {OTHER_ACCOUNT}: 2 actions, 3 calls" in done.stderr


def test_account_ids_become_the_principal_account_variable(org_trail: Path) -> None:
    done = permission_set(org_trail, "--resources", "observed", "--format", "policy")
    assert done.returncode == 0, done.stderr
    policy = json.loads(done.stdout)
    resources = {
        action: statement["Resource"]
        for statement in policy["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    table = "arn:aws:dynamodb:us-east-1:${aws:PrincipalAccount}:table/orders"
    assert resources["dynamodb:GetItem"] == table
    assert ACCOUNT not in done.stdout and OTHER_ACCOUNT not in done.stdout
    assert lint(policy) == []


def test_permission_set_as_terraform_and_cloudformation(org_trail: Path, tmp_path: Path) -> None:
    policy = json.loads(permission_set(org_trail, "--format", "policy").stdout)
    assert lint(policy) == []
    text = permission_set(org_trail, "--format", "terraform").stdout
    [(kind, document)] = terraform_documents(text, tmp_path / "tf")
    assert kind == "aws_ssoadmin_permission_set_inline_policy"
    assert document in ({}, policy)
    template = cloudformation_template(
        permission_set(org_trail, "--format", "cloudformation").stdout, tmp_path / "t.yaml"
    )
    [resource] = template["Resources"].values()
    assert resource["Type"] == "AWS::SSO::PermissionSet"
    assert resource["Properties"]["Name"] == "DataEng"
    assert resource["Properties"]["InlinePolicy"] == policy


def test_all_principals_writes_one_file_per_permission_set(org_trail: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = policygen(
        "generate", "--all-principals", "--out", str(out), "--logs", str(org_trail), *WINDOW
    )
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert sorted(p["principalArn"] for p in index["principals"]) == sorted(
        [DATA_ENG, DATA_ENG_OTHER, ADMIN, PLAIN]
    )
    sets: dict[str, Any] = {s["permissionSet"]: s for s in index["permissionSets"]}
    assert sorted(sets) == ["Admin", "DataEng"]
    assert sets["DataEng"]["roles"] == [DATA_ENG, DATA_ENG_OTHER]
    written = json.loads((out / sets["DataEng"]["file"]).read_text())
    direct = json.loads(permission_set(org_trail, "--format", "api").stdout)
    assert written == direct


def test_unknown_permission_set_is_one_line(org_trail: Path) -> None:
    done = policygen("generate", "--permission-set", "Nobody", "--logs", str(org_trail), *WINDOW)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "policygen: error: no role of permission set Nobody in the logs' window"
    )
