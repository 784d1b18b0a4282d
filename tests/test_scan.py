"""The scanner against the generator's ground truth, in one process and in several."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

from policygen import generate_policy
from policygen.cli.generate import observe_level
from policygen.cli.output import result_document
from policygen.cloudtrail.layout import Delivery
from policygen.core.arns import Principal
from policygen.pipeline import scan
from policygen.policy.render import RenderOptions
from policygen.scan import pool as fanout
from policygen.scan.decode import candidate_records
from policygen.sources.dedupe import Dedupe
from policygen.sources.local import LocalFolder
from policygen_synth import Manifest

from logfactory import OTHER_ACCOUNT, ROLE_ARN, USER_ARN, record, write_log
from scanhelp import EVERYTHING, by_outcome, comparable, truth

# listings must not depend on the working folder (and a mutant listing it ends at once)
pytestmark = pytest.mark.usefixtures("empty_working_folder")


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make even a small corpus go through worker processes, several batches each."""
    monkeypatch.setattr(fanout, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(fanout, "BATCH_BYTES", 16 * 1024)


def principals(manifest: Manifest, kind: str) -> list[str]:
    return [p["arn"] for p in manifest.principals if f":{kind}/" in p["arn"]]


def one(root: Path, arn: str, workers: int) -> dict:
    principal = Principal.parse(arn)
    selection = dataclasses.replace(EVERYTHING, accounts=frozenset({principal.account}))
    return scan(LocalFolder(root), selection, principal, workers=workers)


@pytest.mark.parametrize("kind", ["user", "role"])
def test_parallel_scan_equals_sequential_scan_equals_ground_truth(
    corpus: tuple[Path, Manifest], kind: str, parallel: None
) -> None:
    root, manifest = corpus
    for arn in principals(manifest, kind):
        sequential = one(root, arn, workers=1)[arn]
        spread = one(root, arn, workers=2)[arn]
        assert by_outcome(sequential) == truth(manifest, arn), arn
        assert comparable(spread) == comparable(sequential), arn
        assert spread.stats.duplicates == sequential.stats.duplicates


def test_all_principals_in_one_pass_equal_one_principal_scans(
    corpus: tuple[Path, Manifest], parallel: None
) -> None:
    root, manifest = corpus
    everyone = scan(LocalFolder(root), EVERYTHING, None, workers=2)
    for described in manifest.principals:
        arn = described["arn"]
        assert comparable(everyone[arn]) == comparable(one(root, arn, workers=1)[arn]), arn
    assert set(everyone) >= {p["arn"] for p in manifest.principals}


def test_progress_is_reported_in_the_parent_for_every_file(
    corpus: tuple[Path, Manifest], parallel: None
) -> None:
    root, _ = corpus
    seen: list[str] = []
    result = scan(
        LocalFolder(root), EVERYTHING, None, workers=2, on_file=lambda o: seen.append(o.key)
    )
    stats = next(iter(result.values())).stats
    assert len(seen) == stats.files_listed == len(set(seen))


def test_a_raising_progress_callback_stops_the_scan(
    corpus: tuple[Path, Manifest], parallel: None
) -> None:
    root, _ = corpus
    calls = []

    def cancel(obj: object) -> None:
        calls.append(obj)
        raise KeyboardInterrupt  # what a job's watch raises is its own type; any will do

    with pytest.raises(KeyboardInterrupt):
        scan(LocalFolder(root), EVERYTHING, None, workers=2, on_file=cancel)
    assert len(calls) == 1


def test_prefilter_rejects_another_principals_record_that_mentions_the_arn(logs: Path) -> None:
    admin = "arn:aws:iam::111122223333:user/admin"
    mention = record(admin, "iam.amazonaws.com", "GetRole", requestParameters={"roleArn": ROLE_ARN})
    own = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    write_log(logs, [mention, own, mention])
    found = one(logs, ROLE_ARN, workers=1)[ROLE_ARN]
    assert by_outcome(found) == {
        ("ec2.amazonaws.com", "DescribeVpcs"): {"ok": 1, "denied": 0, "error": 0}
    }
    assert found.stats.records_read == 3  # the mentions were decoded, then rejected


def test_prefilter_decodes_only_the_records_that_hold_the_arn() -> None:
    others = [record(USER_ARN, "s3.amazonaws.com", "ListBuckets") for _ in range(5)]
    own = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    text = json.dumps({"Records": [*others, own, *others]}, separators=(",", ":")).encode()
    found = candidate_records(text, ROLE_ARN.encode())
    assert found is not None
    assert [r.eventName for r in found] == ["DescribeVpcs"]


@pytest.mark.parametrize(
    "layout",
    ["OX", "XO", "OOXOO", "XX", "OXXO", "X"],
    ids=["last", "first", "middle", "adjacent", "adjacent-middle", "alone"],
)
def test_prefilter_cuts_every_record_at_the_files_edges_and_side_by_side(layout: str) -> None:
    """The search's bounds (record start before, next record after, next search from the
    cut's end) hold at the array's ends, for neighbours, and for an ARN named twice."""
    own = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    own["requestParameters"] = {"roleArn": ROLE_ARN}  # the ARN twice in one record
    other = record(USER_ARN, "s3.amazonaws.com", "ListBuckets")
    records = [
        {**(own if kind == "X" else other), "eventID": f"e{at}"} for at, kind in enumerate(layout)
    ]
    text = json.dumps({"Records": records}, separators=(",", ":")).encode()
    found = candidate_records(text, ROLE_ARN.encode())
    assert found is not None
    assert [r.eventID for r in found] == [f"e{at}" for at, k in enumerate(layout) if k == "X"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(lambda body: json.dumps(body, indent=1), id="pretty-printed"),
        pytest.param(lambda body: json.dumps({"Other": 1, **body}), id="other-key-first"),
    ],
)
def test_files_not_written_like_cloudtrail_are_decoded_whole(logs: Path, text) -> None:
    own = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    path = write_log(logs, [])
    path.write_bytes(gzip.compress(text({"Records": [own]}).encode()))
    found = one(logs, ROLE_ARN, workers=1)[ROLE_ARN]
    assert list(by_outcome(found)) == [("ec2.amazonaws.com", "DescribeVpcs")]


