"""Running policy generations in worker processes, never on the server's event loop.

A worker runs the same library functions as `policygen generate` (`collect_usage`, then
`analyse`) and writes the outcome to the job store itself. After every log file it checks
whether the job was canceled (the status in the store) or the server is going away, and
stops; so a cancellation takes effect within one file's read, and a job interrupted by a
shutdown stays `IN_PROGRESS` for the next start to resume.

A shutdown is bounded: queued jobs are left for the next start at once, running ones get
a grace period to finish, then are told to stop, and workers that do not stop within
`STOP_SECONDS` (stuck in one huge file, or frozen) are killed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

from policygen.core.arns import Principal
from policygen.core.failures import (
    AUTHORIZATION_ERROR,
    RESOURCE_NOT_FOUND_ERROR,
    SERVICE_ERROR,
    JobFailure,
)
from policygen.core.time import now
from policygen.iam import catalogue
from policygen.iam.analysis import Analysis, AnalysisOptions, DeniedMode, analyse
from policygen.pipeline import ScanOptions, collect_usage
from policygen.policy import lastaccessed
from policygen.server.settings import ServerSettings
from policygen.server.store import JobSpec, Status, Store
from policygen.sources.base import LogObject, Selection, TrailSource
from policygen.sources.open import open_location
from policygen.sources.remote import AwsSettings, RemoteTrails
from policygen.sources.trailset import TrailSet, trail_regions

log = logging.getLogger("policygen.server.workers")

#: How long workers told to stop may take to reach the end of their file before they are killed.
STOP_SECONDS = 3.0


class JobCanceled(Exception):
    """The job was canceled while it ran."""


class JobInterrupted(Exception):
    """The server is shutting down (or died): leave the job for the next start to resume."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker needs to run any job (picklable: it crosses into the worker process)."""

    db_path: str
    trails: Mapping[str, str]
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    db_timeout: float = 5.0
    aws: AwsSettings = field(default_factory=AwsSettings)
    #: how scans run: `max_file_bytes`, and the `engine` setting's engine (None: this machine).
    scan: ScanOptions = field(default_factory=ScanOptions)

    @classmethod
    def for_settings(cls, settings: ServerSettings) -> WorkerConfig:
        """What the server's settings tell every worker."""
        denied = cast(DeniedMode, settings.denied)
        return cls(
            str(settings.db_path),
            dict(settings.trails),
            AnalysisOptions(denied=denied, data_events=settings.data_events),
            settings.db_timeout,
            AwsSettings(
                settings.resolve_trails, settings.access_role_mode, settings.service_last_accessed
            ),
            ScanOptions(engine=settings.scan_engine(), max_file_bytes=settings.max_file_bytes),
        )


def open_trails(
    spec: JobSpec, locations: Mapping[str, str], remote: RemoteTrails | None = None
) -> TrailSet:
    """The job's trails as one source; a trail not configured or not found fails the job.

    Trails in S3 (`s3://` locations, or found with GetTrail) are opened by `remote`.
    """
    remote = remote or RemoteTrails(spec.access_role)
    members: list[tuple[TrailSource, frozenset[str] | None]] = []
    for trail in spec.trails:
        arn = trail.cloud_trail_arn
        location = locations.get(arn)
        if remote.handles(location):
            members.append((remote.open(arn, location), trail_regions(trail)))
            continue
        if location is None:
            raise JobFailure(
                RESOURCE_NOT_FOUND_ERROR,
                f"trail {arn} is not configured on this server "
                "(serve --trail ARN=LOCATION, or --resolve-trails to find it with GetTrail)",
            )
        folder = Path(location)
        if not folder.exists():
            raise JobFailure(RESOURCE_NOT_FOUND_ERROR, f"trail {arn}: no such folder {folder}")
        if not os.access(folder, os.R_OK):
            raise JobFailure(AUTHORIZATION_ERROR, f"trail {arn}: cannot read folder {folder}")
        members.append((open_location(folder).source, trail_regions(trail)))
    return TrailSet(members)


def generate(
    spec: JobSpec, config: WorkerConfig, on_file: Callable[[LogObject], None] | None = None
) -> Analysis:
    """Scan the job's trails (as `config.scan` says), or read the usage index beside the job
    database when it covers the job, and analyse the usage: what `policygen generate` does."""
    principal = Principal.parse(spec.principal_arn)
    remote = RemoteTrails(spec.access_role, config.aws)
    source = open_trails(spec, config.trails, remote)
    selection = Selection(spec.start, spec.end, source.regions, frozenset({principal.account}))
    options = replace(config.scan, on_file=on_file, data_dir=Path(config.db_path).parent)
    try:
        usage = collect_usage(principal, source, selection, options)
    except PermissionError as exc:
        raise JobFailure(AUTHORIZATION_ERROR, f"cannot read the trail's logs: {exc}") from None
    analysis = analyse(usage, config.options)
    if remote.access is not None and remote.settings.service_last_accessed:
        lastaccessed.apply(analysis, remote.access, principal, spec.start)
    return analysis


class Watch:
    """The per-file progress callback that stops a job when it should stop."""

    def __init__(self, store: Store, job_id: str, stop: Any, parent_pid: int) -> None:
        self.store, self.job_id, self.stop, self.parent_pid = store, job_id, stop, parent_pid

    def __call__(self, obj: LogObject | None = None) -> None:
        if (self.stop is not None and self.stop.is_set()) or os.getppid() != self.parent_pid:
            raise JobInterrupted
        if self.store.status(self.job_id) is not Status.IN_PROGRESS:
            raise JobCanceled


