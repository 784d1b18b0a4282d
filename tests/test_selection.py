"""Selection and pruning: which files a job lists and which records it counts, by window,
region and account, with every expected file and call written out by hand.

Each filter is checked twice where the code has it twice: where the listing prunes a folder
or file name of the CloudTrail layout, and where the scanner drops a record (files outside
the layout are read whole, so only the record check can keep their other regions out).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policygen.cloudtrail.layout import Delivery, account_of, delivery_of, parse_delivery
from policygen.core.arns import Principal
from policygen.pipeline import scan
from policygen.sources.base import FileFilter, LogObject, Selection, iter_contents
from policygen.sources.local import LocalFolder

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, record, write_log
from scanhelp import by_outcome

pytestmark = pytest.mark.usefixtures("empty_working_folder")

JAN5 = datetime(2026, 1, 5, tzinfo=UTC)
DAY = Selection(JAN5, JAN5 + timedelta(days=1))


def _keys(root: Path, selection: Selection) -> list[str]:
    return [
        Path(o.key).relative_to(root).as_posix() for o in LocalFolder(root).list_objects(selection)
    ]


def _calls(root: Path, selection: Selection) -> dict[tuple[str, str], dict[str, int]]:
    usage = scan(LocalFolder(root), selection, Principal.parse(ROLE_ARN), workers=1)
    return by_outcome(usage[ROLE_ARN]) if ROLE_ARN in usage else {}


def test_regions_prune_the_listing(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    write_log(logs, [record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets")], region="eu-west-1")
    only_eu = Selection(DAY.start, DAY.end, regions=frozenset({"eu-west-1"}))
    assert _keys(logs, only_eu) == [
        f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/2026/01/05/"
        f"{ACCOUNT}_CloudTrail_eu-west-1_20260105T1005Z_AbCdEfGh12345678.json.gz"
    ]


def test_regions_filter_records_outside_the_layout(logs: Path) -> None:
    """An export (not in the layout) is read whole: the record check keeps the region out."""
    export = logs / "export"
    export.mkdir()
    (export / "events.json").write_text(
        '{"Records": ['
        + ",".join(
            json.dumps(r)
            for r in [
                record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", awsRegion="us-east-1"),
                record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", awsRegion="eu-west-1"),
            ]
        )
        + "]}"
    )
    only_eu = Selection(DAY.start, DAY.end, regions=frozenset({"eu-west-1"}))
    usage = scan(LocalFolder(logs), only_eu, Principal.parse(ROLE_ARN), workers=1)[ROLE_ARN]
    assert by_outcome(usage) == {
        ("s3.amazonaws.com", "ListBuckets"): {"ok": 1, "denied": 0, "error": 0}
    }
    assert usage.stats.ignored["other region"] == 1


def test_records_of_another_region_inside_a_region_folder_are_dropped(logs: Path) -> None:
    """The record check also holds in the layout (a file is not trusted to hold only its
    folder's region)."""
    write_log(
        logs,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs"),
            record(ROLE_ARN, "sqs.amazonaws.com", "ListQueues", awsRegion="eu-west-1"),
        ],
    )
    only_us = Selection(DAY.start, DAY.end, regions=frozenset({"us-east-1"}))
    assert _calls(logs, only_us) == {
        ("ec2.amazonaws.com", "DescribeVpcs"): {"ok": 1, "denied": 0, "error": 0}
    }
    assert _calls(logs, DAY) == {
        ("ec2.amazonaws.com", "DescribeVpcs"): {"ok": 1, "denied": 0, "error": 0},
        ("sqs.amazonaws.com", "ListQueues"): {"ok": 1, "denied": 0, "error": 0},
    }


