"""What a scan keeps: whose calls, when, where, and which resource facts.

`FactRules` is how IAM knowledge reaches the scanner without the scanner importing it:
`policygen.iam.facts.RULES` implements it, and the layer that starts a scan hands it in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from policygen.cloudtrail.records import Record
from policygen.core.arns import Principal
from policygen.core.time import format_time
from policygen.sources.base import LogObject, Selection

#: Default cap on one file's decompressed size: real delivery files are a few MB at most.
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
#: Which resource facts a scan collects: every ARN, only passed roles, or none.
ObserveLevel = Literal["all", "passed", "none"]
#: Called in the scanning process for each file as it is done (progress bars).
ProgressCallback = Callable[[LogObject], None]


class FactRules(Protocol):
    """Which calls carry resource facts, and how to read them from a record."""

    def wants_at(self, level: ObserveLevel, event_source: str, event_name: str) -> bool:
        """True when calls of this kind can yield facts at `level`."""
        ...

    def facts_at(
        self, level: ObserveLevel, record: Record
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """The record's resource ARNs and (passed role, service) pairs at `level`."""
        ...

    def warm(self) -> None:
        """Load what the rules need, so that forked workers inherit it."""
        ...


@dataclass(frozen=True, slots=True)
class ScanQuery:
    """What to keep from the records: whose calls (None: every user and role), and when.

    `hourly` keeps calls apart by event hour and region, for the usage index; `observe`
    says which resource facts to collect, and `rules` how (without rules, none are).
    """

    principal: Principal | None
    start: str
    end: str
    regions: frozenset[str] | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    hourly: bool = False
    observe: ObserveLevel = "all"
    rules: FactRules | None = None

    @property
    def level(self) -> ObserveLevel:
        """The resource facts this scan really collects."""
        return self.observe if self.rules is not None else "none"

    @classmethod
    def for_selection(
        cls, principal: Principal | None, selection: Selection, **options: Any
    ) -> ScanQuery:
        return cls(
            principal,
            format_time(selection.start),
            format_time(selection.end),
            selection.regions,
            **options,
        )
