"""What to generate (`CorpusSpec`) and the constants every part of the generator shares."""

from __future__ import annotations

import calendar
import re
import string
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

Json = Any

WINDOW = 300  # CloudTrail delivers roughly every 5 minutes
GZIP_LEVEL = 2  # isal's default: close to zlib -6 ratios at many times the speed
GLOBAL_REGION = "us-east-1"
TRAIL_NAME = "main-trail"
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate. Same spec (seed included) -> byte-identical output."""

    seed: int = 0
    start: str = "2026-01-05T00:00:00Z"
    days: int = 1
    accounts: tuple[str, ...] = ("111122223333", "444455556666")
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1")
    users_per_account: int = 3
    roles_per_account: int = 4
    target_bytes: int = 20_000_000
    org_id: str | None = None
    prefix: str = ""
    gzip: bool = True
    records_per_file: tuple[int, int] = (50, 400)

    def __post_init__(self) -> None:
        for name in ("accounts", "regions", "records_per_file"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        lo, hi = self.records_per_file
        problems = {
            "accounts must be 12-digit ids": not self.accounts
            or any(not re.fullmatch(r"\d{12}", a) for a in self.accounts),
            "accounts must be distinct": len(set(self.accounts)) != len(self.accounts),
            "regions must be distinct and non-empty": not self.regions
            or len(set(self.regions)) != len(self.regions),
            "org_id must look like o-exampleorgid": self.org_id is not None
            and not re.fullmatch(r"o-[a-z0-9]{10,32}", self.org_id),
            "days must be >= 1": self.days < 1,
            "records_per_file must be 1 <= lo <= hi": not 1 <= lo <= hi,
            "start must be a UTC time on a 5-minute boundary": self.start_epoch % WINDOW != 0,
        }
        wrong = [message for message, failed in problems.items() if failed]
        if wrong:
            raise ValueError("; ".join(wrong))

    @cached_property
    def start_epoch(self) -> int:
        return calendar.timegm(time.strptime(self.start, "%Y-%m-%dT%H:%M:%SZ"))
