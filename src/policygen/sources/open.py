"""One way to turn "where the logs are" into a `TrailSource`: the CLI's `--logs` and
`--trail-arn`, the library's `logs` argument and the server's configured trails all come
through `open_location`, so a location means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policygen.core.arns import TrailArn
from policygen.core.aws import AwsAccess
from policygen.sources.base import TrailSource
from policygen.sources.gettrail import resolve_trail
from policygen.sources.local import LocalFolder
from policygen.sources.s3 import S3Trail, is_s3_url

Location = str | Path | TrailSource


@dataclass(frozen=True, slots=True)
class Opened:
    """A source, and the AWS credentials it reads with (None: a local folder)."""

    source: TrailSource
    access: AwsAccess | None = None


def open_location(
    location: Location | None, *, trail_arn: str | None = None, access: AwsAccess | None = None
) -> Opened:
    """The source at `location`: `s3://bucket/prefix` (read with `access`, else the ambient
    credentials in the trail's region), a local folder or file, or a source as it is; with
    no location, the trail `trail_arn` found with GetTrail through `access`.

    ValueError for what cannot be a location (Hadoop's `s3a://` and `s3n://`, which would
    otherwise be taken for a missing folder; neither a location nor a trail).
    """
    if isinstance(location, str) and location.startswith(("s3a://", "s3n://")):
        scheme = location.split(":", 1)[0]
        raise ValueError(f"{scheme}:// is Hadoop's: give s3://bucket/prefix (read with boto3)")
    if location is None or (isinstance(location, str) and is_s3_url(location)):
        region = TrailArn.parse(trail_arn).region if trail_arn else None
        access = access or AwsAccess(None, region)
        if location is not None:
            return Opened(S3Trail.from_url(location, access, label=trail_arn or ""), access)
        if trail_arn is None:
            raise ValueError("give --logs (a folder or s3://bucket/prefix), or --trail-arn")
        return Opened(resolve_trail(trail_arn, access), access)
    if isinstance(location, str | Path):
        return Opened(LocalFolder(Path(location)))
    return Opened(location)
