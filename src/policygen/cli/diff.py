"""`policygen diff`: what a principal holds against what it used, and the trimmed
policies, as tables, JSON or ready-to-apply files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import cloup

from policygen.cli.errors import InputError, user_errors
from policygen.cli.generate import run_scan
from policygen.cli.options import CALLS, LOGS, SCANNING
from policygen.cli.output import summary_lines
from policygen.core.aws import AwsAccess, check_credentials
from policygen.iam.current import current_permissions
from policygen.policy import formats
from policygen.policy.rightsize import RightSizing, right_size
from policygen.rightsizing import Diff
from policygen.sources.s3 import is_s3_url


def _iam_access(scan: dict[str, Any]) -> AwsAccess:
    """The credentials IAM is read with: `--access-role` (also S3's), else the ambient."""
    access = AwsAccess(scan["access_role"])
    if scan["access_role"]:
        with user_errors():
            check_credentials(access)
    logs = scan["logs"]
    if logs is not None and not is_s3_url(logs):
        scan["access_role"] = None  # the logs are local: the role is IAM's only
    return access


@cloup.command()
@LOGS
@CALLS
@SCANNING
@cloup.option_group(
    "What the principal holds, and the output",
    cloup.option(
        "--authorization-details",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Read the principal's policies from this file (aws iam "
        "get-account-authorization-details > FILE) instead of from IAM.",
    ),
    cloup.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON."),
    cloup.option(
        "--format",
        "form",
        type=click.Choice(["policy", "terraform", "cloudformation"]),
        help="Print the trimmed policies, ready to apply, instead of the comparison.",
    ),
)
def diff(authorization_details: Path | None, as_json: bool, form: str | None, **scan: Any) -> None:
    """Compare what a principal holds (its identity policies, from IAM or a file) with
    what it used in the window, and trim each policy to what was used."""
    if scan["principal"] is None:
        raise InputError("Missing option '--principal'")
    if as_json and form:
        raise InputError("--json and --format are alternatives")
    access = None if authorization_details else _iam_access(scan)
    principal = scan["principal"]
    with user_errors():
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
