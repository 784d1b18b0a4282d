"""The S3 trail source, GetTrail resolution and the CLI's S3 paths, against moto in server mode.

Everything reaches moto through `AWS_ENDPOINT_URL`, as it would reach LocalStack.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from policygen.cli import main
from policygen.core import aws
from policygen.core.aws import AwsAccess
from policygen.core.failures import RESOURCE_NOT_FOUND_ERROR, JobFailure
from policygen.core.time import parse_time
from policygen.pipeline import generate_policy
from policygen.policy.render import RenderOptions
from policygen.sources.base import LogObject, Selection
from policygen.sources.gettrail import resolve_trail
from policygen.sources.s3 import S3Trail, parse_url, prefetch
from policygen.sources.trailset import TrailSet

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, record, write_log
from motoserver import (
    SYNTH_END,
    SYNTH_START,
    MotoServer,
    allow,
    make_role,
    make_trail,
    upload_tree,
)

ORG = "o-abcdefghij"
WINDOW = {"start": SYNTH_START, "end": SYNTH_END}


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """This process talks to moto through the standard endpoint variable."""
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    aws.forget_clients()
    yield moto
    aws.forget_clients()


def selection(**changes: Any) -> Selection:
    base = Selection(parse_time(SYNTH_START), parse_time(SYNTH_END), None, frozenset({ACCOUNT}))
    return replace(base, **changes)


# --- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("s3://logs", ("logs", "")),
        ("s3://logs/", ("logs", "")),
        ("s3://logs/team/a/", ("logs", "team/a")),
        ("s3://logs/team/AWSLogs", ("logs", "team")),
        ("s3://my.logs-1/AWSLogs/", ("my.logs-1", "")),
    ],
)
def test_parse_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["logs/x", "s3://", "s3://Logs", "s3://a/b", "https://logs/x"])
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


class RecordingPool:
    """Runs each submitted call at once, noting how many were in flight (not yet yielded)."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes, self.submitted, self.yielded = sizes, 0, 0
        self.peak_items = self.peak_bytes = 0

    def submit(self, fn: Any, item: int) -> Future[Any]:
        self.submitted += 1
        flight = range(self.yielded, self.submitted)
        self.peak_items = max(self.peak_items, len(flight))
        if len(flight) > 1:
            self.peak_bytes = max(self.peak_bytes, sum(self.sizes[i] for i in flight))
        future: Future[Any] = Future()
        future.set_result(fn(item))
        return future


def test_prefetch_keeps_order_and_bounds_items_and_bytes() -> None:
    sizes = [5, 1, 9, 3, 3, 3, 20, 1, 1, 1, 1, 1]
    pool = RecordingPool(sizes)
    out = []
    for item, future in prefetch(
        range(len(sizes)), lambda i: i * 10, pool, ahead=4, size=sizes.__getitem__, max_bytes=10
    ):  # type: ignore[arg-type]
        pool.yielded += 1
        out.append((item, future.result()))
    assert out == [(i, i * 10) for i in range(len(sizes))]
    assert pool.peak_items <= 4
    assert pool.peak_bytes <= 10  # a 20-byte item still goes, alone


# --- the source against moto ------------------------------------------------------------------


@pytest.fixture(scope="module")
def buckets(moto: MotoServer, synth_trail: Path) -> dict[str, str]:
    """The synthetic trail in an account layout and in an organization layout."""
    s3 = moto.client("s3")
    for name in ("t-s3-account", "t-s3-org"):
        s3.create_bucket(Bucket=name)
    upload_tree(moto, synth_trail, "t-s3-account", "team/a")
    upload_tree(moto, synth_trail / "AWSLogs", "t-s3-org", f"AWSLogs/{ORG}")
    return {"account": "s3://t-s3-account/team/a", "org": "s3://t-s3-org"}


def keys(objects: Iterator[LogObject]) -> list[str]:
    return [obj.key.split("/AWSLogs/", 1)[1] for obj in objects]


def local_keys(root: Path) -> list[str]:
    """The account's log files of the window (the synthetic trail has nothing outside it)."""
    found = (root / "AWSLogs" / ACCOUNT / "CloudTrail").rglob("*.json.gz")
    return sorted(str(path.relative_to(root / "AWSLogs")) for path in found)


@pytest.mark.parametrize(
    "layout, options",
    [
        ("account", {}),
        ("account", {"organization": False}),
        ("org", {}),
        ("org", {"organization": True}),
        ("org", {"organization": True, "org_id": ORG}),
    ],
)
def test_lists_the_principals_account_in_either_layout(
    aws_env: MotoServer, buckets: dict[str, str], synth_trail: Path, layout: str, options: dict
) -> None:
    source = S3Trail.from_url(buckets[layout], **options)
    listed = sorted(k.removeprefix(f"{ORG}/") for k in keys(source.list_objects(selection())))
    assert listed == local_keys(synth_trail)


