"""An empty or thin result says why: what was read, left out and dropped, and who was there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policygen import generate_policy
from policygen.pipeline import generate_all_policies

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, user_identity, write_log
from serverprocess import TRAIL, ServerProcess, start

START, END = "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"
WINDOW = {"start": START, "end": END}
OTHER_ALICE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/dev/alice"
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Dev_1b74"


def run(logs: Path, principal: str, *extra: str) -> tuple[dict, list[str]]:
    """`policygen generate` as a user runs it: the result and the lines on stderr."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", "generate", "--principal", principal),
            *("--logs", str(logs), "--start", START, "--end", END, "--no-index", *extra),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.splitlines()


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """One account's trail: a role's two calls and a user's one, in two delivery files."""
    write_log(
        tmp_path,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs"),
            record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets"),
        ],
    )
    write_log(
        tmp_path, [record(USER_ARN, "sts.amazonaws.com", "GetCallerIdentity")], suffix="B" * 16
    )
    return tmp_path


def test_a_role_asked_for_in_the_wrong_account(trail: Path) -> None:
    asked = f"arn:aws:iam::{OTHER_ACCOUNT}:role/app/deployer"
    result, stderr = run(trail, asked)
    assert result["generatedPolicies"] == []
    assert stderr == [
        "files read: 0, skipped: 0; records read: 0, matched: 0, duplicates: 0; actions: 0",
        f"no records of {asked} matched:",
        "  files: 0 listed, 0 read, 0 unreadable; records decoded: 0",
        f"  left out by name: 1 folder of account {ACCOUNT}",
        "  looked at 2 of 2 files in the window, any account: 3 records of 2 other users and "
        f"roles (accounts: {ACCOUNT})",
        f"  seen {ROLE_ARN}: same name, in account {ACCOUNT}, not {OTHER_ACCOUNT} (2 records)",
        f"  did you mean {ROLE_ARN}?",
    ]
    why = result["policygen"]["whyEmpty"]
    assert why[0] == f"no records of {asked} matched:"
    assert result["policygen"]["leftOut"] == {f"folders of account {ACCOUNT}": 1}


def test_a_user_asked_for_as_a_role(trail: Path) -> None:
    asked = f"arn:aws:iam::{ACCOUNT}:role/dev/alice"
    _, stderr = run(trail, asked)
    assert stderr == [
        "files read: 2, skipped: 0; records read: 0, matched: 0, duplicates: 0; actions: 0",
        f"no records of {asked} matched:",
        "  files: 2 listed, 2 read, 0 unreadable; records decoded: 0",
        "  looked at 2 of 2 files in the window, any account: 3 records of 2 other users and "
        f"roles (accounts: {ACCOUNT})",
        f"  seen {USER_ARN}: same name, a user, not a role (1 record)",
        f"  did you mean {USER_ARN}?",
    ]


def test_a_session_name_given_as_the_role(tmp_path: Path) -> None:
    identity = user_identity(SSO_ROLE)
    identity["arn"] = (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Dev_1b74/alice@example.com"
    )
    write_log(tmp_path, [record(identity, "ec2.amazonaws.com", "DescribeVpcs")])
    asked = f"arn:aws:iam::{ACCOUNT}:role/alice@example.com"
    _, stderr = run(tmp_path, asked)
    assert stderr[-2:] == [
        f"  seen {SSO_ROLE}: alice@example.com is a session name of this role: ask for the "
        "role (1 record)",
        f"  did you mean {SSO_ROLE}?",
    ]


def test_a_thin_result_names_what_was_dropped(tmp_path: Path) -> None:
    write_log(
        tmp_path,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs"),
            record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-04T23:59:00Z"),
            record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-04T23:58:00Z"),
            record(ROLE_ARN, "iam.amazonaws.com", "ListRoles", awsRegion="eu-west-1"),
        ],
    )
    write_log(tmp_path, [], delivered="20251220T1005Z")
    write_log(tmp_path, [], region="eu-west-1")
    _, stderr = run(tmp_path, ROLE_ARN, "--region", "us-east-1")
    assert stderr[1:] == [
        f"only 1 record of {ROLE_ARN} matched:",
        "  files: 1 listed, 1 read, 0 unreadable; records decoded: 4",
        "  left out by name: 1 day folder outside the window, 1 region folder of other regions",
        "  of its records, dropped: 1 other region, 2 outside window",
    ]


