"""What the usage index can tell a reviewer without a scan: who was seen, and when.

The index keeps calls counted per principal and event hour (`policygen.index`); the
console reads two summaries of it: every principal seen in the server's trails with its
call count (suggestions for a new job), and one principal's calls per hour and event
source in a job's window (its activity chart). Both only read the index; a server whose
trails were never indexed gets nothing, and the console says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from policygen.core.arns import Principal
from policygen.index import IndexUnusable, UsageIndex

#: Most principals suggested: a datalist of more helps nobody.
MAX_PRINCIPALS = 1000


@dataclass(frozen=True, slots=True)
class SeenPrincipal:
    """A user or role the index saw, and how many calls it made (all windows)."""

    arn: str
    calls: int


@dataclass(frozen=True, slots=True)
class HourCount:
    """Calls one principal made to one event source in one event hour (`2026-01-05T10`)."""

    hour: str
    event_source: str
    calls: int


def _open(path: Path) -> UsageIndex | None:
    try:
        return UsageIndex.existing(path)
    except (IndexUnusable, sqlite3.DatabaseError):
        return None


def _source_ids(index: UsageIndex, roots: Iterable[str]) -> list[int]:
    wanted = list(roots)
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = index.db.execute(f"SELECT id FROM sources WHERE root IN ({marks})", wanted)
    return [row[0] for row in rows]


def principals_seen(path: Path, roots: Iterable[str], account: str | None) -> list[SeenPrincipal]:
    """IAM users and roles (of `account`, or any) with calls in the indexed trails named by
    `roots` (their index names: resolved folders, `s3://bucket/prefix`), most calls first."""
    index = _open(path)
    if index is None:
        return []
    with index:
        ids = _source_ids(index, roots)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = index.db.execute(
            f"SELECT principal, SUM(count) FROM calls WHERE source IN ({marks})"
            " GROUP BY principal ORDER BY SUM(count) DESC, principal",
            ids,
        )
        seen = [SeenPrincipal(arn, int(calls)) for arn, calls in rows if _wanted(arn, account)]
    return seen[:MAX_PRINCIPALS]


def _wanted(arn: str, account: str | None) -> bool:
    try:
        principal = Principal.parse(arn)
    except ValueError:
        return False
    return account is None or principal.account == account


def hourly_calls(
    path: Path,
    roots: Iterable[str],
    principal_arn: str,
    window: tuple[datetime, datetime],
    regions: frozenset[str] | None = None,
) -> list[HourCount] | None:
    """The principal's calls per event hour and event source in the window's hours (and
    `regions`, None: all), in the indexed trails named by `roots`; None when none of them
    is indexed.

    Hours are whole: calls of the window's first and last hour outside the window count."""
    start, end = window
    index = _open(path)
    if index is None:
        return None
    with index:
        ids = _source_ids(index, roots)
        if not ids:
            return None
        sql = (
            f"SELECT hour, event_source, SUM(count) FROM calls"
            f" WHERE source IN ({','.join('?' * len(ids))})"
            " AND principal = ? AND hour BETWEEN ? AND ?"
        )
        params: list[object] = [*ids, principal_arn, _hour(start), _hour(end)]
        if regions is not None:
            sql += f" AND region IN ({','.join('?' * len(regions))})"
            params.extend(sorted(regions))
        rows = index.db.execute(
            sql + " GROUP BY hour, event_source ORDER BY hour, event_source", params
        )
        return [HourCount(hour, source, int(calls)) for hour, source, calls in rows]


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")
