"""The `policygen` command.

Exit codes scripts can rely on: 0 success, 2 bad input (one line on stderr, no
traceback), 3 AWS refused or failed (one line naming what: the role, trail, bucket or
key, and the job error code), 1 an unexpected failure.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from policygen.core.arns import Principal, TrailArn
from policygen.core.aws import AwsAccess, check_credentials
from policygen.core.errors import JobFailure
from policygen.core.paths import index_path
from policygen.core.time import format_time
from policygen.core.units import parse_size
from policygen.iam.analysis import AnalysisOptions
from policygen.iam.resources import DEFAULT_MAX_ARNS
from policygen.index import IndexUnusable, UsageIndex
from policygen.pipeline import GenerationResult, Job, ScanOptions
from policygen.policy.explain import EXTENSION_KEY, explain_json, explain_table, extension
from policygen.policy.render import RenderOptions
from policygen.scan.pool import Engine
from policygen.scan.query import ObserveLevel, ProgressCallback
from policygen.scan.spark import DEFAULT_PARTITION_BYTES, SparkUnavailable, engine_named
from policygen.scan.usage import ScanStats
from policygen.sources.base import DEFAULT_MARGIN, LogObject, TrailSource
from policygen.sources.local import LocalFolder

USAGE_ERROR = 2
AWS_ERROR = 3
#: The listing that `generate --all-principals` writes beside the per-principal files.
INDEX_FILE = "index.json"


class InputError(click.ClickException):
    """Bad input from the user: reported in one line, exit code 2."""

    exit_code = USAGE_ERROR


class AwsError(click.ClickException):
    """AWS refused or failed: one line naming what, exit code 3."""

    exit_code = AWS_ERROR


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into one-line CLI errors."""
    try:
        yield
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise InputError(str(exc)) from None
    except JobFailure as exc:
        raise AwsError(f"{exc.code}: {exc.message}") from None


def open_logs(
    logs: str | None, trail_arn: str | None, access_role: str | None
) -> tuple[str | TrailSource, AwsAccess | None]:
    """Where `generate` reads, and the AWS credentials it reads with (None: a local folder).

    `--logs s3://...` is read with the ambient credentials (or `--access-role`); with no
    `--logs`, the trail is found with GetTrail, as the server does.
    """
    from policygen.sources.gettrail import resolve_trail
    from policygen.sources.s3 import S3Trail, is_s3_url

    if logs is not None and not is_s3_url(logs):
        if access_role:
            raise InputError("--access-role is for logs in S3 (--logs s3://... or --trail-arn)")
        return logs, None
    if logs is None and trail_arn is None:
        raise InputError("give --logs (a folder or s3://bucket/prefix), or --trail-arn")
    region = TrailArn.parse(trail_arn).region if trail_arn else None
    access = AwsAccess(access_role, region)
    if access_role:
        check_credentials(access)
    if logs is not None:
        return S3Trail.from_url(logs, access, label=trail_arn or ""), access
    assert trail_arn is not None
    return resolve_trail(trail_arn, access), access


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


