"""The scanner's entry point: log files in, the principals' own API calls counted out.

Files are read in batches (`policygen.scan.tally`), in this process, in worker
processes (`policygen.scan.pool`) or on Spark; the parent folds each batch into a
`Scan` (`policygen.scan.fold`) in listing order. A file that cannot be read is recorded
in `ScanStats.skipped`; the scan goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policygen.core.arns import Principal
from policygen.scan import pool
from policygen.scan.fold import Scan
from policygen.scan.pool import Engine
from policygen.scan.query import (
    DEFAULT_MAX_FILE_BYTES,
    FactRules,
    ObserveLevel,
    ProgressCallback,
    ScanQuery,
)
from policygen.scan.usage import Usage
from policygen.sources.base import LogObject, Selection


def scan(
    source: Any,
    selection: Selection,
    principal: Principal | None,
    *,
    on_file: ProgressCallback | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int | None = None,
    observe: ObserveLevel = "all",
    rules: FactRules | None = None,
    engine: Engine | None = None,
    objects: Iterable[LogObject] | None = None,
) -> dict[str, Usage]:
    """Scan every file of `source` that `selection` needs: usage per principal ARN.

    `workers` processes (default: `pool.default_workers()`; 1 scans in this process),
    or another `engine` (Spark); `on_file` is called here, in the caller's process, for
    each file as it is done; `observe` is how many resource facts to collect (all, by
    default) with `rules` (none without). `objects` are the files, when the caller has
    listed them already.
    """
    query = ScanQuery.for_selection(
        principal, selection, max_file_bytes=max_file_bytes, observe=observe, rules=rules
    )
    state = Scan(query)

    def listed(objs: Any) -> Any:
        for obj in objs:
            state.stats.files_listed += 1
            yield obj

    pool.run(
        source,
        listed(source.list_objects(selection) if objects is None else objects),
        query,
        state.add_batch,
        workers=workers,
        on_file=on_file,
        engine=engine,
    )
    return state.results()
