"""Corpus shapes for the benchmarks: today's large files, and CloudTrail's real small files.

CloudTrail delivers a file about every five minutes per account and region, so a real
trail is mostly small files (a few KB to tens of KB compressed) with a long tail of large
ones from busy five minutes, and quiet regions deliver near-empty files. The `small`
shape is that: a synthetic trail (`policygen_synth`, 3 accounts, 6 regions, 5 days) whose
records are re-delivered, stream by stream and in order, in files whose record counts
follow a log-normal law (median 20 records, a tail of thousands), while 2 of the 6 regions
keep one record in 40 in files of 1-4 records. `small-x8` holds the same records (the
same bytes) cut 8 to a file at most: the pair measures what one more file costs, the
records and start-up costs cancelling out.
"""

from __future__ import annotations

import calendar
import json
import math
import random
import shutil
import string
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from isal import igzip

SHAPES = ("large", "small", "small-x8")
ACCOUNTS = ("111122223333", "444455556666", "777788889999")
BUSY_REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
QUIET_REGIONS = ("sa-east-1", "ap-south-1")
START = "2026-01-04T00:00:00Z"
DAYS = 5
#: Records per file in busy regions: log-normal, median 20, sigma 1.4 (a file in 20 holds
#: over 200 records, one in 500 over 1,500), at most 5,000.
MEDIAN_RECORDS, SIGMA, MAX_RECORDS = 20, 1.4, 5000
#: Quiet regions keep one record in this many, in files of 1-4 records.
QUIET_KEEP = 40
SPLIT = 8
GZIP_LEVEL = 2
ALNUM = string.ascii_letters + string.digits


class _Log(msgspec.Struct):
    Records: list[msgspec.Raw]


_RAW = msgspec.json.Decoder(_Log)
_TIME = msgspec.json.Decoder(dict[str, Any])


def base_spec(target: int) -> Any:
    """The synthetic trail the small shapes re-deliver (its quiet regions mostly dropped)."""
    from policygen_synth import CorpusSpec

    share = len(BUSY_REGIONS) / (len(BUSY_REGIONS) + len(QUIET_REGIONS))
    return CorpusSpec(
        start=START,
        days=DAYS,
        accounts=ACCOUNTS,
        regions=BUSY_REGIONS + QUIET_REGIONS,
        target_bytes=int(target / share),
    )


def _stream_files(base: Path) -> Iterator[tuple[str, str, list[Path]]]:
    """(account, region, its log files in listing order) for every stream of `base`."""
    for account in ACCOUNTS:
        for region_dir in sorted((base / "AWSLogs" / account / "CloudTrail").iterdir()):
            files = sorted(p for p in region_dir.rglob("*.json.gz") if p.is_file())
            yield account, region_dir.name, sorted(files, key=lambda p: p.name)


def _records(files: list[Path]) -> Iterator[bytes]:
    for path in files:
        yield from (bytes(raw) for raw in _RAW.decode(igzip.decompress(path.read_bytes())).Records)


def _sizes(rng: random.Random, quiet: bool) -> Iterator[int]:
    while True:
        if quiet:
            yield rng.randint(1, 4)
        else:
            size = MEDIAN_RECORDS * math.exp(rng.gauss(0.0, SIGMA))
            yield max(1, min(MAX_RECORDS, round(size)))


def _event_epoch(record: bytes) -> int:
    stamp = _TIME.decode(record)["eventTime"]
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def _delivery(records: list[bytes], rng: random.Random) -> int:
    """Five-minute slot after the file's last event, one slot later seven times in ten."""
    last = max(_event_epoch(r) for r in records)
    return (last // 300 + 1) * 300 + 300 * (rng.random() < 0.7)


def _write(
    out: Path, account: str, region: str, records: list[bytes], when: int, rng: random.Random
) -> tuple[int, int]:
    """Write one delivery file; (raw bytes, stored bytes)."""
    folder = (
        out
        / "AWSLogs"
        / account
        / "CloudTrail"
        / region
        / time.strftime("%Y/%m/%d", time.gmtime(when))
    )
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(when))
    suffix = "".join(rng.choices(ALNUM, k=16))
    body = b'{"Records":[' + b",".join(records) + b"]}"
    data = igzip.compress(body, GZIP_LEVEL, mtime=0)
    (folder / f"{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz").write_bytes(data)
    return len(body), len(data)


def reshape(base: Path, outs: dict[str, Path], seed: int = 0) -> dict[str, dict[str, int]]:
    """Re-deliver the records of `base` as the `small` shape and as `small-x8`."""
    totals = {
        name: {"log_files": 0, "records": 0, "raw_bytes": 0, "stored_bytes": 0} for name in outs
    }
    for account, region, files in _stream_files(base):
        rng = random.Random(f"{seed}/{account}/{region}")
        quiet = region in QUIET_REGIONS
        records = [r for i, r in enumerate(_records(files)) if not quiet or i % QUIET_KEEP == 0]
        sizes, at = _sizes(rng, quiet), 0
        while at < len(records):
            chunk = records[at : at + next(sizes)]
            at += len(chunk)
            when = _delivery(chunk, rng)
            pieces = {
                "small": [chunk],
                "small-x8": [chunk[i : i + SPLIT] for i in range(0, len(chunk), SPLIT)],
            }
            for name, out in outs.items():
                for piece in pieces[name]:
                    raw, stored = _write(out, account, region, piece, when, rng)
                    total = totals[name]
                    total["log_files"] += 1
                    total["records"] += len(piece)
                    total["raw_bytes"] += raw
                    total["stored_bytes"] += stored
    return totals


def ensure(corpus_root: Path, size: str) -> None:
    """Write the `small` and `small-x8` corpora of `size` under `corpus_root` once."""
    from policygen.core.units import parse_size
    from policygen_synth import generate_corpus

    target = parse_size(size)
    outs = {name: corpus_root / f"{name}-{size.lower()}" for name in ("small", "small-x8")}
    if all((out / "shape.json").is_file() for out in outs.values()):
        return
    base = corpus_root / f"small-base-{size.lower()}"
    shutil.rmtree(base, ignore_errors=True)
    print(f"writing the {size} base trail of the small shapes to {base} ...", file=sys.stderr)
    manifest = generate_corpus(base, base_spec(target), workers=2)
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)
    print("re-delivering it as small files ...", file=sys.stderr)
    totals = reshape(base, outs)
    for name, out in outs.items():
        principals = {
            p["arn"]: sum(sum(c.values()) for c in manifest.calls(p["arn"]).values())
            for p in manifest.principals
        }
        (out / "shape.json").write_text(
            json.dumps(
                {"shape": name, "size": size, "stats": totals[name], "principals": principals},
                indent=2,
            )
            + "\n"
        )
    shutil.rmtree(base)


def stats(corpus: Path) -> dict[str, Any]:
    """What `ensure` recorded about a small-shape corpus."""
    return json.loads((corpus / "shape.json").read_text())
