"""`policygen diff`, `generate --format` and `generate --permission-set`.

Kept apart from `policygen.cli` while the CLI becomes a package (it moves to
`policygen/cli/diff.py`); `policygen.cli` imports it to register the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from policygen import formats
from policygen.arns import Principal
from policygen.aws import AwsAccess, check_credentials
from policygen.cli import (
    InputError,
    cli,
    open_logs,
    plan,
    progress_bar,
    read_settings,
    result_document,
    run_scan,
    scan_options,
    summary_lines,
    user_errors,
)
from policygen.engine import GenerationResult
from policygen.iam.current import current_permissions
from policygen.policy import RenderOptions
from policygen.rightsize import RightSizing, right_size
from policygen.rightsizing import Diff, PermissionSetResult, permission_set_results


def _documents(policies: list[str]) -> list[dict[str, Any]]:
    return [json.loads(text) for text in policies]


def generated_targets(result: GenerationResult, options: RenderOptions) -> list[formats.Target]:
    """The generated policies as managed policies attached to their principal."""
    principal = result.principal
    documents = _documents(result.policies(options))
    base = f"{principal.name}-policygen"
    return [
        formats.Target(
            base if len(documents) == 1 else f"{base}-{n}",
            "managed",
            document,
            principal.name,
            principal.kind,
        )
        for n, document in enumerate(documents, start=1)
    ]


def emit_generated(result: GenerationResult, options: RenderOptions, form: str | None) -> None:
    """Print one principal's generation in the asked format (see `FORMAT_OPTION`)."""
    if form is None and sys.stdout.isatty():
        show_pretty(_documents(result.policies(options)), summary_lines(result))
        return
    if form in (None, "api"):
        click.echo(json.dumps(result_document(result, options), indent=2))
    else:
        description = f"policygen: least-privilege policy for {result.principal.arn}"
        click.echo(formats.render(generated_targets(result, options), form, description), nl=False)
    for line in summary_lines(result):
        click.echo(line, err=True)


def show_pretty(documents: list[dict[str, Any]], lines: list[str]) -> None:
    """The policy documents highlighted, and the summary under them (a terminal's view)."""
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console()
    for n, document in enumerate(documents, start=1):
        if len(documents) > 1:
            console.rule(f"policy {n} of {len(documents)}")
        text = json.dumps(document, indent=2, ensure_ascii=False)
        console.print(Syntax(text, "json", theme="ansi_dark", background_color="default"))
    for line in lines:
        console.print(line, style="dim", highlight=False, markup=False)


# --- permission sets --------------------------------------------------------------------


def run_permission_sets(
    scan: dict[str, Any], observe: Any, name: str | None
) -> list[PermissionSetResult]:
    """The permission sets' results from one scan of every account in the logs."""
    show_progress, engine = read_settings(scan)
    with user_errors():
        source, _ = open_logs(scan["logs"], scan["trail_arn"], scan["access_role"])
    with user_errors(), progress_bar(show_progress) as on_file:
        job, counting, options = plan(source, scan, engine, observe, on_file)
        return permission_set_results(job, counting, options, name)


def permission_set_targets(
    found: PermissionSetResult, options: RenderOptions
) -> list[formats.Target]:
    documents = _documents(found.policies(options))
    return [formats.Target(found.name, "permission-set", d) for d in documents]


def emit_permission_set(found: PermissionSetResult, options: RenderOptions, form: str | None):
    """Print a permission set's policy in the asked format, per-account use on stderr."""
    if form is None and sys.stdout.isatty():
        show_pretty(_documents(found.policies(options)), permission_set_lines(found))
        return
    if form in (None, "api"):
        click.echo(json.dumps(found.to_dict(options), indent=2))
    else:
        description = f"policygen: inline policy of permission set {found.name}"
        targets = permission_set_targets(found, options)
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


# --- diff -------------------------------------------------------------------------------


def _iam_access(scan: dict[str, Any]) -> AwsAccess:
    """The credentials IAM is read with: `--access-role` (also S3's), else the ambient."""
    access = AwsAccess(scan["access_role"])
    if scan["access_role"]:
        with user_errors():
            check_credentials(access)
    logs = scan["logs"]
    if logs is not None and not logs.startswith("s3://"):
        scan["access_role"] = None  # the logs are local: the role is IAM's only
    return access