# --- in the worker process -----------------------------------------------------------

_stop_event: Any = None
_parent_pid: int = 0


def init_worker(stop_event: Any, parent_pid: int) -> None:
    """Worker start-up: remember the shutdown flag, leave Ctrl-C to the server, and exit
    when the server is gone (a killed server must not leave workers behind)."""
    global _stop_event, _parent_pid
    _stop_event, _parent_pid = stop_event, parent_pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    gone = threading.Event()
    while not gone.wait(1.0):  # a liveness poll, not synchronisation
        if os.getppid() != parent_pid:
            os._exit(0)


def warm_up() -> str:
    """Load the IAM catalogue, so that the first job does not pay for it."""
    return f"pid {os.getpid()}, catalogue {catalogue.version()}"


def run_job(config: WorkerConfig, job_id: str) -> str:
    """Run one job and record its outcome; returns what became of it, for the server log."""
    store = Store(Path(config.db_path), timeout=config.db_timeout)
    try:
        return _run(store, job_id, config)
    finally:
        store.close()


def _run(store: Store, job_id: str, config: WorkerConfig) -> str:
    watch = Watch(store, job_id, _stop_event, _parent_pid or os.getppid())
    try:
        job = store.get(job_id)
        if job is None or job.status is not Status.IN_PROGRESS:
            return "not in progress"
        analysis = generate(job.spec, config, on_file=watch)
    except JobCanceled:
        return Status.CANCELED
    except JobInterrupted:
        return "interrupted, left for the next start"
    except JobFailure as exc:
        store.finish(job_id, Status.FAILED, now(), error=(exc.code, exc.message))
        return f"{Status.FAILED} ({exc.code}: {exc.message})"
    except Exception as exc:
        message = f"policy generation failed: {type(exc).__name__}: {exc}"
        store.finish(job_id, Status.FAILED, now(), error=(SERVICE_ERROR, message))
        return f"{Status.FAILED} ({message})"
    if store.finish(job_id, Status.SUCCEEDED, now(), analysis=analysis.to_dict()):
        return Status.SUCCEEDED
    return "finished after it was canceled; result dropped"


# --- in the server process -----------------------------------------------------------


def _log_ready(future: Future[str]) -> None:
    if not future.cancelled() and future.exception() is None:
        log.info("worker ready: %s", future.result())


class JobRunner:
    """A pool of worker processes (spawned, so no state is shared by accident).

    `on_lost(job_id, reason)` is told about jobs whose worker died without recording an
    outcome; the pool is replaced so later jobs still run.
    """

    def __init__(
        self,
        config: WorkerConfig,
        workers: int,
        on_lost: Callable[[str, str], None],
    ) -> None:
        self.config = config
        self.workers = workers
        self.on_lost = on_lost
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._jobs: set[Future[str]] = set()
        self._closing = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=self._context,
            initializer=init_worker,
            initargs=(self._stop, os.getpid()),
        )

    def warm_up(self) -> None:
        """Start workers (at least one) and load the catalogue now, not on the first job."""
        with self._lock:
            futures = [self._pool.submit(warm_up) for _ in range(self.workers)]
        for future in futures:
            future.add_done_callback(_log_ready)

    def submit(self, job_id: str) -> None:
        """Queue a job for the next free worker (after a shutdown began: for the next start)."""
        with self._lock:
            if self._closing:
                return
            pool = self._pool
            future = pool.submit(run_job, self.config, job_id)
            self._jobs.add(future)
        future.add_done_callback(partial(self._done, job_id, pool))

    def _done(self, job_id: str, pool: ProcessPoolExecutor, future: Future[str]) -> None:
        with self._lock:
            self._jobs.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            log.info("job %s: %s", job_id, future.result())
            return
        if isinstance(error, BrokenProcessPool):
            with self._lock:
                if self._pool is pool and not self._closing:
                    self._pool = self._new_pool()
            reason = "the worker process running it died"
        else:
            reason = f"{type(error).__name__}: {error}"
        if not self._stop.is_set():
            log.error("job %s: %s", job_id, reason)
            self.on_lost(job_id, reason)

    def shutdown(self, grace: float = 0) -> None:
        """Stop the workers within `grace` + `STOP_SECONDS` seconds.

        Queued jobs stay `IN_PROGRESS` for the next start; running ones may finish within
        `grace`, then stop at their next file (and are resumed at the next start too).
        """
        with self._lock:
            self._closing = True
            pool, jobs = self._pool, list(self._jobs)
        running = [job for job in jobs if not job.cancel()]
        if running:
            log.info("shutdown: waiting up to %gs for %d running job(s)", grace, len(running))
            running = list(wait(running, timeout=grace).not_done)
        self._stop.set()
        if running:
            log.info("shutdown: stopping %d job(s) at their next file", len(running))
            if wait(running, timeout=STOP_SECONDS).not_done:
                _kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's workers (their jobs resume at the next start). Python 3.14 has
    `kill_workers`; before it, the pool's process table is the only handle on them."""
    log.warning("shutdown: killing the workers that did not stop")
    if hasattr(pool, "kill_workers"):
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
