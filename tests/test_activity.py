"""What the console's suggestions and activity chart read from the usage index
(`index.activity`): principals by calls, calls per hour; nothing when there is no index,
or it is not one, or it does not hold the trail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from policygen.index import UsageIndex
from policygen.index.activity import HourCount, SeenPrincipal, hourly_calls, principals_seen

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, user_identity, write_log

OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/ops"
WINDOW = (datetime(2026, 1, 5, 10, 15, tzinfo=UTC), datetime(2026, 1, 5, 11, 5, tzinfo=UTC))


@pytest.fixture
def indexed(logs: Path, tmp_path: Path) -> tuple[Path, str]:
    """An index of one trail: the role's calls in two regions, alice's, another account's
    role's, and a user identity whose ARN names no user (a hostile log: indexed as is)."""
    nameless = {**user_identity(USER_ARN), "arn": f"arn:aws:iam::{ACCOUNT}:user/"}
    write_log(
        logs,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances", "2026-01-05T10:00:00Z"),
            record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances", "2026-01-05T10:30:00Z"),
            record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:59:00Z"),
            record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T12:00:00Z"),
            record(USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:00:00Z"),
            record(nameless, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:00:00Z"),
            record(nameless, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:01:00Z"),
        ],
    )
    write_log(
        logs,
        [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", awsRegion="eu-west-1")],
        region="eu-west-1",
    )
    write_log(
        logs, [record(OTHER_ROLE, "sts.amazonaws.com", "GetCallerIdentity")], account=OTHER_ACCOUNT
    )
    path = tmp_path / "index.sqlite"
    with UsageIndex(path) as index:
        index.ingest(logs, workers=1)
    return path, str(logs.resolve())


def test_principals_by_calls(indexed: tuple[Path, str]) -> None:
    path, root = indexed
    assert principals_seen(path, [root], None) == [
        SeenPrincipal(ROLE_ARN, 5),
        SeenPrincipal(USER_ARN, 1),
        SeenPrincipal(OTHER_ROLE, 1),
    ]  # the nameless user's 2 calls are left out
    assert principals_seen(path, [root], OTHER_ACCOUNT) == [SeenPrincipal(OTHER_ROLE, 1)]


def test_calls_per_hour_of_the_windows_hours(indexed: tuple[Path, str]) -> None:
    path, root = indexed
    # Whole hours: 10:00 and 10:30 count for a window from 10:15; 12:00 is outside.
    assert hourly_calls(path, [root], ROLE_ARN, WINDOW) == [
        HourCount("2026-01-05T10", "ec2.amazonaws.com", 3),
        HourCount("2026-01-05T11", "s3.amazonaws.com", 1),
    ]
    in_europe = hourly_calls(path, [root], ROLE_ARN, WINDOW, frozenset({"eu-west-1"}))
    assert in_europe == [HourCount("2026-01-05T10", "ec2.amazonaws.com", 1)]
    assert hourly_calls(path, [root], ROLE_ARN, WINDOW, frozenset()) == []


def test_a_trail_the_index_does_not_hold(indexed: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = indexed
    elsewhere = str(tmp_path / "elsewhere")
    assert principals_seen(path, [elsewhere], None) == []
    assert principals_seen(path, [], None) == []
    assert hourly_calls(path, [elsewhere], ROLE_ARN, WINDOW) is None
    assert hourly_calls(path, [], ROLE_ARN, WINDOW) is None


@pytest.mark.parametrize("content", [None, b"not a database, just text\n" * 100])
def test_no_index_or_not_an_index(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "index.sqlite"
    if content is not None:
        path.write_bytes(content)
    assert principals_seen(path, ["/anywhere"], None) == []
    assert hourly_calls(path, ["/anywhere"], ROLE_ARN, WINDOW) is None
