"""A batch's files going to a worker, and what each added coming back, as columns.

A real trail is mostly small files (CloudTrail delivers one every five minutes per account
and region, a few KB each), so whatever a scan does per file must cost next to nothing
beside inflating it. One object per batch crosses the process boundary each way, holding
plain lists (pickled in C): a dataclass per file cost more to pickle and unpickle than a
small file costs to read and inflate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from policygen.cloudtrail.layout import account_of, delivery_of
from policygen.scan.query import ScanQuery
from policygen.sources.base import LogObject


@dataclass(slots=True)
class FileTasks:
    """The files of one batch for `scan_batch`, file `i` at position `i` of every list.

    `paths[i]` is set for a local file (the worker opens it), else `data[i]` holds its
    bytes as read by the parent; `errors` holds the files that cannot be read, and why.
    `delivered` (hourly queries) and `accounts` (all-principals scans: only the principals
    of the account whose folder holds a file are counted from it) are None when unused.
    """

    keys: list[str]
    sizes: list[int]
    paths: list[str | None]
    data: list[bytes | None] | None = None
    errors: dict[int, str] = field(default_factory=dict)
    delivered: list[int | None] | None = None
    accounts: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.keys)


def tasks_for(
    batch: Iterable[tuple[LogObject, bytes | OSError | None]], query: ScanQuery
) -> FileTasks:
    """The tasks of a batch whose contents are read (remote files) or not needed (local)."""
    keys: list[str] = []
    sizes: list[int] = []
    paths: list[str | None] = []
    data: list[bytes | None] = []
    errors: dict[int, str] = {}
    cap = query.max_file_bytes
    for at, (obj, content) in enumerate(batch):
        keys.append(obj.key)
        sizes.append(obj.size)
        paths.append(obj.path)
        if isinstance(content, OSError):
            errors[at] = f"unreadable: {content.strerror or content}"
            content = None
        elif obj.size > cap:  # not sent to a worker; reported there
            errors[at] = f"larger than {cap} bytes"
            content = None
        data.append(content)
    read = data if any(content is not None for content in data) else None
    tasks = FileTasks(keys, sizes, paths, read, errors)
    if query.hourly:
        tasks.delivered = [delivery_of(key).delivered for key in keys]
    if query.principal is None:
        tasks.accounts = [account_of(key) for key in keys]
    return tasks


@dataclass(slots=True)
class FileResults:
    """What each file of a batch added, file `i` at position `i` of the per-file lists.

    `ids` are the eventIDs the batch counted, file after file, and `refs` the position of
    each one's call in `BatchResult.calls` (so that the parent can take back a duplicate);
    `counted` is (file, end of its ids in `ids`) for the files that counted any, the only
    ones de-duplication looks at. `bytes`, `records`, `bad` and `skipped` (file -> reason)
    are what the usage index records about each file.
    """

    ids: list[str] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)
    counted: list[tuple[int, int]] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def counted_ids(self) -> Iterable[tuple[int, int, list[str]]]:
        """(file, position of its first id in `ids`, its ids) for each file that counted any."""
        start = 0
        for at, end in self.counted:
            yield at, start, self.ids[start:end]
            start = end
