"""Loaded by test servers (PYTHONPATH) and their spawned workers: with
POLICYGEN_AUDIT_MARKER set, every file-system access whose path contains the marker is
written to stderr as an `AUDIT` line. Fuzzed request fields carry the marker, so a request
field that became a file path shows up in the server's log."""

from __future__ import annotations

import os
import sys

_MARKER = os.environ.get("POLICYGEN_AUDIT_MARKER")
#: Audit events (sys.audit) whose arguments include a path.
_PATH_EVENTS = frozenset(
    """open os.listdir os.scandir os.mkdir os.remove os.rename os.rmdir os.chmod os.chown
    os.utime os.link os.symlink os.truncate os.chdir glob.glob shutil.copyfile
    shutil.rmtree shutil.move sqlite3.connect""".split()
)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event not in _PATH_EVENTS:
        return
    for arg in args:
        if isinstance(arg, str | bytes | os.PathLike) and _MARKER in os.fsdecode(arg):
            sys.stderr.write(f"AUDIT {event} {os.fsdecode(arg)!r}\n")


if _MARKER:
    sys.addaudithook(_hook)
