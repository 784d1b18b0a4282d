"""The Spark engine against the local engine: the same answer for every principal.

One local[2] SparkSession serves the whole module (they all run in one xdist worker, see
the `spark` group). Batches and Spark tasks are made tiny, so that even these small trails
go through many tasks and several waves of Spark jobs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from policygen import generate_policy
from policygen.cli import main
from policygen.core import aws
from policygen.index import UsageIndex
from policygen.pipeline import (
    GenerationResult,
    ScanOptions,
    TrailProperties,
    generate_all_policies,
    scan,
)
from policygen.scan import pool as fanout
from policygen.scan import spark
from policygen.scan.spark import SparkEngine
from policygen.scan.usage import Usage
from policygen.server import workers as jobs
from policygen.server.store import JobSpec
from policygen.sources.local import LocalFolder
from policygen.sources.remote import AwsSettings
from policygen.sources.s3 import S3Trail
from policygen.sources.trailset import TrailSet
from policygen_synth import CorpusSpec, Manifest, generate_corpus

import sparkhelp
from logfactory import ROLE_ARN, record, write_log
from motoserver import MotoServer, upload_tree
from scanhelp import EVERYTHING

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

START, END = "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"
TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
#: Set by .ci/run: a machine without pyspark or Java fails these tests instead of skipping.
REQUIRE_ENV = "POLICYGEN_REQUIRE_SPARK"


@pytest.fixture(scope="module")
def engine() -> Iterator[SparkEngine]:
    """The Spark engine on local[2], with tasks of a few files (a whole-trail scan takes
    two waves)."""
    reason = spark.unavailable()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    session = spark.session(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.driver.memory": "512m",
            "spark.python.worker.memory": "256m",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.addPyFile(sparkhelp.__file__)
    yield SparkEngine("local[2]", partition_bytes=64 * 1024)
    session.stop()


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of one file (on the driver, where batches are cut, for both engines)."""
    monkeypatch.setattr(fanout, "BATCH_BYTES", 1)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """An organization trail: three accounts, three regions, users and roles, re-delivered
    duplicates, cross-account copies, digests; plus a corrupt file and one not JSON."""
    root = tmp_path_factory.mktemp("org")
    spec = CorpusSpec(
        seed=5,
        days=2,
        accounts=("111122223333", "444455556666", "777788889999"),
        regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
        users_per_account=2,
        roles_per_account=3,
        target_bytes=2_500_000,
        records_per_file=(10, 40),
        org_id="o-exampleorgid",
    )
    manifest = generate_corpus(root, spec)
    assert manifest.stats["duplicate_records"] >= 10
    folder = next(root.glob("AWSLogs/*/111122223333/CloudTrail/us-east-1/2026/01/05"))
    name = "111122223333_CloudTrail_us-east-1_20260105T1200Z_{}.json.gz"
    (folder / name.format("Broken0000000000")).write_bytes(b"\x1f\x8b\x08broken")
    (folder / name.format("NotJson000000000")).write_bytes(b"not json")
    return root, manifest


def org_job(manifest: Manifest) -> JobSpec:
    """A server's job for the first principal of the organization's first account."""
    arn = next(p["arn"] for p in manifest.principals if ":111122223333:" in p["arn"])
    window = datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC)
    return JobSpec(arn, *window, (TrailProperties(TRAIL),))


def worker_config(data_dir: Path, location: str) -> jobs.WorkerConfig:
    """What a server's job worker is told, with the organization's trail at `location`."""
    return jobs.WorkerConfig(str(data_dir / "policygen.sqlite"), {TRAIL: location})


def document(result: GenerationResult) -> dict[str, Any]:
    """Everything a generation answers: the analysis and the policy in every rendering."""
    return {
        "analysis": result.analysis.to_dict(),
        "star": result.to_api(),
        "placeholders": result.to_api(placeholders=True),
        "observed": result.to_api(resources="observed", pass_role=True, dependent_actions=True),
    }


