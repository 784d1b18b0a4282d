"""Log files in a local folder, in the CloudTrail layout or any other.

In the layout, folders are pruned by account, region and delivery day before anything
is read; files outside it (exports, hand-made folders) are read whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from policygen.cloudtrail.layout import ACCOUNT_RE, SKIPPED_FOLDERS
from policygen.sources.base import LogObject, Selection, wants_file


@dataclass(slots=True)
class _Walk:
    """Where a folder sits in the CloudTrail layout, as far as the walk has seen it."""

    in_cloudtrail: bool = False
    region: str | None = None
    ymd: tuple[int, ...] = ()


def _wants_date_folder(ymd: tuple[int, ...], selection: Selection) -> bool:
    """Prune `YYYY`, `YYYY/MM` and `YYYY/MM/DD` folders to the window's delivery days."""
    first, last = selection.first_day(), selection.last_day()
    lo = (first.year, first.month, first.day)[: len(ymd)]
    hi = (last.year, last.month, last.day)[: len(ymd)]
    return lo <= ymd <= hi


def _child_state(state: _Walk, name: str, selection: Selection) -> _Walk | None:
    """The walk state inside folder `name`, or None to prune the folder."""
    if name in SKIPPED_FOLDERS:
        return None
    if not state.in_cloudtrail:
        if ACCOUNT_RE.fullmatch(name) and not selection.wants_account(name):
            return None
        return _Walk(in_cloudtrail=name == "CloudTrail")
    if state.region is None:
        return _Walk(True, name) if selection.wants_region(name) else None
    if len(state.ymd) < 3 and name.isdigit():
        ymd = (*state.ymd, int(name))
        return _Walk(True, state.region, ymd) if _wants_date_folder(ymd, selection) else None
    return state


@dataclass(frozen=True, slots=True)
class LocalFolder:
    """Log files under a local folder, in the CloudTrail S3 layout or any other."""

    root: Path
    follow_symlinks: bool = field(default=False)

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        if self.root.is_file():
            yield LogObject(str(self.root), self.root.stat().st_size, str(self.root))
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such folder: {self.root}")
        yield from self._walk(str(self.root), _Walk(), selection)

    def _walk(self, folder: str, state: _Walk, selection: Selection) -> Iterator[LogObject]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=self.follow_symlinks):
                child = _child_state(state, entry.name, selection)
                if child is not None:
                    yield from self._walk(entry.path, child, selection)
            elif entry.is_file() and wants_file(entry.name, selection):
                yield LogObject(entry.path, entry.stat().st_size, entry.path)

    def read(self, obj: LogObject) -> bytes:
        with open(obj.key, "rb") as handle:
            return handle.read()

    def describe(self) -> str:
        return self.location()

    def location(self) -> str:
        """The folder's resolved path, however it was named: the usage index's name for it."""
        return str(self.root.resolve())

    def relative_key(self, obj: LogObject) -> str:
        """The object's path inside the folder (how the usage index names files)."""
        return Path(obj.key).relative_to(self.root).as_posix()
