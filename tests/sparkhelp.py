"""Trail sources for the Spark tests, importable on executors (shipped with `addPyFile`).

Their objects have no local path, so executors read them through `read`, as they read
any remote source (S3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from policygen.sources.base import LogObject, Selection
from policygen.sources.local import LocalFolder


@dataclass(frozen=True)
class RemoteLike:
    """A local folder that hands out bytes only, as a remote source does."""

    root: str

    def list_objects(self, selection: Selection) -> Iterator[LogObject]:
        for obj in LocalFolder(Path(self.root)).list_objects(selection):
            yield LogObject(obj.key, obj.size)

    def read(self, obj: LogObject) -> bytes:
        return Path(obj.key).read_bytes()

    def describe(self) -> str:
        return self.root


class Refused(Exception):
    """What a remote source raises when it may not read (not an unreadable file)."""


@dataclass(frozen=True)
class RefusingSource(RemoteLike):
    """A source whose reads are refused: the scan must fail with this very error."""

    def read(self, obj: LogObject) -> bytes:
        raise Refused(f"access denied reading {Path(obj.key).name}")
