"""The local listing, file by file: which files of a real folder come out, in which order,
and how many were left out for which reason, written out by hand.

In the CloudTrail layout (`AWSLogs/[<org>/]<account>/CloudTrail/<region>/YYYY/MM/DD/`)
account, region and day folders prune, and only `.json[.gz]` files are logs; outside it every
file is read, an account in a name is not trusted, and only the region and delivery time in
a CloudTrail file name prune. The walk is lazy and must survive folders that vanish under it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policygen.cloudtrail.layout import stream_of
from policygen.sources.base import FileFilter, Selection
from policygen.sources.local import LocalFolder

pytestmark = pytest.mark.usefixtures("empty_working_folder")

MINE, OTHER, ORG = "111122223333", "444455556666", "o-abcdefghij"
JAN5 = datetime(2026, 1, 5, tzinfo=UTC)
#: Jan 5, us-east-1, my account; files may be delivered until Jan 6 01:00 (the margin).
WANTED = Selection(
    JAN5, JAN5 + timedelta(days=1), regions=frozenset({"us-east-1"}), accounts=frozenset({MINE})
)


def _name(account: str, region: str, stamp: str) -> str:
    return f"{account}_CloudTrail_{region}_{stamp}_Ab12.json.gz"


def _put(root: Path, *relatives: str) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * len(path.name))  # a size the test can tell


def _selection() -> Selection:
    """A fresh WANTED (its `pruned` counter is per listing)."""
    return Selection(WANTED.start, WANTED.end, WANTED.regions, WANTED.accounts)


def _listed(root: Path, selection: Selection) -> list[str]:
    found = []
    for obj in LocalFolder(root).list_objects(selection):
        assert obj.path == obj.key  # scanner workers open local files themselves
        assert obj.size == len(os.path.basename(obj.key))
        found.append(Path(obj.key).relative_to(root).as_posix())
    return found


TRAIL = f"AWSLogs/{ORG}/{MINE}/CloudTrail"
DAY5, DAY6 = f"{TRAIL}/us-east-1/2026/01/05", f"{TRAIL}/us-east-1/2026/01/06"


@pytest.fixture
def organization(tmp_path: Path) -> Path:
    """An organization trail with one file of each kind the listing must tell apart."""
    _put(
        tmp_path,
        f"{DAY5}/{_name(MINE, 'us-east-1', '20260105T1005Z')}",
        f"{DAY5}/{_name(MINE, 'us-east-1', '20260104T2359Z')}",  # named before the window
        f"{DAY5}/{_name(OTHER, 'us-east-1', '20260105T1005Z')}",  # another account's name
        f"{DAY5}/{_name(MINE, 'eu-west-1', '20260105T1005Z')}",  # another region's name
        f"{DAY5}/extra.json.gz",  # in the layout, any .json.gz name is a log
        f"{DAY5}/notes.txt",  # in the layout, not a log
        f"{DAY5}/.partial.json",  # hidden: being written
        f"{DAY6}/{_name(MINE, 'us-east-1', '20260106T0100Z')}",  # end + margin: kept
        f"{DAY6}/{_name(MINE, 'us-east-1', '20260106T0101Z')}",  # after it
        f"{TRAIL}/us-east-1/2026/01/04/{_name(MINE, 'us-east-1', '20260104T1005Z')}",
        f"{TRAIL}/us-east-1/2026/01/07/{_name(MINE, 'us-east-1', '20260107T1005Z')}",
        f"{TRAIL}/us-east-1/2025/12/31/{_name(MINE, 'us-east-1', '20251231T1005Z')}",
        f"{TRAIL}/eu-west-1/2026/01/05/{_name(MINE, 'eu-west-1', '20260105T1005Z')}",
        f"AWSLogs/{ORG}/{OTHER}/CloudTrail/us-east-1/2026/01/05/"
        + _name(OTHER, "us-east-1", "20260105T1005Z"),
    )
    return tmp_path


def test_an_organization_trail_is_listed_in_order_with_every_prune_counted(
    organization: Path,
) -> None:
    selection = _selection()
    assert _listed(organization, selection) == [
        f"{DAY5}/{_name(MINE, 'us-east-1', '20260105T1005Z')}",
        f"{DAY5}/extra.json.gz",
        f"{DAY6}/{_name(MINE, 'us-east-1', '20260106T0100Z')}",
    ]
    assert selection.pruned == Counter(
        {
            f"folders of account {OTHER}": 1,
            "region folders of other regions": 1,
            "day folders outside the window": 3,  # 2025, 01/04 and 01/07
            f"files of account {OTHER}": 1,
            "files of other regions": 1,
            "files delivered outside the window": 2,
        }
    )


@pytest.mark.parametrize("below", [f"AWSLogs/{ORG}/{MINE}", TRAIL])
def test_an_account_or_cloudtrail_folder_given_as_the_root_is_the_layout(
    organization: Path, below: str
) -> None:
    root = organization / below
    selection = _selection()
    inside = DAY5.removeprefix(below + "/")
    assert _listed(root, selection) == [
        f"{inside}/{_name(MINE, 'us-east-1', '20260105T1005Z')}",
        f"{inside}/extra.json.gz",
        f"{DAY6.removeprefix(below + '/')}/{_name(MINE, 'us-east-1', '20260106T0100Z')}",
    ]
    assert selection.pruned == Counter(
        {
            "region folders of other regions": 1,
            "day folders outside the window": 3,
            f"files of account {OTHER}": 1,
            "files of other regions": 1,
            "files delivered outside the window": 2,
        }
    )


def test_outside_the_layout_every_file_is_read_and_names_prune_by_region_and_time(
    tmp_path: Path,
) -> None:
    """No account is trusted outside the layout: not a file name's, not a 12-digit folder
    without a CloudTrail folder (copies get renamed)."""
    _put(
        tmp_path,
        "export/.DS_Store",
        "export/events.txt",
        f"export/{_name(OTHER, 'us-east-1', '20260105T1005Z')}",
        f"export/{_name(MINE, 'eu-west-1', '20260105T1005Z')}",
        f"export/{_name(MINE, 'us-east-1', '20260107T1005Z')}",
        f"backup/{OTHER}/events.json",
        f"backup/{OTHER}/notes.txt",
        f"backup/{OTHER}/2026/01/09/late.json",
    )
    selection = _selection()
    assert _listed(tmp_path, selection) == [
        f"backup/{OTHER}/2026/01/09/late.json",
        f"backup/{OTHER}/events.json",
        f"backup/{OTHER}/notes.txt",
        f"export/{_name(OTHER, 'us-east-1', '20260105T1005Z')}",
        "export/events.txt",
    ]
    assert selection.pruned == Counter(
        {"files of other regions": 1, "files delivered outside the window": 1}
    )
    # the same folders given as the root
    assert _listed(tmp_path / "backup" / OTHER, _selection()) == [
        "2026/01/09/late.json",
        "events.json",
        "notes.txt",
    ]
    _put(tmp_path, f"backup/{OTHER}/sub/eu-west-1/kept.json")
    assert _listed(tmp_path / "backup" / OTHER / "sub", _selection()) == ["eu-west-1/kept.json"]


def test_folders_below_a_region_that_are_not_dates_are_walked(tmp_path: Path) -> None:
    """Only YYYY/MM/DD prune below a region; a folder below the day is not a fourth date
    part, even on the window's last delivery day."""
    region = f"AWSLogs/{MINE}/CloudTrail/us-east-1"
    _put(
        tmp_path,
        f"{region}/manual/copied.json",
        f"{region}/2026/01/05/2099/below-the-day.json",
        f"{region}/2026/01/06/after.json",
    )
    morning = Selection(JAN5, JAN5.replace(hour=12))  # delivered by 13:00 on Jan 5
    assert _listed(tmp_path, morning) == [
        f"{region}/2026/01/05/2099/below-the-day.json",
        f"{region}/manual/copied.json",
    ]
    assert morning.pruned == Counter({"day folders outside the window": 1})


