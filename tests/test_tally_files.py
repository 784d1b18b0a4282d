"""The scanner's hot loop, in this process: what it records about each file (read,
skipped and why, other shapes), hourly buckets and delivery times, observed resources.

Hand-written records (`rawlogs`), expected values written by hand; see `test_tally`.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from policygen.cloudtrail.records import Record
from policygen.scan.files import FileResults, FileTasks
from policygen.scan.query import ObserveLevel
from policygen.scan.tally import joined, scan_batch
from policygen.scan.usage import CallStats, Observed
from rawlogs import (
    ALICE,
    BOB,
    EC2,
    LOG_NAME,
    S3,
    T10,
    T11,
    T12,
    WEB_ROLE,
    counts,
    delivery,
    query,
    rec,
    scan,
)

# every test with the C counter and with the Python path (conftest.scan_engine)
pytestmark = pytest.mark.usefixtures("scan_engine")


# -- files -----------------------------------------------------------------------------------


def test_each_files_records_bytes_and_ids() -> None:
    # a wrongly typed record of Alice's: the whole file is decoded, Bob's record too
    first = delivery(
        rec("ListBuckets", eventID="a"), rec("GetObject", BOB, eventID="b"), rec("X", eventTime=5)
    )
    second = delivery(rec("GetObject", BOB, eventID="c"))
    third = gzip.compress(
        delivery(
            rec("ListBuckets", eventID="d"),
            rec("Y", eventTime=5),
            rec("Z", eventTime=5),
            rec("ListBuckets", eventID="e"),
        ),
        mtime=0,
    )
    result = scan(query(), first, second, third)
    assert result.files == FileResults(
        ids=["a", "d", "e"],
        refs=[0, 0, 0],
        counted=[(0, 1), (2, 3)],
        bytes=[len(first), len(second), len(gzip.decompress(third))],
        records=[2, 0, 2],
        bad=[1, 0, 2],
    )
    assert (result.stats.files_read, result.stats.records_matched) == (3, 3)
    assert result.stats.bytes_read == len(first) + len(second) + len(gzip.decompress(third))


def test_files_are_read_from_their_paths(tmp_path: Path) -> None:
    named = tmp_path / "a.json"
    named.write_bytes(delivery(rec("ListBuckets", eventID="a")))
    keyed = tmp_path / "b.json"
    keyed.write_bytes(delivery(rec("ListBuckets", eventID="b")))
    tasks = FileTasks(["a.json", str(keyed)], [10, 10], [str(named), None])
    result = scan_batch(query(), tasks)
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 2}
    assert result.files.ids == ["a", "b"]


def test_files_that_cannot_be_read_are_skipped_with_the_reason(tmp_path: Path) -> None:
    good = delivery(rec("ListBuckets", eventID="a"))
    cap = len(good)  # the good file is exactly as large as allowed
    tasks = FileTasks(
        ["listed-unreadable", "missing", "folder", "huge", "bomb", "at-the-cap", "broken-gzip"],
        [5, 5, 5, cap + 1, 50, cap, 20],
        [None, str(tmp_path / "missing.json"), str(tmp_path), None, None, None, None],
        [
            None,
            None,
            None,
            b"x",
            gzip.compress(b" " * (cap + 1)),
            good,
            gzip.compress(good)[:20],
        ],
        errors={0: "unreadable: Access Denied"},
    )
    result = scan_batch(query(max_file_bytes=cap), tasks)
    assert result.files.skipped == {
        0: "unreadable: Access Denied",
        1: "unreadable: No such file or directory",
        2: "unreadable: Is a directory",
        3: f"larger than {cap} bytes",
        4: f"decompresses to more than {cap} bytes",
        6: "corrupt gzip: truncated",
    }
    assert result.stats.skipped == {
        "listed-unreadable": "unreadable: Access Denied",
        "missing": "unreadable: No such file or directory",
        "folder": "unreadable: Is a directory",
        "huge": f"larger than {cap} bytes",
        "bomb": f"decompresses to more than {cap} bytes",
        "broken-gzip": "corrupt gzip: truncated",
    }
    assert (result.stats.files_skipped, result.stats.files_read) == (6, 1)
    assert result.files.ids == ["a"]
    assert result.files.records == [0, 0, 0, 0, 0, 1, 0]


def test_json_without_records_is_skipped_only_when_named_like_a_log_file() -> None:
    digest = json.dumps({"awsAccountId": "111122223333", "logFiles": []}).encode()
    text = b"date,user\n2026-01-05,alice\n"
    damaged = delivery(rec("ListBuckets"))[:-30]
    keys = [LOG_NAME, "digest.json", LOG_NAME.replace("T1005Z", "T1010Z"), "notes.csv", "cut.json"]
    result = scan(query(None), digest, digest, text, text, damaged, keys=keys)
    assert result.files.skipped.keys() == {0, 2, 4}
    assert result.files.skipped[0] == "no Records array"
    assert result.files.skipped[2].startswith("not JSON: ")
    assert result.files.skipped[4].startswith("not JSON: ")
    assert result.stats.ignored == {"not a CloudTrail log file": 2}
    assert result.stats.files_read == 5
    assert result.calls == []


def test_a_file_starting_with_the_principals_arn_is_read() -> None:
    result = scan(query(), ALICE.encode() + b" did things\n", keys=[LOG_NAME])
    assert result.files.skipped[0].startswith("not JSON: ")


def test_a_file_without_the_principal_is_not_decoded() -> None:
    result = scan(query(), delivery(rec("ListBuckets", BOB), rec("GetObject", BOB, eventTime=5)))
    assert result.calls == []
    assert (result.stats.records_read, result.stats.records_bad) == (0, 0)


def test_a_file_not_laid_out_by_cloudtrail_is_decoded_whole() -> None:
    spaced = json.dumps(
        {"Records": [rec("ListBuckets"), rec("ListBuckets", BOB), rec("X", BOB, eventTime=5)]}
    )
    result = scan(query(), spaced.encode())
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 1}
    assert (result.stats.records_read, result.stats.records_bad) == (2, 1)


def test_other_shapes_of_log_file_are_read() -> None:
    lines = "\n".join(json.dumps(r) for r in (rec("ListBuckets"), rec("ListBuckets", BOB)))
    wrapped = json.dumps([{"wrap": {"inner": rec("GetObject")}}])
    result = scan(query(record_key="wrap.inner"), lines.encode(), wrapped.encode())
    assert counts(result) == {
        (ALICE, "ListBuckets", "", "ok"): 1,
        (ALICE, "GetObject", "", "ok"): 1,
    }
    assert result.stats.shapes == Counter({"NDJSON": 1, "JSON array (records under wrap.inner)": 1})


# -- hourly buckets and delivery times -------------------------------------------------------


def test_hourly_queries_keep_hours_and_regions_apart() -> None:
    text = delivery(
        rec("ListBuckets", when="2026-01-05T10:05:00Z", awsRegion="us-east-1"),
        rec("ListBuckets", when="2026-01-05T10:55:00Z", awsRegion="us-east-1"),
        rec("ListBuckets", when="2026-01-05T11:00:00Z", awsRegion="us-east-1"),
        rec("ListBuckets", when="2026-01-05T10:30:00Z", awsRegion="eu-west-1"),
        rec("ListBuckets", when="2026-01-05T10:30:00Z"),
    )
    result = scan(query(hourly=True), text, delivered=[1_767_607_500])
    assert [(bucket, stats.count, latest) for _, _, bucket, stats, latest, _ in result.calls] == [
        (("2026-01-05T10", "us-east-1"), 2, 1_767_607_500),
        (("2026-01-05T11", "us-east-1"), 1, 1_767_607_500),
        (("2026-01-05T10", "eu-west-1"), 1, 1_767_607_500),
        (("2026-01-05T10", ""), 1, 1_767_607_500),
    ]


def test_the_latest_delivery_of_the_files_that_counted_a_call() -> None:
    text = delivery(rec("ListBuckets"))
    for delivered, latest in (
        ([200, 100, None], 200),
        ([100, 200, None], 200),
        ([None, 100, None], 100),
        ([100, None, 100], 100),
        ([None, None, None], None),
    ):
        result = scan(query(hourly=True), text, text, text, delivered=delivered)
        assert [call[4] for call in result.calls] == [latest]


def test_kinds_folded_together_keep_the_latest_delivery_of_either() -> None:
    denied = delivery(rec("ListBuckets", errorCode="AccessDenied"))
    forbidden = delivery(rec("ListBuckets", errorCode="Forbidden"))
    result = scan(query(hourly=True), denied, forbidden, delivered=[300, 100])
    assert [(call[1].outcome, call[3].count, call[4]) for call in result.calls] == [
        ("denied", 2, 300)
    ]


def test_a_qualified_call_keeps_its_latest_delivery() -> None:
    text = delivery(rec("GetObject", requestParameters={"versionId": "v"}))
    result = scan(query(hourly=True), text, text, delivered=[300, 100])
    assert [call[4] for call in result.calls] == [300]


# -- observed resources ---------------------------------------------------------------------


class Rules:
    """Facts for EC2 RunInstances only: the instance named by the eventID (none without
    one) and, at level "all", the role passed to EC2."""

    def __init__(self) -> None:
        self.asked: list[tuple[ObserveLevel, str, str]] = []
        self.read: list[ObserveLevel] = []

    def wants_at(self, level: ObserveLevel, event_source: str, event_name: str) -> bool:
        self.asked.append((level, event_source, event_name))
        return event_name == "RunInstances"

    def facts_at(
        self, level: ObserveLevel, record: Record
    ) -> tuple[list[str], list[tuple[str, str]]]:
        self.read.append(level)
        arns = (
            [f"arn:aws:ec2:us-east-1:111122223333:instance/{record.eventID}"]
            if record.eventID
            else []
        )
        return arns, [(EC2, WEB_ROLE)] if level == "all" else []

    def warm(self) -> None:
        pass


def run(event_id: str | None, when: str) -> dict[str, Any]:
    return rec("RunInstances", when=when, eventSource=EC2, eventID=event_id)


def test_resource_facts_are_collected_for_the_calls_that_have_them() -> None:
    rules = Rules()
    text = delivery(run(None, T10), run("i1", T11), run("i2", T12), rec("ListBuckets", eventID="l"))
    result = scan(query(rules=rules), text)
    assert [(call.event_name, observed) for _, call, _, _, _, observed in result.calls] == [
        (
            "RunInstances",
            Observed(
                calls=3,
                unresolved=1,
                arns={
                    "arn:aws:ec2:us-east-1:111122223333:instance/i1",
                    "arn:aws:ec2:us-east-1:111122223333:instance/i2",
                },
                passed={EC2: {WEB_ROLE}},
                pass_calls=CallStats(3, T10, T12, ""),
            ),
        ),
        ("ListBuckets", None),
    ]
    assert rules.asked == [("all", EC2, "RunInstances"), ("all", S3, "ListBuckets")]
    assert rules.read == ["all", "all", "all"]


def test_the_observe_level_reaches_the_rules() -> None:
    rules = Rules()
    result = scan(query(rules=rules, observe="passed"), delivery(run("i1", T10)))
    assert result.calls[0][5] == Observed(
        calls=1, arns={"arn:aws:ec2:us-east-1:111122223333:instance/i1"}
    )
    assert rules.asked == [("passed", EC2, "RunInstances")]
    assert rules.read == ["passed"]


def test_the_example_of_passing_a_role_is_the_first_call_with_an_id() -> None:
    result = scan(query(rules=Rules()), delivery(run("i1", T10), run("i2", T11)))
    assert result.calls[0][5].pass_calls == CallStats(2, T10, T11, "i1")


def test_without_rules_nothing_is_observed() -> None:
    result = scan(query(observe="all"), delivery(run("i1", T10)))
    assert result.calls[0][5] is None


def test_kinds_folded_together_join_their_observed_resources() -> None:
    text = delivery(
        rec("RunInstances", eventSource=EC2, eventID="i1", errorCode="AccessDenied"),
        rec("RunInstances", eventSource=EC2, eventID="i2", errorCode="Forbidden"),
        rec("RunInstances", eventSource=EC2, eventID="i3", errorCode="Forbidden"),
    )
    [call] = scan(query(rules=Rules(), observe="passed"), text).calls
    assert call[3] == CallStats(3, T10, T10, "i1")
    assert call[5] == Observed(
        calls=3,
        arns={f"arn:aws:ec2:us-east-1:111122223333:instance/i{n}" for n in (1, 2, 3)},
    )


def test_joined() -> None:
    one, two = Observed(calls=1, arns={"a"}), Observed(calls=2, arns={"b"})
    assert joined(None, None) is None
    assert joined(one, None) is one
    assert joined(None, two) is two
    assert joined(one, two) is one
    assert one == Observed(calls=3, arns={"a", "b"})