def test_a_full_result_says_nothing_more(trail: Path) -> None:
    result, stderr = run(trail, ROLE_ARN)
    assert stderr == [
        "files read: 2, skipped: 0; records read: 2, matched: 2, duplicates: 0; actions: 2"
    ]
    assert "whyEmpty" not in result["policygen"]


def flat_folder(root: Path) -> Path:
    """Delivery files copied into one folder whose names carry another account than their
    records (as the invictus-ir dataset's do)."""
    for suffix, calls in (
        ("A" * 16, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")]),
        ("B" * 16, [record(USER_ARN, "sts.amazonaws.com", "GetCallerIdentity")]),
    ):
        name = f"{OTHER_ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_{suffix}.json"
        (root / name).write_text(json.dumps({"Records": calls}))
    return root


def test_a_flat_folder_named_for_another_account_is_read(tmp_path: Path) -> None:
    logs = flat_folder(tmp_path)
    assert list(generate_policy(ROLE_ARN, logs, **WINDOW).analysis.actions) == ["ec2:DescribeVpcs"]
    everyone = {
        r.principal.arn: list(r.analysis.actions) for r in generate_all_policies(logs, **WINDOW)
    }
    assert everyone == {ROLE_ARN: ["ec2:DescribeVpcs"], USER_ARN: ["sts:GetCallerIdentity"]}


def test_all_principals_keep_the_layout_rule_and_say_what_was_left_out(tmp_path: Path) -> None:
    """In the layout, a principal's calls come from its own account's folder only (a
    cross-account copy in another's folder is not counted twice), as for one principal."""
    write_log(tmp_path, [record(ROLE_ARN, "kms.amazonaws.com", "Decrypt")], account=OTHER_ACCOUNT)
    write_log(tmp_path, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    write_log(tmp_path, [], delivered="20251220T1005Z")
    (result,) = generate_all_policies(tmp_path, **WINDOW)
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs"]
    assert result.analysis.stats.ignored["another account's folder"] == 1
    assert dict(result.analysis.stats.pruned) == {"day folders outside the window": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose trail holds a user `alice` and, in another account's folder, a role
    `alice` that its callers must not learn of."""
    root = tmp_path_factory.mktemp("trail")
    write_log(root, [record(USER_ARN, "sts.amazonaws.com", "GetCallerIdentity")])
    write_log(root, [record(OTHER_ALICE, "s3.amazonaws.com", "ListBuckets")], account=OTHER_ACCOUNT)
    server = ServerProcess(tmp_path_factory.mktemp("data"), "--trail", f"{TRAIL}={root}")
    try:
        yield server
    finally:
        server.close()


def test_the_server_says_why_naming_nothing_of_other_accounts(server: ServerProcess) -> None:
    asked = f"arn:aws:iam::{ACCOUNT}:role/dev/alice"
    job_id = start(server.client(), asked)
    assert server.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"
    report = server.request("GET", f"/policy/generation/{job_id}").json()["policygen"]
    assert report["whyEmpty"] == [
        f"no records of {asked} matched:",
        "files: 1 listed, 1 read, 0 unreadable; records decoded: 0",
        "left out by name: 1 folder of other accounts",
        "looked at 2 of 2 files in the window, any account: 2 records of 2 other users and "
        f"roles (accounts: {ACCOUNT})",
        f"seen {USER_ARN}: same name, a user, not a role (1 record)",
        f"did you mean {USER_ARN}?",
    ]
    assert OTHER_ACCOUNT not in json.dumps(report)


def test_a_caller_arn_that_is_not_an_iam_arn_is_counted_not_fatal(tmp_path: Path) -> None:
    """Hand-edited test events (panther-analysis) give users `arn:aws:sts::...:user/...`."""
    odd = user_identity(USER_ARN) | {"arn": f"arn:aws:sts::{ACCOUNT}:user/Mary_Major"}
    calls = [
        record(odd, "s3.amazonaws.com", "ListBuckets"),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs"),
    ]
    (tmp_path / "events.json").write_text(json.dumps(calls))
    (result,) = generate_all_policies(tmp_path, **WINDOW)
    assert result.principal.arn == ROLE_ARN
    assert result.analysis.stats.ignored["calls by a caller whose ARN is not an IAM ARN"] == 1
