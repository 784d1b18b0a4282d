"""`policygen serve` reading trails from S3 the way AWS does, against moto in server mode.

A real server process reaches moto through `AWS_ENDPOINT_URL` (and, for the second
server, S3 through a proxy via `AWS_ENDPOINT_URL_S3`, which counts requests and injects
failures). Jobs are driven with boto3, as a user would.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policygen.core.paths import index_path
from policygen.pipeline import generate_policy

from logfactory import ACCOUNT, ROLE_ARN, record
from motoserver import (
    SYNTH_END,
    SYNTH_START,
    MotoServer,
    S3Proxy,
    TrailWorld,
    allow,
    make_role,
    make_trail,
    upload_tree,
)
from serverprocess import ServerProcess

READER_ACTIONS = (
    "cloudtrail:GetTrail",
    "s3:GetObject",
    "s3:ListBucket",
    "organizations:DescribeOrganization",
    "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails",
)
YEAR_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
WINDOW_DAY = datetime(2026, 1, 5, 12, 5, tzinfo=UTC)
#: A trail CloudTrail does not know: the server has its location (`--trail ARN=s3://...`).
FIXED_TRAIL = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/t-srv-fixed"


@dataclass
class World:
    """The moto side: roles, trails, buckets."""

    reader: str
    account: TrailWorld
    org: TrailWorld
    org_id: str


def organization_id(moto: MotoServer) -> str:
    organizations = moto.client("organizations")
    try:
        return organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except organizations.exceptions.AlreadyInOrganizationException:
        return organizations.describe_organization()["Organization"]["Id"]


@pytest.fixture(scope="module")
def world(moto: MotoServer, synth_trail: Path) -> World:
    reader = make_role(moto, "t-srv-reader", allow(*READER_ACTIONS))
    account = make_trail(moto, "t-srv-account", "t-srv-account", "team", kms=True)
    upload_tree(moto, synth_trail, account.bucket, account.prefix)
    org_id = organization_id(moto)
    org = make_trail(moto, "t-srv-org", "t-srv-org", org=True)
    upload_tree(moto, synth_trail / "AWSLogs", org.bucket, f"AWSLogs/{org_id}")
    return World(reader, account, org, org_id)


@pytest.fixture(scope="module")
def direct(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that finds trails with GetTrail, knows FIXED_TRAIL's bucket, reaches moto."""
    fixed = f"{FIXED_TRAIL}=s3://t-srv-account/team"
    server = ServerProcess(
        tmp_path_factory.mktemp("data"), "--resolve-trails", "--trail", fixed, env=moto.env()
    )
    yield server
    server.close()


def run_job(server: ServerProcess, trail: str, role: str, **details: Any) -> dict[str, Any]:
    """Start a job over `trail` with `role` and return its final GetGeneratedPolicy."""
    cloud_trail = {
        "trails": [{"cloudTrailArn": trail, "allRegions": True}],
        "accessRole": role,
        "startTime": SYNTH_START,
        "endTime": SYNTH_END,
        **details,
    }
    answer = server.client().start_policy_generation(
        policyGenerationDetails={"principalArn": ROLE_ARN}, cloudTrailDetails=cloud_trail
    )
    return server.final(answer["jobId"], includeResourcePlaceholders=True)


def local_policies(root: Path, regions: list[str] | None = None) -> list[str]:
    result = generate_policy(ROLE_ARN, root, start=SYNTH_START, end=SYNTH_END, regions=regions)
    return result.policies(placeholders=True)


# --- the same policy as a local-folder run -------------------------------------------------


