"""`policygen serve`: the Access Analyzer API (and its settings as flags)."""

from __future__ import annotations

from pathlib import Path

import click
import cloup

from policygen.cli.errors import user_errors


@cloup.command()
@cloup.option("--host", help="Address to listen on (default 127.0.0.1: this machine only).")
@cloup.option("--port", type=int, help="Port to listen on (default 8080; 0 picks a free one).")
@cloup.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the job database lives (env POLICYGEN_HOME; default ~/.policygen).",
)
@cloup.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML settings file (env POLICYGEN_CONFIG).",
)
@cloup.option(
    "--trail",
    "trails",
    multiple=True,
    metavar="ARN=LOCATION",
    help="A trail and where its logs are: a local folder or s3://bucket/prefix; repeatable.",
)
@cloup.option(
    "--resolve-trails/--no-resolve-trails",
    default=None,
    help="Find trails not given with --trail as AWS does: AssumeRole(accessRole), GetTrail.",
)
@cloup.option(
    "--access-role-mode",
    type=click.Choice(["assume", "fallback", "ambient"]),
    help="Assume the request's accessRole (default), fall back to own credentials, or not.",
)
@cloup.option(
    "--service-last-accessed/--no-service-last-accessed",
    default=None,
    help="Ask IAM for service last accessed data for the service-level template (default on).",
)
@cloup.option(
    "--default-trail", metavar="ARN", help="Trail for requests without cloudTrailDetails."
)
@cloup.option("--workers", type=int, help="Worker processes running jobs (default 2).")
@cloup.option("--max-concurrent-jobs", type=int, help="Jobs in progress per account (0: no limit).")
@cloup.option(
    "--max-jobs-per-day", type=int, help="Jobs started per account per 24 h (0: no limit)."
)
@cloup.option("--retention-days", type=float, help="Forget jobs after this many days (0: never).")
@cloup.option("--max-window-days", type=float, help="Longest time range of a job (default 90).")
@cloup.option("--rate-limit", type=float, help="Requests per second per caller (0: no limit).")
@cloup.option(
    "--allow-account",
    "allowed_accounts",
    multiple=True,
    help="Only generate for principals of this account; repeatable (default: any account).",
)
@cloup.option("--denied", type=click.Choice(["include", "exclude"]), help="As for generate.")
@cloup.option("--data-events/--no-data-events", default=None, help="As for generate.")
@cloup.option("--db-timeout", type=float, help="Seconds to wait for a locked database (default 5).")
@cloup.option(
    "--engine", type=click.Choice(["local", "spark"]), help="Where jobs scan (default local)."
)
@cloup.option("--spark-master", metavar="URL", help="As for generate.")
@cloup.option("--spark-partition-mb", type=float, help="As for generate.")
@cloup.option(
    "--max-file-bytes", help="Skip log files larger than this, stored or decompressed (512MiB)."
)
@cloup.option(
    "--credentials-file",
    type=click.Path(path_type=Path),
    help="TOML file of the access keys callers sign with (env POLICYGEN_CREDENTIALS_FILE).",
)
@cloup.option(
    "--no-auth",
    is_flag=True,
    default=None,
    help="Accept unsigned requests; only on a loopback address.",
)
@cloup.option("--clock-skew", type=float, help="Seconds a signature's time may be off (900).")
@cloup.option(
    "--shutdown-grace", type=float, help="Seconds SIGTERM waits for running jobs (default 30)."
)
def serve(config_file: Path | None, trails: tuple[str, ...], **flags: object) -> None:
    """Serve the IAM Access Analyzer policy generation API (for boto3 and the AWS CLI).

    Requests must be signed (SigV4) with a key from --credentials-file, unless --no-auth.
    The review console is at /console/ (sign in with such a key).
    """
    from policygen.server.app import serve as run_server
    from policygen.server.settings import load_settings

    if not flags["allowed_accounts"]:
        flags["allowed_accounts"] = None
    flags["auth"] = False if flags.pop("no_auth") else None
    with user_errors():
        settings = load_settings(flags, trails, config_file=config_file)
        run_server(settings)