def usage_data(usage: Usage) -> dict[str, Any]:
    """A usage as plain data, resource facts and statistics included."""
    return {
        "calls": {key: dataclasses.astuple(stats) for key, stats in usage.calls.items()},
        "observed": {key: seen.to_dict() for key, seen in usage.observed.items()},
        "stats": dataclasses.asdict(usage.stats),
    }


def test_every_principal_of_an_org_trail_gets_the_local_engines_answer(
    org: tuple[Path, Manifest], engine: SparkEngine
) -> None:
    root, manifest = org
    window = {"start": START, "end": END, "use_index": False}
    local = generate_all_policies(root, start=START, end=END, workers=1)
    remote = generate_all_policies(root, start=START, end=END, engine=engine)
    assert [r.principal.arn for r in remote] == [r.principal.arn for r in local]
    assert {p["arn"] for p in manifest.principals} <= {r.principal.arn for r in local}
    stats = local[0].analysis.stats
    assert stats.duplicates > 0 and stats.files_skipped == 2
    for mine, theirs in zip(remote, local, strict=True):
        assert document(mine) == document(theirs), mine.principal.arn
    for described in manifest.principals:
        arn = described["arn"]
        alone = generate_policy(arn, root, engine=engine, **window)
        assert document(alone) == document(generate_policy(arn, root, workers=1, **window)), arn


def test_resources_beyond_the_scan_time_bound_keep_the_same_arns(
    logs: Path, engine: SparkEngine
) -> None:
    """Past 100 ARNs per kind of call, which ARNs are kept depends on the order in which
    batches are folded: Spark folds them in listing order too."""
    for hour in range(6):
        keys = [f"data/{(hour * 37 + i * 11) % 240:03d}.csv" for i in range(40)]
        calls = [
            record(
                ROLE_ARN,
                "s3.amazonaws.com",
                "GetObject",
                f"2026-01-05T{10 + hour:02d}:{i:02d}:00Z",
                requestParameters={"bucketName": "reports", "key": key},
                resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::reports/{key}"}],
            )
            for i, key in enumerate(keys)
        ]
        write_log(logs, calls, delivered=f"20260105T{10 + hour:02d}55Z")
    principal = ROLE_ARN
    local = scan(LocalFolder(logs), EVERYTHING, None, workers=1)[principal]
    remote = scan(LocalFolder(logs), EVERYTHING, None, engine=engine)[principal]
    [seen] = local.observed.values()
    assert seen.arn_overflow is not None
    assert usage_data(remote) == usage_data(local)


def test_executors_read_sources_without_local_paths(
    org: tuple[Path, Manifest], engine: SparkEngine
) -> None:
    root, _ = org
    source = sparkhelp.RemoteLike(str(root))
    local = scan(source, EVERYTHING, None, workers=1)
    remote = scan(source, EVERYTHING, None, engine=engine)
    assert local.keys() == remote.keys()
    for arn, usage in local.items():
        assert usage_data(remote[arn]) == usage_data(usage), arn


def test_a_trail_set_reads_on_executors_what_it_listed_on_the_driver(
    org: tuple[Path, Manifest], engine: SparkEngine
) -> None:
    """A job's trails: the set learns while listing which member reads which file."""
    root, _ = org
    accounts = sorted(root.glob("AWSLogs/*/*"))
    members = [(sparkhelp.RemoteLike(str(folder)), None) for folder in accounts]
    local = scan(TrailSet(list(members)), EVERYTHING, None, workers=1)
    remote = scan(TrailSet(list(members)), EVERYTHING, None, engine=engine)
    assert len(accounts) == 3 and local.keys() == remote.keys()
    for arn, usage in local.items():
        assert usage_data(remote[arn]) == usage_data(usage), arn


