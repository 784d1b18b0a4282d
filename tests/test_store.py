"""The SQLite job store: schema versions, conditional state changes, paging, retention."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policygen.pipeline import TrailProperties
from policygen.server.store import SCHEMA_VERSION, JobSpec, Status, Store, StoreError
from policygen.server.store import JobRecord as Job

from logfactory import ACCOUNT, ROLE_ARN, USER_ARN

T0 = datetime(2026, 1, 10, tzinfo=UTC)
TRAIL = TrailProperties(
    "arn:aws:cloudtrail:us-east-1:111122223333:trail/main", ("eu-west-1",), False
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "jobs.sqlite")
    store.migrate()
    return store


def make_job(job_id: str, minutes: int = 0, principal: str = ROLE_ARN, **extra: object) -> Job:
    spec = JobSpec(principal, T0 - timedelta(days=1), T0, (TRAIL,))
    return Job(job_id, ACCOUNT, spec, T0 + timedelta(minutes=minutes), **extra)  # type: ignore[arg-type]


def test_migrate_creates_wal_database_once(store: Store) -> None:
    store.migrate()  # idempotent
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_or_foreign_database_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade policygen"):
        Store(newer).migrate()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store(junk).migrate()


def test_job_round_trips(store: Store) -> None:
    job = make_job("a", client_token="tok", request_hash="h", attempts=1)
    store.insert(job)
    loaded = store.get("a")
    assert loaded == job
    assert loaded.spec.trails == (TRAIL,)
    assert store.by_client_token(ACCOUNT, "tok") == job
    assert store.by_client_token("444455556666", "tok") is None


def test_a_job_leaves_in_progress_exactly_once(store: Store) -> None:
    store.insert(make_job("a"))
    assert store.finish("a", Status.CANCELED, T0)
    assert not store.finish("a", Status.SUCCEEDED, T0, analysis={"late": True})
    job = store.get("a", with_analysis=True)
    assert (job.status, job.completed_on, job.analysis) == (Status.CANCELED, T0, None)


def test_failure_and_result_are_stored(store: Store) -> None:
    store.insert(make_job("ok"))
    store.insert(make_job("bad"))
    store.finish("ok", Status.SUCCEEDED, T0, analysis={"actions": {}})
    store.finish("bad", Status.FAILED, T0, error=("SERVICE_ERROR", "boom"))
    assert store.get("ok", with_analysis=True).analysis == {"actions": {}}
    assert store.get("ok").analysis is None  # not loaded unless asked for
    failed = store.get("bad")
    assert (failed.error_code, failed.error_message) == ("SERVICE_ERROR", "boom")
    assert store.running(ACCOUNT) == []


def test_pages_are_newest_first_and_filtered(store: Store) -> None:
    for n in range(5):
        store.insert(make_job(f"j{n}", minutes=n, principal=USER_ARN if n == 2 else ROLE_ARN))
    first = store.page(principal_arn=None, before_seq=None, since=None, limit=2)
    assert [j.job_id for j in first] == ["j4", "j3"]
    rest = store.page(principal_arn=None, before_seq=first[-1].seq, since=None, limit=10)
    assert [j.job_id for j in rest] == ["j2", "j1", "j0"]
    roles = store.page(principal_arn=ROLE_ARN, before_seq=None, since=None, limit=10)
    assert "j2" not in [j.job_id for j in roles]
    recent = store.page(
        principal_arn=None, before_seq=None, since=T0 + timedelta(minutes=3), limit=9
    )
    assert [j.job_id for j in recent] == ["j4", "j3"]


def test_quota_counts_and_purge(store: Store) -> None:
    store.insert(make_job("old", minutes=-2000))
    store.insert(make_job("new"))
    store.finish("old", Status.CANCELED, T0)
    assert store.started_since(ACCOUNT, T0 - timedelta(days=1)) == 1
    assert store.running(ACCOUNT) == ["new"]
    assert store.purge(T0 - timedelta(days=1)) == 1
    assert store.get("old") is None


def test_client_token_is_unique_per_account(store: Store) -> None:
    store.insert(make_job("a", client_token="tok"))
    with pytest.raises(sqlite3.IntegrityError):
        store.insert(make_job("b", client_token="tok"))


def test_each_thread_has_its_own_connection(store: Store) -> None:
    store.insert(make_job("a"))
    seen: list[object] = []

    def read() -> None:
        seen.append((store.connection(), store.status("a")))

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert seen[0][0] is not store.connection()
    assert seen[0][1] is Status.IN_PROGRESS


def test_attempts_and_recovery_listing(store: Store) -> None:
    store.insert(make_job("a", attempts=1))
    store.count_attempt("a")
    assert [(j.job_id, j.attempts) for j in store.in_progress()] == [("a", 2)]


def test_spec_round_trips_with_its_access_role(store: Store) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/AccessAnalyzerMonitorServiceRole"
    spec = JobSpec(ROLE_ARN, T0 - timedelta(days=1), T0, (TRAIL,), role)
    assert JobSpec.from_json(spec.to_json()) == spec
    store.insert(Job("with-role", ACCOUNT, spec, T0))
    assert store.get("with-role").spec.access_role == role  # type: ignore[union-attr]
    bare = JobSpec(ROLE_ARN, T0 - timedelta(days=1), T0, (TRAIL,))
    assert "accessRole" not in bare.to_json()
    assert JobSpec.from_json(bare.to_json()).access_role is None


def test_page_filters_by_account(store: Store) -> None:
    store.insert(make_job("mine", 1))
    spec = JobSpec(ROLE_ARN, T0 - timedelta(days=1), T0, (TRAIL,))
    store.insert(Job("theirs", "444455556666", spec, T0 + timedelta(minutes=2)))
    page = store.page(principal_arn=None, before_seq=None, since=None, limit=5, account=ACCOUNT)
    assert [job.job_id for job in page] == ["mine"]
    everyone = store.page(principal_arn=None, before_seq=None, since=None, limit=5)
    assert [job.job_id for job in everyone] == ["theirs", "mine"]


def test_principal_filter_keeps_exactly_that_principals_jobs(store: Store) -> None:
    for n, principal in enumerate((ROLE_ARN, USER_ARN, ROLE_ARN)):
        store.insert(make_job(f"j{n}", minutes=n, principal=principal))
    users = store.page(principal_arn=USER_ARN, before_seq=None, since=None, limit=10)
    assert [j.job_id for j in users] == ["j1"]
    roles = store.page(principal_arn=ROLE_ARN, before_seq=None, since=None, limit=10)
    assert [j.job_id for j in roles] == ["j2", "j0"]


def test_status_of_an_unknown_job_is_none(store: Store) -> None:
    assert store.status("never-started") is None


def test_connections_wait_as_long_as_the_store_says(tmp_path: Path) -> None:
    """SQLite's busy timeout, in milliseconds, is the store's `timeout`."""
    store = Store(tmp_path / "jobs.sqlite", timeout=0.25)
    assert store.connection().execute("PRAGMA busy_timeout").fetchone()[0] == 250
    assert store.connection().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_close_ends_this_threads_connection(store: Store) -> None:
    first = store.connection()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")
    assert store.connection().execute("SELECT 1").fetchone()[0] == 1
    store.close()
    store.close()  # nothing left to close


def test_close_without_a_connection_does_nothing(tmp_path: Path) -> None:
    Store(tmp_path / "never-opened.sqlite").close()
    assert not (tmp_path / "never-opened.sqlite").exists()


def test_migrate_creates_the_missing_folders(tmp_path: Path) -> None:
    store = Store(tmp_path / "state" / "server" / "jobs.sqlite")
    store.migrate()
    assert store.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_job_without_a_result_stores_no_analysis_text(store: Store) -> None:
    store.insert(make_job("bad"))
    store.finish("bad", Status.FAILED, T0, error=("SERVICE_ERROR", "boom"))
    row = store.connection().execute("SELECT analysis FROM jobs WHERE job_id = 'bad'").fetchone()
    assert row[0] is None
