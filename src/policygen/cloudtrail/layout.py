"""The S3 key layout CloudTrail writes: `AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/
YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz`.

What a key says about a file: its account, its stream (one account in one region) and
when it was delivered (cloudtrail-format.md §1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

#: A delivery file's name (cloudtrail-format.md §1.2).
LOG_NAME_RE = re.compile(
    r"(?P<account>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<ts>\d{8}T\d{4}Z)_[A-Za-z0-9]+"
    r"\.json(?:\.gz)?$"
)
ACCOUNT_RE = re.compile(r"\d{12}")
ORG_RE = re.compile(r"o-[a-z0-9]{10,32}")
SKIPPED_FOLDERS = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a file sits in the CloudTrail layout: its stream and when it was delivered.

    A stream is one account's logs in one region. Files outside the layout have neither
    (stream `""`, delivered `None`).
    """

    stream: str
    delivered: int | None  # epoch seconds


def account_of(key: str) -> str | None:
    """The account whose logs a file is: from a CloudTrail file name, else from the last
    account-id folder on its path (as the folder walk prunes by), else None."""
    match = LOG_NAME_RE.search(key)
    if match is not None:
        return match["account"]
    folders = [part for part in re.split(r"[/\\]", key)[:-1] if ACCOUNT_RE.fullmatch(part)]
    return folders[-1] if folders else None


@lru_cache(maxsize=1 << 16)
def delivery_of(key: str) -> Delivery:
    """The stream and delivery time of a file, from its CloudTrail file name (cached: a
    scan asks for each file when batching, reading and folding)."""
    match = LOG_NAME_RE.search(key)
    if match is None:
        return Delivery("", None)
    moment = parse_delivery(match["ts"])
    return Delivery(f"{match['account']}/{match['region']}", int(moment.timestamp()))


def parse_delivery(stamp: str) -> datetime:
    """`20260105T1005Z` (checked by `LOG_NAME_RE`) as a UTC datetime, without strptime's cost."""
    return datetime(
        int(stamp[0:4]),
        int(stamp[4:6]),
        int(stamp[6:8]),
        int(stamp[9:11]),
        int(stamp[11:13]),
        tzinfo=UTC,
    )
