"""The C record counter for `tally`, when it was built; None otherwise.

`_native` (built from _native.c and _jsonscan.c by setup.py when a C compiler is present)
walks a delivery file and counts its records by kind of call without a Python object per
record: the all-principals pass spent most of its time beyond decompression decoding
records with msgspec and counting them one by one in Python. Without it (no compiler, or
`POLICYGEN_NATIVE=0`) tally decodes and counts in Python; both give the same answers, and
the tests run both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

try:
    from policygen.scan._native import Counter
except ImportError:  # built without a C compiler: the Python path does the work
    Counter = None

#: Set to 0 to count in Python even where the C counter is built (benchmarks, tests).
NATIVE_ENV = "POLICYGEN_NATIVE"


def enabled() -> bool:
    """Whether scans count with the C counter: built, and not turned off."""
    return Counter is not None and os.environ.get(NATIVE_ENV, "").strip() != "0"


def counter(
    window: tuple[str, str],
    regions: frozenset[str] | None,
    hourly: bool,
    python: tuple[
        Callable[[str, str], Any], Callable[[str, str, bytes], str], Callable[[int, bytes], None]
    ],
) -> Any | None:
    """A C counter of every user's and role's calls in `window` (bounds as tally compares
    them) and `regions`, or None when it is not `enabled`. `python` is what it calls back:
    classify(source, name) -> (qualified, hint, observed) once per kind of call,
    qualify(source, name, requestParameters) -> qualifier, observe(leaf, record) (see
    tally)."""
    if not enabled():
        return None
    return Counter(window[0], window[1], regions, hourly, *python)
