"""The `policygen` command.

Exit codes scripts can rely on: 0 success, 2 bad input (one line on stderr, no
traceback), 1 an unexpected failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from policygen.engine import GenerationResult, generate_policy
from policygen.sources import LogObject
from policygen.units import parse_size

USAGE_ERROR = 2


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
def progress_bar(enabled: bool) -> Iterator[Callable[[LogObject], None] | None]:
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
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=console.is_terminal) as bar:
        task = bar.add_task("scanning", total=None, files=0)
        state = {"files": 0}

        def advance(obj: LogObject) -> None:
            state["files"] += 1
            bar.update(task, advance=obj.size, files=state["files"])

        yield advance


def summary_lines(result: GenerationResult) -> list[str]:
    """The short human summary printed on stderr after a run."""
    stats, analysis = result.analysis.stats, result.analysis
    lines = [
        f"files read: {stats.files_read}, skipped: {stats.files_skipped}; "
        f"records read: {stats.records_read}, matched: {stats.records_matched}, "
        f"duplicates: {stats.duplicates}; actions: {len(analysis.actions)}"
    ]
    lines.extend(f"skipped {path}: {reason}" for path, reason in sorted(stats.skipped.items()))
    lines.extend(
        f"not mapped: {u.event_source} {u.event_name} ({u.count} calls): {u.reason}"
        for u in analysis.unmapped
    )
    denied = [name for name, use in analysis.actions.items() if use.denied_only]
    if denied:
        lines.append(f"only ever denied ({len(denied)}): {', '.join(denied)}")
    lines.extend(f"incomplete: {reason}" for reason in analysis.incomplete_reasons)
    return lines


def positive_size(text: str) -> int:
    """A size flag (`512MiB`); ValueError (a one-line usage error) unless it is positive."""
    size = parse_size(text)
    if size < 1:
        raise ValueError(f"not a positive size: {text!r}")
    return size


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policygen")
def cli() -> None:
    """Least-privilege IAM policies from CloudTrail logs (IAM Access Analyzer compatible)."""


@cli.command()
@click.option("--principal", required=True, help="IAM user or role ARN to generate for.")
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
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr.")
@click.option(
    "--max-file-bytes",
    default="512MiB",
    show_default=True,
    help="Skip (and report) log files larger than this, stored or decompressed.",
)
def generate(
    principal: str,
    logs: Path,
    start: str | None,
    end: str | None,
    regions: tuple[str, ...],
    resource_placeholders: bool,
    service_level_template: bool,
    denied: str,
    data_events: bool,
    trail_arn: str | None,
    progress: bool | None,
    max_file_bytes: str,
) -> None:
    """Generate a policy for one principal and print it as GetGeneratedPolicy's result."""
    show_progress = sys.stderr.isatty() if progress is None else progress
    with user_errors(), progress_bar(show_progress) as on_file:
        result = generate_policy(
            principal,
            logs,
            start=start,
            end=end,
            regions=regions or None,
            denied=denied,  # type: ignore[arg-type]
            data_events=data_events,
            trail_arn=trail_arn,
            on_file=on_file,
            max_file_bytes=positive_size(max_file_bytes),
        )
    document = result.to_api(
        placeholders=resource_placeholders, service_level=service_level_template
    )
    click.echo(json.dumps(document, indent=2))
    for line in summary_lines(result):
        click.echo(line, err=True)


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
    from policygen.synth import CorpusSpec, generate_corpus

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


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, help="Port to listen on (default 8080; 0 picks a free one).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the job database lives (env POLICYGEN_HOME; default ~/.policygen).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML settings file (env POLICYGEN_CONFIG).",
)
@click.option(
    "--trail",
    "trails",
    multiple=True,
    metavar="ARN=FOLDER",
    help="A trail and the local folder holding its logs; repeatable.",
)
@click.option(
    "--default-trail", metavar="ARN", help="Trail for requests without cloudTrailDetails."
)
@click.option("--workers", type=int, help="Worker processes running jobs (default 2).")
@click.option("--max-concurrent-jobs", type=int, help="Jobs in progress per account (0: no limit).")
@click.option(
    "--max-jobs-per-day", type=int, help="Jobs started per account per 24 h (0: no limit)."
)
@click.option("--retention-days", type=float, help="Forget jobs after this many days (0: never).")
@click.option("--max-window-days", type=float, help="Longest time range of a job (default 90).")
@click.option("--rate-limit", type=float, help="Requests per second per caller (0: no limit).")
@click.option(
    "--allow-account",
    "allowed_accounts",
    multiple=True,
    help="Only generate for principals of this account; repeatable (default: any account).",
)
@click.option("--denied", type=click.Choice(["include", "exclude"]), help="As for generate.")
@click.option("--data-events/--no-data-events", default=None, help="As for generate.")
@click.option("--db-timeout", type=float, help="Seconds to wait for a locked database (default 5).")
@click.option(
    "--max-file-bytes", help="Skip log files larger than this, stored or decompressed (512MiB)."
)
@click.option(
    "--credentials-file",
    type=click.Path(path_type=Path),
    help="TOML file of the access keys callers sign with (env POLICYGEN_CREDENTIALS_FILE).",
)
@click.option(
    "--no-auth",
    is_flag=True,
    default=None,
    help="Accept unsigned requests; only on a loopback address.",
)
@click.option("--clock-skew", type=float, help="Seconds a signature's time may be off (900).")
@click.option(
    "--shutdown-grace", type=float, help="Seconds SIGTERM waits for running jobs (default 30)."
)
def serve(config_file: Path | None, trails: tuple[str, ...], **flags: object) -> None:
    """Serve the IAM Access Analyzer policy generation API (for boto3 and the AWS CLI).

    Requests must be signed (SigV4) with a key from --credentials-file, unless --no-auth.
    """
    from policygen.api.app import serve as run_server
    from policygen.config import load_settings

    if not flags["allowed_accounts"]:
        flags["allowed_accounts"] = None
    flags["auth"] = False if flags.pop("no_auth") else None
    with user_errors():
        settings = load_settings(flags, trails, config_file=config_file)
        run_server(settings)


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