def test_s3_trails_on_spark(
    org: tuple[Path, Manifest],
    engine: SparkEngine,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Executors read S3 with boto3 (here moto, which they reach through the same
    environment as the driver), for a generation and for a server's job."""
    root, manifest = org
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    spark.session().sparkContext.environment.update(moto.env())
    aws.forget_clients()
    moto.client("s3").create_bucket(Bucket="t-spark-org")
    upload_tree(moto, root / "AWSLogs", "t-spark-org", "AWSLogs")
    bucket = S3Trail.from_url("s3://t-spark-org")
    local = generate_all_policies(bucket, start=START, end=END, workers=1)
    remote = generate_all_policies(bucket, start=START, end=END, engine=engine)
    assert [document(r) for r in remote] == [document(r) for r in local]
    folder = generate_all_policies(root, start=START, end=END, workers=1)
    assert [r.policies() for r in remote] == [r.policies() for r in folder]
    config = worker_config(tmp_path, bucket.describe())
    config = dataclasses.replace(config, aws=AwsSettings(service_last_accessed=False))
    on_s3 = jobs.generate(
        org_job(manifest), dataclasses.replace(config, scan=ScanOptions(engine=engine))
    )
    assert on_s3.to_dict() == jobs.generate(org_job(manifest), config).to_dict()


def test_an_executor_error_is_raised_on_the_driver_as_it_is(
    org: tuple[Path, Manifest], engine: SparkEngine
) -> None:
    root, _ = org
    with pytest.raises(sparkhelp.Refused, match="access denied reading") as raised:
        scan(sparkhelp.RefusingSource(str(root)), EVERYTHING, None, engine=engine)
    assert "raised on a Spark executor" in "".join(raised.value.__notes__)


def test_a_raising_progress_callback_stops_the_scan_and_spark_goes_on(
    org: tuple[Path, Manifest], engine: SparkEngine
) -> None:
    root, _ = org
    seen: list[str] = []

    def stop_after_three(obj: Any) -> None:
        seen.append(obj.key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan(LocalFolder(root), EVERYTHING, None, engine=engine, on_file=stop_after_three)
    assert len(seen) == 3
    after = scan(LocalFolder(root), EVERYTHING, None, engine=engine)
    assert after == scan(LocalFolder(root), EVERYTHING, None, workers=1)


def test_the_usage_index_built_on_spark_equals_the_local_one(
    org: tuple[Path, Manifest], engine: SparkEngine, tmp_path: Path
) -> None:
    root, _ = org
    many_waves = dataclasses.replace(engine, partition_bytes=8 * 1024)
    tables = {}
    for name, options in (("local", {"workers": 1}), ("spark", {"engine": many_waves})):
        path = tmp_path / f"{name}.sqlite"
        with UsageIndex(path) as index:
            report = index.ingest(root, **options)
        assert report.files_new == report.files_listed
        with sqlite3.connect(path) as db:
            tables[name] = {
                table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                if table == "recent"
                else sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in ("files", "calls", "recent")
            }
    assert tables["spark"] == tables["local"]
    assert tables["local"]["calls"]


def test_cli_generate_and_index_with_the_spark_engine(
    org: tuple[Path, Manifest],
    engine: SparkEngine,
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
) -> None:
    root, manifest = org
    arn = manifest.principals[0]["arn"]
    spark_flags = ["--engine", "spark", "--spark-master", "local[2]"]
    spark_flags += ["--spark-partition-mb", "0.01"]
    outputs = []
    for flags in ([], spark_flags):
        args = ["generate", "--principal", arn, "--logs", str(root), "--start", START]
        with pytest.raises(SystemExit) as done:
            main([*args, "--end", END, "--no-index", "--no-progress", *flags])
        assert done.value.code == 0
        outputs.append(capsys.readouterr())
    assert outputs[1].out == outputs[0].out
    assert json.loads(outputs[1].out)["generatedPolicies"]
    with pytest.raises(SystemExit) as done:
        main(["index", "--logs", str(root), "--no-progress", *spark_flags])
    assert done.value.code == 0
    assert "new files indexed" in capsys.readouterr().err


def test_server_jobs_run_on_spark(
    org: tuple[Path, Manifest], engine: SparkEngine, tmp_path: Path
) -> None:
    """What a server's job worker runs, given the `engine` setting."""
    root, manifest = org
    config = worker_config(tmp_path, str(root))
    local = jobs.generate(org_job(manifest), config)
    remote = jobs.generate(
        org_job(manifest), dataclasses.replace(config, scan=ScanOptions(engine=engine))
    )
    assert remote.to_dict() == local.to_dict()
