"""Dropping re-delivered records (same `eventID`) with memory bounded by time, not corpus.

CloudTrail may deliver an event twice, and the copies carry the same `eventID`. A copy is
a re-delivery of the same event, so both copies are delivered within the delivery margin
policygen already assumes (an hour after the event: `sources.DEFAULT_MARGIN`), in the
same stream (one account's logs in one region). So the eventIDs of a stream's files are
remembered for `window` of delivery time, and at least for the stream's next `files`
deliveries (quiet streams deliver rarely), then forgotten: memory follows the busiest hour
of a stream, not the size of the trail. Files outside the CloudTrail layout have no
delivery time; they form one stream that is never forgotten (they are exports, small).

The parent process does this, on eventIDs the workers send with their counts, in listing
order, so a duplicate is found whichever worker saw each copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from policygen.cloudtrail.layout import Delivery
from policygen.sources.base import DEFAULT_MARGIN

DEFAULT_WINDOW = int(DEFAULT_MARGIN.total_seconds())
DEFAULT_FILES = 2


@dataclass(slots=True)
class _Stream:
    seen: set[str] = field(default_factory=set)
    #: (delivery time, ids first seen in that file), oldest first.
    files: deque[tuple[int | None, list[str]]] = field(default_factory=deque)

    def forget_before(self, moment: int, keep: int) -> None:
        files, seen = self.files, self.seen
        while len(files) > keep and files[0][0] is not None and files[0][0] < moment:
            seen.difference_update(files.popleft()[1])


class Dedupe:
    """Remembers recent eventIDs per stream and reports the ones seen again."""

    def __init__(self, window: int = DEFAULT_WINDOW, files: int = DEFAULT_FILES) -> None:
        self.window = window
        self.files = files
        self._streams: dict[str, _Stream] = {}

    def duplicates(self, delivery: Delivery, ids: list[str]) -> list[int]:
        """Positions in `ids` (one file's eventIDs) already seen in the window; the rest
        are remembered."""
        stream = self._streams.get(delivery.stream)
        if stream is None:
            stream = self._streams[delivery.stream] = _Stream()
        if delivery.delivered is not None:
            stream.forget_before(delivery.delivered - self.window, self.files)
        fresh = set(ids)
        if len(fresh) == len(ids) and stream.seen.isdisjoint(fresh):
            stream.seen |= fresh
            stream.files.append((delivery.delivered, ids))
            return []
        repeated, kept = [], []
        for at, event_id in enumerate(ids):
            if event_id in stream.seen:
                repeated.append(at)
            else:
                stream.seen.add(event_id)
                kept.append(event_id)
        stream.files.append((delivery.delivered, kept))
        return repeated

    def state(self) -> Iterator[tuple[str, int | None, str]]:
        """(stream, delivery time, eventID) of everything remembered, oldest file first:
        what the usage index keeps between runs."""
        for name, stream in self._streams.items():
            for delivered, ids in stream.files:
                for event_id in ids:
                    yield name, delivered, event_id

    def restore(self, rows: Iterable[tuple[str, int | None, str]]) -> None:
        """Remember again what `state` gave, in its order."""
        for (name, delivered), group in groupby(rows, key=lambda row: row[:2]):
            ids = [row[2] for row in group]
            stream = self._streams.setdefault(name, _Stream())
            stream.seen.update(ids)
            stream.files.append((delivered, ids))

    def remembered(self) -> int:
        """How many eventIDs are held now (for tests and memory checks)."""
        return sum(len(stream.seen) for stream in self._streams.values())
