"""What the command prints: progress on stderr, the summary after a run, result files."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from policygen.cli.errors import InputError
from policygen.pipeline import GenerationResult
from policygen.policy import formats
from policygen.policy.explain import EXTENSION_KEY, extension
from policygen.policy.render import RenderOptions
from policygen.rightsizing import PermissionSetResult
from policygen.scan.diagnosis import counted, explanation
from policygen.scan.usage import ScanStats
from policygen.sources.base import LogObject
from policygen.sources.lookup import history_note

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
    note = history_note(stats.pruned)
    if note:
        lines.append(note)
    if stats.shapes:
        shapes = counted(stats.shapes)
        lines.append(f"files not in CloudTrail's delivery format, read as: {shapes}")
    lines.extend(f"skipped {path}: {reason}" for path, reason in sorted(stats.skipped.items()))
    return lines


def summary_lines(result: GenerationResult) -> list[str]:
    """The short human summary printed on stderr after a run (with, when it is empty or
    thin, why)."""
    analysis = result.analysis
    tail = f"; actions: {len(analysis.actions)}"
    why = explanation(result.principal.arn, analysis.stats)
    return scan_lines(analysis.stats, tail) + analysis_lines(result) + why


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


def write_all(
    results: list[GenerationResult],
    sets: list[PermissionSetResult],
    out: Path,
    options: RenderOptions,
) -> None:
    """One result file per principal (as `generate` prints it), one per IAM Identity Center
    permission set (as `generate --permission-set` prints it) and `index.json`."""
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
    set_listing = []
    for found in sets:
        name = result_file_name(f"permission-set:{found.name}")
        (out / name).write_text(json.dumps(found.to_dict(options), indent=2) + "\n")
        set_listing.append({"permissionSet": found.name, "file": name, "roles": found.roles})
    index = {"principals": listing, "permissionSets": set_listing}
    (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    stats = results[0].analysis.stats if results else ScanStats()
    for line in scan_lines(stats):
        click.echo(line, err=True)
    if stats.pruned:
        click.echo(f"left out by name: {counted(stats.pruned)}", err=True)
    for result, entry in zip(results, listing, strict=True):
        click.echo(
            f"{entry['principalArn']}: {entry['actions']} actions -> {entry['file']}", err=True
        )
        for line in analysis_lines(result):
            click.echo(f"  {line}", err=True)
    for entry in set_listing:
        roles = len(entry["roles"])
        click.echo(
            f"permission set {entry['permissionSet']}: {roles} roles -> {entry['file']}", err=True
        )
    click.echo(f"{len(results)} principals written to {out}", err=True)


# --- ready to apply, and a terminal's view ----------------------------------------------


def documents(policies: list[str]) -> list[dict[str, Any]]:
    """Policy texts as documents."""
    return [json.loads(text) for text in policies]


def generated_targets(result: GenerationResult, options: RenderOptions) -> list[formats.Target]:
    """The generated policies as managed policies attached to their principal."""
    return formats.managed_targets(result.principal, documents(result.policies(options)))


def emit_generated(result: GenerationResult, options: RenderOptions, form: str | None) -> None:
    """Print one principal's generation as `--format` asks (see `options.FORMAT`)."""
    if form is None and sys.stdout.isatty():
        show_pretty(documents(result.policies(options)), summary_lines(result))
        return
    if form in (None, "api"):
        click.echo(json.dumps(result_document(result, options), indent=2))
    else:
        description = f"policygen: least-privilege policy for {result.principal.arn}"
        click.echo(formats.render(generated_targets(result, options), form, description), nl=False)
    for line in summary_lines(result):
        click.echo(line, err=True)


def show_pretty(found: list[dict[str, Any]], lines: list[str]) -> None:
    """The policy documents highlighted, and the summary under them (a terminal's view)."""
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console()
    for n, document in enumerate(found, start=1):
        if len(found) > 1:
            console.rule(f"policy {n} of {len(found)}")
        text = json.dumps(document, indent=2, ensure_ascii=False)
        console.print(Syntax(text, "json", theme="ansi_dark", background_color="default"))
    for line in lines:
        console.print(line, style="dim", highlight=False, markup=False)


def emit_permission_set(
    found: PermissionSetResult, options: RenderOptions, form: str | None
) -> None:
    """Print a permission set's policy as `--format` asks; per-account use on stderr."""
    if form is None and sys.stdout.isatty():
        show_pretty(documents(found.policies(options)), permission_set_lines(found))
        return
    if form in (None, "api"):
        click.echo(json.dumps(found.to_dict(options), indent=2))
    else:
        description = f"policygen: inline policy of permission set {found.name}"
        targets = [
            formats.Target(found.name, "permission-set", document)
            for document in documents(found.policies(options))
        ]
        click.echo(formats.render(targets, form, description), nl=False)
    for line in permission_set_lines(found):
        click.echo(line, err=True)


def permission_set_lines(found: PermissionSetResult) -> list[str]:
    """Which roles in which accounts made the permission set's calls."""
    lines = [f"permission set {found.name}: {len(found.roles)} roles"]
    for account, actions in found.accounts.items():
        calls = sum(actions.values())
        lines.append(f"  account {account}: {len(actions)} actions, {calls} calls")
    return lines
