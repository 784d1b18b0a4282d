"""The trails of a job: which regions each one is read in, and one source over all of them.

A job may name several trails; their logs are read as one source through one scan, so a
record delivered to two trails (same `eventID`) counts once (aws-policy-generation.md §7
#18). A folder shared by two trails is listed once.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from policygen.core.arns import TrailArn
from policygen.sources.base import Contents, LogObject, Selection, TrailSource, iter_contents

#: Where IAM, STS (global endpoint) and CloudFront calls are logged.
GLOBAL_SERVICES_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class TrailProperties:
    """One trail as echoed in `cloudTrailProperties.trailProperties`."""

    cloud_trail_arn: str
    regions: tuple[str, ...] = ()
    all_regions: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "cloudTrailArn": self.cloud_trail_arn,
            "regions": list(self.regions),
            "allRegions": self.all_regions,
        }



def trail_regions(trail: TrailProperties) -> frozenset[str] | None:
    """The regions to read for one trail: None for all of them.

    `allRegions` wins over `regions` (§7 #17); with neither, the trail's home region,
    taken from its ARN (§7 #16).
    """
    if trail.all_regions:
        return None
    if trail.regions:
        return frozenset(trail.regions)
    return frozenset({TrailArn.parse(trail.cloud_trail_arn).region})


def union_regions(regions: list[frozenset[str] | None]) -> frozenset[str] | None:
    """All regions any trail reads (None: every region)."""
    if any(r is None for r in regions):
        return None
    return frozenset().union(*regions)  # type: ignore[arg-type]


@dataclass(slots=True)
class TrailSet:
    """Several trail sources, each read in its own regions, as one `TrailSource`."""

    members: list[tuple[TrailSource, frozenset[str] | None]]
    _owners: dict[str, TrailSource] = field(default_factory=dict, init=False, repr=False)

    @property
    def regions(self) -> frozenset[str] | None:
        return union_regions([regions for _, regions in self.members])

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        """Each file once, from the first member that lists it (which then reads it); a
        set can be listed again (an index that did not cover a job, then its scan)."""
        seen: set[str] = set()
        for source, regions in self.members:
            for obj in source.list_objects(dataclasses.replace(selection, regions=regions)):
                if obj.key not in seen:
                    seen.add(obj.key)
                    self._owners.setdefault(obj.key, source)
                    yield obj

    def read(self, obj: LogObject) -> bytes:
        return self._owners[obj.key].read(obj)

    def describe(self) -> str:
        return ", ".join(source.describe() for source, _ in self.members)

    def iter_contents(self, objects: Iterable[LogObject]) -> Contents:
        """Each run of objects from one member is read by that member, in bulk if it can."""
        for owner, run in itertools.groupby(objects, key=lambda obj: self._owners[obj.key]):
            yield from iter_contents(owner, run)
