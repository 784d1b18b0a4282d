"""Scans on Apache Spark, for trails one machine cannot read in minutes (`--engine spark`).

The driver (this process) lists the files and cuts them into the same batches as the
local engine (`pool.batches`: consecutive files of one stream). Executors run the
scanner's own worker function (`scan_batch`) over tasks of consecutive batches, reading
the files themselves, and send back each batch's compact result. The driver folds the
results in listing order with the local engine's code (`Scan.add_batch`), which is also
where re-delivered duplicates are dropped: the answer is the local engine's, whatever the
cluster, partitioning or timing.

Memory on the driver stays bounded: tasks run in waves of a few per core, at most two
waves in flight (the next one runs while this one is folded), as separate Spark jobs.
Each wave broadcasts the source as it is by then, so a source that learns while listing
how to read what it listed (a job's `TrailSet` of local and S3 trails) works too.

pyspark is imported only here, and only when a scan runs on Spark, so policygen works
without the `spark` extra. A source works on Spark when it pickles and its `read` works in
another process; local paths must be the same on every executor (local mode, a shared
file system).
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import traceback
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from policygen.scan import pool
from policygen.scan.pool import Batch
from policygen.scan.query import ScanQuery
from policygen.scan.tally import BatchResult, scan_batch

#: Stored bytes per Spark task once a job fills whole waves (smaller jobs are spread
#: evenly over a wave's tasks).
DEFAULT_PARTITION_BYTES = 32 * 1024 * 1024
#: Stored bytes per wave of an all-principals scan, at most (about 10 million records, whose
#: eventIDs come back to the driver: some 1.3 GB of Python objects).
ALL_PRINCIPALS_WAVE_BYTES = 1024 * 1024 * 1024
#: Tasks per wave, per core of the cluster; waves in flight at once.
TASKS_PER_CORE = 2
WAVES_IN_FLIGHT = 2
APP_NAME = "policygen"
#: Set by spark-submit (and notebooks) when the JVM is already there.
GATEWAY_ENV = "PYSPARK_GATEWAY_PORT"

Task = list[Batch]


class SparkUnavailable(RuntimeError):
    """Spark cannot run here (pyspark or a Java runtime missing); the message says what to do."""


def unavailable() -> str | None:
    """Why a Spark session cannot be started in this process, or None when it can."""
    try:
        from pyspark import SparkContext
    except ImportError:
        return "the Spark engine needs pyspark: pip install 'policygen[spark]'"
    if SparkContext._active_spark_context is not None or os.environ.get(GATEWAY_ENV):
        return None
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return None
    if shutil.which("java") is None:
        return (
            "the Spark engine needs a Java runtime (17 or newer): install one"
            " (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return None


def session(master: str | None = None, conf: Mapping[str, str] | None = None) -> Any:
    """The process's SparkSession, started on first use.

    `master` None keeps what spark-submit (or spark-defaults.conf) says, else `local[*]`.
    A session that already exists (spark-submit, a notebook) is used as it is. In local
    mode the executors' Python is this one, so that they import the same policygen.
    """
    reason = unavailable()
    if reason is not None:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession

    if (master is None or master.startswith("local")) and not os.environ.get(GATEWAY_ENV):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(APP_NAME).config("spark.ui.showConsoleProgress", "false")
    if master is not None:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@dataclass(frozen=True, slots=True)
class SparkEngine:
    """Run scans on Spark (`pool.Engine`); picklable, so a server's job workers get it.

    `master` is a Spark master URL (`local[2]`, `spark://host:7077`, `yarn`, ...), None
    for spark-submit's or `local[*]`; `partition_bytes` the stored (gzip) bytes per task.
    """

    master: str | None = None
    partition_bytes: int = DEFAULT_PARTITION_BYTES

    def check(self) -> None:
        """Raise SparkUnavailable now rather than at the first scan."""
        reason = unavailable()
        if reason is not None:
            raise SparkUnavailable(reason)
        if self.partition_bytes < 1:
            raise ValueError("the Spark partition size must be at least one byte")

    def results(
        self, source: Any, batches: Iterator[Batch], query: ScanQuery
    ) -> Iterator[tuple[Batch, BatchResult]]:
        """Each batch with its result, in order (see the module's docstring)."""
        context = session(self.master).sparkContext
        group = f"{APP_NAME}-{uuid.uuid4().hex}"
        tasks = TASKS_PER_CORE * max(1, context.defaultParallelism)
        pool = ThreadPoolExecutor(WAVES_IN_FLIGHT, thread_name_prefix="policygen-spark")
        flight: deque[_Wave] = deque()
        try:
            for wave in waves(batches, tasks, wave_bytes(query, tasks, self.partition_bytes)):
                flight.append(_Wave.submit(pool, context, group, source, query, wave))
                if len(flight) >= WAVES_IN_FLIGHT:
                    yield from flight.popleft().results()
            while flight:
                yield from flight.popleft().results()
        finally:
            if flight:
                context.cancelJobGroup(group)
            pool.shutdown(wait=True, cancel_futures=True)
            for wave in flight:
                wave.shared.destroy()


@dataclass(slots=True)
class _Wave:
    """One Spark job in flight: its tasks, what they share, and its outcome to come."""

    tasks: list[Task]
    shared: Any
    outcome: Future[list[Any]]

    @classmethod
    def submit(
        cls,
        pool: ThreadPoolExecutor,
        context: Any,
        group: str,
        source: Any,
        query: ScanQuery,
        tasks: list[Task],
    ) -> _Wave:
        """Start the job. The source is sent with each wave, as it is once these files are
        listed: a source may learn while listing how to read what it listed (`TrailSet`)."""
        shared = context.broadcast((source, query))
        return cls(tasks, shared, pool.submit(_run_wave, context, group, shared, tasks))

    def results(self) -> Iterator[tuple[Batch, BatchResult]]:
        """Each batch with its result, in order; an executor's error is raised here."""
        try:
            outcomes = self.outcome.result()
        finally:
            self.shared.destroy()
        for task, outcome in zip(self.tasks, outcomes, strict=True):
            if isinstance(outcome, ExecutorError):
                raise outcome.error
            yield from zip(task, outcome, strict=True)


def _stored(batch: Batch) -> int:
    return sum(obj.size for obj, _ in batch)


def wave_bytes(query: ScanQuery, tasks: int, partition_bytes: int) -> int:
    """Stored bytes per wave: `tasks` partitions, but for an all-principals scan at most
    `ALL_PRINCIPALS_WAVE_BYTES`, since its results carry every record's eventID to the
    driver (for de-duplication), and the driver holds two waves of them."""
    budget = tasks * partition_bytes
    return budget if query.principal is not None else min(budget, ALL_PRINCIPALS_WAVE_BYTES)


def waves(batches: Iterable[Batch], tasks: int, budget: int) -> Iterator[list[Task]]:
    """Consecutive batches, `budget` stored bytes per wave, each wave cut into at most
    `tasks` consecutive tasks of about equal stored bytes."""
    wave: list[Batch] = []
    stored = 0
    for batch in batches:
        wave.append(batch)
        stored += _stored(batch)
        if stored >= budget:
            yield split(wave, tasks)
            wave, stored = [], 0
    if wave:
        yield split(wave, tasks)


def split(wave: list[Batch], tasks: int) -> list[Task]:
    """`wave` in at most `tasks` consecutive runs of about equal stored bytes."""
    share = max(1, sum(_stored(batch) for batch in wave)) / tasks
    runs: list[Task] = []
    run: Task = []
    done = 0
    for batch in wave:
        run.append(batch)
        done += _stored(batch)
        if len(runs) < tasks - 1 and done >= share * (len(runs) + 1):
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def _run_wave(context: Any, group: str, shared: Any, wave: list[Task]) -> list[Any]:
    """One Spark job: a task per run of batches; results in the wave's order."""
    context.setJobGroup(group, "policygen scan", interruptOnCancel=True)
    return context.parallelize(wave, len(wave)).map(partial(scan_task, shared)).collect()


def scan_task(shared: Any, task: Task) -> list[BatchResult] | ExecutorError:
    """On an executor: scan each batch of the task. Local files are opened by the scanner;
    the others are read from the source, the whole task's in one go (S3: concurrently)."""
    source, query = shared.value
    objs = (obj for batch in task for obj, _ in batch)
    try:
        with pool.no_gc(), closing(pool.contents(source, objs)) as read:
            return [
                scan_batch(query, pool.file_tasks(list(islice(read, len(batch))), query))
                for batch in task
            ]
    except Exception as exc:  # sent back, so that the driver raises it as it is
        return ExecutorError.of(exc)


@dataclass(frozen=True, slots=True)
class ExecutorError:
    """An exception raised on an executor, carried back to be raised on the driver with
    its own type (a refused read stays what it is), or as RuntimeError if it cannot be."""

    error: BaseException

    @classmethod
    def of(cls, exc: BaseException) -> ExecutorError:
        where = "".join(traceback.format_exception(exc)).rstrip()
        try:
            copy = pickle.loads(pickle.dumps(exc))
        except Exception:
            copy = RuntimeError(f"{type(exc).__name__}: {exc}")
        copy.add_note(f"raised on a Spark executor:\n{where}")
        return cls(copy)


def engine_named(
    name: str, *, master: str | None = None, partition_mb: float | None = None
) -> SparkEngine | None:
    """The engine a CLI flag or server setting names: None for `local` (worker processes
    here), a checked `SparkEngine` for `spark`. Spark settings without Spark are errors."""
    if name == "local":
        if master is not None or partition_mb is not None:
            raise ValueError("a Spark master or partition size needs the spark engine")
        return None
    if name != "spark":
        raise ValueError(f"engine must be local or spark, not {name!r}")
    size = DEFAULT_PARTITION_BYTES if partition_mb is None else int(partition_mb * 1024 * 1024)
    engine = SparkEngine(master or None, size)
    engine.check()
    return engine
