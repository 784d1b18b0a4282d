"""Sizes as people write them (`512MB`, `1GiB`), for flags, settings and the generator."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """`"1GB"` -> 1_000_000_000 (`"1GiB"` is binary); bare numbers are bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 200MB, 1.5GB, 512KiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " kmgt".index(unit.lower() or " "))
