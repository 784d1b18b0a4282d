"""`policygen index` when the index cannot be used, and when an indexed file has changed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from clihelp import policygen
from logfactory import ROLE_ARN, record, write_log


def test_a_file_changed_since_it_was_indexed_is_named_not_read(logs: Path, tmp_path: Path) -> None:
    path = write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    home = ("--data-dir", str(tmp_path / "home"))
    first = policygen("index", "--logs", str(logs), *home)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0].endswith(": 1 new files indexed of 1")
    document = json.loads(gzip.decompress(path.read_bytes()))
    document["Records"].append(record(ROLE_ARN, "ec2.amazonaws.com", "StopInstances"))
    path.write_bytes(gzip.compress(json.dumps(document).encode()))  # a new size
    again = policygen("index", "--logs", str(logs), *home)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == [
        f"index {tmp_path / 'home' / 'index.sqlite'}: 0 new files indexed of 1",
        "files read: 0, skipped: 0; records read: 0, matched: 0, duplicates: 0",
        f"changed since it was indexed (not read again): {path}",
    ]


def test_an_index_that_is_not_a_database_is_one_line(logs: Path, tmp_path: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    home = tmp_path / "home"
    home.mkdir()
    (home / "index.sqlite").write_bytes(b"these are not the bytes of an SQLite database\n" * 20)
    done = policygen("index", "--logs", str(logs), "--data-dir", str(home))
    assert done.returncode == 2
    assert done.stderr == (
        f"policygen: error: cannot use the index {home / 'index.sqlite'}: file is not a database\n"
    )
