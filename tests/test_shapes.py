"""Logs in the shapes people hold them give the policy their delivery files give."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from policygen import generate_policy
from policygen.cloudtrail import shapes
from policygen.pipeline import generate_all_policies
from policygen.policy import explain as report
from shapefactory import SHAPES, trino, wrapped

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, write_log

WINDOW = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/app/deployer"


def _calls() -> list[dict]:
    """Calls whose actions depend on parameters, outcome and data-event status as well as
    on their names, by two principals of one account and one of another."""
    return [
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", "2026-01-05T09:00:00Z"),
        record(
            ROLE_ARN,
            "s3.amazonaws.com",
            "GetObject",
            "2026-01-05T09:30:00Z",
            requestParameters={"bucketName": "b", "key": "k", "versionId": "v1"},
            resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}],
            managementEvent=False,
            eventCategory="Data",
        ),
        record(
            ROLE_ARN,
            "kms.amazonaws.com",
            "Decrypt",
            "2026-01-05T10:00:00Z",
            errorCode="AccessDenied",
            errorMessage="User: x is not authorized to perform: kms:Decrypt, on resource: y",
        ),
        record(USER_ARN, "sts.amazonaws.com", "GetCallerIdentity", "2026-01-05T11:00:00Z"),
        record(USER_ARN, "s3.amazonaws.com", "ListBuckets", "2026-01-05T12:00:00Z"),
        record(OTHER_ROLE, "lambda.amazonaws.com", "ListFunctions20150331"),
    ]


CALLS = _calls()


def calls() -> list[dict]:
    return [dict(r) for r in CALLS]


#: By hand, from docs/event-to-action.md: what each principal's calls need.
EXPECTED = {
    ROLE_ARN: ["ec2:DescribeVpcs", "kms:Decrypt", "s3:GetObjectVersion"],
    USER_ARN: ["s3:ListAllMyBuckets", "sts:GetCallerIdentity"],
}


def explained(logs: Path, arn: str, **options) -> tuple[list[str], dict]:
    result = generate_policy(arn, logs, use_index=False, **WINDOW, **options)
    return list(result.analysis.actions), report.explain(result.analysis)


@pytest.fixture
def delivered(tmp_path: Path) -> dict[str, tuple[list[str], dict]]:
    """Each principal's actions and per-action calls, from delivery files."""
    records = calls()
    root = tmp_path / "delivered"
    write_log(root, records[:3])
    write_log(root, records[3:5], suffix="B" * 16)
    write_log(root, records[5:], account=OTHER_ACCOUNT)
    return {arn: explained(root, arn) for arn in EXPECTED}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_shape_gives_the_delivery_files_policy(
    tmp_path: Path, delivered: dict, shape: str, compress: bool
) -> None:
    name, write = SHAPES[shape]
    body = write(calls())
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / name).write_bytes(gzip.compress(body) if compress else body)
    for arn, actions in EXPECTED.items():
        found = explained(folder, arn)
        assert found[0] == actions, arn
        assert found == delivered[arn], arn


@pytest.mark.parametrize("shape", ["json-array", "lookup-events", "lake-csv", "elastic-_source"])
def test_every_principal_from_an_export(tmp_path: Path, shape: str) -> None:
    name, write = SHAPES[shape]
    (tmp_path / name).write_bytes(write(calls()))
    found = {
        r.principal.arn: list(r.analysis.actions) for r in generate_all_policies(tmp_path, **WINDOW)
    }
    assert found == {**EXPECTED, OTHER_ROLE: ["lambda:ListFunctions"]}


def test_the_shape_read_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(SHAPES["elastic-_source"][1](calls()))
    (tmp_path / "b.csv").write_bytes(SHAPES["lake-csv"][1](calls()))
    stats = generate_policy(ROLE_ARN, tmp_path, **WINDOW).analysis.stats
    assert dict(stats.shapes) == {"CSV": 1, "NDJSON (records under _source)": 1}


def test_a_named_record_key_reads_records_under_an_unknown_key(tmp_path: Path) -> None:
    lines = [json.dumps({"kafka": {"offset": n, "value": r}}) for n, r in enumerate(calls())]
    (tmp_path / "topic.json").write_text("\n".join(lines))
    assert explained(tmp_path, ROLE_ARN)[0] == []
    assert explained(tmp_path, ROLE_ARN, record_key="kafka.value")[0] == EXPECTED[ROLE_ARN]


