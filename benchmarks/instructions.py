#!/usr/bin/env python3
"""Instruction counts of one pass over a fixed set of files, for valgrind's callgrind:
repeatable on a loaded machine, where seconds are not.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/instructions.py MODE [--corpus DIR] [--batches N]

MODE is `base` (imports, listing and batching only: subtract it from the others),
`inflate` (read and isal-inflate every file: the floor) or `scan` (the all-principals
scan's worker function, `scan_batch`, on every batch: with the C record counter, or in
Python under POLICYGEN_NATIVE=0). With --role, the files are the role's account's and
`scan` is that role's one-principal scan. All in this one process, no workers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from policygen.core.arns import Principal
from policygen.core.time import parse_time
from policygen.iam.facts import RULES
from policygen.scan import pool
from policygen.scan.query import ScanQuery
from policygen.scan.tally import scan_batch
from policygen.sources.base import Selection
from run import END, HERE, START, _corpus_source, decompress_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("base", "inflate", "scan"))
    parser.add_argument("--corpus", type=Path, default=HERE / ".corpus" / "small-1gb")
    parser.add_argument("--batches", type=int, default=4, help="Batches of the listing read.")
    parser.add_argument("--role", help="A one-principal scan of this role (default: all).")
    options = parser.parse_args()
    source = _corpus_source(options.corpus)
    role = Principal.parse(options.role) if options.role else None
    query = ScanQuery(role, START, END, observe="passed", rules=RULES)
    accounts = frozenset({role.account}) if role else None
    listed = source.list_objects(Selection(parse_time(START), parse_time(END), accounts=accounts))
    tasks = []
    for batch in pool.batches(pool.contents(source, listed)):
        tasks.append(pool.file_tasks(batch, query))
        if len(tasks) == options.batches:
            break
    RULES.warm()
    files = sum(map(len, tasks))
    if options.mode == "inflate":
        print(files, "files,", sum(decompress_batch(query, batch) for batch in tasks), "bytes")
    elif options.mode == "scan":
        matched = sum(scan_batch(query, batch).stats.records_matched for batch in tasks)
        print(files, "files,", matched, "records counted")


if __name__ == "__main__":
    main()
