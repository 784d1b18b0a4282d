"""Choosing the scan engine, and the Spark engine's plan, without starting Spark."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from policygen.cli import main
from policygen.core.arns import Principal
from policygen.core.failures import AUTHORIZATION_ERROR, JobFailure
from policygen.scan import spark
from policygen.scan.pool import Batch
from policygen.scan.query import ScanQuery
from policygen.scan.spark import ExecutorError, SparkEngine, engine_named, split, wave_bytes, waves
from policygen.server.settings import ConfigError, load_settings
from policygen.sources.base import LogObject

START = "2026-01-05T00:00:00Z"


def batch(*sizes: int) -> Batch:
    return [(LogObject(f"f{size}-{at}", size), None) for at, size in enumerate(sizes)]


def stored(task: list[Batch]) -> int:
    return sum(obj.size for one in task for obj, _ in one)


def test_small_scans_are_spread_evenly_over_one_wave_of_tasks() -> None:
    batches = [batch(10, 5), batch(15), batch(10), batch(20), batch(5, 5, 10), batch(20)]
    [wave] = waves(iter(batches), tasks=4, budget=4000)
    assert [stored(task) for task in wave] == [30, 30, 20, 20]
    assert [b for task in wave for b in task] == batches


def test_large_scans_run_in_waves_of_full_tasks_in_listing_order() -> None:
    batches = [batch(5) for _ in range(50)]
    found = list(waves(iter(batches), tasks=2, budget=40))
    assert [len(wave) for wave in found] == [2] * 7
    assert [[len(task) for task in wave] for wave in found] == [[4, 4]] * 6 + [[1, 1]]
    assert [b for wave in found for task in wave for b in task] == batches


def test_a_wave_never_has_more_tasks_than_asked_nor_empty_ones() -> None:
    assert split([batch(100)], 4) == [[batch(100)]]
    for sizes in ([0, 0, 0], [1, 1000, 1, 1], [1000, 1, 1, 1, 1]):
        tasks = split([batch(size) for size in sizes], 2)
        assert 1 <= len(tasks) <= 2 and all(tasks)
        assert [b for task in tasks for b in task] == [batch(size) for size in sizes]


def test_all_principals_waves_are_capped_for_the_drivers_memory() -> None:
    one = ScanQuery(Principal.parse("arn:aws:iam::111122223333:role/app"), START, START)
    everyone = ScanQuery(None, START, START)
    assert wave_bytes(one, 400, 32 * 2**20) == 400 * 32 * 2**20
    assert wave_bytes(everyone, 400, 32 * 2**20) == spark.ALL_PRINCIPALS_WAVE_BYTES
    assert wave_bytes(everyone, 4, 1000) == 4000


def test_engine_names() -> None:
    assert engine_named("local") is None
    with pytest.raises(ValueError, match="needs the spark engine"):
        engine_named("local", master="local[2]")
    with pytest.raises(ValueError, match="local or spark"):
        engine_named("flink")


@pytest.fixture
def no_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_pyspark(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pyspark)


def test_without_pyspark_the_spark_engine_says_what_to_install(no_pyspark: None) -> None:
    assert "pip install 'policygen[spark]'" in (spark.unavailable() or "")
    with pytest.raises(spark.SparkUnavailable, match=r"policygen\[spark\]"):
        SparkEngine().check()


def test_without_java_the_spark_engine_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv(spark.GATEWAY_ENV, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "Java runtime" in (spark.unavailable() or "")


def test_an_executor_error_that_cannot_travel_becomes_a_runtime_error() -> None:
    class TwoArguments(Exception):
        def __init__(self, code: str, message: str) -> None:
            super().__init__(message)
            self.code = code

    carried = ExecutorError.of(TwoArguments("AUTHORIZATION_ERROR", "refused")).error
    assert isinstance(carried, RuntimeError)
    assert str(carried) == "TwoArguments: refused"
    assert ExecutorError.of(KeyError("gone")).error.args == ("gone",)
    refused = ExecutorError.of(JobFailure(AUTHORIZATION_ERROR, "s3:GetObject denied")).error
    assert isinstance(refused, JobFailure) and refused.code == AUTHORIZATION_ERROR


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--spark-master", "local[2]"], "needs the spark engine"),
        (["--spark-partition-mb", "8"], "needs the spark engine"),
        (["--engine", "spark", "--workers", "2"], "--workers goes with --engine local"),
    ],
)
def test_cli_engine_flags_that_do_not_fit_are_input_errors(
    flags: list[str], message: str, logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    principal = "arn:aws:iam::111122223333:role/app/deployer"
    with pytest.raises(SystemExit) as done:
        main(["generate", "--principal", principal, "--logs", str(logs), *flags])
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_spark_without_pyspark_is_an_input_error(
    no_pyspark: None, logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["index", "--logs", str(logs), "--engine", "spark"])
    assert done.value.code == 2
    assert "policygen[spark]" in capsys.readouterr().err


#: Server settings need access keys unless authentication is off (on loopback).
NO_AUTH = {"auth": False}


def test_server_engine_settings(tmp_path: Path, no_pyspark: None) -> None:
    config = tmp_path / "policygen.toml"
    config.write_text('engine = "spark"\nspark_master = "spark://head:7077"\n')
    with pytest.raises(ConfigError, match=r"policygen\[spark\]"):
        load_settings(NO_AUTH, config_file=config, environ={})
    with pytest.raises(ConfigError, match="needs the spark engine"):
        load_settings(NO_AUTH, environ={"POLICYGEN_SPARK_MASTER": "yarn"})
    with pytest.raises(ConfigError, match="local or spark"):
        load_settings(NO_AUTH, environ={"POLICYGEN_ENGINE": "ray"})
    assert load_settings(NO_AUTH, environ={}).scan_engine() is None


def test_hadoop_s3_urls_are_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    principal = "arn:aws:iam::111122223333:role/app/deployer"
    with pytest.raises(SystemExit) as done:
        main(["generate", "--principal", principal, "--logs", "s3a://trail-bucket/logs"])
    assert done.value.code == 2
    assert "s3a:// is Hadoop's: give s3://bucket/prefix" in capsys.readouterr().err
