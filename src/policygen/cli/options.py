"""The option groups commands share, and the types their values are parsed with.

Groups are cloup's (click with option groups in `--help`); a value that cannot be parsed
is click's usage error: one line, exit code 2.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import cloup

from policygen.cli.errors import InputError
from policygen.core.arns import Principal, TrailArn
from policygen.core.aws import AwsAccess, check_credentials
from policygen.core.units import parse_size
from policygen.scan.pool import Engine
from policygen.scan.spark import DEFAULT_PARTITION_BYTES, SparkUnavailable, engine_named
from policygen.sources.base import TrailSource
from policygen.sources.lookup import EventHistory, is_lookup_url, principal_username
from policygen.sources.open import open_location
from policygen.sources.s3 import is_s3_url


class Size(click.ParamType):
    """A size as people write it (`512MiB`, `20MB`), in bytes; `positive` refuses 0."""

    name = "size"

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            size = parse_size(value)  # an int (already converted) is returned as it is
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if self.positive and size < 1:
            self.fail(f"not a positive size: {value!r}", param, ctx)
        return size


class PrincipalArn(click.ParamType):
    """An IAM user or role ARN, parsed into a `Principal`."""

    name = "arn"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Principal:
        if isinstance(value, Principal):
            return value
        try:
            return Principal.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


LOGS = cloup.option_group(
    "Where the logs are",
    cloup.option(
        "--logs",
        help="Folder of CloudTrail logs (the S3 layout, searched recursively; exports in "
        "any shape: docs/logs.md), one file, s3://bucket/prefix, or "
        "cloudtrail-lookup://REGION[,REGION...] for CloudTrail's event history (both read "
        "with the ambient AWS credentials). Without it, --trail-arn is looked up with "
        "GetTrail.",
    ),
    cloup.option(
        "--trail-arn",
        help="Trail ARN, echoed in cloudTrailProperties; without --logs, where the logs "
        "are is asked of CloudTrail (GetTrail).",
    ),
    cloup.option(
        "--access-role",
        metavar="ARN",
        help="Role to assume (with the ambient credentials) for reading logs in S3 or the "
        "event history.",
    ),
)

CALLS = cloup.option_group(
    "Which calls count",
    cloup.option("--principal", type=PrincipalArn(), help="IAM user or role ARN to generate for."),
    cloup.option("--start", help="ISO 8601 start of the window (default: 90 days before --end)."),
    cloup.option("--end", help="ISO 8601 end of the window (default: now)."),
    cloup.option("--region", "regions", multiple=True, help="Region to read; repeatable."),
    cloup.option(
        "--denied",
        type=click.Choice(["include", "exclude"]),
        default="include",
        show_default=True,
        help="Whether calls refused by IAM count (AWS includes them).",
    ),
    cloup.option(
        "--data-events/--no-data-events",
        default=True,
        show_default=True,
        help="Count data events (S3 objects, Lambda Invoke); AWS reads management events only.",
    ),
)

_READING = (
    cloup.option(
        "--engine",
        type=click.Choice(["local", "spark"]),
        default="local",
        show_default=True,
        help="Scan in processes on this machine, or on Apache Spark (needs policygen[spark]).",
    ),
    cloup.option(
        "--spark-master",
        metavar="URL",
        help="With --engine spark: the master (spark://host:7077, yarn, local[4]; "
        "default: spark-submit's, else local[*]).",
    ),
    cloup.option(
        "--spark-partition-mb",
        type=click.FloatRange(min=0, min_open=True),
        help=f"With --engine spark: stored MB of logs per Spark task (default "
        f"{DEFAULT_PARTITION_BYTES // 2**20}).",
    ),
    cloup.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Processes to scan with (default: POLICYGEN_WORKERS, else the CPU count).",
    ),
    cloup.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where the usage index is (env POLICYGEN_HOME; default ~/.policygen).",
    ),
    cloup.option("--progress/--no-progress", default=None, help="Progress bar on stderr."),
)

#: How every command that reads logs reads them.
READING = cloup.option_group("How the logs are read", *_READING)

#: The same, with what only a generation chooses (the index, the file size cap).
SCANNING = cloup.option_group(
    "How the logs are read",
    *_READING,
    cloup.option(
        "--no-index",
        "use_index",
        is_flag=True,
        flag_value=False,
        default=True,
        help="Scan the logs even when the usage index covers the window.",
    ),
    cloup.option(
        "--max-file-bytes",
        type=Size(positive=True),
        default="512MiB",
        show_default=True,
        help="Skip (and report) log files larger than this, stored or decompressed.",
    ),
    cloup.option(
        "--record-key",
        metavar="KEY",
        help="In exports that wrap each record (NDJSON, JSON, CSV), the key it is under, "
        "dotted for nested keys (_source, detail, message, result._raw); found when not given.",
    ),
)


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


def open_logs(
    logs: str | None,
    trail_arn: str | None,
    access_role: str | None,
    principal: Principal | None = None,
) -> tuple[TrailSource, AwsAccess | None]:
    """Where a command reads, and the AWS credentials it reads with (None: a local folder).

    `--logs s3://...` and `--logs cloudtrail-lookup://...` are read with the ambient
    credentials (or `--access-role`); the event history is asked for `principal`'s events
    only when it is a user. With no `--logs`, the trail is found with GetTrail, as the
    server does.
    """
    remote = logs is None or is_s3_url(logs) or is_lookup_url(logs)
    if not remote and access_role:
        raise InputError(
            "--access-role is for logs in AWS (--logs s3://..., cloudtrail-lookup://... "
            "or --trail-arn)"
        )
    access = None
    if access_role:
        access = AwsAccess(access_role, TrailArn.parse(trail_arn).region if trail_arn else None)
        check_credentials(access)
    opened = open_location(logs, trail_arn=trail_arn, access=access)
    source = opened.source
    if isinstance(source, EventHistory) and principal is not None:
        source = replace(source, username=principal_username(principal.arn))
    return source, opened.access


#: `generate`'s output formats (`policygen.policy.formats`).
FORMAT = cloup.option(
    "--format",
    "form",
    type=click.Choice(["api", "policy", "terraform", "cloudformation"]),
    help="api: GetGeneratedPolicy's result (the default when stdout is not a terminal); "
    "policy: the document(s); terraform; cloudformation (YAML). On a terminal the default "
    "is the policy, pretty, and a summary.",
)