def test_accounts_prune_the_listing(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")], account=OTHER_ACCOUNT)
    mine = Selection(DAY.start, DAY.end, accounts=frozenset({ACCOUNT}))
    assert _keys(logs, mine) == [
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/05/"
        f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_AbCdEfGh12345678.json.gz"
    ]


def test_delivery_days_prune_the_listing(logs: Path) -> None:
    """Day folders outside [start day, (end + margin) day] are not walked; a file delivered
    within the margin after the end is kept (it may hold events from inside the window)."""
    for delivered in ("20260104T2355Z", "20260105T0000Z", "20260106T0059Z", "20260106T0101Z"):
        write_log(logs, [], delivered=delivered)
    names = [key.rsplit("_", 2)[1] for key in _keys(logs, DAY)]
    assert names == ["20260105T0000Z", "20260106T0059Z"]


@pytest.mark.parametrize(
    "name, wanted",
    [
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_Ab12.json.gz", True),
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_Ab12.json", True),
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_Ab12.json.bz2", False),
        (f"{ACCOUNT}_CloudTrail-Digest_us-east-1_20260105T1005Z_Ab12.json.gz", False),
        (f"{ACCOUNT}_CloudTrail-Insight_us-east-1_20260105T1005Z_Ab12.json.gz", False),
        (f"{ACCOUNT}_CloudTrail_eu-west-1_20260105T1005Z_Ab12.json.gz", False),  # region
        (f"{OTHER_ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_Ab12.json.gz", False),  # account
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260104T2359Z_Ab12.json.gz", False),  # before
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260105T0000Z_Ab12.json.gz", True),  # first minute
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260106T0100Z_Ab12.json.gz", True),  # end + margin
        (f"{ACCOUNT}_CloudTrail_us-east-1_20260106T0101Z_Ab12.json.gz", False),  # after it
        ("anything-else.json", True),  # outside the layout: read whole
    ],
)
def test_wants_file(name: str, wanted: bool) -> None:
    selection = Selection(
        DAY.start, DAY.end, regions=frozenset({"us-east-1"}), accounts=frozenset({ACCOUNT})
    )
    assert FileFilter(selection)(name) is wanted


def test_window_start_keeps_the_file_of_its_first_minute() -> None:
    """A window starting at 10:00:30 wants the file delivered at 10:00 (names have minutes)."""
    wanted = FileFilter(Selection(JAN5.replace(hour=10, second=30), JAN5.replace(hour=11)))
    assert wanted(f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1000Z_Ab12.json.gz")
    assert not wanted(f"{ACCOUNT}_CloudTrail_us-east-1_20260105T0959Z_Ab12.json.gz")
    assert wanted(f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1200Z_Ab12.json.gz")
    assert not wanted(f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1201Z_Ab12.json.gz")


def test_selection_days_include_the_margin() -> None:
    late = Selection(JAN5, JAN5.replace(hour=23, minute=30))
    assert (late.first_day().isoformat(), late.last_day().isoformat()) == (
        "2026-01-05",
        "2026-01-06",
    )
    early = Selection(JAN5, JAN5.replace(hour=12))
    assert early.last_day().isoformat() == "2026-01-05"


def test_window_filters_records(logs: Path) -> None:
    write_log(
        logs,
        [
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", when="2026-01-04T23:59:59Z"),
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", when="2026-01-05T00:00:00Z"),
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeImages", when="2026-01-06T00:00:00Z"),
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeRegions", when="2026-01-06T00:00:01Z"),
        ],
        delivered="20260105T0005Z",
    )
    assert sorted(_calls(logs, DAY)) == [
        ("ec2.amazonaws.com", "DescribeImages"),
        ("ec2.amazonaws.com", "DescribeSubnets"),
    ]


def test_skipped_folders_and_unknown_layouts(logs: Path) -> None:
    digest = logs / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "us-east-1"
    digest.mkdir(parents=True)
    (digest / "x.json.gz").write_bytes(b"")
    loose = logs / "exports" / "2025"
    loose.mkdir(parents=True)
    (loose / "old.json").write_text('{"Records": []}')
    assert _keys(logs, DAY) == ["exports/2025/old.json"]


def test_layout_reads_account_stream_and_delivery() -> None:
    key = f"AWSLogs/o-abcdefghij/{ACCOUNT}/CloudTrail/ap-south-2/2026/01/05/" + (
        f"{ACCOUNT}_CloudTrail_ap-south-2_20260105T1435Z_Zz09.json.gz"
    )
    assert account_of(key) == ACCOUNT
    assert delivery_of(key) == Delivery(f"{ACCOUNT}/ap-south-2", 1767623700)
    assert parse_delivery("20260105T1435Z") == datetime(2026, 1, 5, 14, 35, tzinfo=UTC)
    # outside the layout no name is trusted for the account (copies get renamed)
    assert account_of(f"backup/{OTHER_ACCOUNT}/{ACCOUNT}/events.json") is None
    assert account_of("backup/events.json") is None
    assert delivery_of("backup/events.json") == Delivery("", None)


def _put(root: Path, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"Records": []}')


def test_layout_folders_prune_files_of_any_name(logs: Path) -> None:
    """Region and day folders are pruned by themselves, not only through file names."""
    base = f"AWSLogs/{ACCOUNT}/CloudTrail"
    for relative in (
        f"{base}/us-east-1/2026/01/05/kept.json",
        f"{base}/us-east-1/2026/01/05/2099/below-the-day.json",
        f"{base}/eu-west-1/2026/01/05/other-region.json",
        f"{base}/us-east-1/2026/01/09/other-day.json",
        f"{base}/us-east-1/2026/02/other-month.json",
        f"AWSLogs/{ACCOUNT}/cloudtrail/eu-west-1/2026/01/05/not-the-layout.json",
    ):
        _put(logs, relative)
    only_us = Selection(DAY.start, DAY.end, regions=frozenset({"us-east-1"}))
    assert _keys(logs, only_us) == [
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/05/2099/below-the-day.json",
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/05/kept.json",
        f"AWSLogs/{ACCOUNT}/cloudtrail/eu-west-1/2026/01/05/not-the-layout.json",
    ]


def test_a_file_given_as_the_root_is_the_one_object(logs: Path) -> None:
    path = write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    [obj] = LocalFolder(path).list_objects(DAY)
    assert (obj.key, obj.size, obj.path) == (str(path), path.stat().st_size, str(path))
    with pytest.raises(FileNotFoundError, match="no such folder: "):
        list(LocalFolder(logs / "missing").list_objects(DAY))


def test_window_start_with_a_fraction_of_a_second() -> None:
    start = JAN5.replace(hour=10, microsecond=500_000)
    wanted = FileFilter(Selection(start, start + timedelta(hours=1)))
    assert wanted(f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1000Z_Ab12.json.gz")


def test_account_and_delivery_from_unusual_keys() -> None:
    name = f"{ACCOUNT}_CloudTrail_us-east-1_20261225T2359Z_Ab12.json.gz"
    # outside the layout neither the file name's account nor a folder's is trusted
    assert account_of(f"copy/{OTHER_ACCOUNT}/{name}") is None
    # in it: the account folder that holds CloudTrail/, the last one when nested
    nested = f"{OTHER_ACCOUNT}/CloudTrail/x/{ACCOUNT}/CloudTrail/us-east-1/{name}"
    assert account_of(nested) == ACCOUNT
    assert parse_delivery("20261225T2359Z") == datetime(2026, 12, 25, 23, 59, tzinfo=UTC)


def test_iter_contents_reads_one_by_one_or_in_bulk(logs: Path) -> None:
    path = write_log(logs, [])
    present = LogObject(str(path), 1, str(path))
    absent = LogObject(str(logs / "gone.json"), 1, None)
    [(first, data), (second, error)] = list(iter_contents(LocalFolder(logs), [present, absent]))
    assert (first, data) == (present, path.read_bytes())
    assert second == absent and isinstance(error, FileNotFoundError)

    class Bulk(LocalFolder):
        def iter_contents(self, objects):  # type: ignore[no-untyped-def]
            return iter([(obj, b"bulk") for obj in objects])

    assert list(iter_contents(Bulk(logs), [present])) == [(present, b"bulk")]
