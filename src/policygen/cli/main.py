"""The `policygen` group and the console-script entry point."""

from __future__ import annotations

import sys

import click
import cloup

from policygen.cli.generate import explain, generate
from policygen.cli.index import index
from policygen.cli.serve import serve
from policygen.cli.synth import synth


@cloup.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policygen")
def cli() -> None:
    """Least-privilege IAM policies from CloudTrail logs (IAM Access Analyzer compatible)."""


for command in (generate, explain, index, serve, synth):
    cli.add_command(command)


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
