"""How the usage index writes: observed resources of one hour merged across runs, a
transaction every `FLUSH_FILES` files, and a failed write that leaves no half-run behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from policygen.core.arns import Principal
from policygen.index import UsageIndex, writer
from policygen.scan.usage import Usage
from policygen.sources.base import Selection
from policygen.sources.local import LocalFolder
from test_render import s3_object_call

from logfactory import ACCOUNT, ROLE_ARN, write_log
from scanhelp import EVERYTHING


def usage(index: UsageIndex, logs: Path) -> Usage:
    selection = Selection(EVERYTHING.start, EVERYTHING.end, accounts=frozenset({ACCOUNT}))
    answer = index.usage(Principal.parse(ROLE_ARN), LocalFolder(logs), selection)
    assert answer is not None
    return answer


def get_object(logs: Path, bucket: str, minute: int) -> None:
    """One GetObject of `bucket/<bucket>.txt` at 10:<minute>, in a file of its own."""
    call = s3_object_call("GetObject", bucket, f"{bucket}.txt", f"2026-01-05T10:{minute:02d}:00Z")
    write_log(logs, [call], delivered=f"20260105T10{minute + 5:02d}Z", suffix=f"{bucket:X<16}")


def observed_arns(found: Usage) -> list[str]:
    [observed] = found.observed.values()
    return observed.to_dict()["arns"]


def test_an_hours_resources_are_merged_across_runs(logs: Path, tmp_path: Path) -> None:
    get_object(logs, "alpha", 0)
    with UsageIndex(tmp_path / "index.sqlite") as index:
        index.ingest(logs, workers=1)
        get_object(logs, "beta", 20)  # the same hour, principal and call: the same row
        assert index.ingest(logs, workers=1).files_new == 1
        found = usage(index, logs)
    assert [s.count for s in found.calls.values()] == [2]
    assert observed_arns(found) == [
        "arn:aws:s3:::alpha",
        "arn:aws:s3:::alpha/alpha.txt",
        "arn:aws:s3:::beta",
        "arn:aws:s3:::beta/beta.txt",
    ]


def test_a_transaction_every_flush_files(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "FLUSH_FILES", 2)
    for minute, bucket in enumerate(["a", "b", "c", "d", "e"]):
        get_object(logs, bucket, minute)
    with UsageIndex(tmp_path / "index.sqlite") as index:
        report = index.ingest(logs, workers=1)
        found = usage(index, logs)
    assert (report.files_new, report.stats.files_read) == (5, 5)
    assert [s.count for s in found.calls.values()] == [5]
    assert len(observed_arns(found)) == 10


def test_a_failed_write_is_rolled_back_and_read_again(logs: Path, tmp_path: Path) -> None:
    get_object(logs, "alpha", 0)
    with UsageIndex(tmp_path / "index.sqlite") as index:
        # A write SQLite refuses in the middle of the transaction (as a full disk would).
        index.db.execute(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON files BEGIN"
            " SELECT RAISE(ABORT, 'refused'); END"
        )
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            index.ingest(logs, workers=1)
        assert not index.db.in_transaction
        assert index.db.execute("SELECT COUNT(*) FROM calls").fetchone() == (0,)
        index.db.execute("DROP TRIGGER refuse")
        assert index.ingest(logs, workers=1).files_new == 1  # nothing was kept: read again
        assert [s.count for s in usage(index, logs).calls.values()] == [1]
