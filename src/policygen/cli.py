"""The `policygen` command.

Exit codes scripts can rely on: 0 success, 2 bad input (one line on stderr, no
traceback), 1 an unexpected failure.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from policygen.engine import GenerationResult, generate_all_policies, generate_policy
from policygen.index import IndexUnusable, UsageIndex
from policygen.paths import index_path
from policygen.sources import LogObject
from policygen.usage import ScanStats

USAGE_ERROR = 2
#: The listing that `generate --all-principals` writes beside the per-principal files.
INDEX_FILE = "index.json"


class InputError(click.ClickException):
    """Bad input from the user: reported in one line, exit code 2."""

    exit_code = USAGE_ERROR


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into one-line CLI errors."""
    try:
        yield
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise InputError(str(exc)) from None


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
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None, files=0, rate=0)
        state = {"files": 0}

        def advance(obj: LogObject) -> None:
            state["files"] += 1
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = round(state["files"] / elapsed) if elapsed > 0 else 0
            bar.update(task, advance=obj.size, files=state["files"], rate=rate)

        yield advance


def scan_lines(stats: ScanStats) -> list[str]:
    """What a scan read: files, records, and the files it could not read."""
    lines = [
        f"files read: {stats.files_read}, skipped: {stats.files_skipped}; "
        f"records read: {stats.records_read}, matched: {stats.records_matched}, "
        f"duplicates: {stats.duplicates}"
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
    lines = scan_lines(analysis.stats)
    lines.append(f"actions: {len(analysis.actions)}")
    lines.extend(analysis_lines(result))
    return lines


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policygen")
def cli() -> None:
    """Least-privilege IAM policies from CloudTrail logs (IAM Access Analyzer compatible)."""


def scan_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every command that reads logs shares."""
    for option in reversed(
        [
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                help="Processes to scan with (default: POLICYGEN_WORKERS or the CPU count).",
            ),
            click.option(
                "--data-dir",
                type=click.Path(path_type=Path),
                help="Where the usage index is (default: POLICYGEN_HOME or ~/.policygen).",
            ),
            click.option("--progress/--no-progress", default=None, help="Progress bar on stderr."),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@click.option("--principal", help="IAM user or role ARN to generate for.")
@click.option(
    "--all-principals",
    is_flag=True,
    help="Every IAM user and role in the logs, from one scan (needs --out).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --all-principals: folder for one result file per principal.",
)
@click.option(
    "--logs",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of CloudTrail logs (the S3 layout, searched recursively) or one log file.",
)
@click.option("--start", help="ISO 8601 start of the window (default: 90 days before --end).")
@click.option("--end", help="ISO 8601 end of the window (default: now).")
@click.option("--region", "regions", multiple=True, help="Region to read; repeatable.")
@click.option("--resource-placeholders", is_flag=True, help="ARN placeholders instead of '*'.")
@click.option("--service-level-template", is_flag=True, help="Add service:* for unmapped services.")
@click.option(
    "--denied",
    type=click.Choice(["include", "exclude"]),
    default="include",
    show_default=True,
    help="Whether calls refused by IAM count (AWS includes them).",
)
@click.option(
    "--data-events/--no-data-events",
    default=True,
    show_default=True,
    help="Count data events (S3 objects, Lambda Invoke); AWS reads management events only.",
)
@click.option("--trail-arn", help="Trail ARN to echo in cloudTrailProperties.")
@click.option("--no-index", is_flag=True, help="Scan the logs even if the usage index covers them.")
@scan_options
def generate(
    principal: str | None,
    all_principals: bool,
    out: Path | None,
    logs: Path,
    start: str | None,
    end: str | None,
    regions: tuple[str, ...],
    resource_placeholders: bool,
    service_level_template: bool,
    denied: str,
    data_events: bool,
    trail_arn: str | None,
    no_index: bool,
    workers: int | None,
    data_dir: Path | None,
    progress: bool | None,
) -> None:
    """Generate a policy for one principal and print it as GetGeneratedPolicy's result;
    or, with --all-principals, one result file per principal into --out."""
    if all_principals == (principal is not None):
        raise InputError("give either --principal or --all-principals")
    if all_principals and out is None:
        raise InputError("--all-principals needs --out DIR")
    if out is not None and not all_principals:
        raise InputError("--out goes with --all-principals")
    show_progress = sys.stderr.isatty() if progress is None else progress
    render = {"placeholders": resource_placeholders, "service_level": service_level_template}
    common = {
        "start": start,
        "end": end,
        "regions": regions or None,
        "denied": denied,
        "data_events": data_events,
        "trail_arn": trail_arn,
        "workers": workers,
    }
    with user_errors(), progress_bar(show_progress) as on_file:
        if principal is not None:
            result = generate_policy(
                principal,
                logs,
                on_file=on_file,
                data_dir=data_dir,
                use_index=not no_index,
                **common,  # type: ignore[arg-type]
            )
        else:
            results = generate_all_policies(logs, on_file=on_file, **common)  # type: ignore[arg-type]
    if principal is not None:
        click.echo(json.dumps(result.to_api(**render), indent=2))
        for line in summary_lines(result):
            click.echo(line, err=True)
        return
    assert out is not None
    write_all(results, out, render)


def result_file_name(principal_arn: str) -> str:
    """A file name for a principal's result: readable, safe on any file system, and
    distinct for distinct ARNs (a short hash of the ARN ends it)."""
    parts = principal_arn.split(":", 5)
    account_and_name = f"{parts[4]}-{parts[5]}" if len(parts) == 6 else principal_arn
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", account_and_name).strip("-.")[:150]
    digest = hashlib.sha256(principal_arn.encode()).hexdigest()[:10]
    return f"{readable}-{digest}.json"


def write_all(results: list[GenerationResult], out: Path, render: dict[str, bool]) -> None:
    """One `generatedPolicyResult` file per principal, and `index.json` listing them."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror or exc}") from None
    listing = []
    for result in results:
        name = result_file_name(result.principal.arn)
        document = result.to_api(**render)
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
    stats = results[0].analysis.stats if results else ScanStats()
    for line in scan_lines(stats):
        click.echo(line, err=True)
    for result, entry in zip(results, listing, strict=True):
        click.echo(
            f"{entry['principalArn']}: {entry['actions']} actions -> {entry['file']}", err=True
        )
        for line in analysis_lines(result):
            click.echo(f"  {line}", err=True)
    click.echo(f"{len(results)} principals written to {out}", err=True)


