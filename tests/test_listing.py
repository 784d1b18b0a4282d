"""Listing a local folder of many small files: only the window's day folders are opened,
and files come out one by one as folders are read (never the whole tree in memory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from policygen.sources import local
from policygen.sources.base import Selection
from policygen.sources.local import LocalFolder

ACCOUNT, REGIONS = "111122223333", ("us-east-1", "eu-west-1")
#: 2 regions x 40 days x 250 files = 20,000 files, delivered in January and February 2026.
DAYS, PER_DAY = 40, 250


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trail")
    for region in REGIONS:
        for day in range(DAYS):
            month, mday = (1, day + 1) if day < 31 else (2, day - 30)
            folder = (
                root / "AWSLogs" / ACCOUNT / "CloudTrail" / region / f"2026/{month:02}/{mday:02}"
            )
            folder.mkdir(parents=True)
            for n in range(PER_DAY):
                hhmm = f"{n * 5 // 60 % 24:02}{n * 5 % 60:02}"
                name = (
                    f"{ACCOUNT}_CloudTrail_{region}_2026{month:02}{mday:02}T{hhmm}Z_{n:016}.json.gz"
                )
                (folder / name).write_bytes(b"")
    return root


class CountingScandir:
    """os.scandir, counting the folders opened and the entries read."""

    def __init__(self) -> None:
        self.folders = 0
        self.entries = 0
        self.real = os.scandir

    def __call__(self, target: Any) -> Any:
        self.folders += 1
        counter = self

        class Listing:
            def __init__(self) -> None:
                self.inner = counter.real(target)

            def __enter__(self) -> Listing:
                return self

            def __exit__(self, *exc: object) -> None:
                self.inner.close()

            def __iter__(self) -> Iterator[os.DirEntry[str]]:
                for entry in self.inner:
                    counter.entries += 1
                    yield entry

        return Listing()


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingScandir:
    counter = CountingScandir()
    monkeypatch.setattr(local.os, "scandir", counter)
    return counter


def window(start: str, end: str) -> Selection:
    return Selection(
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def test_only_the_windows_day_folders_are_read(trail: Path, counting: CountingScandir) -> None:
    # Two days (and the hour of margin, still the second day) in one of the two regions.
    selection = Selection(
        datetime(2026, 2, 3, tzinfo=UTC),
        datetime(2026, 2, 4, 12, tzinfo=UTC),
        regions=frozenset({"eu-west-1"}),
    )
    found = list(LocalFolder(trail).list_objects(selection))
    # 2026-02-03: every file; 2026-02-04: files delivered up to 13:00 (n * 5 min <= 780 min).
    assert len(found) == PER_DAY + 157
    assert all("/eu-west-1/2026/02/0" in obj.key for obj in found)
    # root, AWSLogs, account, CloudTrail, region, 2026, 02, and the two day folders.
    assert counting.folders == 9
    # The two day folders' files, and the few folders on the way (2 regions, 2 months, the
    # days of February): nothing of January or of the other region.
    assert counting.entries == 2 * PER_DAY + 1 + 1 + 1 + 2 + 1 + 2 + 9


def test_files_come_out_before_the_rest_of_the_tree_is_read(
    trail: Path, counting: CountingScandir
) -> None:
    selection = window("2026-01-01T00:00:00", "2026-03-01T00:00:00")
    listing = LocalFolder(trail).list_objects(selection)
    first = next(listing)
    assert first.key.endswith(
        f"2026/01/01/{ACCOUNT}_CloudTrail_eu-west-1_20260101T0000Z_{0:016}.json.gz"
    )
    # The folders down to the first day, and that day only: one folder of files at a time.
    assert counting.folders == 8
    assert counting.entries <= PER_DAY + 2 * 31 + 10
    listing.close()
    assert (
        sum(1 for _ in LocalFolder(trail).list_objects(selection)) == len(REGIONS) * DAYS * PER_DAY
    )
