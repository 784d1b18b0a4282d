"""The synthetic CloudTrail generator: layout, records, determinism and its ground truth.

Files are read back with plain gzip + json, independently of the scanner, so that the
generator's manifest can serve as ground truth for scanner tests.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policygen.core.units import parse_size
from policygen.scan.usage import outcome_of
from policygen_synth import CorpusSpec, Manifest, generate_corpus

from scanhelp import principal_arn

ACCOUNTS = ("111122223333", "444455556666")
START = datetime(2026, 1, 5, tzinfo=UTC)

#: cloudtrail-format.md §1.2, plus the 16-character unique string.
LOG_RE = re.compile(
    r"(?P<acct>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<ts>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}"
    r"\.json\.gz$"
)
LOG_DIR_RE = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)"
    r"/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})$"
)
DIGEST_RE = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<acct>\d{12})/CloudTrail-Digest/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P=acct)_CloudTrail-Digest_(?P=region)_[\w-]+_[a-z0-9-]+_"
    r"\d{8}T\d{6}Z\.json\.gz$"
)
INSIGHT_RE = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<acct>\d{12})/CloudTrail-Insight/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P=acct)_CloudTrail-Insight_(?P=region)_\d{8}T\d{4}Z_\w{16}\.json\.gz$"
)
REQUIRED = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "eventID",
    "readOnly",
    "eventType",
    "recipientAccountId",
}
GLOBAL_SOURCES = {"iam", "cloudfront", "route53", "signin", "billingconsole"}

#: A corpus with every user and role profile, big enough to show every feature.
FULL = CorpusSpec(
    seed=7,
    days=2,
    accounts=ACCOUNTS,
    regions=("us-east-1", "eu-west-1"),
    users_per_account=6,
    roles_per_account=7,
    target_bytes=4_000_000,
    records_per_file=(20, 120),
)
SMALL = CorpusSpec(seed=3, days=1, target_bytes=600_000, records_per_file=(20, 80))


def log_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_file() and "/CloudTrail/" in p.as_posix())


def read_log(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    text = gzip.decompress(data) if path.name.endswith(".gz") else data
    return json.loads(text)["Records"]


def records(base: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in log_files(base):
        for record in read_log(path):
            yield path, record


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def delivery(path: Path) -> datetime:
    """The delivery time in a log file's name."""
    return datetime.strptime(LOG_RE.search(path.name)["ts"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, list]:
    root = tmp_path_factory.mktemp("full")
    manifest = generate_corpus(root, FULL)
    return root, manifest, list(records(root))


def test_parse_size() -> None:
    assert parse_size("1GB") == 1_000_000_000
    assert parse_size("200MB") == 200_000_000
    assert parse_size("1.5 gb") == 1_500_000_000
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("4096") == parse_size(4096) == 4096
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accounts": ("1234",)}, "12-digit"),
        ({"org_id": "org-1"}, "org_id"),
        ({"start": "2026-01-05T00:03:00Z"}, "5-minute"),
        ({"records_per_file": (10, 5)}, "records_per_file"),
        ({"days": 0}, "days"),
    ],
)
def test_spec_rejects_bad_values(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CorpusSpec(**change)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    first = generate_corpus(tmp_path / "a", SMALL)
    generate_corpus(tmp_path / "b", SMALL, workers=2)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    other = generate_corpus(tmp_path / "c", CorpusSpec(seed=4, days=1, target_bytes=600_000))
    assert tree(tmp_path / "c") != tree(tmp_path / "a")
    assert first.stats["log_files"] == len(log_files(tmp_path / "a"))
    assert other.stats != first.stats


def test_layout_is_cloudtrails(full: tuple[Path, Manifest, list]) -> None:
    root, manifest, _ = full
    logs = log_files(root)
    assert len(logs) == manifest.stats["log_files"]
    for path in logs:
        rel = path.relative_to(root)
        folder = LOG_DIR_RE.fullmatch(rel.parent.as_posix())
        name = LOG_RE.fullmatch(path.name)
        assert folder and name, rel
        assert (name["acct"], name["region"]) == (folder["acct"], folder["region"])
        assert name["ts"][:8] == folder["y"] + folder["m"] + folder["d"]  # delivery day
        assert name["ts"][11:13] in {f"{m:02d}" for m in range(0, 60, 5)}
    others = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    others -= {p.relative_to(root).as_posix() for p in logs}
    digests = {p for p in others if DIGEST_RE.fullmatch(p)}
    insights = {p for p in others if INSIGHT_RE.fullmatch(p)}
    assert len(digests) == manifest.stats["digest_files"] == len(ACCOUNTS) * 2
    assert len(insights) == 1
    assert others - digests - insights == {"manifest.json"}


def test_digest_and_insight_files_are_not_logs(full: tuple[Path, Manifest, list]) -> None:
    root, _, _ = full
    for path in root.rglob("*CloudTrail-Digest_*"):
        digest = json.loads(gzip.decompress(path.read_bytes()))
        assert "Records" not in digest
        assert digest["logFiles"]
        for entry in digest["logFiles"]:
            logged = (root / entry["s3Object"]).read_bytes()
            assert hashlib.sha256(logged).hexdigest() == entry["hashValue"]
    (insight,) = root.rglob("*CloudTrail-Insight_*")
    insights = json.loads(gzip.decompress(insight.read_bytes()))["Records"]
    assert {r["eventType"] for r in insights} == {"AwsCloudTrailInsight"}
    assert all("userIdentity" not in r for r in insights)


def test_organization_trail_with_prefix(tmp_path: Path) -> None:
    spec = CorpusSpec(seed=1, target_bytes=300_000, org_id="o-exampleorgid", prefix="logs/ct/")
    manifest = generate_corpus(tmp_path, spec)
    base = tmp_path / "logs" / "ct"
    assert (base / "manifest.json").is_file()
    assert Manifest.read(base / "manifest.json") == manifest
    files = [p.relative_to(base).as_posix() for p in base.rglob("*.json.gz")]
    assert files
    assert all(f.startswith("AWSLogs/o-exampleorgid/") for f in files)
    for path in log_files(base):
        match = LOG_DIR_RE.fullmatch(path.parent.relative_to(base).as_posix())
        assert match and match["org"] == "o-exampleorgid"


def test_plain_json_option(tmp_path: Path) -> None:
    generate_corpus(tmp_path, CorpusSpec(seed=2, target_bytes=300_000, gzip=False))
    logs = log_files(tmp_path)
    assert logs
    assert all(p.name.endswith(".json") for p in logs)
    assert all(isinstance(json.loads(p.read_bytes())["Records"], list) for p in logs)


def test_target_bytes_roughly_honoured(full: tuple[Path, Manifest, list]) -> None:
    root, manifest, _ = full
    raw = sum(len(gzip.decompress(p.read_bytes())) for p in log_files(root))
    assert raw == manifest.stats["raw_bytes"]
    assert 0.75 * FULL.target_bytes < raw < 1.3 * FULL.target_bytes
    stored = manifest.stats["stored_bytes"]
    assert 4 < raw / stored < 15  # realistically compressible, not a repeated template


def test_every_record_is_complete_and_where_cloudtrail_puts_it(
    full: tuple[Path, Manifest, list],
) -> None:
    root, _, found = full
    end = START + timedelta(days=FULL.days)
    copies = Counter(record["eventID"] for _, record in found)
    first_seen: set[str] = set()
    for path, record in found:
        assert record.keys() >= REQUIRED, record
        folder = LOG_DIR_RE.fullmatch(path.parent.relative_to(root).as_posix())
        assert record["awsRegion"] == folder["region"]
        assert record["recipientAccountId"] == folder["acct"]
        assert uuid.UUID(record["eventID"]).version == 4
        when = datetime.fromisoformat(record["eventTime"])
        delivered = delivery(path)
        assert START <= when < end
        assert when < delivered
        if copies[record["eventID"]] == 1 or record["eventID"] not in first_seen:
            assert delivered - timedelta(minutes=15) <= when  # a re-delivery can be later
        first_seen.add(record["eventID"])
        minor = int(record["eventVersion"].split(".")[1])
        assert ("managementEvent" in record) == (minor >= 6)
        assert ("eventCategory" in record) == (minor >= 7)
        if record["eventSource"].split(".")[0] in GLOBAL_SOURCES:
            assert record["awsRegion"] == "us-east-1"


def test_manifest_matches_a_direct_count(full: tuple[Path, Manifest, list]) -> None:
    _, manifest, found = full
    targets = {p["arn"] for p in manifest.principals}
    counted: dict[str, dict[tuple[str, str], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    seen: set[str] = set()
    for _, record in found:
        if record["eventType"] != "AwsApiCall" or record["eventID"] in seen:
            continue
        arn = principal_arn(record)
        if arn in targets:
            seen.add(record["eventID"])
            call = (record["eventSource"], record["eventName"])
            counted[arn][call][outcome_of(record.get("errorCode"))] += 1
    assert sum(len(calls) for calls in counted.values()) > 100
    for arn in targets:
        expected = {
            call: {o: n for o, n in outcomes.items() if n}
            for call, outcomes in manifest.calls(arn).items()
        }
        assert expected == {call: dict(c) for call, c in counted[arn].items()}, arn


def test_manifest_round_trips(full: tuple[Path, Manifest, list]) -> None:
    root, manifest, _ = full
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert Manifest.read(root / "manifest.json") == manifest
    assert manifest.params["seed"] == FULL.seed


def test_population_has_the_awkward_principals(full: tuple[Path, Manifest, list]) -> None:
    _, manifest, _ = full
    arns = {p["arn"] for p in manifest.principals}
    first, second = ACCOUNTS
    assert f"arn:aws:iam::{first}:user/dev/alice" in arns
    assert f"arn:aws:iam::{first}:user/deployer" in arns  # a user and a role share a name
    assert f"arn:aws:iam::{first}:role/app/deployer" in arns
    assert f"arn:aws:iam::{second}:role/app/deployer" in arns  # same role in both accounts
    assert any("role/aws-reserved/sso.amazonaws.com/" in arn for arn in arns)
    assert {p["kind"] for p in manifest.principals} == {"user", "role"}
    activity = sorted(sum(sum(o.values()) for o in manifest.calls(a).values()) for a in arns)
    assert activity[-1] > 10 * max(activity[0], 1)  # heavy hitters and rare ones


def test_records_cover_what_scanners_must_handle(full: tuple[Path, Manifest, list]) -> None:
    _, _, found = full
    recs = [r for _, r in found]
    names = {r["eventName"] for r in recs}
    sources = {r["eventSource"] for r in recs}
    identity_types = {r["userIdentity"].get("type") for r in recs}
    errors = {r.get("errorCode") for r in recs}
    assert {"IAMUser", "AssumedRole", "Root", "AWSService", "FederatedUser", "AWSAccount"} <= (
        identity_types
    )
    assert {"AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn", "AwsConsoleAction"} <= {
        r["eventType"] for r in recs
    }
    assert {
        "ListFunctions20150331",
        "GetFunction20150331v2",
        "UpdateFunctionCode20150331v2",
        "CreateDistribution2020_05_31",
        "ListClustersV2",
        "ListBuckets",
        "PutBucketReplication",
        "GetBucketEncryption",
        "ReEncrypt",
        "DescribeFluxCapacitors",
        "ConsoleLogin",
    } <= names
    assert {
        f"{s}.amazonaws.com"
        for s in ("monitoring", "email", "tagging", "apigateway", "quantumledger")
    } <= sources
    assert {
        "AccessDenied",
        "Client.UnauthorizedOperation",
        "NoSuchBucketPolicy",
        "Client.DryRunOperation",
        "ThrottlingException",
    } <= errors
    denials = [r["errorMessage"] for r in recs if r.get("errorCode") == "AccessDenied"]
    assert any(re.search(r"is not authorized to perform: s3:\w+ on resource: ", m) for m in denials)
    assert any(
        r["eventName"] == "Decrypt" and r["userIdentity"].get("invokedBy")
        for r in recs
        if r["userIdentity"].get("type") in ("IAMUser", "AssumedRole")
    )
    versions = {r["eventVersion"] for r in recs}
    assert {"1.05", "1.08", "1.11"} <= versions


def test_requests_carry_what_the_mapping_reads(full: tuple[Path, Manifest, list]) -> None:
    _, _, found = full
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, r in found:
        if not r.get("errorCode"):
            by_name[r["eventName"]].append(r)
    get = by_name["GetObject"][0]
    assert get["managementEvent"] is False or "managementEvent" not in get
    assert {res["type"] for res in get["resources"]} == {"AWS::S3::Object", "AWS::S3::Bucket"}
    assert {"bucketName", "key"} <= get["requestParameters"].keys()
    assert any("versionId" in r["requestParameters"] for r in by_name["GetObject"])
    assert "iamInstanceProfile" in by_name["RunInstances"][0]["requestParameters"]
    assert by_name["CreateFunction"][0]["requestParameters"]["role"].startswith("arn:aws:iam::")
    task = by_name["RegisterTaskDefinition"][0]["requestParameters"]
    assert {"taskRoleArn", "executionRoleArn"} <= task.keys()
    assert ":role/" in by_name["CreateStack"][0]["requestParameters"]["roleARN"]
    statements = {
        r["requestParameters"]["statement"].split()[0] for r in by_name["ExecuteStatement"]
    }
    assert {"SELECT", "INSERT", "UPDATE"} <= statements
    invoke = by_name["Invoke"][0]
    assert invoke["resources"][0]["type"] == "AWS::Lambda::Function"


def test_duplicates_and_cross_account_copies(full: tuple[Path, Manifest, list]) -> None:
    _, manifest, found = full
    where: dict[str, list[Path]] = defaultdict(list)
    shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path, record in found:
        where[record["eventID"]].append(path)
        if "sharedEventID" in record:
            shared[record["sharedEventID"]].append(record)
    redelivered = [paths for paths in where.values() if len(paths) > 1]
    assert len(redelivered) == manifest.stats["duplicate_records"] > 0
    assert all(len(set(paths)) == 2 for paths in redelivered)  # in a later file, not the same
    assert shared
    for copies in shared.values():
        assert len(copies) == 2
        assert {c["recipientAccountId"] for c in copies} == set(ACCOUNTS)
        assert len({c["eventID"] for c in copies}) == 2
        assert "AWSAccount" in {c["userIdentity"]["type"] for c in copies}


def test_some_events_arrive_in_the_next_days_folder(full: tuple[Path, Manifest, list]) -> None:
    _, _, found = full
    late = {
        path
        for path, record in found
        if record["eventTime"][:10].replace("-", "/") not in path.as_posix()
    }
    assert late
    last_day = (START + timedelta(days=FULL.days)).strftime("%Y/%m/%d")
    assert any(last_day in p.as_posix() for p in late)
