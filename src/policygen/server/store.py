"""The durable job store: one SQLite database (WAL) that the server and its workers share.

Every state change is a single conditional statement, so the database settles races: a
job leaves `IN_PROGRESS` exactly once, whether a worker finishes it, a user cancels it or
start-up recovery fails it. Each thread (and process) gets its own connection; WAL lets
readers go on while a worker writes a result. Writes from one process's threads take
turns on a lock before they reach SQLite: SQLite's own busy wait sleeps in steps of up
to 100 ms, which under load would stall every thread of the server's pool.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from policygen.core.time import format_time, parse_time
from policygen.sources.trailset import TrailProperties

#: The schema, one script per version; `PRAGMA user_version` records how far a file is.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        principal_arn TEXT NOT NULL,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        started_on TEXT NOT NULL,
        completed_on TEXT,
        error_code TEXT,
        error_message TEXT,
        analysis TEXT,
        client_token TEXT,
        request_hash TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX jobs_client_token ON jobs (account, client_token)
        WHERE client_token IS NOT NULL;
    CREATE INDEX jobs_account_status ON jobs (account, status);
    CREATE INDEX jobs_account_started ON jobs (account, started_on);
    CREATE INDEX jobs_principal ON jobs (principal_arn, seq);
    """,
    # 2: List is per caller's account once requests are authenticated.
    """
    CREATE INDEX jobs_account_seq ON jobs (account, seq);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
DEFAULT_TIMEOUT = 5.0


class StoreError(ValueError):
    """The database cannot be used (not a database, or written by a newer policygen)."""


class Status(StrEnum):
    """`JobStatus` in the model."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job generates for, with every default resolved at submission."""

    principal_arn: str
    start: datetime
    end: datetime
    trails: tuple[TrailProperties, ...]
    #: the request's `accessRole`, assumed to read trails found with GetTrail.
    access_role: str | None = None

    def to_json(self) -> str:
        data = {
            "principalArn": self.principal_arn,
            "startTime": format_time(self.start),
            "endTime": format_time(self.end),
            "trails": [trail.to_api() for trail in self.trails],
        }
        if self.access_role:
            data["accessRole"] = self.access_role
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        trails = tuple(
            TrailProperties(t["cloudTrailArn"], tuple(t["regions"]), t["allRegions"])
            for t in data["trails"]
        )
        return cls(
            data["principalArn"],
            parse_time(data["startTime"]),
            parse_time(data["endTime"]),
            trails,
            data.get("accessRole"),
        )


@dataclass(slots=True)
class JobRecord:
    """One policy generation as stored. `analysis` is `Analysis.to_dict()` once it succeeded."""

    job_id: str
    account: str
    spec: JobSpec
    started_on: datetime
    status: Status = Status.IN_PROGRESS
    completed_on: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    analysis: dict[str, Any] | None = None
    client_token: str | None = None
    request_hash: str | None = None
    attempts: int = 0
    seq: int = field(default=0, compare=False)


_COLUMNS = (
    "seq, job_id, account, spec, status, started_on, completed_on, error_code, error_message, "
    "client_token, request_hash, attempts"
)


def _time(text: str | None) -> datetime | None:
    return parse_time(text) if text else None


