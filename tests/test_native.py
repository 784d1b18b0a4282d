"""The C record counter (`policygen.scan._native`) against the Python path it replaces.

Every test scans the same bytes twice, with the C counter and with `POLICYGEN_NATIVE`'s
Python path, and wants the very same batch result (calls, stats, eventIDs, references);
the hand-made cases also check the answer against counts written by hand. Hostile files
(escapes, unicode, wrong types, truncation, deep nesting) must come out as Python reads
them: the C walk declines what it is unsure of and the batch goes the Python way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policygen.iam.facts import RULES
from policygen.scan import native
from policygen.scan.files import FileTasks
from policygen.scan.query import ScanQuery
from policygen.scan.tally import BatchResult, Declined, Tally, scan_batch

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, user_identity

pytestmark = pytest.mark.skipif(native.Counter is None, reason="C counter not built")

QUERY = ScanQuery(None, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z")
OTHER_USER = f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob"


def tasks(files: list[bytes], account: str | None = ACCOUNT) -> FileTasks:
    keys = [
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/05/f{at}.json" for at in range(len(files))
    ]
    return FileTasks(
        keys,
        [len(data) for data in files],
        [None] * len(files),
        list(files),
        accounts=[account] * len(files),
        delivered=[1767607200 + at for at in range(len(files))],
    )


def both(files: list[bytes], query: ScanQuery = QUERY) -> tuple[BatchResult, bool]:
    """The batch's result, checked equal with and without the C counter, and whether the
    C counter counted the whole batch."""
    python = Tally(query, use_native=False)
    for at in range(len(files)):
        python.add_file(tasks(files), at)
    result = scan_batch(query, tasks(files))
    assert result == python.result()
    counted = Tally(query)
    try:
        for at in range(len(files)):
            counted.add_file(tasks(files), at)
    except Declined:
        return result, False
    return result, counted._counted_native and counted._native is not None


def log(*records: dict[str, Any]) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


def calls(result: BatchResult) -> dict[tuple[str, str, str], tuple[int, str, str, str]]:
    return {
        (arn, key.event_name, key.outcome): (
            stats.count,
            stats.first,
            stats.last,
            stats.example_event_id,
        )
        for arn, key, _, stats, _, _ in result.calls
    }


def test_counts_as_written_by_hand() -> None:
    """Users and roles counted per kind of call; every other record left out, by reason."""
    files = [
        log(
            record(
                USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T10:00:00Z", eventID="u2"
            ),
            record(
                USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T09:00:00Z", eventID="u1"
            ),
            record(USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:00:00Z", eventID=""),
            record(
                ROLE_ARN,
                "ec2.amazonaws.com",
                "DescribeInstances",
                errorCode="AccessDenied",
                eventID="r1",
            ),
            record(ROLE_ARN, "ec2.amazonaws.com", "DescribeInstances", "2026-01-07T00:00:00Z"),
            record(ROLE_ARN, "sts.amazonaws.com", "AssumeRole", eventType="AwsServiceEvent"),
            record(OTHER_USER, "s3.amazonaws.com", "ListBuckets"),
            record({"type": "AWSService", "invokedBy": "x"}, "s3.amazonaws.com", "ListBuckets"),
            record(USER_ARN, "s3.amazonaws.com", ""),
            record(USER_ARN, "s3.amazonaws.com", "GetBucketAcl", eventTime=None),
        )
    ]
    result, counted = both(files)
    assert counted
    assert calls(result) == {
        (USER_ARN, "ListBuckets", "ok"): (3, "2026-01-05T09:00:00Z", "2026-01-05T11:00:00Z", "u1"),
        (ROLE_ARN, "DescribeInstances", "denied"): (
            1,
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00Z",
            "r1",
        ),
    }
    stats = result.stats
    assert (stats.records_read, stats.records_matched, stats.records_bad) == (10, 4, 2)
    assert dict(stats.ignored) == {
        "outside window": 1,
        "AwsServiceEvent": 1,
        "another account's folder": 1,
    }
    assert result.files.ids == ["u2", "u1", "r1"]
    assert [result.calls[at][1].event_name for at in result.files.refs] == [
        "ListBuckets",
        "ListBuckets",
        "DescribeInstances",
    ]


def test_hourly_buckets_and_regions() -> None:
    query = ScanQuery(
        None, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", frozenset({"eu-west-1"}), hourly=True
    )
    files = [
        log(
            record(
                USER_ARN,
                "s3.amazonaws.com",
                "ListBuckets",
                "2026-01-05T10:10:00Z",
                awsRegion="eu-west-1",
            ),
            record(
                USER_ARN,
                "s3.amazonaws.com",
                "ListBuckets",
                "2026-01-05T11:10:00Z",
                awsRegion="eu-west-1",
            ),
            record(
                USER_ARN,
                "s3.amazonaws.com",
                "ListBuckets",
                "2026-01-05T11:20:00Z",
                awsRegion="us-east-1",
            ),
            record(
                USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T11:30:00Z", awsRegion=None
            ),
        )
    ]
    result, counted = both(files, query)
    assert counted
    assert [(bucket, stats.count, latest) for _, _, bucket, stats, latest, _ in result.calls] == [
        (("2026-01-05T10", "eu-west-1"), 1, 1767607200),
        (("2026-01-05T11", "eu-west-1"), 1, 1767607200),
    ]
    assert dict(result.stats.ignored) == {"other region": 2}


def test_special_kinds_are_counted_from_their_records() -> None:
    """Calls whose action depends on parameters, and calls with resource facts."""
    query = ScanQuery(
        None, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", observe="all", rules=RULES
    )
    get = {"bucketName": "b", "key": "k"}
    files = [
        log(
            record(
                USER_ARN,
                "s3.amazonaws.com",
                "GetObject",
                requestParameters={**get, "versionId": "v"},
            ),
            record(USER_ARN, "s3.amazonaws.com", "GetObject", requestParameters=get, eventID="g"),
            record(USER_ARN, "s3.amazonaws.com", "ListBuckets", eventID="l"),
            record(USER_ARN, "iam.amazonaws.com", "GetRole", requestParameters={"roleName": "r"}),
        ),
        log(record(USER_ARN, "s3.amazonaws.com", "GetObject", requestParameters=get, eventID="g2")),
    ]
    result, counted = both(files, query)
    assert counted
    qualified = {
        (key.event_name, key.qualifier): stats.count for _, key, _, stats, _, _ in result.calls
    }
    assert qualified == {
        ("GetObject", "version"): 1,
        ("GetObject", ""): 2,
        ("ListBuckets", ""): 1,
        ("GetRole", ""): 1,
    }


HOSTILE = [
    b'{"Records":[{"eventName":"List\\u0042uckets"}]}',  # an escape in a counted field
    b'{"Records":[{"event\\u004eame":"X"}]}',  # an escaped key
    b'{"Records":[{"eventTime":5}]}',  # a wrongly typed field: a bad record
    b'{"Records":[{"managementEvent":"yes"}]}',
    b'{"Records":[{"userIdentity":[]}]}',
    b'{"Records":[1, {"eventName":"x"}]}',
    b'{"Records":[{"eventName":"x"}]',  # truncated
    b'{"Records":[{"eventName":"x",}]}',  # a trailing comma
    b'{"Records":[]} x',  # trailing bytes
    b'{"Records":{}}',
    b'{"Other":[]}',
    b'[{"eventName":"x"}]',  # a bare array: another shape
    b'{"Records":[{"requestParameters":' + b"[" * 100 + b"]" * 100 + b"}]}",  # deep nesting
    b'{"Records":[{"requestParameters":{"a":"\xff"}}]}',  # not UTF-8
    b'{"Records":[{"requestParameters":{"a":"\\ud800"}}]}',  # a lone surrogate
    b'{"Records":[{"requestParameters":{"a":01}}]}',  # not a JSON number
    b'{"Records":[{"requestParameters":{"a":-1.5e+3, "b":"caf\xc3\xa9 \\n"}}]}',
    b'{"Records":[{"eventTime":"2026-01-05T10:00:00Z' + b"9" * 80 + b'"}]}',  # a long time
    b"",
    b" \n",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_files_read_as_python_reads_them(hostile: bytes) -> None:
    good = log(record(USER_ARN, "s3.amazonaws.com", "ListBuckets", eventID="a"))
    both([hostile])
    both([good, hostile, good])  # declined after counting: the batch is redone in Python
    both([hostile, good])


def test_duplicate_members_last_wins() -> None:
    identity = json.dumps(record(USER_ARN, "s3.amazonaws.com", "X")["userIdentity"])
    text = (
        '{"Records":[{"userIdentity":' + identity + ',"userIdentity":{"type":"IAMUser"},'
        '"eventTime":"2026-01-05T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"A",'
        '"eventName":"B"}, {"userIdentity":{"type":"IAMUser","arn":"' + USER_ARN + '"},'
        '"eventTime":"2026-01-05T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"A",'
        '"eventName":"B","eventName":"C"}]}'
    )
    result, counted = both([text.encode()])
    assert counted
    assert list(calls(result)) == [(USER_ARN, "C", "ok")]


PLAIN = st.text(st.sampled_from("aZ09:/-"), max_size=6)
TEXT = st.text(st.sampled_from('aZ09:/-"\\é\n\x00'), max_size=6)
VALUE = st.one_of(st.none(), TEXT, st.integers(-2, 2), st.booleans(), st.just([]), st.just({}))
TIMES = st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05T09:00:00Z", "2026-01-07T00:00:00Z"])
#: per field, well-formed values (what CloudTrail writes, and the nulls and odd strings the
#: C walk must read as msgspec does); a hostile file draws from these or from VALUE.
FIELDS = {
    "eventTime": st.one_of(TIMES, st.none(), PLAIN),
    "eventSource": st.one_of(st.just("s3.amazonaws.com"), st.none(), PLAIN),
    "eventName": st.one_of(st.sampled_from(["GetObject", "ListBuckets", "PassRole"]), PLAIN),
    "errorCode": st.one_of(st.none(), st.just("AccessDenied"), PLAIN),
    "eventID": st.one_of(st.sampled_from(["e1", "e2", ""]), st.none()),
    "eventType": st.one_of(st.just("AwsApiCall"), st.none(), PLAIN),
    "managementEvent": st.one_of(st.none(), st.booleans()),
    "eventCategory": st.one_of(st.just("Data"), st.none(), PLAIN),
    "awsRegion": st.one_of(st.just("us-east-1"), st.none(), PLAIN),
    "requestParameters": st.one_of(
        st.none(),
        st.dictionaries(
            st.one_of(st.sampled_from(["versionId", "VersionID"]), TEXT), VALUE, max_size=3
        ),
    ),
}
IDENTITY = st.one_of(
    st.sampled_from([USER_ARN, ROLE_ARN, OTHER_USER]).map(user_identity),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["IAMUser", "AssumedRole", "Root"]),
            "arn": st.one_of(st.none(), PLAIN),
        }
    ),
    st.none(),
)


@st.composite
def files(draw: st.DrawFn) -> bytes:
    hostile = draw(st.booleans())
    records = []
    for _ in range(draw(st.integers(0, 4))):
        identity = draw(st.one_of(IDENTITY, VALUE) if hostile else IDENTITY)
        fields = {
            name: draw(st.one_of(value, VALUE) if hostile else value)
            for name, value in FIELDS.items()
            if draw(st.booleans())
        }
        records.append(
            {**record(USER_ARN, "s3.amazonaws.com", "X", **fields), "userIdentity": identity}
        )
    text = json.dumps(
        {"Records": records},
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 1])),
    )
    data = text.encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, 3)) if hostile else 0
    return data[: len(data) - cut] if cut else data


@pytest.mark.slow  # left out of `scripts/mutation --quick`, where it would run per mutant
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(files(), min_size=1, max_size=3), st.sampled_from(["none", "all"]))
def test_fuzz_native_equals_python(batch: list[bytes], observe: str) -> None:
    query = ScanQuery(
        None,
        "2026-01-05T00:00:00Z",
        "2026-01-06T00:00:00Z",
        observe=observe,
        rules=RULES,  # type: ignore[arg-type]
    )
    both(batch, query)
