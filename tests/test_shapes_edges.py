"""The odd corners of reading exports (`cloudtrail.shapes.read`): lines that are not
records, records of the wrong type, nested arrays, a named key holding a list, Trino text,
CSV cells and fields CSV cannot read. Expected counts are by hand, from the file's lines."""

from __future__ import annotations

import json

import pytest

from policygen.cloudtrail import shapes

GOOD = {
    "eventTime": "2026-01-05T10:00:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "ListBuckets",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
}


def lines(*values: object) -> bytes:
    return b"".join((v if isinstance(v, bytes) else json.dumps(v).encode()) + b"\n" for v in values)


def test_ndjson_counts_what_is_not_a_record() -> None:
    found = shapes.read(
        lines(
            GOOD,
            b"not JSON at all",  # a shipper's own line
            {**GOOD, "eventName": 5},  # a record with a wrongly typed field
            {"eventTime": 5, "level": "info"},  # wrongly typed, and no record
        )
    )
    assert found is not None
    assert (found.shape, len(found.records), found.bad, found.other) == ("NDJSON", 1, 1, 2)


def test_arrays_inside_an_array_are_read() -> None:
    found = shapes.read(json.dumps([[GOOD, GOOD], [GOOD, 7, "text"]]).encode())
    assert found is not None
    assert (found.shape, len(found.records), found.other) == ("JSON array", 3, 2)


def test_a_named_key_holding_a_list() -> None:
    document = {"batch": {"items": [GOOD, json.dumps(GOOD), "a note", {"level": "info"}]}}
    found = shapes.read(json.dumps(document).encode(), record_key="batch.items")
    assert found is not None
    assert (len(found.records), found.other, found.wrapper) == (2, 2, "batch.items")
    assert found.describe() == "JSON (records under batch.items)"
    elsewhere = shapes.read(json.dumps({"Records": [GOOD]}).encode(), record_key="batch.items")
    assert elsewhere is not None  # the key is not there: found the usual way
    assert (len(elsewhere.records), elsewhere.wrapper) == (1, "")


def test_concatenated_documents_cut_off_are_not_json() -> None:
    pages = json.dumps({"Events": []}, indent=1) + json.dumps({"Events": []}, indent=1)[:-5]
    with pytest.raises(shapes.NotJSON, match=r"^not JSON: "):
        shapes.read(pages.encode())


def test_blank_files_are_not_logs() -> None:
    assert shapes.read(b" \n\t\n") is None
    assert shapes.read(b"\xef\xbb\xbf\n") is None


def test_csv_columns_nested_and_null_cells() -> None:
    text = (
        "eventTime,eventSource,eventName,userIdentity.type,userIdentity.arn,errorCode\n"
        "2026-01-05 10:00:00.000,s3.amazonaws.com,ListBuckets,IAMUser,"
        "arn:aws:iam::111122223333:user/alice,null\n"
    )
    found = shapes.read(text.encode())
    assert found is not None
    [record] = found.records
    assert (record.eventTime, record.errorCode) == ("2026-01-05T10:00:00Z", None)
    assert record.userIdentity is not None
    assert record.userIdentity.arn == "arn:aws:iam::111122223333:user/alice"


def test_csv_fields_too_large_for_csv_are_not_read() -> None:
    huge = "x" * 200_000  # over the csv module's field limit (131,072)
    assert shapes.read(f"eventName,eventSource\n{huge},s3.amazonaws.com\n".encode()) is None
    assert shapes.read(f"{huge},eventName\n".encode()) is None


def test_lake_rows_that_are_not_lists_are_read_as_they_are() -> None:
    document = {"QueryResultRows": [[{"eventName": "ListBuckets"}, {"eventSource": "s3"}], GOOD]}
    found = shapes.read(json.dumps(document).encode())
    assert found is not None
    assert found.shape == "CloudTrail Lake query results"
    assert [r.eventName for r in found.records] == ["ListBuckets", "ListBuckets"]


def test_trino_text_corners() -> None:
    assert shapes.trino("{no equals sign}") == {}
    assert shapes.trino("[a, b c, {k=v, w=1, 2}]") == ["a", "b c", {"k": "v", "w": "1, 2"}]
