"""The scanner's decoding, in this process: gzip, the record cutter for one principal, and
the other shapes of log files, with the counters each bad or foreign input leaves behind.

Every input is a few hand-written bytes; every expected value is written by hand. These are
the `--quick` mutation tests of `scan/decode.py` (issue 19): they call the decoder directly,
so the mutated code runs here, not in a worker process.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from policygen.scan.decode import (
    FileError,
    NotALogFile,
    candidate_records,
    decode_records,
    decompress,
    other_shapes,
)
from policygen.scan.usage import ScanStats
from rawlogs import ALICE, BOB, delivery, rec


def names(records: list[Any]) -> list[str | None]:
    return [record.eventName for record in records]


# -- decompress ----------------------------------------------------------------------------


def test_plain_bytes_pass_through_up_to_the_cap() -> None:
    assert decompress(b"0123456789", 10) == b"0123456789"


def test_plain_bytes_beyond_the_cap_are_refused() -> None:
    with pytest.raises(FileError, match=r"^larger than 9 bytes$"):
        decompress(b"0123456789", 9)


def test_gzip_is_inflated() -> None:
    assert decompress(gzip.compress(b"hello world", mtime=0), 100) == b"hello world"


def test_every_gzip_member_is_inflated_in_order() -> None:
    data = gzip.compress(b"first,", mtime=0) + gzip.compress(b"second", mtime=0)
    assert decompress(data, 100) == b"first,second"


def test_three_gzip_members() -> None:
    data = b"".join(gzip.compress(part, mtime=0) for part in (b"a", b"b", b"c"))
    assert decompress(data, 3) == b"abc"


def test_gzip_inflating_to_exactly_the_cap_is_accepted() -> None:
    assert decompress(gzip.compress(b"x" * 1000, mtime=0), 1000) == b"x" * 1000


def test_gzip_inflating_beyond_the_cap_is_a_bomb() -> None:
    with pytest.raises(FileError, match=r"^decompresses to more than 999 bytes$"):
        decompress(gzip.compress(b"x" * 1000, mtime=0), 999)


def test_the_cap_counts_every_member_together() -> None:
    data = gzip.compress(b"x" * 6, mtime=0) + gzip.compress(b"y" * 6, mtime=0)
    assert decompress(data, 12) == b"x" * 6 + b"y" * 6
    with pytest.raises(FileError, match=r"^decompresses to more than 11 bytes$"):
        decompress(data, 11)


def test_a_truncated_gzip_stream_is_refused() -> None:
    data = gzip.compress(b"some log text " * 20, mtime=0)
    with pytest.raises(FileError, match=r"^corrupt gzip: truncated$"):
        decompress(data[: len(data) // 2], 10_000)


def test_a_damaged_gzip_stream_is_refused() -> None:
    data = bytearray(gzip.compress(b"some log text", mtime=0))
    data[2] = 0  # compression method 0: not deflate
    with pytest.raises(FileError, match=r"^corrupt gzip: .*unsupported compress method"):
        decompress(bytes(data), 10_000)


def test_padding_after_the_last_member_is_tolerated() -> None:
    assert decompress(gzip.compress(b"log", mtime=0) + b"\0" * 16, 100) == b"log"


# -- decode_records ------------------------------------------------------------------------


def test_a_delivery_file_decodes_into_its_records() -> None:
    stats = ScanStats()
    records = decode_records(delivery(rec("GetObject"), rec("PutObject", BOB)), stats)
    assert names(records) == ["GetObject", "PutObject"]
    assert records[1].userIdentity.arn == BOB
    assert stats == ScanStats()


def test_a_wrongly_typed_record_is_counted_and_dropped() -> None:
    stats = ScanStats()
    text = delivery(rec("GetObject"), rec("PutObject", eventTime=5), rec("ListBuckets"))
    assert names(decode_records(text, stats)) == ["GetObject", "ListBuckets"]
    assert stats.records_bad == 1


def test_every_bad_record_is_counted() -> None:
    stats = ScanStats()
    text = delivery(rec("A", eventTime=5), rec("B", awsRegion=[1]), rec("C"))
    assert names(decode_records(text, stats)) == ["C"]
    assert stats.records_bad == 2


def test_json_without_a_records_array_is_not_a_log_file() -> None:
    with pytest.raises(NotALogFile, match=r"^no Records array$"):
        decode_records(b'{"Digest": "not records"}', ScanStats())


def test_records_that_are_not_an_array_are_not_a_log_file() -> None:
    with pytest.raises(NotALogFile, match=r"^no Records array$"):
        decode_records(b'{"Records": 5}', ScanStats())


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(FileError, match=r"^not JSON: ") as caught:
        decode_records(b"this is not json", ScanStats())
    assert not isinstance(caught.value, NotALogFile)


def test_a_log_file_cut_off_mid_record_is_refused() -> None:
    text = delivery(rec("GetObject"))[:-20]
    with pytest.raises(FileError, match=r"^not JSON: ") as caught:
        decode_records(text, ScanStats())
    assert not isinstance(caught.value, NotALogFile)


def test_a_cut_off_file_with_a_bad_record_is_refused_too() -> None:
    """The first decoder fails on the type, the record-by-record one on the cut."""
    text = delivery(rec("A", eventTime=5), rec("B"))[:-20]
    with pytest.raises(FileError, match=r"^not JSON: ") as caught:
        decode_records(text, ScanStats())
    assert not isinstance(caught.value, NotALogFile)


def test_nesting_deeper_than_the_decoder_allows_is_refused() -> None:
    deep = b'{"Records":[{"eventVersion":"1","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    with pytest.raises(FileError, match=r"^not JSON: maximum recursion depth"):
        decode_records(deep, ScanStats())


def test_deep_nesting_after_a_bad_record_is_refused() -> None:
    deep = b'{"Records":[{"eventTime":5},{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    with pytest.raises(FileError, match=r"^not JSON: maximum recursion depth"):
        decode_records(deep, ScanStats())


# -- other_shapes --------------------------------------------------------------------------


def test_ndjson_records_are_read_and_their_shape_counted() -> None:
    stats = ScanStats()
    text = (json.dumps(rec("GetObject")) + "\n" + json.dumps(rec("PutObject")) + "\n").encode()
    found = other_shapes(text, None, stats, FileError("unused"))
    assert names(found) == ["GetObject", "PutObject"]
    assert stats.shapes == {"NDJSON": 1}
    assert stats.records_bad == 0
    assert stats.ignored == {}


def test_a_bare_array_with_a_bad_record_and_a_foreign_item() -> None:
    stats = ScanStats()
    text = json.dumps([rec("GetObject"), rec("PutObject", eventTime=5), {"hello": 1}]).encode()
    found = other_shapes(text, None, stats, FileError("unused"))
    assert names(found) == ["GetObject"]
    assert stats.shapes == {"JSON array": 1}
    assert stats.records_bad == 1
    assert stats.ignored == {"not a CloudTrail record": 1}


def test_shapes_add_to_the_counters_already_there() -> None:
    stats = ScanStats(records_bad=2)
    stats.ignored["not a CloudTrail record"] = 3
    stats.shapes["JSON array"] = 1
    text = json.dumps([rec("PutObject", eventTime=5), {"hello": 1}]).encode()
    assert other_shapes(text, None, stats, FileError("unused")) == []
    assert stats.records_bad == 3
    assert stats.ignored == {"not a CloudTrail record": 4}
    assert stats.shapes == {"JSON array": 2}


def test_records_under_a_named_key() -> None:
    stats = ScanStats()
    text = json.dumps([{"wrap": {"inner": rec("GetObject")}}]).encode()
    assert names(other_shapes(text, "wrap.inner", stats, FileError("unused"))) == ["GetObject"]
    assert stats.shapes == {"JSON array (records under wrap.inner)": 1}


def test_lookup_events_output_is_read() -> None:
    stats = ScanStats()
    event = {"EventId": "e1", "CloudTrailEvent": json.dumps(rec("GetObject"))}
    text = json.dumps({"Events": [event]}).encode()
    assert names(other_shapes(text, None, stats, FileError("unused"))) == ["GetObject"]
    assert stats.shapes == {"lookup-events output (records under CloudTrailEvent)": 1}


def test_json_holding_no_records_raises_the_delivery_decoders_error() -> None:
    error = NotALogFile("no Records array")
    with pytest.raises(NotALogFile) as caught:
        other_shapes(b'  \n{"Digest": "not records"}', None, ScanStats(), error)
    assert caught.value is error


def test_an_array_holding_no_records_raises_the_delivery_decoders_error() -> None:
    error = FileError("the reason")
    with pytest.raises(FileError) as caught:
        other_shapes(b"\n[1, 2]", None, ScanStats(), error)
    assert caught.value is error


def test_text_holding_no_records_is_another_kind_of_file() -> None:
    with pytest.raises(NotALogFile, match=r"^the reason$"):
        other_shapes(b"just some text\n", None, ScanStats(), FileError("the reason"))


def test_an_array_cut_off_is_not_json() -> None:
    with pytest.raises(FileError, match=r"^not JSON: ") as caught:
        other_shapes(b'[{"eventName": "GetObject"', None, ScanStats(), FileError("unused"))
    assert not isinstance(caught.value, NotALogFile)


# -- candidate_records ---------------------------------------------------------------------


def test_only_the_records_naming_the_principal_are_cut_out() -> None:
    text = delivery(rec("GetObject"), rec("PutObject", BOB), rec("ListBuckets"))
    found = candidate_records(text, ALICE.encode())
    assert names(found) == ["GetObject", "ListBuckets"]
    assert [r.userIdentity.arn for r in found] == [ALICE, ALICE]


def test_the_last_record_is_cut_at_the_end_of_the_array() -> None:
    text = delivery(rec("PutObject", BOB), rec("GetObject"), tail=b" \r\n\t\n")
    assert names(candidate_records(text, ALICE.encode())) == ["GetObject"]


def test_a_single_record_file() -> None:
    assert names(candidate_records(delivery(rec("GetObject")), ALICE.encode())) == ["GetObject"]


def test_a_record_naming_the_principal_twice_is_cut_once() -> None:
    text = delivery(rec("GetObject", requestParameters={"owner": ALICE}), rec("PutObject", BOB))
    assert names(candidate_records(text, ALICE.encode())) == ["GetObject"]


def test_no_occurrence_no_records() -> None:
    assert candidate_records(delivery(rec("GetObject", BOB)), ALICE.encode()) == []


def test_looking_starts_where_the_caller_says() -> None:
    text = delivery(rec("GetObject"), rec("PutObject", BOB), rec("ListBuckets"))
    second = text.rindex(ALICE.encode())
    assert names(candidate_records(text, ALICE.encode(), second)) == ["ListBuckets"]
    assert names(candidate_records(text, ALICE.encode(), 0)) == ["GetObject", "ListBuckets"]


def test_a_file_not_laid_out_by_cloudtrail_is_left_to_the_full_decoder() -> None:
    spaced = json.dumps({"Records": [rec("GetObject")]}).encode()  # `{"Records": [` with spaces
    assert candidate_records(spaced, ALICE.encode()) is None


def test_a_file_without_the_closing_brackets_is_left_to_the_full_decoder() -> None:
    assert candidate_records(delivery(rec("GetObject"))[:-1], ALICE.encode()) is None
    assert candidate_records(delivery(rec("GetObject"))[:-2] + b"}]", ALICE.encode()) is None


def test_an_occurrence_before_any_record_is_left_to_the_full_decoder() -> None:
    assert candidate_records(delivery(rec("GetObject")), b"Records") is None
    assert candidate_records(delivery(rec("GetObject")), b'{"Records"') is None  # at 0


def test_a_file_with_bytes_after_the_array_is_left_to_the_full_decoder() -> None:
    assert candidate_records(delivery(rec("GetObject"), tail=b"X"), ALICE.encode()) is None
    assert candidate_records(delivery(rec("GetObject"), tail=b"\n\0"), ALICE.encode()) is None


def test_a_cut_with_a_wrongly_typed_field_is_left_to_the_full_decoder() -> None:
    text = delivery(rec("GetObject", eventTime=5), rec("PutObject"))
    assert candidate_records(text, ALICE.encode()) is None


def test_a_record_whose_next_one_does_not_start_with_event_version() -> None:
    """Cut to the array's end, two records do not decode as one: the full decoder reads it."""
    other = {"userIdentity": {"type": "IAMUser", "arn": BOB}, "eventName": "PutObject"}
    assert candidate_records(delivery(rec("GetObject"), other), ALICE.encode()) is None


def test_deep_nesting_in_a_cut_is_left_to_the_full_decoder() -> None:
    deep = {"eventVersion": "1", "userIdentity": {"type": "IAMUser", "arn": ALICE}}
    text = delivery(deep).replace(
        b'"eventVersion":"1"', b'"eventVersion":"1","x":' + b"[" * 100_000 + b"]" * 100_000
    )
    assert candidate_records(text, ALICE.encode()) is None
