"""The index's SQLite file: its schema, the upsert that folds calls in, and opening it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA_VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(3000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
#: Files folded into the index per transaction.
FLUSH_FILES = 1024
#: CloudTrail puts a file in the folder of the day it delivers it, so new files of a trail
#: in S3 are found by listing from a day before the latest delivery already indexed.
RELIST = timedelta(days=1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, root TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS files (
    source INTEGER NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    account TEXT NOT NULL, log_region TEXT NOT NULL, delivered INTEGER,
    bytes INTEGER NOT NULL, records INTEGER NOT NULL, bad INTEGER NOT NULL, skipped TEXT,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_delivery ON files (source, account, delivered);
CREATE TABLE IF NOT EXISTS calls (
    source INTEGER NOT NULL, principal TEXT NOT NULL, hour TEXT NOT NULL,
    account TEXT NOT NULL, log_region TEXT NOT NULL, region TEXT NOT NULL,
    event_source TEXT NOT NULL, event_name TEXT NOT NULL, qualifier TEXT NOT NULL,
    outcome TEXT NOT NULL, data_event INTEGER NOT NULL,
    count INTEGER NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, example TEXT NOT NULL,
    delivered INTEGER,
    resources TEXT,  -- observed resources and passed roles (`usage.Observed`, JSON) or NULL
    PRIMARY KEY (source, principal, hour, account, log_region, region,
                 event_source, event_name, qualifier, outcome, data_event)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent (
    source INTEGER NOT NULL, stream TEXT NOT NULL, delivered INTEGER, event_id TEXT NOT NULL
);
"""

UPSERT_CALL = """
INSERT INTO calls (source, principal, hour, account, log_region, region, event_source,
                   event_name, qualifier, outcome, data_event, count, first, last, example,
                   delivered, resources)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
    count = count + excluded.count,
    example = CASE WHEN excluded.first < first THEN excluded.example ELSE example END,
    first = min(first, excluded.first),
    last = max(last, excluded.last),
    delivered = max(coalesce(delivered, excluded.delivered),
                    coalesce(excluded.delivered, delivered)),
    resources = coalesce(excluded.resources, resources)
"""


class IndexUnusable(Exception):
    """The index file cannot be used (another schema version, not SQLite)."""


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db