def scan_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options that say which calls to read, shared by `generate` and `explain`."""
    options = [
        click.option("--principal", help="IAM user or role ARN to generate for."),
        *trail_options(),
        click.option(
            "--start", help="ISO 8601 start of the window (default: 90 days before --end)."
        ),
        click.option("--end", help="ISO 8601 end of the window (default: now)."),
        click.option("--region", "regions", multiple=True, help="Region to read; repeatable."),
        click.option(
            "--denied",
            type=click.Choice(["include", "exclude"]),
            default="include",
            show_default=True,
            help="Whether calls refused by IAM count (AWS includes them).",
        ),
        click.option(
            "--data-events/--no-data-events",
            default=True,
            show_default=True,
            help="Count data events (S3 objects, Lambda Invoke); AWS reads management events only.",
        ),
        *read_options(),
        click.option(
            "--no-index",
            "use_index",
            is_flag=True,
            flag_value=False,
            default=True,
            help="Scan the logs even when the usage index covers the window.",
        ),
        click.option(
            "--max-file-bytes",
            default="512MiB",
            show_default=True,
            help="Skip (and report) log files larger than this, stored or decompressed.",
        ),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


Option = Callable[[Callable[..., None]], Callable[..., None]]


def with_options(*groups: list[Option]) -> Option:
    """A decorator adding these groups of options to a command, in order."""
    options = [option for group in groups for option in group]
    return lambda command: functools.reduce(
        lambda cmd, option: option(cmd), reversed(options), command
    )


def trail_options() -> list[Option]:
    """Where the logs are: a folder, an S3 URL, or a trail found with GetTrail."""
    return [
        click.option(
            "--logs",
            help="Folder of CloudTrail logs (the S3 layout, searched recursively), one file, "
            "or s3://bucket/prefix (read with the ambient AWS credentials). Without it, "
            "--trail-arn is looked up with GetTrail.",
        ),
        click.option(
            "--trail-arn",
            help="Trail ARN, echoed in cloudTrailProperties; without --logs, where the logs "
            "are is asked of CloudTrail (GetTrail).",
        ),
        click.option(
            "--access-role",
            metavar="ARN",
            help="Role to assume (with the ambient credentials) for reading logs in S3.",
        ),
    ]


def read_options() -> list[Option]:
    """The options of every command that reads logs: engine, processes, data directory,
    progress."""
    return [
        click.option(
            "--engine",
            type=click.Choice(["local", "spark"]),
            default="local",
            show_default=True,
            help="Scan in processes on this machine, or on Apache Spark (needs policygen[spark]).",
        ),
        click.option(
            "--spark-master",
            metavar="URL",
            help="With --engine spark: the master (spark://host:7077, yarn, local[4]; "
            "default: spark-submit's, else local[*]).",
        ),
        click.option(
            "--spark-partition-mb",
            type=click.FloatRange(min=0, min_open=True),
            help=f"With --engine spark: stored MB of logs per Spark task (default "
            f"{DEFAULT_PARTITION_BYTES // 2**20}).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            help="Processes to scan with (default: POLICYGEN_WORKERS, else the CPU count).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path),
            help="Where the usage index is (env POLICYGEN_HOME; default ~/.policygen).",
        ),
        click.option("--progress/--no-progress", default=None, help="Progress bar on stderr."),
    ]


def read_settings(read: dict[str, Any]) -> tuple[bool, Engine | None]:
    """Whether to show progress, and the engine the read options ask for; a Spark setting
    without Spark, or Spark that cannot run here, is an input error."""
    progress = read["progress"]
    show_progress = sys.stderr.isatty() if progress is None else progress
    if read["engine"] == "spark" and read["workers"] is not None:
        raise InputError("--workers goes with --engine local (Spark has its executors)")
    try:
        engine = engine_named(
            read["engine"], master=read["spark_master"], partition_mb=read["spark_partition_mb"]
        )
    except (ValueError, SparkUnavailable) as exc:
        raise InputError(str(exc)) from None
    return show_progress, engine


def observe_level(options: RenderOptions) -> ObserveLevel:
    """The resource facts a rendering needs: scanning for fewer is much cheaper."""
    if options.resources == "observed":
        return "all"
    return "passed" if options.pass_role else "none"


def plan(
    source: str | TrailSource,
    scan: dict[str, Any],
    engine: Engine | None,
    observe: ObserveLevel,
    on_file: ProgressCallback | None,
) -> tuple[Job, AnalysisOptions, ScanOptions]:
    """What the shared scan options ask to read from `source`, how its calls count, and
    how to scan it."""
    options = ScanOptions(
        on_file=on_file,
        workers=scan["workers"],
        observe=observe,
        engine=engine,
        max_file_bytes=positive_size(scan["max_file_bytes"]),
        data_dir=scan["data_dir"],
        use_index=scan["use_index"],
    )
    regions = scan["regions"] or None
    job = Job.of(source, scan["start"], scan["end"], regions, DEFAULT_MARGIN, scan["trail_arn"])
    return job, AnalysisOptions(scan["denied"], scan["data_events"]), options


def run_scan(
    scan: dict[str, Any], *, service_level: bool = False, observe: ObserveLevel = "all"
) -> GenerationResult:
    """Generate from the shared scan options; input errors become exit code 2, AWS
    failures exit code 3. With `service_level` and logs in S3, IAM's service last
    accessed data feeds the service-level template."""
    show_progress, engine = read_settings(scan)
    if scan["principal"] is None:
        raise InputError("Missing option '--principal'")
    with user_errors():
        principal = Principal.parse(scan["principal"])
        source, access = open_logs(scan["logs"], scan["trail_arn"], scan["access_role"])
    with user_errors(), progress_bar(show_progress) as on_file:
        job, counting, options = plan(source, scan, engine, observe, on_file)
        result = job.generate(principal, counting, options)
        if service_level and access is not None:
            from policygen.policy import lastaccessed

            lastaccessed.apply(result.analysis, access, principal, result.start)
    return result


def run_all(scan: dict[str, Any], observe: ObserveLevel) -> list[GenerationResult]:
    """Generate for every principal from the shared scan options, in one scan."""
    show_progress, engine = read_settings(scan)
    with user_errors():
        source, _ = open_logs(scan["logs"], scan["trail_arn"], scan["access_role"])
    with user_errors(), progress_bar(show_progress) as on_file:
        job, counting, options = plan(source, scan, engine, observe, on_file)
        return job.generate_all(counting, options)


def choose_render_options(
    *,
    resources: str | None,
    resource_placeholders: bool,
    service_level_template: bool,
    pass_role: bool | None,
    dependent_actions: bool,
    aws_compatible: bool,
    max_arns: int,
) -> RenderOptions:
    """The rendering the `generate` flags ask for; contradictory flags are input errors.

    Without `--aws-compatible` this is policygen's own mode (inferred PassRole on).
    """
    if resource_placeholders and resources not in (None, "placeholders"):
        raise InputError(f"--resource-placeholders contradicts --resources {resources}")
    mode = resources or ("placeholders" if resource_placeholders else "star")
    if aws_compatible:
        extras = [
            flag
            for flag, on in (
                ("--resources observed", mode == "observed"),
                ("--pass-role", pass_role is True),
                ("--dependent-actions", dependent_actions),
            )
            if on
        ]
        if extras:
            raise InputError(f"--aws-compatible cannot be combined with {', '.join(extras)}")
        return RenderOptions(resources=mode, service_level=service_level_template)
    with user_errors():
        return RenderOptions.policygen(
            resources=mode,
            service_level=service_level_template,
            pass_role=pass_role is not False,
            dependent_actions=dependent_actions,
            max_arns=max_arns,
        )


@cli.command()
@scan_options
@click.option(
    "--all-principals",
    is_flag=True,
    help="Every IAM user and role in the logs, from one scan, one file each (needs --out).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --all-principals: the folder for the result files.",
)
@click.option(
    "--resources",
    type=click.Choice(["star", "placeholders", "observed"]),
    help="Resource: '*' (default), AWS's ARN placeholders, or the ARNs observed in the logs "
    "(placeholders where none could be derived).",
)
@click.option(
    "--resource-placeholders",
    is_flag=True,
    help="ARN placeholders: same as --resources placeholders.",
)
@click.option("--service-level-template", is_flag=True, help="Add service:* for unmapped services.")
@click.option(
    "--pass-role/--no-pass-role",
    default=None,
    help="Grant iam:PassRole on the roles the calls passed, per service (default: on).",
)
@click.option(
    "--dependent-actions", is_flag=True, help="Add the IAM catalogue's dependent actions."
)
@click.option(
    "--aws-compatible",
    is_flag=True,
    help="Exactly AWS's output: no PassRole, no Condition, no extension key.",
)
@click.option(
    "--max-arns",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ARNS,
    show_default=True,
    help="With --resources observed: ARNs listed per statement before one wildcard.",
)
def generate(
    all_principals: bool,
    out: Path | None,
    resources: str | None,
    resource_placeholders: bool,
    service_level_template: bool,
    pass_role: bool | None,
    dependent_actions: bool,
    aws_compatible: bool,
    max_arns: int,
    **scan: Any,
) -> None:
    """Generate a policy for one principal and print it as GetGeneratedPolicy's result;
    with --all-principals, one such file per principal into --out.

    Without --aws-compatible the result carries one extra key, "policygen": actions only
    ever denied, inferred PassRole, dependent actions, unmapped calls, skipped files, and
    per action the calls that caused it.
    """
    if all_principals == (scan["principal"] is not None):
        raise InputError("give either --principal or --all-principals")
    if all_principals and out is None:
        raise InputError("--all-principals needs --out DIR")
    if out is not None and not all_principals:
        raise InputError("--out goes with --all-principals")
    options = choose_render_options(
        resources=resources,
        resource_placeholders=resource_placeholders,
        service_level_template=service_level_template,
        pass_role=pass_role,
        dependent_actions=dependent_actions,
        aws_compatible=aws_compatible,
        max_arns=max_arns,
    )
    if out is not None:
        write_all(run_all(scan, observe_level(options)), out, options)
        return
    result = run_scan(scan, service_level=service_level_template, observe=observe_level(options))
    click.echo(json.dumps(result_document(result, options), indent=2))
    for line in summary_lines(result):
        click.echo(line, err=True)
    if service_level_template:
        click.echo(template_line(result), err=True)


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


@cli.command()
@with_options(trail_options(), read_options())
@click.option(
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
        found, _ = open_logs(logs, trail_arn, access_role)
    source = LocalFolder(Path(found)) if isinstance(found, str) else found
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


@cli.command()
@scan_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def explain(as_json: bool, **scan: Any) -> None:
    """For each action of the policy, the calls that caused it: count, first and last
    time, an example eventID, and the eventSource:eventName pairs."""
    result = run_scan(scan)
    analysis = result.analysis
    click.echo(explain_json(analysis) if as_json else explain_table(analysis))
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
    metavar="ARN=LOCATION",
    help="A trail and where its logs are: a local folder or s3://bucket/prefix; repeatable.",
)
@click.option(
    "--resolve-trails/--no-resolve-trails",
    default=None,
    help="Find trails not given with --trail as AWS does: AssumeRole(accessRole), GetTrail.",
)
@click.option(
    "--access-role-mode",
    type=click.Choice(["assume", "fallback", "ambient"]),
    help="Assume the request's accessRole (default), fall back to own credentials, or not.",
)
@click.option(
    "--service-last-accessed/--no-service-last-accessed",
    default=None,
    help="Ask IAM for service last accessed data for the service-level template (default on).",
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
    "--engine", type=click.Choice(["local", "spark"]), help="Where jobs scan (default local)."
)
@click.option("--spark-master", metavar="URL", help="As for generate.")
@click.option("--spark-partition-mb", type=float, help="As for generate.")
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
    from policygen.server.app import serve as run_server
    from policygen.server.settings import load_settings

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
