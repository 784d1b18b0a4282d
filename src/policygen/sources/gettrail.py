"""Where a trail writes, as AWS finds out: `cloudtrail:GetTrail` with the access role.

GetTrail (in the trail's region, from its ARN) gives the bucket, the key prefix, the home
region, the KMS key and whether it is an organization trail. It does not give the
organization id that organization trails put in their path (`AWSLogs/<org-id>/<account>/`):
`organizations:DescribeOrganization` is asked with the same credentials, and when that
is not allowed the id is found by listing `AWSLogs/` with a delimiter (`S3Trail` does
that itself when `org_id` is None).
"""

from __future__ import annotations

from typing import Any

from policygen.core import aws
from policygen.core.arns import TrailArn
from policygen.core.aws import AwsAccess
from policygen.core.failures import RESOURCE_NOT_FOUND_ERROR, JobFailure
from policygen.sources.s3 import S3Trail


def get_trail(trail_arn: str, access: AwsAccess) -> dict[str, Any]:
    """GetTrail's `Trail`, asked in the trail's own region."""
    region = TrailArn.parse(trail_arn).region
    cloudtrail = aws.client(access, "cloudtrail", region)
    answer = aws.call(f"cloudtrail:GetTrail {trail_arn}", cloudtrail.get_trail, Name=trail_arn)
    return answer["Trail"]


def organization_id(access: AwsAccess) -> str | None:
    """The organization the credentials' account belongs to, or None if it cannot be asked."""
    try:
        answer = aws.client(access, "organizations").describe_organization()
    except aws.aws_errors():
        return None
    return answer.get("Organization", {}).get("Id")


def resolve_trail(trail_arn: str, access: AwsAccess, **options: Any) -> S3Trail:
    """The S3 source of a trail, found with GetTrail; `options` go to `S3Trail`."""
    trail = get_trail(trail_arn, access)
    bucket = trail.get("S3BucketName")
    if not bucket:
        raise JobFailure(RESOURCE_NOT_FOUND_ERROR, f"trail {trail_arn} delivers to no S3 bucket")
    organization = bool(trail.get("IsOrganizationTrail", False))
    return S3Trail(
        bucket,
        (trail.get("S3KeyPrefix") or "").strip("/"),
        access,
        region=trail.get("HomeRegion") or TrailArn.parse(trail_arn).region,
        organization=organization,
        org_id=organization_id(access) if organization else None,
        label=trail_arn,
        kms_key=trail.get("KmsKeyId"),
        **options,
    )
