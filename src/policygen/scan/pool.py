"""Spreading a scan over worker processes, and folding the results back in listing order.

Files are grouped into batches of consecutive files of one stream (a few MB stored), so
that inter-process traffic is one small message per batch. Workers open local files
themselves; only the bytes of non-local objects travel, read here through the source's
bulk reader when it has one (S3 fetches ahead, concurrently). At most two batches per worker
are in flight, so memory is bounded by the batch size, not by the trail. Results are
folded in the order the files were listed, so a parallel scan gives exactly what a
sequential one gives, and the progress callback runs here, in the parent, as results come
in; if it raises (a job being canceled), outstanding work is dropped and the error goes
up to the caller.

Small jobs (a few MB) run in this process: starting workers would cost more than it saves.

Another `Engine` (Apache Spark, `policygen.scan.spark`) can run the batches instead of the
worker processes: it gets the same batches, unread (its executors read the files), and
returns their results in the same order; they are folded here the same way, so the answer
does not depend on the engine.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, contextmanager
from typing import Any, Protocol

from policygen.cloudtrail.layout import delivery_of
from policygen.scan.query import ScanQuery
from policygen.scan.tally import FileTask, scan_batch, task_for
from policygen.sources.base import LogObject, iter_contents

#: Stored (usually gzip) bytes per batch, and files per batch, at most.
BATCH_BYTES = 2 * 1024 * 1024
BATCH_FILES = 64
#: Below this many stored bytes in all, the scan runs in this process.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
#: Environment variable that sets the default number of worker processes.
WORKERS_ENV = "POLICYGEN_WORKERS"

Content = tuple[LogObject, "bytes | OSError | None"]
Batch = list[Content]
Fold = Callable[[list[LogObject], Any], None]
Progress = Callable[[LogObject], None]


class Engine(Protocol):
    """Runs batches elsewhere than in this machine's worker processes (a Spark cluster)."""

    def results(
        self, source: Any, batches: Iterator[Batch], query: ScanQuery
    ) -> Iterator[tuple[Batch, Any]]:
        """Each batch (its files not read yet) with its `scan_batch` result, in order.

        Closing the iterator early (the progress callback raised) drops outstanding work.
        """
        ...


def default_workers() -> int:
    """`POLICYGEN_WORKERS`, else the CPUs this process may run on."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number, not {configured!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def contents(source: Any, objs: Iterable[LogObject]) -> Iterator[Content]:
    """Each object with what a worker needs to scan it: nothing for a local file (the
    worker opens it), else its bytes (or the OSError reading it), read here, in bulk when
    the source can (`sources.iter_contents`: remote sources fetch ahead, concurrently).
    From the first non-local object on, every object is read here."""
    pending = iter(objs)
    for obj in pending:
        if obj.path is None:
            yield from iter_contents(source, itertools.chain([obj], pending))
            return
        yield obj, None


def batches(items: Iterable[Content]) -> Iterator[Batch]:
    """Consecutive files of one stream, up to `BATCH_BYTES` stored or `BATCH_FILES` files."""
    batch: Batch = []
    size, stream = 0, None
    for item in items:
        obj = item[0]
        obj_stream = delivery_of(obj.key).stream
        if batch and (
            obj_stream != stream or size + obj.size > BATCH_BYTES or len(batch) >= BATCH_FILES
        ):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += obj.size
        stream = obj_stream
    if batch:
        yield batch


def _worker_init() -> None:
    """Worker start-up: Ctrl-C is the parent's to handle; no cyclic GC (nothing cycles)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic collector: a scan allocates many objects and creates no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _context(query: ScanQuery) -> Any:
    """fork where it is safe and cheap (Linux, one thread), else spawn.

    Before a fork what the query's fact rules need (the IAM catalogue) is loaded here,
    once, rather than in every worker.
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        if query.rules is not None:
            query.rules.warm()
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def file_tasks(batch: Batch, query: ScanQuery) -> list[FileTask]:
    """The `scan_batch` tasks of a batch whose contents are read (or local)."""
    return [task_for(obj, data, query) for obj, data in batch]


def run(
    source: Any,
    objs: Iterable[LogObject],
    query: ScanQuery,
    fold: Fold,
    *,
    workers: int | None = None,
    on_file: Progress | None = None,
    engine: Engine | None = None,
) -> None:
    """Scan `objs` of `source` for `query`; each batch's result goes to `fold`, in order.

    `engine` None scans here, in `workers` processes; otherwise the engine runs the batches.
    """
    if engine is not None:
        unread = batches((obj, None) for obj in objs)
        with no_gc(), closing(engine.results(source, unread, query)) as results:
            for batch, result in results:
                _done(batch, result, fold, on_file)
        return
    workers = default_workers() if workers is None else max(1, workers)
    pending = batches(contents(source, objs))
    head: list[Batch] = []
    stored = 0
    if workers > 1:
        for batch in pending:
            head.append(batch)
            stored += sum(obj.size for obj, _ in batch)
            if stored >= PARALLEL_MIN_BYTES:
                break
    ahead = iter(head)
    with no_gc():
        if workers > 1 and stored >= PARALLEL_MIN_BYTES:
            _parallel(_chain(ahead, pending), query, fold, workers, on_file)
        else:
            for batch in _chain(ahead, pending):
                _done(batch, scan_batch(query, file_tasks(batch, query)), fold, on_file)


def _chain(first: Iterator[Batch], rest: Iterator[Batch]) -> Iterator[Batch]:
    yield from first
    yield from rest


def _done(batch: Batch, result: Any, fold: Fold, on_file: Progress | None) -> None:
    objs = [obj for obj, _ in batch]
    fold(objs, result)
    if on_file is not None:
        for obj in objs:
            on_file(obj)


def _parallel(
    pending: Iterator[Batch],
    query: ScanQuery,
    fold: Fold,
    workers: int,
    on_file: Progress | None,
) -> None:
    pool = ProcessPoolExecutor(workers, mp_context=_context(query), initializer=_worker_init)
    flight: deque[tuple[Batch, Future[Any]]] = deque()
    try:
        for batch in pending:
            flight.append((batch, pool.submit(scan_batch, query, file_tasks(batch, query))))
            while len(flight) >= 2 * workers:
                done, future = flight.popleft()
                _done(done, future.result(), fold, on_file)
        while flight:
            done, future = flight.popleft()
            _done(done, future.result(), fold, on_file)
    finally:
        for _, future in flight:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
