"""`policygen index`: add a trail's new files to the usage index."""

from __future__ import annotations

import sqlite3
from typing import Any

import click
import cloup

from policygen.cli.errors import InputError, user_errors
from policygen.cli.options import LOGS, READING, open_logs, read_settings
from policygen.cli.output import progress_bar, scan_lines
from policygen.core.paths import index_path
from policygen.core.time import format_time
from policygen.index import IndexUnusable, UsageIndex


@cloup.command()
@LOGS
@READING
@cloup.option(
    "--full",
    is_flag=True,
    help="List the whole trail in S3 (after copying older logs into it); by default it is "
    "listed from a day before the latest delivery already indexed.",
)
def index(
    logs: str | None, trail_arn: str | None, access_role: str | None, full: bool, **read: Any
) -> None:
    """Add the files of a trail (a folder, or its bucket in S3) not indexed before to the
    usage index, which `generate` and the server then answer from whenever it covers the
    window."""
    show_progress, engine = read_settings(read)
    path = index_path(read["data_dir"])
    with user_errors():
        source, _ = open_logs(logs, trail_arn, access_role)
    with user_errors(), progress_bar(show_progress, "indexing") as on_file:
        try:
            store = UsageIndex(path)
        except (IndexUnusable, sqlite3.DatabaseError) as exc:
            raise InputError(f"cannot use the index {path}: {exc}") from None
        with store:
            done = store.ingest(
                source, workers=read["workers"], on_file=on_file, engine=engine, full=full
            )
    listed = f"{done.files_listed}"
    if done.listed_from is not None:
        listed += f" listed from {format_time(done.listed_from)} (--full lists all)"
    click.echo(f"index {path}: {done.files_new} new files indexed of {listed}", err=True)
    for line in scan_lines(done.stats):
        click.echo(line, err=True)
    for key in done.files_changed:
        click.echo(f"changed since it was indexed (not read again): {key}", err=True)