@pytest.mark.parametrize(
    "layout, regions",
    [("account", None), ("account", ["eu-west-1"]), ("org", None)],
    ids=["account-sse-kms", "account-one-region", "organization"],
)
def test_s3_job_equals_local_folder_run(
    moto: MotoServer,
    world: World,
    direct: ServerProcess,
    synth_trail: Path,
    layout: str,
    regions: list[str] | None,
) -> None:
    trail = getattr(world, layout)
    if trail.kms_key:  # the bucket really is SSE-KMS: S3 decrypts for the reader
        listed = moto.client("s3").list_objects_v2(Bucket=trail.bucket, MaxKeys=1)
        head = moto.client("s3").head_object(Bucket=trail.bucket, Key=listed["Contents"][0]["Key"])
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", trail.kms_key)
    trails = [
        {
            "cloudTrailArn": trail.trail_arn,
            **({"regions": regions} if regions else {"allRegions": True}),
        }
    ]
    done = run_job(direct, trail.trail_arn, world.reader, trails=trails)
    assert done["jobDetails"]["status"] == "SUCCEEDED", done["jobDetails"]
    policies = [p["policy"] for p in done["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == local_policies(synth_trail, regions)
    assert policies


def test_fixed_s3_location_is_read_without_get_trail(
    world: World, direct: ServerProcess, synth_trail: Path
) -> None:
    # CloudTrail does not know FIXED_TRAIL: GetTrail would fail the job; the role is not used
    never_assumed = f"arn:aws:iam::{ACCOUNT}:role/service-role/does-not-exist"
    done = run_job(direct, FIXED_TRAIL, never_assumed)
    assert done["jobDetails"]["status"] == "SUCCEEDED", done["jobDetails"]
    policies = [p["policy"] for p in done["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == local_policies(synth_trail)


def test_service_level_template_says_where_it_came_from(
    world: World, direct: ServerProcess
) -> None:
    done = run_job(direct, world.account.trail_arn, world.reader)
    job_id = done["jobDetails"]["jobId"]
    parsed = direct.client().get_generated_policy(jobId=job_id, includeServiceLevelTemplate=True)
    headers = parsed["ResponseMetadata"]["HTTPHeaders"]
    # moto does not implement service last accessed: the template falls back to CloudTrail
    assert headers["x-policygen-service-level-template-source"] == "cloudTrail"
    assert "service last accessed unavailable" in direct.log
    plain = direct.request("GET", f"/policy/generation/{job_id}")
    assert "x-policygen-service-level-template-source" not in plain.headers
    # AWS's body, plus the one extension member SDKs ignore
    assert set(plain.json()) == {"jobDetails", "generatedPolicyResult", "policygen"}


# --- failures, pruning: a server whose S3 goes through a counting, failing proxy ------------


@pytest.fixture(scope="module")
def proxy(moto: MotoServer) -> Iterator[S3Proxy]:
    proxy = S3Proxy(moto.url)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def server_identity(moto: MotoServer) -> dict[str, str]:
    """An IAM user for the server itself, allowed only to assume roles."""
    iam = moto.client("iam")
    iam.create_user(UserName="t-srv-policygen")
    iam.put_user_policy(
        UserName="t-srv-policygen", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole")
    )
    key = iam.create_access_key(UserName="t-srv-policygen")["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


@pytest.fixture(scope="module")
def faulty(
    moto: MotoServer,
    proxy: S3Proxy,
    server_identity: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    env = moto.env(AWS_ENDPOINT_URL_S3=proxy.url, AWS_MAX_ATTEMPTS="2", **server_identity)
    server = ServerProcess(tmp_path_factory.mktemp("data"), "--resolve-trails", env=env)
    yield server
    server.close()


@pytest.fixture
def clean_proxy(proxy: S3Proxy) -> Iterator[S3Proxy]:
    proxy.reset()
    yield proxy
    proxy.reset()


def job_error(done: dict[str, Any]) -> tuple[str, str]:
    details = done["jobDetails"]
    assert details["status"] == "FAILED", details
    return details["jobError"]["code"], details["jobError"]["message"]


def test_role_that_cannot_be_assumed(moto: MotoServer, world: World, faulty: ServerProcess) -> None:
    # A role that trusts another account only. (A console-made role trusts the service
    # access-analyzer.amazonaws.com; moto 5.2 answers HTTP 500 to that trust policy.)
    other = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}
    trust = {"Version": "2012-10-17", "Statement": [{**other, "Action": "sts:AssumeRole"}]}
    role = moto.client("iam").create_role(
        RoleName="t-srv-not-ours", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    with moto.iam_enforced():
        code, message = job_error(run_job(faulty, world.account.trail_arn, role))
    assert code == "AUTHORIZATION_ERROR"
    assert message.startswith(f"sts:AssumeRole {role}: AccessDenied: User: arn:aws:iam::")


@pytest.mark.parametrize(
    "allowed, names",
    [
        (("s3:GetObject", "s3:ListBucket"), "cloudtrail:GetTrail arn:aws:cloudtrail:us-east-1:"),
        (("cloudtrail:GetTrail",), "s3:ListBucket s3://t-srv-account/team/AWSLogs/"),
    ],
    ids=["GetTrail", "S3"],
)
def test_access_denied_to_the_role(
    moto: MotoServer, world: World, faulty: ServerProcess, allowed: tuple[str, ...], names: str
) -> None:
    role = make_role(moto, f"t-srv-without-{len(allowed)}", allow(*allowed))
    with moto.iam_enforced():
        code, message = job_error(run_job(faulty, world.account.trail_arn, role))
    assert code == "AUTHORIZATION_ERROR"
    assert message.startswith(names)
    assert "AccessDenied" in message
    assert world.account.trail_arn in message


@pytest.mark.parametrize(
    "status, error, text",
    [
        (403, "AccessDenied", "not authorized to perform: kms:Decrypt on the resource"),
        (400, "KMS.DisabledException", "The key is disabled."),
    ],
)
def test_kms_refusal(
    world: World, faulty: ServerProcess, clean_proxy: S3Proxy, status: int, error: str, text: str
) -> None:
    def refuse_objects(method: str, path: str, query: dict[str, list[str]]) -> Any:
        return (status, error, text) if method == "GET" and "list-type" not in query else None

    clean_proxy.reset(refuse_objects)
    code, message = job_error(run_job(faulty, world.account.trail_arn, world.reader))
    assert code == "AUTHORIZATION_ERROR"
    assert message.startswith("s3:GetObject s3://t-srv-account/team/AWSLogs/")
    assert f"{error}: {text}" in message
    assert f"role {world.reader} need kms:Decrypt on {world.account.kms_key}" in message


def test_trail_not_found(world: World, faulty: ServerProcess) -> None:
    missing = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t-srv-missing"
    code, message = job_error(run_job(faulty, missing, world.reader))
    assert code == "RESOURCE_NOT_FOUND_ERROR"
    assert message.startswith(f"cloudtrail:GetTrail {missing}: TrailNotFoundException")


def test_bucket_not_found(moto: MotoServer, world: World, faulty: ServerProcess) -> None:
    gone = make_trail(moto, "t-srv-gone", "t-srv-gone")
    moto.client("s3").delete_bucket(Bucket="t-srv-gone")
    code, message = job_error(run_job(faulty, gone.trail_arn, world.reader))
    assert code == "RESOURCE_NOT_FOUND_ERROR"
    assert message.startswith("s3:ListBucket s3://t-srv-gone/AWSLogs/")
    assert "NoSuchBucket" in message and gone.trail_arn in message


def test_transient_errors_are_retried_then_fail_the_job(
    world: World, faulty: ServerProcess, clean_proxy: S3Proxy
) -> None:
    clean_proxy.reset(lambda *_: (503, "SlowDown", "Please reduce your request rate."))
    code, message = job_error(run_job(faulty, world.account.trail_arn, world.reader))
    assert code == "SERVICE_ERROR"
    assert message.startswith("s3:ListBucket s3://t-srv-account/team/AWSLogs/")
    assert message.endswith("SlowDown: Please reduce your request rate. (after 2 attempts)")
    # every request was tried twice: at least the listing, each sent twice in a row
    requests = clean_proxy.requests
    assert len(requests) >= 2
    assert requests[0::2] == requests[1::2]


def test_a_transient_error_that_clears_is_invisible(
    world: World, faulty: ServerProcess, clean_proxy: S3Proxy, synth_trail: Path
) -> None:
    failed: set[str] = set()

    def first_get_fails(method: str, path: str, query: dict[str, list[str]]) -> Any:
        if method != "GET" or "list-type" in query or path in failed:
            return None
        failed.add(path)
        return (500, "InternalError", "We encountered an internal error. Please try again.")

    clean_proxy.reset(first_get_fails)
    done = run_job(faulty, world.account.trail_arn, world.reader)
    assert done["jobDetails"]["status"] == "SUCCEEDED"
    policies = [p["policy"] for p in done["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == local_policies(synth_trail)
    assert failed and clean_proxy.counts()["GET"] == 2 * len(failed)


def test_missing_region_and_day_folders_are_not_errors(world: World, faulty: ServerProcess) -> None:
    trails = [{"cloudTrailArn": world.account.trail_arn, "regions": ["ap-south-1"]}]
    done = run_job(
        faulty, world.account.trail_arn, world.reader, trails=trails,
        startTime="2025-01-01T00:00:00Z", endTime="2025-01-03T00:00:00Z",
    )  # fmt: skip
    assert done["jobDetails"]["status"] == "SUCCEEDED"
    assert done["generatedPolicyResult"]["generatedPolicies"] == []


# --- pruning -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def year(moto: MotoServer) -> TrailWorld:
    """A bucket with a year of logs, one file a day in us-east-1 and eu-west-1 (730), and
    ap-southeast-2 around the window only (uploads to moto cost ~7 ms each)."""
    world = make_trail(moto, "t-srv-year", "t-srv-year")
    s3 = moto.client("s3")

    def put(when: datetime, region: str) -> None:
        stamp = when.strftime("%Y%m%dT%H%MZ")
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{when:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{region}_{stamp}_AbCdEfGh12345678.json.gz"
        )
        event = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", f"{when:%Y-%m-%dT%H:%M:%SZ}")
        body = gzip.compress(json.dumps({"Records": [event]}).encode(), mtime=0)
        s3.put_object(Bucket=world.bucket, Key=key, Body=body)

    first = datetime(2025, 6, 1, 12, 5, tzinfo=UTC)
    days = [first + timedelta(days=n) for n in range(365)]
    uploads = [(day, region) for day in days for region in YEAR_REGIONS[:2]]
    uploads += [(day, YEAR_REGIONS[2]) for day in days if abs(day - WINDOW_DAY).days <= 3]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda args: put(*args), uploads))
    return world


@pytest.mark.parametrize(
    "trail_regions, lists, gets",
    [
        # 2 regions x 3 delivery days (the 1-hour margin reaches into the third)
        ({"regions": ["us-east-1", "eu-west-1"]}, 2 * 3, 2 * 2),
        # one delimiter listing finds the 3 regions, then 3 x 3 days
        ({"allRegions": True}, 1 + 3 * 3, 3 * 2),
    ],
    ids=["two-regions", "all-regions"],
)
def test_listing_is_pruned_to_days_and_regions(
    year: TrailWorld,
    world: World,
    faulty: ServerProcess,
    clean_proxy: S3Proxy,
    trail_regions: dict[str, Any],
    lists: int,
    gets: int,
) -> None:
    trails = [{"cloudTrailArn": year.trail_arn, **trail_regions}]
    done = run_job(
        faulty, year.trail_arn, world.reader, trails=trails,
        startTime="2026-01-05T00:00:00Z", endTime="2026-01-06T23:59:59Z",
    )  # fmt: skip
    assert done["jobDetails"]["status"] == "SUCCEEDED"
    counts = clean_proxy.counts()
    assert counts == {"LIST": lists, "GET": gets, "ALL": lists + gets}
    # the bucket has 737 objects: a full listing is 1 page, and reading it 737 GETs; real
    # CloudTrail delivers ~288 files a day per region, 105,120 a year: 106 pages, and GETs


def generated(done: dict[str, Any]) -> list[str]:
    return [p["policy"] for p in done["generatedPolicyResult"]["generatedPolicies"]]


def test_jobs_on_an_indexed_trail_list_what_a_scan_would_and_read_nothing(
    moto: MotoServer,
    year: TrailWorld,
    world: World,
    faulty: ServerProcess,
    clean_proxy: S3Proxy,
    server_identity: dict[str, str],
) -> None:
    """`policygen index --trail-arn` (its own process, through the counting proxy) fills the
    server's data directory; the server's jobs on that trail then answer from it."""
    trails = [{"cloudTrailArn": year.trail_arn, "regions": ["us-east-1", "eu-west-1"]}]
    window = {"startTime": "2026-01-05T00:00:00Z", "endTime": "2026-01-06T23:59:59Z"}
    scanned = run_job(faulty, year.trail_arn, world.reader, trails=trails, **window)
    command = [
        sys.executable, "-m", "policygen", "index", "--trail-arn", year.trail_arn,
        "--access-role", world.reader, "--data-dir", str(faulty.data_dir), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, **moto.env(AWS_ENDPOINT_URL_S3=clean_proxy.url, **server_identity)}
    day = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/06/"
    late = f"{day}{ACCOUNT}_CloudTrail_us-east-1_20260106T2350Z_late.json.gz"
    try:
        clean_proxy.reset()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert ": 737 new files indexed of 737" in done.stderr
        # accounts, then regions, then one listing per region (a page of <= 1,000 keys
        # each), not one per day since 1970; and every object once
        assert clean_proxy.counts() == {"LIST": 1 + 1 + 3, "GET": 737, "ALL": 5 + 737}
        clean_proxy.reset()
        indexed = run_job(faulty, year.trail_arn, world.reader, trails=trails, **window)
        assert indexed["jobDetails"]["status"] == "SUCCEEDED", indexed["jobDetails"]
        assert clean_proxy.counts() == {"LIST": 2 * 3, "GET": 0, "ALL": 2 * 3}
        assert generated(indexed) == generated(scanned) != []
        # a file the index has not seen: the job scans, reading the listing it made to
        # find that out instead of listing again
        event = record(ROLE_ARN, "sqs.amazonaws.com", "ListQueues", "2026-01-06T23:40:00Z")
        body = gzip.compress(json.dumps({"Records": [event]}).encode(), mtime=0)
        moto.client("s3").put_object(Bucket=year.bucket, Key=late, Body=body)
        clean_proxy.reset()
        rescanned = run_job(faulty, year.trail_arn, world.reader, trails=trails, **window)
        assert clean_proxy.counts() == {"LIST": 2 * 3, "GET": 2 * 2 + 1, "ALL": 6 + 5}
        assert "sqs:ListQueues" in generated(rescanned)[0]
    finally:
        moto.client("s3").delete_object(Bucket=year.bucket, Key=late)
        index_path(faulty.data_dir).unlink(missing_ok=True)


def test_fallback_reads_with_the_servers_own_credentials_when_the_role_is_refused(
    moto: MotoServer, world: World, synth_trail: Path, tmp_path: Path
) -> None:
    """`--access-role-mode fallback`: a role that cannot be assumed is logged, and the job
    reads the trail with the server's own (here: sufficient) credentials."""
    iam = moto.client("iam")
    iam.create_user(UserName="t-srv-fallback")
    # broad on purpose (moto authorizes the S3 listing under names of its own): what is
    # tested is whose credentials read, not which actions they need (test_access_denied_*)
    reads = allow("sts:AssumeRole", "cloudtrail:*", "s3:*", "kms:*")
    iam.put_user_policy(UserName="t-srv-fallback", PolicyName="read", PolicyDocument=reads)
    key = iam.create_access_key(UserName="t-srv-fallback")["AccessKey"]
    other = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}
    trust = {"Version": "2012-10-17", "Statement": [{**other, "Action": "sts:AssumeRole"}]}
    refused = iam.create_role(
        RoleName="t-srv-fallback-refused", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    identity = {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    mode = ("--resolve-trails", "--access-role-mode", "fallback")
    server = ServerProcess(tmp_path / "data", *mode, env=moto.env(**identity))
    try:
        with moto.iam_enforced():
            done = run_job(server, world.account.trail_arn, refused)
        server.wait_for_log(f"sts:AssumeRole {refused}: AccessDenied")
        assert "using the ambient credentials instead" in server.log
    finally:
        server.close()
    assert done["jobDetails"]["status"] == "SUCCEEDED", done["jobDetails"].get("jobError")
    policies = [p["policy"] for p in done["generatedPolicyResult"]["generatedPolicies"]]
    assert policies == local_policies(synth_trail)
