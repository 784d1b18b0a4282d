"""A job's trails in AWS: fixed `s3://` locations, or found with GetTrail through the access role.

A server maps a trail ARN to `s3://bucket/prefix` (read with the server's own credentials),
or, with `resolve_trails`, finds unmapped trails as AWS does: AssumeRole(`accessRole`),
then GetTrail. The credentials that read the trails (`RemoteTrails.access`) also serve
to ask IAM for service last accessed data, for the service-level template.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policygen.core.arns import TrailArn
from policygen.core.aws import AwsAccess, resolve_access
from policygen.sources.base import TrailSource
from policygen.sources.open import open_location
from policygen.sources.s3 import is_s3_url


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """How a server reaches AWS for jobs (picklable: it travels to the workers).

    `resolve_trails`: look up trails that are not configured with GetTrail.
    `access_role_mode`: `assume` the request's role (failing the job if that is refused),
    `fallback` to the server's credentials when it is refused, or use `ambient` ones only.
    `service_last_accessed`: ask IAM for the service-level template's services.
    """

    resolve_trails: bool = False
    access_role_mode: str = "assume"
    service_last_accessed: bool = True


@dataclass(slots=True)
class RemoteTrails:
    """Opens one job's trails that live in S3, and remembers the credentials it used."""

    access_role: str | None
    settings: AwsSettings = field(default_factory=AwsSettings)
    #: the credentials trails were read with (the role's when it was assumed).
    access: AwsAccess | None = None
    _role: AwsAccess | None = field(default=None, repr=False)

    def handles(self, location: str | None) -> bool:
        """Whether this trail is read from S3 (an `s3://` location, or none and GetTrail)."""
        if location is None:
            return self.settings.resolve_trails
        return is_s3_url(location)

    def open(self, trail_arn: str, location: str | None) -> TrailSource:
        """The trail's source; raises `JobFailure` naming what could not be reached."""
        region = TrailArn.parse(trail_arn).region
        if location is not None:
            opened = open_location(location, trail_arn=trail_arn)
            self.access = self.access or opened.access
            return opened.source
        if self._role is None:  # once per job: every GetTrail trail is read with the role
            self._role = resolve_access(self.access_role, region, self.settings.access_role_mode)
        self.access = self._role
        return open_location(None, trail_arn=trail_arn, access=self._role).source