def test_the_walk_goes_on_past_a_folder_removed_under_it(tmp_path: Path) -> None:
    """Folders are read as the walk reaches them: one deleted meanwhile (a cleanup, a
    rotation) is skipped, not an error."""
    _put(tmp_path, "a/1.json", "b/2.json", "c/3.json")
    listing = LocalFolder(tmp_path).list_objects(_selection())
    assert Path(next(listing).key).relative_to(tmp_path).as_posix() == "a/1.json"
    shutil.rmtree(tmp_path / "b")
    assert [Path(o.key).relative_to(tmp_path).as_posix() for o in listing] == ["c/3.json"]


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_walk_closes_every_folder_it_opens(organization: Path) -> None:
    before = _open_descriptors()
    assert len(list(LocalFolder(organization).list_objects(_selection()))) == 3
    assert _open_descriptors() == before
    listing = LocalFolder(organization).list_objects(_selection())
    next(listing)  # the root, AWSLogs, org, account, CloudTrail, region, 2026, 01, 05: open
    assert _open_descriptors() == before + 9
    listing.close()  # the caller stopped early
    assert _open_descriptors() == before


def test_links_to_folders_are_not_followed(tmp_path: Path) -> None:
    _put(tmp_path, "real/events.json")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert _listed(tmp_path, _selection()) == ["real/events.json"]


def test_where_a_local_folder_is_and_its_keys_inside_it(organization: Path) -> None:
    folder = LocalFolder(organization / "AWSLogs" / ".." / "AWSLogs")
    assert folder.location() == str((organization / "AWSLogs").resolve())
    [first, *_] = folder.list_objects(_selection())
    assert folder.relative_key(first) == (
        f"{ORG}/{MINE}/CloudTrail/us-east-1/2026/01/05/{_name(MINE, 'us-east-1', '20260105T1005Z')}"
    )
    assert folder.describe() == folder.location()


def test_stream_of_a_key() -> None:
    assert stream_of(f"{DAY5}/{_name(MINE, 'us-east-1', '20260105T1005Z')}") == (
        f"{MINE}/us-east-1"
    )
    assert stream_of("backup/events.json") == ""


@pytest.fixture
def tokyo() -> Iterator[None]:
    """The machine's local time zone nine hours ahead of UTC: days and names are UTC's."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("tokyo")
def test_days_and_delivery_times_are_utc_whatever_the_local_time_zone() -> None:
    evening = Selection(JAN5.replace(hour=20), JAN5.replace(hour=21))  # Jan 6 in Tokyo
    assert (evening.first_day().isoformat(), evening.last_day().isoformat()) == (
        "2026-01-05",
        "2026-01-05",
    )
    wanted = FileFilter(evening)
    assert wanted(_name(MINE, "us-east-1", "20260105T2000Z"))
    assert wanted(_name(MINE, "us-east-1", "20260105T2200Z"))  # end + margin
    assert not wanted(_name(MINE, "us-east-1", "20260105T2201Z"))
    assert not wanted(_name(MINE, "us-east-1", "20260106T0500Z"))
    # a window given in another zone is the same window
    in_tokyo = Selection(
        datetime(2026, 1, 5, 21, tzinfo=UTC).astimezone(),
        datetime(2026, 1, 5, 22, tzinfo=UTC).astimezone(),
    )
    assert FileFilter(in_tokyo)(_name(MINE, "us-east-1", "20260105T2100Z"))
