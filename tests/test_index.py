"""The usage index answers exactly what a full scan answers, and only reads new files."""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policygen import generate_policy
from policygen.core.arns import Principal
from policygen.core.paths import index_path
from policygen.index import UsageIndex
from policygen.pipeline import ScanOptions, collect_usage, scan
from policygen.scan.usage import Usage
from policygen.sources.base import Selection
from policygen.sources.local import LocalFolder
from policygen.sources.trailset import TrailSet
from policygen_synth import Manifest

from scanhelp import EVERYTHING

CORPUS_START = datetime(2026, 1, 5, tzinfo=UTC)


def counts(usage: Usage) -> dict:
    """Counts, first/last times and observed resources by call (the example event may
    differ between equal times)."""
    return {
        key: (
            s.count,
            s.first,
            s.last,
            usage.observed[key].to_dict() if key in usage.observed else None,
        )
        for key, s in usage.calls.items()
    }


@pytest.fixture(scope="module")
def indexed(
    corpus: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Manifest, UsageIndex]:
    root, manifest = corpus
    index = UsageIndex(tmp_path_factory.mktemp("home") / "index.sqlite")
    index.ingest(root, workers=1)
    yield root, manifest, index
    index.close()


def random_windows(rng: random.Random, n: int) -> list[tuple[datetime, datetime]]:
    """Windows starting and ending at arbitrary seconds around and inside the corpus."""
    windows = [(CORPUS_START, CORPUS_START + timedelta(days=1))]  # aligned on days
    windows.append((CORPUS_START + timedelta(hours=3), CORPUS_START + timedelta(hours=27)))
    for _ in range(n):
        start = CORPUS_START + timedelta(seconds=rng.randrange(-6 * 3600, 50 * 3600))
        windows.append((start, start + timedelta(seconds=rng.randrange(0, 40 * 3600))))
    return windows


def pick(manifest: Manifest, kind: str) -> list[str]:
    return [p["arn"] for p in manifest.principals if f":{kind}/" in p["arn"]]


@pytest.mark.parametrize("kind", ["user", "role"])
def test_index_answers_equal_full_scans_for_random_windows(
    indexed: tuple[Path, Manifest, UsageIndex], kind: str
) -> None:
    root, manifest, index = indexed
    rng = random.Random(kind)
    source = LocalFolder(root)
    arns = pick(manifest, kind)
    for start, end in random_windows(rng, 14):
        arn = rng.choice(arns)
        principal = Principal.parse(arn)
        regions = rng.choice([None, frozenset({"us-east-1"}), frozenset({"eu-west-1"})])
        selection = Selection(start, end, regions, frozenset({principal.account}))
        answer = index.usage(principal, source, selection)
        assert answer is not None, (start, end)
        expected = scan(source, selection, principal, workers=1)[arn]
        assert counts(answer) == counts(expected), (arn, start, end, regions)


def test_a_window_edge_among_an_hours_calls_reads_that_hour_again(
    indexed: tuple[Path, Manifest, UsageIndex],
) -> None:
    root, _, index = indexed
    arn, first, last = index.db.execute(
        "SELECT principal, first, last FROM calls WHERE first < last ORDER BY count DESC LIMIT 1"
    ).fetchone()
    principal = Principal.parse(arn)
    low, high = datetime.fromisoformat(first), datetime.fromisoformat(last)
    for start, end in [
        (low + (high - low) / 2, high + timedelta(days=1)),
        (low, high - timedelta(seconds=1)),
    ]:
        selection = Selection(start, end, accounts=frozenset({principal.account}))
        answer = index.usage(principal, LocalFolder(root), selection)
        assert answer is not None
        assert answer.stats.files_rescanned > 0
        expected = scan(LocalFolder(root), selection, principal, workers=1)[arn]
        assert counts(answer) == counts(expected)


def test_whole_hours_need_no_log_file(indexed: tuple[Path, Manifest, UsageIndex]) -> None:
    root, manifest, index = indexed
    principal = Principal.parse(pick(manifest, "role")[0])
    selection = Selection(
        CORPUS_START - timedelta(days=1),
        CORPUS_START + timedelta(days=4),
        accounts=frozenset({principal.account}),
    )
    answer = index.usage(principal, LocalFolder(root), selection)
    assert answer is not None
    assert answer.stats.files_rescanned == 0
    assert answer.stats.files_from_index == answer.stats.files_listed > 0


def test_generate_uses_the_index_in_the_data_dir_and_equals_a_scan(
    corpus: tuple[Path, Manifest], data_dir: Path
) -> None:
    root, manifest = corpus
    with UsageIndex(index_path(data_dir)) as index:
        index.ingest(root, workers=1)
    arn = pick(manifest, "user")[0]
    window = {"start": "2026-01-05T07:31:09Z", "end": "2026-01-06T16:02:55Z"}
    from_index = generate_policy(arn, root, **window)
    scanned = generate_policy(arn, root, use_index=False, **window)
    assert from_index.analysis.stats.files_from_index > 0
    assert scanned.analysis.stats.files_from_index == 0
    assert from_index.to_api() == scanned.to_api()
    assert from_index.policies(placeholders=True) == scanned.policies(placeholders=True)