def test_all_accounts_and_regions_are_discovered(aws_env: MotoServer, buckets: dict) -> None:
    source = S3Trail.from_url(buckets["org"])
    listed = keys(source.list_objects(selection(accounts=None, regions=frozenset({"eu-west-1"}))))
    assert {k.split("/")[1] for k in listed} == {ACCOUNT, OTHER_ACCOUNT}
    assert {k.split("/")[3] for k in listed} == {"eu-west-1"}


def test_s3_url_run_equals_local_run(
    aws_env: MotoServer, buckets: dict[str, str], synth_trail: Path
) -> None:
    local = generate_policy(ROLE_ARN, synth_trail, **WINDOW)
    for url in buckets.values():
        remote = generate_policy(ROLE_ARN, url, **WINDOW)
        assert remote.policies(placeholders=True) == local.policies(placeholders=True)
        assert remote.analysis.stats.records_matched == local.analysis.stats.records_matched


def _read_all(source: S3Trail, objects: list[LogObject]) -> list[int]:
    return [len(data) for _, data in source.iter_contents(objects)]  # type: ignore[arg-type]


def test_source_is_picklable_and_reads_in_another_process(
    aws_env: MotoServer, buckets: dict[str, str]
) -> None:
    source = S3Trail.from_url(buckets["account"], AwsAccess(None, "us-east-1"))
    objects = list(source.list_objects(selection()))
    assert pickle.loads(pickle.dumps(source)) == source
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        sizes = pool.submit(_read_all, source, objects).result(timeout=60)
    assert sizes == [obj.size for obj in objects]