def _job(row: sqlite3.Row, analysis: str | None = None) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        account=row["account"],
        spec=JobSpec.from_json(row["spec"]),
        started_on=parse_time(row["started_on"]),
        status=Status(row["status"]),
        completed_on=_time(row["completed_on"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        analysis=json.loads(analysis) if analysis else None,
        client_token=row["client_token"],
        request_hash=row["request_hash"],
        attempts=row["attempts"],
        seq=row["seq"],
    )


class Store:
    """Jobs in an SQLite file; safe to use from many threads and processes at once."""

    def __init__(self, path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._writing = threading.RLock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; `transaction()` groups statements)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def migrate(self) -> None:
        """Create or upgrade the schema; refuses a database from a newer policygen."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _migrate(self) -> None:
        conn = self.connection()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this policygen knows up to "
                    f"{SCHEMA_VERSION}: upgrade policygen"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (`BEGIN IMMEDIATE`): check-then-insert is atomic."""
        conn = self.connection()
        with self._writing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        """One write statement, after this process's other writers."""
        with self._writing:
            return self.connection().execute(sql, params)

    def insert(self, job: JobRecord) -> None:
        """Add a new job (in progress, no outcome yet)."""
        self._write(
            "INSERT INTO jobs (job_id, account, principal_arn, spec, status, started_on, "
            "client_token, request_hash, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.account,
                job.spec.principal_arn,
                job.spec.to_json(),
                job.status.value,
                format_time(job.started_on),
                job.client_token,
                job.request_hash,
                job.attempts,
            ),
        )

    def get(self, job_id: str, *, with_analysis: bool = False) -> JobRecord | None:
        """One job; its (possibly large) analysis only when asked for."""
        columns = f"{_COLUMNS}, analysis" if with_analysis else _COLUMNS
        row = (
            self.connection()
            .execute(f"SELECT {columns} FROM jobs WHERE job_id = ?", (job_id,))
            .fetchone()
        )
        if row is None:
            return None
        return _job(row, row["analysis"] if with_analysis else None)

    def status(self, job_id: str) -> Status | None:
        """Just the status: what a worker polls to notice a cancellation."""
        row = self.connection().execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        found = row.fetchone()
        return Status(found[0]) if found else None

    def by_client_token(self, account: str, token: str) -> JobRecord | None:
        """The account's job started with this clientToken, if any."""
        row = (
            self.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE account = ? AND client_token = ?",
                (account, token),
            )
            .fetchone()
        )
        return _job(row) if row else None

    def running(self, account: str) -> list[str]:
        """Ids of the account's jobs in progress, oldest first."""
        rows = self.connection().execute(
            "SELECT job_id FROM jobs WHERE account = ? AND status = ? ORDER BY seq",
            (account, Status.IN_PROGRESS.value),
        )
        return [row[0] for row in rows]

    def started_since(self, account: str, since: datetime) -> int:
        """How many jobs the account started at or after `since` (whatever became of them)."""
        row = self.connection().execute(
            "SELECT COUNT(*) FROM jobs WHERE account = ? AND started_on >= ?",
            (account, format_time(since)),
        )
        return int(row.fetchone()[0])

    def page(
        self,
        *,
        principal_arn: str | None,
        before_seq: int | None,
        since: datetime | None,
        limit: int,
        account: str | None = None,
    ) -> list[JobRecord]:
        """Up to `limit` jobs (of `account`, if given), newest first, older than the cursor
        `before_seq`."""
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if account is not None:
            clauses.append("account = ?")
            params.append(account)
        if principal_arn is not None:
            clauses.append("principal_arn = ?")
            params.append(principal_arn)
        if before_seq is not None:
            clauses.append("seq < ?")
            params.append(before_seq)
        if since is not None:
            clauses.append("started_on >= ?")
            params.append(format_time(since))
        rows = self.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_job(row) for row in rows]

    def finish(
        self,
        job_id: str,
        status: Status,
        completed_on: datetime,
        *,
        analysis: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        """Move a job out of `IN_PROGRESS`; False when something else already did."""
        code, message = error or (None, None)
        cursor = self._write(
            "UPDATE jobs SET status = ?, completed_on = ?, analysis = ?, error_code = ?, "
            "error_message = ? WHERE job_id = ? AND status = ?",
            (
                status.value,
                format_time(completed_on),
                json.dumps(analysis) if analysis is not None else None,
                code,
                message,
                job_id,
                Status.IN_PROGRESS.value,
            ),
        )
        return cursor.rowcount == 1

    def count_attempt(self, job_id: str) -> None:
        """Note that the job is being (re)run, so recovery can give up on a job that never ends."""
        self._write("UPDATE jobs SET attempts = attempts + 1 WHERE job_id = ?", (job_id,))

    def in_progress(self) -> list[JobRecord]:
        """Every job in progress, oldest first: what start-up recovery looks at."""
        rows = self.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status = ? ORDER BY seq",
            (Status.IN_PROGRESS.value,),
        )
        return [_job(row) for row in rows]

    def purge(self, before: datetime) -> int:
        """Delete jobs started before `before` (retention); returns how many.

        A job still running then is deleted too: its worker notices and stops.
        """
        cursor = self._write("DELETE FROM jobs WHERE started_on < ?", (format_time(before),))
        return cursor.rowcount