@cli.command()
@scan_options
@click.option(
    "--authorization-details",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the principal's policies from this file (aws iam "
    "get-account-authorization-details > FILE) instead of from IAM.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--format",
    "form",
    type=click.Choice(["policy", "terraform", "cloudformation"]),
    help="Print the trimmed policies, ready to apply, instead of the comparison.",
)
def diff(authorization_details: Path | None, as_json: bool, form: str | None, **scan: Any) -> None:
    """Compare what a principal holds (its identity policies, from IAM or a file) with
    what it used in the window, and trim each policy to what was used."""
    if scan["principal"] is None:
        raise InputError("Missing option '--principal'")
    if as_json and form:
        raise InputError("--json and --format are alternatives")
    access = None if authorization_details else _iam_access(scan)
    with user_errors():
        principal = Principal.parse(scan["principal"])
        current = current_permissions(principal, details_file=authorization_details, access=access)
    result = run_scan(scan)
    found = Diff(result, right_size(current, result.analysis))
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2))
    elif form:
        description = f"policygen: trimmed policies of {principal.arn}"
        click.echo(formats.render(trimmed_targets(found.sizing), form, description), nl=False)
    else:
        show_diff(found)
    for line in summary_lines(result):
        click.echo(line, err=True)


def trimmed_targets(sizing: RightSizing) -> list[formats.Target]:
    """The trimmed documents, each as what it replaces: an inline policy of its owner
    (the principal, or a group), or a managed policy (an AWS managed one gets a new
    name: it cannot be edited)."""
    principal = sizing.current.principal
    targets = []
    for trim in sizing.trims:
        held = trim.policy
        if trim.action in ("keep", "detach"):
            continue
        for n, document in enumerate(trim.trimmed, start=1):
            name = held.name if len(trim.trimmed) == 1 else f"{held.name}-{n}"
            if held.kind == "inline":
                kind = "group" if held.group else principal.kind
                owner = held.group or principal.name
                targets.append(formats.Target(name, kind, document, owner))  # type: ignore[arg-type]
                continue
            if held.kind == "aws-managed":
                name = f"{name}-trimmed"
            targets.append(formats.Target(name, "managed", document))
    return targets


def show_diff(found: Diff) -> None:
    """The comparison as tables: per service, per policy, and what to look at."""
    from rich.console import Console
    from rich.table import Table

    data = found.sizing.to_dict()
    counts = data["counts"]
    console = Console()
    console.print(f"[bold]{data['principalArn']}[/bold]  (policies from {data['source']})")
    services = Table("service", "granted", "used", "unused", "used actions", title="Services used")
    for prefix, entry in data["services"].items():
        used = entry["used"]
        services.add_row(
            prefix,
            str(entry["granted"]),
            str(len(used)),
            str(len(entry["unused"])),
            ", ".join(a.partition(":")[2] for a in used),
        )
    console.print(services)
    never = data["servicesGrantedNeverUsed"]
    if never:
        listed = ", ".join(f"{p} ({n})" for p, n in never.items())
        console.print(f"granted, never used ({len(never)} services): {listed}", highlight=False)
    if data["usedNotGranted"]:
        console.print(
            "used, granted by no identity policy (a resource policy allowed it, or it was "
            f"refused): {', '.join(data['usedNotGranted'])}",
            highlight=False,
        )
    policies = Table("policy", "kind", "grants", "used", "action", title="Policies")
    for entry in data["policies"]:
        name = f"{entry['name']} (group {entry['group']})" if "group" in entry else entry["name"]
        policies.add_row(
            name, entry["kind"], str(entry["grants"]), str(len(entry["used"])), entry["action"]
        )
    console.print(policies)
    for action, caveats in data["restrictedGrants"].items():
        console.print(
            f"{action} is granted only on some resources or under conditions (kept as they "
            f"are): {json.dumps(caveats)}",
            markup=False,
        )
    for note in data["notes"]:
        console.print(f"note: {note}", markup=False)
    console.print(
        f"granted actions: {counts['grantedBefore']} -> {counts['grantedAfter']} "
        f"(used: {counts['used']}); --format policy|terraform|cloudformation prints the "
        "trimmed policies, --json everything",
        highlight=False,
    )