def test_second_run_reads_only_new_files(corpus: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = corpus
    trail = tmp_path / "trail"
    shutil.copytree(root, trail)
    logs = sorted(p for p in trail.rglob("*.json.gz") if "/CloudTrail/" in p.as_posix())
    later = logs[len(logs) // 2 :]
    parked = tmp_path / "parked"
    for path in later:
        target = parked / path.relative_to(trail)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    with UsageIndex(tmp_path / "index.sqlite") as index:
        first = index.ingest(trail, workers=1)
        for path in later:
            (parked / path.relative_to(trail)).rename(path)
        second = index.ingest(trail, workers=1)
        third = index.ingest(trail, workers=1)
        assert second.files_new == second.stats.files_read + second.stats.files_skipped
        assert second.stats.files_read == len(later)
        assert first.stats.files_read + second.stats.files_read == second.files_listed - (
            second.stats.files_skipped + first.stats.files_skipped
        )
        assert third.files_new == third.stats.files_read == 0
        for described in corpus[1].principals[:4]:
            principal = Principal.parse(described["arn"])
            selection = Selection(
                EVERYTHING.start, EVERYTHING.end, accounts=frozenset({principal.account})
            )
            answer = index.usage(principal, LocalFolder(trail), selection)
            assert answer is not None
            expected = scan(LocalFolder(trail), selection, principal, workers=1)
            assert counts(answer) == counts(expected[principal.arn])


def test_a_window_with_files_the_index_has_not_seen_is_scanned(
    corpus: tuple[Path, Manifest], tmp_path: Path, data_dir: Path
) -> None:
    root, manifest = corpus
    trail = tmp_path / "trail"
    shutil.copytree(root, trail)
    with UsageIndex(index_path(data_dir)) as index:
        index.ingest(trail, workers=1)
    principal = Principal.parse(pick(manifest, "role")[0])
    selection = Selection(EVERYTHING.start, EVERYTHING.end, accounts=frozenset({principal.account}))
    logs = sorted(trail.glob(f"AWSLogs/{principal.account}/CloudTrail/*/*/*/*/*.json.gz"))
    copy = logs[0].with_name(logs[0].name.replace(logs[0].name[-24:-8], "Z" * 16))
    shutil.copy(logs[0], copy)  # a new delivery the index has not read
    with UsageIndex(index_path(data_dir)) as index:
        assert index.usage(principal, LocalFolder(trail), selection) is None
    usage = collect_usage(principal, LocalFolder(trail), selection, ScanOptions(workers=1))
    assert usage.stats.files_from_index == 0
    with UsageIndex(index_path(data_dir)) as index:
        assert index.ingest(trail, workers=1).files_new == 1
        assert index.usage(principal, LocalFolder(trail), selection) is not None
        copy.write_bytes(b"")  # changed since: not covered any more, and reported
        report = index.ingest(trail, workers=1)
        assert report.files_new == 0
        assert report.files_changed == [str(copy)]
        assert index.usage(principal, LocalFolder(trail), selection) is None


def test_unindexed_folder_is_not_covered(
    indexed: tuple[Path, Manifest, UsageIndex], tmp_path: Path
) -> None:
    _, manifest, index = indexed
    principal = Principal.parse(pick(manifest, "role")[0])
    assert index.usage(principal, LocalFolder(tmp_path), EVERYTHING) is None


def test_a_jobs_single_trail_is_answered_from_the_index(
    corpus: tuple[Path, Manifest], data_dir: Path
) -> None:
    """The server's jobs read their trails as a `TrailSet`; one local folder can use the index."""
    root, manifest = corpus
    with UsageIndex(index_path(data_dir)) as index:
        index.ingest(root, workers=1)
    principal = Principal.parse(pick(manifest, "role")[0])
    trails = TrailSet([(LocalFolder(root), None)])
    selection = Selection(EVERYTHING.start, EVERYTHING.end, accounts=frozenset({principal.account}))
    usage = collect_usage(principal, trails, selection, ScanOptions(data_dir=data_dir))
    assert usage.stats.files_from_index > 0
    expected = scan(LocalFolder(root), selection, principal, workers=1)[principal.arn]
    assert counts(usage) == counts(expected)


def test_an_index_of_another_version_is_not_used_and_not_changed(
    corpus: tuple[Path, Manifest], data_dir: Path
) -> None:
    root, manifest = corpus
    path = index_path(data_dir)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    principal = Principal.parse(pick(manifest, "user")[0])
    selection = Selection(EVERYTHING.start, EVERYTHING.end, accounts=frozenset({principal.account}))
    usage = collect_usage(principal, LocalFolder(root), selection, ScanOptions(workers=1))
    assert usage.stats.files_from_index == 0 and usage.calls
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
