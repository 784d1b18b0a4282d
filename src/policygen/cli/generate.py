"""`policygen generate` and `policygen explain`: one principal's (or every principal's)
policy, and the calls behind each of its actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import cloup

from policygen.cli.errors import InputError, user_errors
from policygen.cli.options import CALLS, LOGS, SCANNING, open_logs, read_settings
from policygen.cli.output import (
    progress_bar,
    result_document,
    summary_lines,
    template_line,
    write_all,
)
from policygen.iam.analysis import AnalysisOptions
from policygen.iam.resources import DEFAULT_MAX_ARNS
from policygen.pipeline import GenerationResult, Job, ScanOptions
from policygen.policy.explain import explain_json, explain_table
from policygen.policy.render import RenderOptions
from policygen.scan.pool import Engine
from policygen.scan.query import ObserveLevel, ProgressCallback
from policygen.sources.base import DEFAULT_MARGIN, TrailSource


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
        max_file_bytes=scan["max_file_bytes"],
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
    principal = scan["principal"]
    with user_errors():
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


@cloup.command()
@LOGS
@CALLS
@SCANNING
@cloup.option_group(
    "Output",
    cloup.option(
        "--all-principals",
        is_flag=True,
        help="Every IAM user and role in the logs, from one scan, one file each (needs --out).",
    ),
    cloup.option(
        "--out",
        type=click.Path(path_type=Path, file_okay=False),
        help="With --all-principals: the folder for the result files.",
    ),
)
@cloup.option_group(
    "What the policy grants",
    cloup.option(
        "--resources",
        type=click.Choice(["star", "placeholders", "observed"]),
        help="Resource: '*' (default), AWS's ARN placeholders, or the ARNs observed in the logs "
        "(placeholders where none could be derived).",
    ),
    cloup.option(
        "--resource-placeholders",
        is_flag=True,
        help="ARN placeholders: same as --resources placeholders.",
    ),
    cloup.option(
        "--service-level-template", is_flag=True, help="Add service:* for unmapped services."
    ),
    cloup.option(
        "--pass-role/--no-pass-role",
        default=None,
        help="Grant iam:PassRole on the roles the calls passed, per service (default: on).",
    ),
    cloup.option(
        "--dependent-actions", is_flag=True, help="Add the IAM catalogue's dependent actions."
    ),
    cloup.option(
        "--aws-compatible",
        is_flag=True,
        help="Exactly AWS's output: no PassRole, no Condition, no extension key.",
    ),
    cloup.option(
        "--max-arns",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_ARNS,
        show_default=True,
        help="With --resources observed: ARNs listed per statement before one wildcard.",
    ),
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


@cloup.command()
@LOGS
@CALLS
@SCANNING
@cloup.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def explain(as_json: bool, **scan: Any) -> None:
    """For each action of the policy, the calls that caused it: count, first and last
    time, an example eventID, and the eventSource:eventName pairs."""
    result = run_scan(scan)
    analysis = result.analysis
    click.echo(explain_json(analysis) if as_json else explain_table(analysis))
    for line in summary_lines(result):
        click.echo(line, err=True)
