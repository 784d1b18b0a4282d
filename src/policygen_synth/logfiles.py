"""CloudTrail log files: records drawn from the world's mixes, re-deliveries and
cross-account copies, gzipped and named as CloudTrail names them.

Every file is drawn from its own RNG seeded by (seed, account, region, index), so a file's
bytes do not depend on which worker writes it. Per-record work is done in bulk C-level
calls (random bytes, struct, hexlify), since formatting records is the bottleneck.
"""

from __future__ import annotations

import random
import struct
import time
from binascii import hexlify
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

from isal import igzip

from policygen_synth.spec import ALNUM, GZIP_LEVEL, CorpusSpec
from policygen_synth.world import MAX_LAG, Mix, World, cross_pairs

DUP_SHARE = 0.1  # files with a few records that CloudTrail delivers again in the next file
CROSS_SHARE = 0.15  # files carrying a cross-account call (copies in both accounts)
SECONDS = [b"%02dZ" % s for s in range(60)]


def _uuid_bits(n: int) -> tuple[int, int]:
    """Masks that make n concatenated 128-bit numbers RFC 4122 version-4 UUIDs."""
    mask, bits = bytearray(b"\xff" * 16), bytearray(16)
    mask[6], bits[6] = 0x0F, 0x40
    mask[8], bits[8] = 0x3F, 0x80
    return int.from_bytes(bytes(mask) * n, "big"), int.from_bytes(bytes(bits) * n, "big")


def _uuids(rng: random.Random, n: int) -> tuple[bytes, ...]:
    """n random UUIDs in a handful of C-level calls (per-record formatting is the bottleneck).

    The hex is grouped by 4 digits (`g0-g1-...-g7-`); struct keeps `g0`, `g1-g2-g3-g4-g5`,
    `g6`, `g7`, and the join gives `g0g1-g2-g3-g4-g5g6g7`, the UUID layout.
    """
    mask, bits = _uuid_bits(n)
    number = rng.getrandbits(128 * n) & mask | bits
    grouped = hexlify(number.to_bytes(16 * n, "big"), b"-", 2) + b"-"
    return struct.unpack("36s" * n, b"".join(struct.unpack("4sx24sx4sx4sx" * n, grouped)))


