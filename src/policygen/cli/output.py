"""What the command prints: progress on stderr, the summary after a run, result files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from policygen.cli.errors import InputError
from policygen.pipeline import GenerationResult
from policygen.policy.explain import EXTENSION_KEY, extension
from policygen.policy.render import RenderOptions
from policygen.scan.usage import ScanStats
from policygen.sources.base import LogObject

#: The listing that `generate --all-principals` writes beside the per-principal files.
INDEX_FILE = "index.json"


@contextmanager
def progress_bar(
    enabled: bool, description: str = "scanning"
) -> Iterator[Callable[[LogObject], None] | None]:
    """A rich progress bar on stderr (files and bytes per second) when it is a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]} files"),
        TextColumn("{task.fields[rate]} files/s"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=console.is_terminal) as bar:
        task = bar.add_task(description, total=None, files=0, rate=0)
        state = {"files": 0}

        def advance(obj: LogObject) -> None:
            state["files"] += 1
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = round(state["files"] / elapsed) if elapsed > 0 else 0
            bar.update(task, advance=obj.size, files=state["files"], rate=rate)

        yield advance


def scan_lines(stats: ScanStats, tail: str = "") -> list[str]:
    """What a scan read (files, records, the usage index) and the files it could not read."""
    lines = [
        f"files read: {stats.files_read}, skipped: {stats.files_skipped}; "
        f"records read: {stats.records_read}, matched: {stats.records_matched}, "
        f"duplicates: {stats.duplicates}{tail}"
    ]
    if stats.files_from_index:
        lines.append(
            f"from the usage index: {stats.files_from_index} files;"
            f" read again at the window's edges: {stats.files_rescanned}"
        )
    lines.extend(f"skipped {path}: {reason}" for path, reason in sorted(stats.skipped.items()))
    return lines


def summary_lines(result: GenerationResult) -> list[str]:
    """The short human summary printed on stderr after a run."""
    analysis = result.analysis
    tail = f"; actions: {len(analysis.actions)}"
    return scan_lines(analysis.stats, tail) + analysis_lines(result)


def analysis_lines(result: GenerationResult) -> list[str]:
    """What limits one principal's result: unmapped calls, denied-only actions, gaps."""
    analysis = result.analysis
    lines: list[str] = []
    lines.extend(
        f"not mapped: {u.event_source} {u.event_name} ({u.count} calls): {u.reason}"
        for u in analysis.unmapped
    )
    denied = [name for name, use in analysis.actions.items() if use.denied_only]
    if denied:
        lines.append(f"only ever denied ({len(denied)}): {', '.join(denied)}")
    lines.extend(f"incomplete: {reason}" for reason in analysis.incomplete_reasons)
    return lines


def template_line(result: GenerationResult) -> str:
    """Where the service-level template's services came from, and why not IAM's data."""
    analysis = result.analysis
    note = f" ({analysis.service_level_note})" if analysis.service_level_note else ""
    return f"service-level template from: {analysis.service_level_source}{note}"


def result_document(result: GenerationResult, options: RenderOptions) -> dict[str, Any]:
    """What `generate` prints for one principal: `generatedPolicyResult`, plus policygen's
    extension key unless the output is to be exactly AWS's."""
    document = result.to_api(options)
    if not options.aws_compatible:
        document[EXTENSION_KEY] = extension(result.analysis, options)
    return document


def result_file_name(principal_arn: str) -> str:
    """A file name for a principal's result: readable, safe on any file system, and
    distinct for distinct ARNs (a short hash of the ARN ends it)."""
    parts = principal_arn.split(":", 5)
    account_and_name = f"{parts[4]}-{parts[5]}" if len(parts) == 6 else principal_arn
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", account_and_name).strip("-.")[:150]
    digest = hashlib.sha256(principal_arn.encode()).hexdigest()[:10]
    return f"{readable}-{digest}.json"


def write_all(results: list[GenerationResult], out: Path, options: RenderOptions) -> None:
    """One result file per principal (as `generate` prints it) and `index.json`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror or exc}") from None
    listing = []
    for result in results:
        name = result_file_name(result.principal.arn)
        document = result_document(result, options)
        (out / name).write_text(json.dumps(document, indent=2) + "\n")
        listing.append(
            {
                "principalArn": result.principal.arn,
                "file": name,
                "actions": len(result.analysis.actions),
                "isComplete": document["properties"]["isComplete"],
            }
        )
    (out / INDEX_FILE).write_text(json.dumps({"principals": listing}, indent=2) + "\n")
    for line in scan_lines(results[0].analysis.stats if results else ScanStats()):
        click.echo(line, err=True)
    for result, entry in zip(results, listing, strict=True):
        click.echo(
            f"{entry['principalArn']}: {entry['actions']} actions -> {entry['file']}", err=True
        )
        for line in analysis_lines(result):
            click.echo(f"  {line}", err=True)
    click.echo(f"{len(results)} principals written to {out}", err=True)
