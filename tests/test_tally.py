"""The scanner's hot loop, in this process: which records a batch counts, under which kind
of call, and what it counts about the rest, by reason.

Every log file is a few hand-written records (`rawlogs`); every expected count is written
by hand. With `test_tally_files` and `test_decode`, these are the `--quick` mutation tests
of the scanner (issue 19): `scan_batch` runs here, not in a worker process, so the mutated
code is what runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from policygen.core.arns import Principal
from policygen.scan.files import FileResults
from policygen.scan.query import ScanQuery
from policygen.scan.usage import CallKey, CallStats, ScanStats
from rawlogs import (
    ALICE,
    BOB,
    DEPLOYER,
    MALLORY,
    S3,
    T10,
    T11,
    T12,
    counts,
    delivery,
    query,
    rec,
    scan,
)

# every test with the C counter and with the Python path (conftest.scan_engine)
pytestmark = pytest.mark.usefixtures("scan_engine")


# -- what is counted, and how ----------------------------------------------------------------


def test_one_principals_calls_are_counted_by_kind() -> None:
    text = delivery(
        rec("GetObject", when=T11, eventID="e1"),
        rec("GetObject", BOB, eventID="e2"),
        rec("ListBuckets", eventID="e3"),
        rec("GetObject", when=T10, eventID="e4"),
    )
    result = scan(query(), text)
    assert result.calls == [
        (
            ALICE,
            CallKey(S3, "GetObject", "", "ok", True),
            (),
            CallStats(2, T10, T11, "e4"),
            None,
            None,
        ),
        (
            ALICE,
            CallKey(S3, "ListBuckets", "", "ok", False),
            (),
            CallStats(1, T10, T10, "e3"),
            None,
            None,
        ),
    ]
    # only Alice's three records are cut out of the file and decoded
    assert result.stats == ScanStats(
        files_read=1, bytes_read=len(text), records_read=3, records_matched=3
    )
    assert result.files == FileResults(
        ids=["e1", "e3", "e4"],
        refs=[0, 1, 0],
        counted=[(0, 3)],
        bytes=[len(text)],
        records=[3],
        bad=[0],
    )


def test_every_user_and_role_is_counted_without_a_principal() -> None:
    text = delivery(
        rec("GetObject", eventID="e1"),
        rec("GetObject", BOB, eventID="e2"),
        rec("PutObject", DEPLOYER, eventID="e3"),
        rec("GetObject", eventID="e4"),
    )
    assert counts(scan(query(None), text)) == {
        (ALICE, "GetObject", "", "ok"): 2,
        (BOB, "GetObject", "", "ok"): 1,
        (DEPLOYER, "PutObject", "", "ok"): 1,
    }


def test_first_and_last_time_and_the_example_of_the_first() -> None:
    text = delivery(
        rec("ListBuckets", when=T11, eventID="b"),
        rec("ListBuckets", when=T10, eventID="a"),
        rec("ListBuckets", when=T10, eventID="a2"),  # as early: the first example stays
        rec("ListBuckets", when=T12, eventID="c"),
        rec("ListBuckets", when="2026-01-05T09:00:00Z"),  # earliest, but no eventID
    )
    [call] = scan(query(), text).calls
    assert call[3] == CallStats(5, "2026-01-05T09:00:00Z", T12, "a")


def test_a_call_without_event_id_has_no_example_and_no_id() -> None:
    result = scan(query(), delivery(rec("ListBuckets")))
    assert result.calls[0][3] == CallStats(1, T10, T10, "")
    assert result.files.ids == []
    assert result.files.counted == []


def test_outcomes_and_data_events_are_kinds_of_call() -> None:
    text = delivery(
        rec("ListBuckets", errorCode="AccessDenied", eventID="e1"),
        rec("ListBuckets", errorCode="Forbidden", eventID="e2"),  # also denied: the same kind
        rec("ListBuckets", errorCode="NoSuchBucket", eventID="e3"),
        rec("ListBuckets", managementEvent=False, eventID="e4"),
        rec("ListBuckets", eventCategory="Data", eventID="e5"),  # also data: the same kind
        rec("ListBuckets", managementEvent=True, eventID="e6"),
    )
    result = scan(query(), text)
    assert [(call, stats.count) for _, call, _, stats, _, _ in result.calls] == [
        (CallKey(S3, "ListBuckets", "", "denied", False), 2),
        (CallKey(S3, "ListBuckets", "", "error", False), 1),
        (CallKey(S3, "ListBuckets", "", "ok", True), 2),
        (CallKey(S3, "ListBuckets", "", "ok", False), 1),
    ]
    assert result.files.refs == [0, 0, 1, 2, 2, 3]


def test_calls_whose_parameters_choose_the_action_are_kept_apart() -> None:
    text = delivery(
        rec("GetObject", requestParameters={"bucketName": "b", "key": "k"}, eventID="e1"),
        rec("GetObject", requestParameters={"versionId": "v1"}, eventID="e2"),
        rec("GetObject", requestParameters={"versionId": ""}, eventID="e3"),
        rec("GetObject", requestParameters=["versionId"], eventID="e4"),  # not an object
        rec("GetObject", eventID="e5"),
    )
    # the key of the second is written escaped: only a decoder can see it
    escaped = text.replace(b'"versionId":"v1"', b'"version\\u0049d":"v1"')
    for data in (text, escaped):
        result = scan(query(), data)
        assert counts(result) == {
            (ALICE, "GetObject", "", "ok"): 4,
            (ALICE, "GetObject", "version", "ok"): 1,
        }
        assert result.files.refs == [0, 1, 0, 0, 0]


def test_partiql_statements_are_read_whatever_their_bytes() -> None:
    def statement(text: str, event_id: str) -> dict[str, Any]:
        return rec(
            "ExecuteStatement",
            eventSource="dynamodb.amazonaws.com",
            requestParameters={"statement": text},
            eventID=event_id,
        )

    text = delivery(
        statement("SELECT * FROM t", "e1"),
        statement("UPDATE t SET a=1", "e2"),
        statement("select a FROM t", "e3"),
    )
    assert counts(scan(query(), text)) == {
        (ALICE, "ExecuteStatement", "partiql:select", "ok"): 2,
        (ALICE, "ExecuteStatement", "partiql:update", "ok"): 1,
    }


def test_a_parameter_dependent_call_of_another_kind_is_its_own_entry() -> None:
    text = delivery(
        rec("GetObject", requestParameters={"versionId": "v1"}, errorCode="AccessDenied"),
        rec("GetObject", requestParameters={"versionId": "v1"}),
    )
    assert counts(scan(query(), text)) == {
        (ALICE, "GetObject", "version", "denied"): 1,
        (ALICE, "GetObject", "version", "ok"): 1,
    }


# -- what is left out, and the counter of each reason --------------------------------------


def test_the_window_includes_both_ends_to_the_second() -> None:
    text = delivery(
        rec("ListBuckets", when="2026-01-05T09:59:59Z"),
        rec("ListBuckets", when="2026-01-05T10:00:00Z"),
        rec("ListBuckets", when="2026-01-05T10:00:00"),  # no zone, as some exports write
        rec("ListBuckets", when="2026-01-05T10:00:00.500Z"),
        rec("ListBuckets", when="2026-01-05T12:00:00Z"),
        rec("ListBuckets", when="2026-01-05T12:00:00.999Z"),
        rec("ListBuckets", when="2026-01-05T12:00:01Z"),
    )
    result = scan(ScanQuery(Principal.parse(ALICE), T10, T12), text)
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 5}
    assert result.stats.ignored == {"outside window": 2}
    assert (result.stats.records_read, result.stats.records_matched) == (7, 5)


def test_other_regions_are_left_out() -> None:
    text = delivery(
        rec("ListBuckets", awsRegion="us-east-1"),
        rec("ListBuckets", awsRegion="eu-west-1"),
        rec("ListBuckets", awsRegion="eu-west-1"),
        rec("ListBuckets"),  # no region: not in any
        rec("ListBuckets", awsRegion="us-west-2"),
    )
    result = scan(query(regions=frozenset({"us-east-1", "us-west-2"})), text)
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 2}
    assert result.stats.ignored == {"other region": 3}
    assert scan(query(), text).stats.ignored == {}


def test_events_other_than_api_calls_are_counted_by_type() -> None:
    text = delivery(
        rec("ListBuckets", eventType="AwsApiCall"),
        rec("ListBuckets"),  # no eventType: an API call
        rec("ConsoleLogin", eventType="AwsConsoleSignIn"),
        rec("RotateKey", eventType="AwsServiceEvent"),
        rec("RotateKey", eventType="AwsServiceEvent"),
    )
    result = scan(query(), text)
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 2}
    assert result.stats.ignored == {"AwsConsoleSignIn": 1, "AwsServiceEvent": 2}


def test_records_without_time_source_or_name_are_bad() -> None:
    text = delivery(
        rec("ListBuckets"),
        rec("ListBuckets", eventTime=None),
        rec("GetObject", eventTime=None),
        rec("ListBuckets", eventSource=""),
        rec("ListBuckets", eventSource=None),
        rec("", eventID="e9"),
        rec("PutObject", eventTime=5),  # wrongly typed: dropped by the decoder
    )
    result = scan(query(None), text)
    assert counts(result) == {(ALICE, "ListBuckets", "", "ok"): 1}
    assert (result.stats.records_read, result.stats.records_matched) == (6, 1)
    assert result.stats.records_bad == 6
    assert result.files.bad == [6]
    assert result.stats.ignored == {}


def test_records_of_no_user_or_role_are_left_out_silently() -> None:
    text = delivery(
        rec("ListBuckets", None),
        rec("ListBuckets", {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}),
        rec("ListBuckets", {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}),
        rec("ListBuckets", {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:x/y"}),
        rec("ListBuckets", {"type": "AssumedRole", "sessionContext": {}}),
        rec(
            "ListBuckets",
            {
                "type": "AssumedRole",
                "sessionContext": {"sessionIssuer": {"type": "Root", "arn": ALICE}},
            },
        ),
        rec("ListBuckets", {"type": "IAMUser"}),  # no ARN
        rec("PutObject", DEPLOYER),
    )
    result = scan(query(None), text)
    assert counts(result) == {(DEPLOYER, "PutObject", "", "ok"): 1}
    assert result.stats == ScanStats(
        files_read=1, bytes_read=len(text), records_read=8, records_matched=1
    )


def test_a_role_is_counted_from_its_sessions_only() -> None:
    text = delivery(
        rec("PutObject", DEPLOYER, eventID="e1"),
        rec("GetObject", {"type": "IAMUser", "arn": DEPLOYER}, eventID="e2"),
        rec("ListBuckets", {"type": "AssumedRole", "arn": DEPLOYER}, eventID="e3"),
    )
    result = scan(query(DEPLOYER), text)
    assert counts(result) == {(DEPLOYER, "PutObject", "", "ok"): 1}
    assert (result.stats.records_read, result.stats.records_matched) == (3, 1)


def test_a_user_is_not_counted_from_a_role_session_naming_it() -> None:
    issued = {
        "type": "AssumedRole",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ALICE}},
    }
    text = delivery(rec("GetObject", issued), rec("ListBuckets"))
    assert counts(scan(query(ALICE), text)) == {(ALICE, "ListBuckets", "", "ok"): 1}


def test_only_the_principals_of_the_folders_account_are_counted() -> None:
    text = delivery(
        rec("ListBuckets", eventID="e1"),
        rec("ListBuckets", MALLORY, eventID="e2"),
        rec("ListBuckets", MALLORY, eventID="e3"),
        rec("GetObject", {"type": "IAMUser", "arn": "arn:aws:iam:111122223333"}),  # 4 colons
        rec("PutObject", DEPLOYER, eventID="e4"),
    )
    accounts: list[str | None] = ["111122223333", "444455556666", None]
    result = scan(query(None), text, text, text, accounts=accounts)
    assert counts(result) == {
        (ALICE, "ListBuckets", "", "ok"): 2,
        (DEPLOYER, "PutObject", "", "ok"): 2,
        (MALLORY, "ListBuckets", "", "ok"): 4,
        ("arn:aws:iam:111122223333", "GetObject", "", "ok"): 1,
    }
    # file 0: Mallory twice and the short ARN; file 1: Alice, the short ARN and the deployer
    assert result.stats.ignored == {"another account's folder": 6}
    assert result.files.counted == [(0, 2), (1, 4), (2, 8)]