@cli.command()
@click.option(
    "--logs",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Trail folder to index (the CloudTrail S3 layout, searched recursively).",
)
@scan_options
def index(logs: Path, workers: int | None, data_dir: Path | None, progress: bool | None) -> None:
    """Add the files of a trail folder not indexed before to the usage index."""
    show_progress = sys.stderr.isatty() if progress is None else progress
    path = index_path(data_dir)
    with user_errors(), progress_bar(show_progress, "indexing") as on_file:
        try:
            store = UsageIndex(path)
        except (IndexUnusable, sqlite3.DatabaseError) as exc:
            raise InputError(f"cannot use the index {path}: {exc}") from None
        with store:
            report = store.ingest(logs, workers=workers, on_file=on_file)
    click.echo(
        f"index {path}: {report.files_new} new files indexed of {report.files_listed} listed",
        err=True,
    )
    for line in scan_lines(report.stats):
        click.echo(line, err=True)
    for key in report.files_changed:
        click.echo(f"changed since it was indexed (not read again): {key}", err=True)


@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write.")
@click.option("--size", default="20MB", show_default=True, help="Uncompressed size (200MB, 1GB).")
@click.option("--seed", default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--start", default="2026-01-05T00:00:00Z", show_default=True, help="First day.")
@click.option("--days", default=1, show_default=True, help="Days of activity.")
@click.option("--account", "accounts", multiple=True, help="Account id; repeatable.")
@click.option("--region", "regions", multiple=True, help="Region; repeatable.")
@click.option("--org-id", help="Write an organization trail (AWSLogs/<org-id>/<account>/...).")
@click.option("--workers", default=1, show_default=True, help="Processes to generate with.")
def synth(
    out: Path,
    size: str,
    seed: int,
    start: str,
    days: int,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    org_id: str | None,
    workers: int,
) -> None:
    """Write a synthetic CloudTrail trail (deterministic; for trials, tests and benchmarks)."""
    from policygen.synth import CorpusSpec, generate_corpus, parse_size

    with user_errors():
        overrides = {"accounts": accounts, "regions": regions}
        spec = CorpusSpec(
            seed=seed,
            start=start,
            days=days,
            target_bytes=parse_size(size),
            org_id=org_id,
            **{name: value for name, value in overrides.items() if value},
        )
        manifest = generate_corpus(out, spec, workers=workers)
    for principal in manifest.principals:
        click.echo(principal["arn"])


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every usage or input error is one line and exit code 2."""
    try:
        code = cli.main(args=argv, prog_name="policygen", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("policygen: aborted", err=True)
        code = 130
    except click.ClickException as exc:
        message = " ".join(exc.format_message().split())
        click.echo(f"policygen: error: {message}", err=True)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
