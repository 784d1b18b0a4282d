"""CloudTrail event history as a source, through real boto3 against a LookupEvents stand-in.

moto does not implement LookupEvents; `lookupserver` answers as botocore's model says the
service does (paging tokens, 50 events a page, ThrottlingException), over HTTP on loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lookupserver import History, lookup_server
from policygen import generate_policy
from policygen.core import aws
from policygen.core.failures import JobFailure
from policygen.core.time import format_time
from policygen.sources.lookup import EventHistory, RateLimit, parse_url

from logfactory import ROLE_ARN, USER_ARN, record
from motoserver import AMBIENT, ISOLATED

NOW = datetime.now(UTC).replace(microsecond=0)
#: A one-day window ending an hour ago: one LookupEvents query per region.
START, END = NOW - timedelta(days=1, hours=1), NOW - timedelta(hours=1)


def at(hours_before_end: float) -> str:
    return format_time(END - timedelta(hours=hours_before_end))


def user_calls(count: int) -> list[dict]:
    """`count` calls by the user, over the window (two kinds, as a person would make)."""
    names = [("sts.amazonaws.com", "GetCallerIdentity"), ("s3.amazonaws.com", "ListBuckets")]
    return [record(USER_ARN, *names[n % 2], at(n * 0.1)) for n in range(count)]


@pytest.fixture
def history() -> History:
    found = History()
    for call in user_calls(120):
        found.add("us-east-1", call)
    found.add("us-east-1", record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", at(2)))
    found.add("eu-west-1", record(ROLE_ARN, "lambda.amazonaws.com", "ListFunctions20150331", at(3)))
    return found


@pytest.fixture
def endpoint(history: History, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with lookup_server(history) as url:
        for name, value in {**ISOLATED, **AMBIENT, "AWS_ENDPOINT_URL_CLOUDTRAIL": url}.items():
            monkeypatch.setenv(name, value)
        aws.forget_clients()
        yield url
    aws.forget_clients()


def cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ISOLATED, **AMBIENT, "AWS_ENDPOINT_URL_CLOUDTRAIL": endpoint}
    return subprocess.run(
        [sys.executable, "-m", "policygen", "generate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def window(start: datetime = START) -> list[str]:
    return ["--start", format_time(start), "--end", format_time(END)]


def test_a_users_events_are_asked_for_by_name_page_by_page(endpoint: str, history: History) -> None:
    done = cli(
        endpoint, "--principal", USER_ARN, "--logs", "cloudtrail-lookup://us-east-1", *window()
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result["policygen"]["explain"]) == ["s3:ListAllMyBuckets", "sts:GetCallerIdentity"]
    assert result["properties"]["cloudTrailProperties"]["trailProperties"][0] == {
        "cloudTrailArn": "cloudtrail-lookup://us-east-1",
        "regions": [],
        "allRegions": True,
    }
    assert done.stderr.splitlines()[0] == (
        "files read: 1, skipped: 0; records read: 120, matched: 120, duplicates: 0; actions: 2"
    )
    bodies = [asked.body for asked in history.asked]
    assert [len(history.asked), {a.region for a in history.asked}] == [3, {"us-east-1"}]
    for body in bodies:
        assert body["MaxResults"] == 50
        assert body["LookupAttributes"] == [{"AttributeKey": "Username", "AttributeValue": "alice"}]
        assert body["StartTime"] == START.timestamp() and body["EndTime"] == END.timestamp()
    assert "NextToken" not in bodies[0]
    assert bodies[1]["NextToken"] != bodies[2]["NextToken"]


def test_a_roles_events_cannot_be_filtered_and_come_from_every_region_named(
    endpoint: str, history: History
) -> None:
    result = generate_policy(
        ROLE_ARN, EventHistory(("us-east-1", "eu-west-1")), start=START, end=END
    )
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs", "lambda:ListFunctions"]
    assert all("LookupAttributes" not in asked.body for asked in history.asked)
    assert [a.region for a in history.asked] == ["us-east-1"] * 3 + ["eu-west-1"]


def test_throttling_is_answered_by_backing_off(
    endpoint: str, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore retries a ThrottlingException itself; when it gives up, policygen backs
    off and asks again (here botocore makes one attempt, so every retry is policygen's)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.forget_clients()
    history.throttle = {0, 1, 3}
    source = EventHistory(("us-east-1",), username="alice", backoff=0.01)
    result = generate_policy(USER_ARN, source, start=START, end=END)
    assert list(result.analysis.actions) == ["s3:ListAllMyBuckets", "sts:GetCallerIdentity"]
    assert result.analysis.stats.records_matched == 120
    assert [a.throttled for a in history.asked] == [True, True, False, True, False, False]
    tokens = [a.body.get("NextToken") for a in history.asked]
    assert tokens[0] is None and tokens[1] is None and tokens[2] is None
    assert tokens[3] == tokens[4] is not None


def test_throttling_through_the_cli_with_botocores_retries(endpoint: str, history: History) -> None:
    history.throttle = {0, 2}
    done = cli(
        endpoint, "--principal", USER_ARN, "--logs", "cloudtrail-lookup://us-east-1", *window()
    )
    assert done.returncode == 0, done.stderr
    assert "matched: 120" in done.stderr.splitlines()[0]
    assert [a.throttled for a in history.asked] == [True, False, True, False, False]


def test_throttling_that_does_not_end_fails_the_job_naming_the_call(
    endpoint: str, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.forget_clients()
    history.throttle = set(range(100))
    with pytest.raises(JobFailure) as failed:
        generate_policy(USER_ARN, EventHistory(("us-east-1",), backoff=0.001), start=START, end=END)
    assert failed.value.message.startswith(
        "cloudtrail:LookupEvents in us-east-1: ThrottlingException: Rate exceeded"
    )
    assert len(history.asked) == 7


def test_the_90_days_are_said_clearly(endpoint: str, history: History) -> None:
    old = record(USER_ARN, "iam.amazonaws.com", "ListUsers", format_time(NOW - timedelta(days=100)))
    history.add("us-east-1", old)
    start = NOW - timedelta(days=120)
    done = cli(
        endpoint, "--principal", USER_ARN, "--logs", "cloudtrail-lookup://us-east-1", *window(start)
    )
    assert done.returncode == 0, done.stderr
    earliest = [line for line in done.stderr.splitlines() if "event history" in line]
    assert len(earliest) == 1
    assert earliest[0].startswith(
        "CloudTrail event history holds the last 90 days only: events before "
    )
    assert earliest[0].endswith(" cannot be read (30 days of the window are not covered)")
    first = min(asked.body["StartTime"] for asked in history.asked)
    assert first >= (NOW - timedelta(days=90)).timestamp() - 60
    assert "iam:ListUsers" not in done.stdout


def test_refused_lookup_is_exit_code_3_in_one_line(endpoint: str, history: History) -> None:
    history.refuse = "AccessDeniedException"
    done = cli(
        endpoint, "--principal", USER_ARN, "--logs", "cloudtrail-lookup://us-east-1", *window()
    )
    assert done.returncode == 3
    assert done.stderr == (
        "policygen: error: AUTHORIZATION_ERROR: cloudtrail:LookupEvents in us-east-1: "
        "AccessDeniedException: User is not authorized to perform: cloudtrail:LookupEvents\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "cloudtrail-lookup://us-east-1,mars",
            "not a region in 'cloudtrail-lookup://us-east-1,mars': 'mars'",
        ),
        ("lookup://us-east-1", "not an event history URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_urls_name_regions_once_each() -> None:
    assert parse_url("cloudtrail-lookup://us-east-1, eu-west-1,us-east-1/") == (
        "us-east-1",
        "eu-west-1",
    )
    assert parse_url("cloudtrail-lookup://") == ()


def test_the_rate_limit_spaces_requests_evenly() -> None:
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    pace = RateLimit(2.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(4):
        pace.wait()
    clock[0] += 5.0
    pace.wait()
    assert waits == [0.5, 0.5, 0.5]


def test_the_event_history_is_not_indexed(endpoint: str) -> None:
    env = {**os.environ, **ISOLATED, **AMBIENT, "AWS_ENDPOINT_URL_CLOUDTRAIL": endpoint}
    done = subprocess.run(
        [sys.executable, "-m", "policygen", "index", "--logs", "cloudtrail-lookup://us-east-1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "policygen: error: the usage index keeps trails (a folder or s3://...), not event history\n"
    )


def test_without_regions_the_configured_region_is_read(endpoint: str, history: History) -> None:
    result = generate_policy(USER_ARN, EventHistory(()), start=START, end=END)  # us-east-1
    assert list(result.analysis.actions) == ["s3:ListAllMyBuckets", "sts:GetCallerIdentity"]
    assert {a.region for a in history.asked} == {"us-east-1"}


def test_without_any_region_the_error_says_how_to_give_one(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    aws.forget_clients()
    with pytest.raises(ValueError, match=r"^give a region: cloudtrail-lookup://us-east-1 \(or"):
        generate_policy(USER_ARN, EventHistory(()), start=START, end=END)


def test_regions_not_asked_for_are_not_read(endpoint: str, history: History) -> None:
    call = record(ROLE_ARN, "sqs.amazonaws.com", "ListQueues", at(4), awsRegion="eu-west-1")
    history.add("eu-west-1", call)
    source = EventHistory(("us-east-1", "eu-west-1"))
    result = generate_policy(ROLE_ARN, source, start=START, end=END, regions=["eu-west-1"])
    assert list(result.analysis.actions) == ["sqs:ListQueues"]
    assert [a.region for a in history.asked] == ["eu-west-1"]
    assert result.analysis.stats.pruned == {"regions not asked for": 1}


def test_an_endpoint_that_does_not_answer_fails_naming_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name, value in {**ISOLATED, **AMBIENT, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", f"http://127.0.0.1:{port}")
    aws.forget_clients()
    try:
        with pytest.raises(JobFailure) as failed:
            generate_policy(USER_ARN, EventHistory(("us-east-1",)), start=START, end=END)
    finally:
        aws.forget_clients()
    assert failed.value.message.startswith("cloudtrail:LookupEvents in us-east-1: ")
    assert f"127.0.0.1:{port}" in failed.value.message
