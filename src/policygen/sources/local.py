"""Log files in a local folder, in the CloudTrail layout or any other.

In the layout, folders are pruned by account, region and delivery day before anything
is read; files outside it (exports, hand-made folders) are read whole, whatever their
name (`policygen.cloudtrail.shapes` decides what they hold). An account folder is the
layout only when it holds a `CloudTrail` folder: any other 12-digit folder prunes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from policygen.cloudtrail.layout import ACCOUNT_RE, SKIPPED_FOLDERS
from policygen.sources.base import FileFilter, LogObject, Selection


@dataclass(slots=True)
class _Walk:
    """Where a folder sits in the CloudTrail layout, as far as the walk has seen it."""

    in_cloudtrail: bool = False
    region: str | None = None
    ymd: tuple[int, ...] = ()
    #: inside `<account>/`, a folder holding `CloudTrail/`: the layout.
    account: str | None = None


def _wants_date_folder(ymd: tuple[int, ...], selection: Selection) -> bool:
    """Prune `YYYY`, `YYYY/MM` and `YYYY/MM/DD` folders to the window's delivery days."""
    first, last = selection.first_day(), selection.last_day()
    lo = (first.year, first.month, first.day)[: len(ymd)]
    hi = (last.year, last.month, last.day)[: len(ymd)]
    return lo <= ymd <= hi


def _child_state(state: _Walk, path: str, selection: Selection) -> _Walk | None:
    """The walk state inside the folder at `path`, or None to prune the folder (counted)."""
    name = os.path.basename(path)
    if name in SKIPPED_FOLDERS:
        return None
    if not state.in_cloudtrail:
        if ACCOUNT_RE.fullmatch(name) and os.path.isdir(os.path.join(path, "CloudTrail")):
            if not selection.wants_account(name):
                selection.prune(f"folders of account {name}")
                return None
            return _Walk(account=name)
        if name == "CloudTrail":
            return _Walk(in_cloudtrail=True, account=state.account)
        return _Walk()
    if state.region is None:
        if selection.wants_region(name):
            return _Walk(True, name, account=state.account)
        selection.prune("region folders of other regions")
        return None
    if len(state.ymd) < 3 and name.isdigit():
        ymd = (*state.ymd, int(name))
        if _wants_date_folder(ymd, selection):
            return _Walk(True, state.region, ymd, state.account)
        selection.prune("day folders outside the window")
        return None
    return state


def _root_state(root: str) -> _Walk:
    """Where a folder given to read sits in the layout: `AWSLogs/<account>` or its
    `CloudTrail` folder are the layout too."""
    name, parent = os.path.basename(root), os.path.basename(os.path.dirname(root))
    if name == "CloudTrail" and ACCOUNT_RE.fullmatch(parent):
        return _Walk(in_cloudtrail=True, account=parent)
    if ACCOUNT_RE.fullmatch(name) and os.path.isdir(os.path.join(root, "CloudTrail")):
        return _Walk(account=name)
    return _Walk()


@dataclass(slots=True)
class _Folder:
    """A folder being walked: its entries in name order, read through its open descriptor."""

    path: str
    state: _Walk
    entries: Iterator[os.DirEntry[str]]
    fd: int | None

    @classmethod
    def open(cls, path: str, state: _Walk) -> _Folder:
        """The folder's entries, none if it cannot be read (the walk goes on)."""
        fd: int | None = None
        entries: list[os.DirEntry[str]] = []
        try:  # the descriptor stays open while the walk is inside: entries stat relative to it
            with os.scandir(fd := os.open(path, os.O_RDONLY | os.O_DIRECTORY)) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            pass
        return cls(path, state, iter(entries), fd)

    def child_path(self, name: str) -> str:
        return os.path.join(self.path, name)

    def close(self) -> None:
        """Called once per folder: when the walk leaves it, or when the caller stops early."""
        if self.fd is not None:
            os.close(self.fd)


@dataclass(frozen=True, slots=True)
class LocalFolder:
    """Log files under a local folder, in the CloudTrail S3 layout or any other."""

    root: Path

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        if self.root.is_file():
            yield LogObject(str(self.root), self.root.stat().st_size, str(self.root))
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such folder: {self.root}")
        yield from self._walk(str(self.root), _root_state(os.path.abspath(self.root)), selection)

    def _walk(self, root: str, state: _Walk, selection: Selection) -> Iterator[LogObject]:
        """Depth first, in name order, one folder's entries in memory per level: lazy
        however many files there are (a year of an organization's trail is millions).

        One generator for the whole tree (not one per folder level for every file to
        pass through), and sizes read relative to the open folder (`fstatat`), not by
        resolving each file's whole path again. Links to folders are not followed (a link
        to an ancestor would never end)."""
        wanted = FileFilter(selection)
        stack = [_Folder.open(root, state)]
        try:
            while stack:
                folder = stack[-1]
                for entry in folder.entries:
                    if entry.is_dir(follow_symlinks=False):
                        path = folder.child_path(entry.name)
                        child = _child_state(folder.state, path, selection)
                        if child is not None:
                            stack.append(_Folder.open(path, child))
                            break
                    elif entry.is_file() and wanted(entry.name, folder.state.account is not None):
                        path = folder.child_path(entry.name)
                        yield LogObject(path, entry.stat().st_size, path)
                else:
                    stack.pop().close()
        finally:  # the caller stopped early: close the folders still open
            for folder in stack:
                folder.close()

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
