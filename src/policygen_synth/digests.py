"""The files a trail holds beside its logs: hourly digests and an Insights file.

Scanners must skip both; the digests list the hashes of the log files they cover, as
CloudTrail's do.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import msgspec
from isal import igzip

from policygen_synth.logfiles import folder
from policygen_synth.principals import Ids, iso
from policygen_synth.spec import ALNUM, GZIP_LEVEL, TRAIL_NAME, CorpusSpec, Json
from policygen_synth.world import World

#: What the first digest of a stream lists, by (account, region, file index):
#: (S3 key, SHA-256 of the file, its oldest and newest event time).
Digested = dict[tuple[str, str, int], tuple[str, str, str, str]]

TRAIL_BUCKET = "policygen-sample-trail"


def digest_files(world: World) -> range:
    """Indices of the files that the first digest of every stream covers (its first hour)."""
    hour = world.window(0)[2] // 3600
    n = 0
    while n < world.files_per_stream and world.window(n)[2] // 3600 == hour:
        n += 1
    return range(n)


def event_span(world: World, j: int) -> tuple[str, str]:
    lo, hi, _ = world.window(j)
    return iso(lo), iso(hi - 1)


def _gz_json(path: Path, value: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(igzip.compress(msgspec.json.encode(value), GZIP_LEVEL, mtime=0))


def write_digests(root: Path, world: World, digested: Digested) -> int:
    """One hourly digest per stream, listing the hashes of the log files of its first hour."""
    spec = world.spec
    rng = random.Random(f"{spec.seed}/digests")
    hour_start = world.window(0)[2] // 3600 * 3600
    written = 0
    for account, region in world.streams:
        files = [digested[account, region, j] for j in digest_files(world)]
        when = hour_start + 3600 + rng.randrange(60, 900)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        key = (
            f"{folder(spec, account, 'CloudTrail-Digest', region, when)}/{account}_"
            f"CloudTrail-Digest_{region}_{TRAIL_NAME}_{spec.regions[0]}_{stamp}.json.gz"
        )
        _gz_json(
            root / key,
            {
                "awsAccountId": account,
                "digestStartTime": iso(hour_start),
                "digestEndTime": iso(hour_start + 3600),
                "digestS3Bucket": TRAIL_BUCKET,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": f"{rng.getrandbits(128):032x}",
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": max(f[3] for f in files),
                "oldestEventTime": min(f[2] for f in files),
                "previousDigestS3Bucket": None,
                "previousDigestS3Object": None,
                "previousDigestHashValue": None,
                "previousDigestHashAlgorithm": None,
                "previousDigestSignature": None,
                "logFiles": [
                    {
                        "s3Bucket": TRAIL_BUCKET,
                        "s3Object": k,
                        "hashValue": h,
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": new,
                        "oldestEventTime": old,
                    }
                    for k, h, old, new in files
                ],
            },
        )
        written += 1
    return written


def write_insight(root: Path, spec: CorpusSpec) -> None:
    """An Insights file (start and end of an unusual RunInstances rate) in its own folder."""
    rng = random.Random(f"{spec.seed}/insight")
    ids = Ids(rng)
    account, region = spec.accounts[0], spec.regions[0]
    began = spec.start_epoch + spec.days * 86400 // 2
    shared = ids.uuid()

    def insight(state: str, at: int) -> dict[str, Json]:
        return {
            "eventVersion": "1.08",
            "eventTime": iso(at),
            "awsRegion": region,
            "eventID": ids.uuid(),
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": account,
            "sharedEventID": shared,
            "insightDetails": {
                "state": state,
                "eventSource": "ec2.amazonaws.com",
                "eventName": "RunInstances",
                "insightType": "ApiCallRateInsight",
                "insightContext": {
                    "statistics": {
                        "baseline": {"average": 0.0125},
                        "insight": {"average": 3.5},
                        "insightDuration": 4,
                    }
                },
            },
            "eventCategory": "Insight",
        }

    delivered = began + 900
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    name = f"{account}_CloudTrail-Insight_{region}_{stamp}_{ids.chars(ALNUM, 16)}.json.gz"
    directory = folder(spec, account, "CloudTrail-Insight", region, delivered)
    _gz_json(
        root / directory / name, {"Records": [insight("Start", began), insight("End", began + 240)]}
    )