def test_message_text_is_found_without_a_key_and_with_one(tmp_path: Path) -> None:
    (tmp_path / "shipper.log").write_bytes(wrapped(calls(), "message"))
    assert explained(tmp_path, ROLE_ARN, record_key="message")[0] == EXPECTED[ROLE_ARN]


def test_lookup_events_pages_appended_to_one_file(tmp_path: Path) -> None:
    records = calls()
    pages = [SHAPES["lookup-events"][1](records[:2]), SHAPES["lookup-events"][1](records[2:])]
    (tmp_path / "pages.json").write_bytes(b"\n".join(pages))
    assert explained(tmp_path, ROLE_ARN)[0] == EXPECTED[ROLE_ARN]


def test_a_record_of_the_wrong_type_is_counted_not_fatal(tmp_path: Path) -> None:
    records = calls()
    lines = [json.dumps(r) for r in records] + [
        '{"eventName": "X", "eventSource": 5, "eventTime": 1}'
    ]
    (tmp_path / "events.ndjson").write_text("\n".join(lines))
    result = generate_policy(USER_ARN, tmp_path, **WINDOW)
    assert list(result.analysis.actions) == EXPECTED[USER_ARN]
    assert result.analysis.stats.records_bad == 1
    assert result.to_api()["properties"]["isComplete"] is False


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"just some text\nnot a log\n", id="text"),
        pytest.param(b"a,b,c\n1,2,3\n", id="other-csv"),
        pytest.param(b'{"logFiles": []}', id="digest-like-json"),
        pytest.param(b'[{"name": "x"}]', id="array-of-other-objects"),
        pytest.param(b'{"a": 1}\n{"b": 2}\n', id="other-ndjson"),
    ],
)
def test_files_holding_no_record_are_not_logs(tmp_path: Path, content: bytes) -> None:
    write_log(tmp_path, calls()[3:5])
    (tmp_path / "notes.txt").write_bytes(content)
    (result,) = generate_all_policies(tmp_path, **WINDOW)
    assert list(result.analysis.actions) == EXPECTED[USER_ARN]
    assert result.analysis.stats.ignored["not a CloudTrail log file"] == 1
    assert result.analysis.is_complete


def test_corrupt_json_export_is_reported(tmp_path: Path) -> None:
    (tmp_path / "export.json").write_bytes(json.dumps(calls()).encode()[:-40])
    result = generate_policy(ROLE_ARN, tmp_path, **WINDOW)
    assert result.analysis.stats.files_skipped == 1
    assert "not JSON" in result.analysis.stats.skipped[str(tmp_path / "export.json")]


def test_trino_text_is_read_as_written() -> None:
    identity = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/x/s",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/x"}},
        "invokedBy": None,
    }
    assert trino(identity) == (
        "{type=AssumedRole, arn=arn:aws:sts::111122223333:assumed-role/x/s, "
        "sessioncontext={sessionissuer={type=Role, arn=arn:aws:iam::1:role/x}}, invokedby=null}"
    )
    assert shapes.trino(trino(identity)) == {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/x/s",
        "sessioncontext": {"sessionissuer": {"type": "Role", "arn": "arn:aws:iam::1:role/x"}},
        "invokedby": None,
    }
    assert shapes.trino("{key=a, b, versionId=v}") == {"key": "a, b", "versionId": "v"}
    assert shapes.trino("[{arn=a}, {arn=b}]") == [{"arn": "a"}, {"arn": "b"}]


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2026-01-05T10:00:00.000Z", "2026-01-05T10:00:00Z"),
        ("2026-01-05 10:00:00.000", "2026-01-05T10:00:00Z"),
        ("2026-01-05T12:00:00+02:00", "2026-01-05T10:00:00Z"),
        ("yesterday", None),
    ],
)
def test_times_as_exports_write_them(written: str, iso: str | None) -> None:
    assert shapes.iso_time(written) == iso


def test_the_account_of_the_records_not_of_the_file(tmp_path: Path) -> None:
    """Delivery files that kept another account's name (copied, anonymised) are read."""
    (tmp_path / f"{ACCOUNT}_CloudTrail_us-east-1_20260105T1005Z_AbCdEfGh12345678.json").write_text(
        json.dumps({"Records": [record(OTHER_ROLE, "ec2.amazonaws.com", "DescribeVpcs")]})
    )
    assert explained(tmp_path, OTHER_ROLE)[0] == ["ec2:DescribeVpcs"]