def test_object_gone_after_listing_is_skipped_not_fatal(aws_env: MotoServer, logs: Path) -> None:
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="t-s3-vanishing")
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    write_log(logs, [record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets")], suffix="B" * 16)
    upload_tree(aws_env, logs, "t-s3-vanishing")
    source = S3Trail("t-s3-vanishing")
    objects = list(source.list_objects(selection()))
    s3.delete_object(Bucket="t-s3-vanishing", Key=source._key(objects[0]))
    result = generate_policy(ROLE_ARN, _Fixed(source, objects), **WINDOW)
    assert list(result.analysis.stats.skipped) == [objects[0].key]
    assert "disappeared" in result.analysis.stats.skipped[objects[0].key]
    assert list(result.analysis.actions) == ["s3:ListAllMyBuckets"]


class _Fixed:
    """A source that lists what it was given (the listing happened before a deletion)."""

    def __init__(self, source: S3Trail, objects: list[LogObject]) -> None:
        self.source, self.objects = source, objects

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        return iter(self.objects)

    def read(self, obj: LogObject) -> bytes:
        return self.source.read(obj)

    def iter_contents(self, objects: Any) -> Any:
        return self.source.iter_contents(objects)

    def describe(self) -> str:
        return self.source.describe()


def test_get_trail_resolution(aws_env: MotoServer) -> None:
    world = make_trail(aws_env, "t-s3-resolve", "t-s3-resolve", "p/q", kms=True, org=True)
    source = resolve_trail(world.trail_arn, AwsAccess(None, "us-east-1"))
    assert (source.bucket, source.prefix, source.organization) == ("t-s3-resolve", "p/q", True)
    assert source.kms_key == world.kms_key
    assert source.label == world.trail_arn
    with pytest.raises(JobFailure) as failure:
        resolve_trail(world.trail_arn.replace("t-s3-resolve", "nowhere"), AwsAccess())
    assert failure.value.code == RESOURCE_NOT_FOUND_ERROR
    assert "cloudtrail:GetTrail arn:aws:cloudtrail:us-east-1:" in failure.value.message
    assert "TrailNotFoundException" in failure.value.message


# --- the CLI ---------------------------------------------------------------------------------

COMMON = ["generate", "--principal", ROLE_ARN, "--start", SYNTH_START, "--end", SYNTH_END]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`policygen ...` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_cli_reads_an_s3_url_with_ambient_credentials(
    aws_env: MotoServer, buckets: dict[str, str], synth_trail: Path, capsys: Any
) -> None:
    code, out, err = run_cli(capsys, *COMMON, "--logs", buckets["account"], "--aws-compatible")
    assert code == 0, err
    local = generate_policy(ROLE_ARN, synth_trail, **WINDOW).to_api()
    assert json.loads(out)["generatedPolicies"] == local["generatedPolicies"]


def test_cli_resolves_the_trail_with_the_access_role(
    moto: MotoServer, buckets: dict[str, str], synth_trail: Path
) -> None:
    """A real process configured by the environment alone, as a user would run it."""
    world = make_trail(moto, "t-s3-cli", "t-s3-account", "team/a")
    role = make_role(moto, "t-s3-cli-reader", allow("cloudtrail:GetTrail", "s3:*", "iam:*"))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", *COMMON),
            *("--trail-arn", world.trail_arn, "--access-role", role, "--service-level-template"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **moto.env()},
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    options = RenderOptions.policygen(service_level=True)  # the CLI's default mode
    local = generate_policy(ROLE_ARN, synth_trail, **WINDOW).to_api(options)
    assert resolved["generatedPolicies"] == local["generatedPolicies"]
    [trail] = resolved["properties"]["cloudTrailProperties"]["trailProperties"]
    assert trail["cloudTrailArn"] == world.trail_arn
    assert resolved["policygen"]["serviceLevelTemplateSource"] == "cloudTrail"
    assert "service-level template from: cloudTrail (service last accessed unavailable" in (
        done.stderr
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--logs", ".", "--access-role", "arn:aws:iam::1:role/r"], 2, "--access-role is for"),
        ([], 2, "give --logs"),
        (["--logs", "s3://Bad_Bucket"], 2, "not a valid S3 bucket name"),
        (
            ["--trail-arn", f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t-s3-none"],
            3,
            "RESOURCE_NOT_FOUND_ERROR: cloudtrail:GetTrail arn:aws:cloudtrail:us-east-1:",
        ),
        (["--logs", "s3://t-s3-no-such-bucket"], 3, "NoSuchBucket"),
    ],
)
def test_cli_errors_are_one_line(
    aws_env: MotoServer, capsys: Any, args: list[str], code: int, message: str
) -> None:
    exit_code, out, err = run_cli(capsys, *COMMON, *args)
    assert (exit_code, out) == (code, "")
    assert err.count("\n") == 1 and err.startswith("policygen: error: ")
    assert message in err


# --- the usage index over an S3 trail -----------------------------------------------------


def test_a_long_selection_is_listed_per_region_not_per_day(
    aws_env: MotoServer, buckets: dict[str, str], synth_trail: Path
) -> None:
    """An index lists all time: one listing per region, not one per day since 1970."""
    everything = selection(start=parse_time("1970-01-01T00:00:00Z"), end=parse_time("2999-12-31"))
    for url in buckets.values():
        listed = keys(S3Trail.from_url(url).list_objects(everything))
        assert sorted(k.removeprefix(f"{ORG}/") for k in listed) == local_keys(synth_trail)


def test_an_s3_trail_is_indexed_incrementally_and_answers_like_a_scan(
    aws_env: MotoServer,
    moto: MotoServer,
    buckets: dict[str, str],
    synth_trail: Path,
    tmp_path: Path,
    capsys: Any,
) -> None:
    url = buckets["account"]
    index = ["index", "--logs", url + "/", "--data-dir", str(tmp_path), "--workers", "1"]
    code, _, err = run_cli(capsys, *index)
    assert code == 0, err
    logs = [p for p in synth_trail.rglob("*.json.gz") if "/CloudTrail/" in p.as_posix()]
    assert f": {len(logs)} new files indexed of {len(logs)}\n" in err
    # the next run lists from a day before the latest delivery: it finds a file delivered
    # since, and not one copied into an older day's folder, which --full then finds
    s3, folder = moto.client("s3"), f"team/a/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/"
    added = []
    for day, stamp in (("06", "20260106T2355Z"), ("05", "20260105T0900Z")):
        key = f"{folder}{day}/{ACCOUNT}_CloudTrail_us-east-1_{stamp}_late{day}.json.gz"
        late = write_log(tmp_path / day, [record(ROLE_ARN, "sqs.amazonaws.com", "ListQueues")])
        s3.put_object(Bucket="t-s3-account", Key=key, Body=late.read_bytes())
        added.append(key)
    code, _, err = run_cli(capsys, *index)
    assert code == 0 and ": 1 new files indexed of " in err and " listed from 2026-01-0" in err
    listed = int(err.split(" indexed of ")[1].split()[0])
    assert listed < len(logs)  # not the whole trail: the days before are not listed
    code, _, err = run_cli(capsys, *index, "--full")
    assert code == 0 and f": 1 new files indexed of {len(logs) + 2}\n" in err, err
    # answered from the index, with S3 listed but no log read, and equal to a scan
    for trail in (url, resolve_trail_like(url)):
        from_index = generate_policy(ROLE_ARN, trail, data_dir=tmp_path, **WINDOW)
        scanned = generate_policy(ROLE_ARN, trail, use_index=False, **WINDOW)
        stats = from_index.analysis.stats
        assert stats.files_from_index == stats.files_listed > 0
        assert stats.files_rescanned == 0
        assert from_index.to_api() == scanned.to_api()
        assert from_index.policies(placeholders=True) == scanned.policies(placeholders=True)
        assert "sqs:ListQueues" in from_index.policies()[0]
    for key in added:
        s3.delete_object(Bucket="t-s3-account", Key=key)


def resolve_trail_like(url: str) -> TrailSet:
    """How a server job holds the same trail: the only member of a `TrailSet`, made from
    the bucket and prefix GetTrail gives (as `resolve_trail` makes it)."""
    bucket, prefix = parse_url(url)
    return TrailSet([(S3Trail(bucket, prefix, label="arn:aws:cloudtrail:::trail/t"), None)])