def _hex(rng: random.Random, n: int, width: int, upper: bool = False) -> tuple[bytes, ...]:
    """n random hex strings of `width` digits (S3 request ids are upper case)."""
    text = hexlify(rng.randbytes(n * width // 2))
    return struct.unpack(f"{width}s" * n, text.upper() if upper else text)


@lru_cache(maxsize=1)
def _lags() -> list[int]:
    """Lag (seconds before the window ends) by uniform 16-bit draw: u**3 puts ~80% of the
    events in the last 5 minutes, so most of a file's records are only minutes old."""
    return [int(MAX_LAG * (k / 65536) ** 3) for k in range(65536)]


@lru_cache(maxsize=64)
def _times(lo: int, hi: int) -> list[bytes]:
    """`eventTime` by lag for a window (windows clipped at the corpus start are squeezed)."""
    first = lo - lo % 60
    minutes = [
        time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(m)).encode() for m in range(first, hi, 60)
    ]
    span = hi - lo
    table = []
    for lag in range(MAX_LAG):
        second = hi - 1 - lag * span // MAX_LAG - first
        table.append(minutes[second // 60] + SECONDS[second % 60])
    return table


def _event_times(rng: random.Random, n: int, lo: int, hi: int) -> map[bytes]:
    """n event times in the window, skewed towards its end. Bulk C-level draws, like below."""
    draws = struct.unpack(f"<{n}H", rng.randbytes(2 * n))
    return map(_times(lo, hi).__getitem__, map(_lags().__getitem__, draws))


def _choose(mix: Mix, rng: random.Random, n: int) -> list[int]:
    """n template indices by weight (`random.choices` with the loop in C)."""
    draws = struct.unpack(f"<{n}Q", rng.randbytes(8 * n))
    return list(map(bisect_right, repeat(mix.cum_u64, n), draws))


def _draw(mix: Mix, rng: random.Random, n: int, lo: int, hi: int) -> tuple[list[bytes], list[int]]:
    """n records drawn from the mix; returns them and the template indices drawn."""
    chosen = _choose(mix, rng, n)
    ids = _uuids(rng, 2 * n)
    fmts, picks = mix.fmts, mix.picks
    rows = zip(
        chosen,
        _event_times(rng, n, lo, hi),
        ids[:n],
        ids[n:],
        _hex(rng, n, 16, True),
        _hex(rng, n, 12),
        strict=True,
    )
    return [fmts[i] % picks[i]((t, e, r, q, v, b"")) for i, t, e, r, q, v in rows], chosen


def _count(mix: Mix, chosen: list[int], into: Counter[int]) -> None:
    templates = mix.templates
    for i, n in Counter(chosen).items():
        key = templates[i].key
        if key >= 0:
            into[key] += n


def _duplicates(world: World, account: str, region: str, j: int) -> tuple[list[bytes], list[int]]:
    """Records of file j that CloudTrail delivers again in file j + 1 (same eventID)."""
    rng = random.Random(f"{world.spec.seed}/dup/{account}/{region}/{j}")
    if j < 0 or (rng.random() >= DUP_SHARE and j > 0):  # the first file always has some
        return [], []
    return _draw(world.mixes[account, region], rng, rng.randint(1, 3), *world.window(j)[:2])


def _cross_calls(
    world: World, caller: str, owner: str, region: str, j: int
) -> tuple[list[bytes], list[bytes], list[int]]:
    """Cross-account calls of file j: caller-side records, owner-side copies, templates drawn."""
    mix = world.cross.get((caller, owner, region))
    rng = random.Random(f"{world.spec.seed}/cross/{caller}/{owner}/{region}/{j}")
    if not mix or not mix.fmts or rng.random() >= CROSS_SHARE:
        return [], [], []
    n = rng.randint(1, 2)
    chosen = _choose(mix, rng, n)
    ids = _uuids(rng, 4 * n)  # caller's eventID, owner's eventID, requestID, sharedEventID
    rows = zip(
        chosen,
        _event_times(rng, n, *world.window(j)[:2]),
        ids[:n],
        ids[n : 2 * n],
        ids[2 * n : 3 * n],
        ids[3 * n :],
        _hex(rng, n, 16, True),
        _hex(rng, n, 12),
        strict=True,
    )
    copies = world.cross_copies[caller, owner, region]
    mine, theirs = [], []
    for i, t, e_mine, e_theirs, r, shared, q, v in rows:
        mine.append(mix.fmts[i] % mix.picks[i]((t, e_mine, r, q, v, shared)))
        theirs.append(copies[i].fmt % copies[i].pick((t, e_theirs, r, q, v, shared)))
    return mine, theirs, chosen


@dataclass(slots=True)
class _FileOut:
    key: str
    data: bytes
    records: int
    raw_size: int
    counts: Counter[int]
    duplicates: int
    cross: int


def log_file(world: World, account: str, region: str, j: int) -> _FileOut:
    """File j of an account/region stream, with its own records, duplicates and copies."""
    spec = world.spec
    rng = random.Random(f"{spec.seed}/file/{account}/{region}/{j}")
    lo, hi, delivered = world.window(j)
    mix = world.mixes[account, region]
    counts: Counter[int] = Counter()
    records, chosen = _draw(mix, rng, rng.randint(*spec.records_per_file), lo, hi)
    _count(mix, chosen, counts)
    extra, again, cross = _extras(world, account, region, j, counts)
    for record in extra:
        records.insert(rng.randrange(len(records) + 1), record)
    records[0] = b'{"Records":[' + records[0]  # one join: no second copy of the body
    records[-1] += b"]}"
    body = b",".join(records)
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    name = f"{account}_CloudTrail_{region}_{stamp}_{''.join(rng.choices(ALNUM, k=16))}.json"
    data = body
    if spec.gzip:
        name += ".gz"
        data = igzip.compress(body, GZIP_LEVEL, mtime=0)
    key = f"{folder(spec, account, 'CloudTrail', region, delivered)}/{name}"
    return _FileOut(key, data, len(records), len(body), counts, again, cross)


def _extras(
    world: World, account: str, region: str, j: int, counts: Counter[int]
) -> tuple[list[bytes], int, int]:
    """File j's records shared with other files: duplicates and cross-account copies.

    Counts only what this file delivers first: its own duplicated records, not the
    previous file's again, and its account's side of cross-account calls. Returns the
    records, how many are re-deliveries and how many are calls into another account.
    """
    extra, chosen = _duplicates(world, account, region, j)
    _count(world.mixes[account, region], chosen, counts)
    again, _ = _duplicates(world, account, region, j - 1)
    extra += again
    calls = 0
    for caller, owner in cross_pairs(world.spec.accounts):
        if account in (caller, owner):
            mine, theirs, chosen = _cross_calls(world, caller, owner, region, j)
            if account == caller:
                extra += mine
                _count(world.cross[caller, owner, region], chosen, counts)
                calls += len(chosen)
            else:
                extra += theirs
    return extra, len(again), calls


def folder(spec: CorpusSpec, account: str, kind: str, region: str, when: int) -> str:
    """`[prefix/]AWSLogs/[org/]<acct>/<kind>/<region>/YYYY/MM/DD` (an S3 key prefix)."""
    parts = [
        spec.prefix,
        "AWSLogs",
        spec.org_id or "",
        account,
        kind,
        region,
        time.strftime("%Y/%m/%d", time.gmtime(when)),
    ]
    return "/".join(p for p in parts if p)