def test_a_malformed_record_among_candidates_does_not_lose_its_file(logs: Path) -> None:
    good = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    bad = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", eventName=["not", "a string"])
    write_log(logs, [good, bad, good | {"eventID": "other-id"}])
    found = one(logs, ROLE_ARN, workers=1)[ROLE_ARN]
    assert by_outcome(found) == {
        ("ec2.amazonaws.com", "DescribeVpcs"): {"ok": 2, "denied": 0, "error": 0}
    }
    assert found.stats.records_bad == 1
    assert found.stats.files_skipped == 0


def test_duplicates_in_the_next_file_count_once_even_across_workers(
    logs: Path, parallel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "BATCH_FILES", 1)  # each file in its own batch
    first = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    write_log(logs, [first], delivered="20260105T1005Z", suffix="A" * 16)
    write_log(logs, [first], delivered="20260105T1010Z", suffix="B" * 16)
    found = one(logs, ROLE_ARN, workers=2)[ROLE_ARN]
    assert sum(s.count for s in found.calls.values()) == 1
    assert found.stats.duplicates == 1


def test_dedupe_forgets_what_is_older_than_its_window() -> None:
    dedupe = Dedupe(window=3600, files=1)
    stream = "111122223333/us-east-1"
    assert dedupe.duplicates(Delivery(stream, 0), ["a", "b"]) == []
    assert dedupe.duplicates(Delivery(stream, 1800), ["b", "c", "c"]) == [0, 2]
    assert dedupe.duplicates(Delivery("444455556666/us-east-1", 1800), ["a"]) == []
    assert dedupe.duplicates(Delivery(stream, 7200), ["d"]) == []
    assert dedupe.remembered() == 3  # "c" (the previous file), "d", "a" in the other stream
    assert dedupe.duplicates(Delivery(stream, 7300), ["a"]) == []


def test_dedupe_remembers_the_previous_files_of_a_quiet_stream() -> None:
    dedupe = Dedupe(window=3600, files=1)
    stream = "111122223333/us-east-1"
    assert dedupe.duplicates(Delivery(stream, 0), ["a"]) == []
    assert dedupe.duplicates(Delivery(stream, 86400), ["a", "b"]) == [0]
    assert dedupe.duplicates(Delivery(stream, 2 * 86400), ["c"]) == []
    assert dedupe.remembered() == 2  # "b" of the previous file, and "c"


def test_all_principals_count_a_principal_only_in_its_own_accounts_folder(logs: Path) -> None:
    """A cross-account copy in another account's folder is not the principal's call there,
    exactly as a one-principal scan (which reads only its own account's folder) sees it."""
    write_log(logs, [record(ROLE_ARN, "kms.amazonaws.com", "Decrypt")], account=OTHER_ACCOUNT)
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    everyone = scan(LocalFolder(logs), EVERYTHING, None, workers=1)
    assert list(by_outcome(everyone[ROLE_ARN])) == [("ec2.amazonaws.com", "DescribeVpcs")]
    assert comparable(everyone[ROLE_ARN]) == comparable(one(logs, ROLE_ARN, workers=1)[ROLE_ARN])


@pytest.mark.parametrize("level", ["passed", "none"])
def test_observing_less_renders_the_same_when_the_rendering_does_not_need_more(
    corpus: tuple[Path, Manifest], level: str
) -> None:
    root, manifest = corpus
    options = RenderOptions.policygen() if level == "passed" else RenderOptions()
    assert observe_level(options) == level
    for described in manifest.principals:
        arn = described["arn"]
        full = generate_policy(arn, root, start="2026-01-04", end="2026-01-09", use_index=False)
        less = generate_policy(
            arn, root, start="2026-01-04", end="2026-01-09", use_index=False, observe=level
        )
        assert result_document(less, options) == result_document(full, options), arn
