"""The service-level template from IAM service last accessed data, as AWS builds it.

`iam:GenerateServiceLastAccessedDetails` starts a report on the principal;
`GetServiceLastAccessedDetails` is polled until it is ready. Services last used at or
after the window's start, for which CloudTrail gave no action-level output, join the
template. When the report cannot be had (not allowed, not supported by the endpoint,
not ready in time), the template comes from CloudTrail alone, and the analysis says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from policygen.core import aws
from policygen.core.arns import Principal
from policygen.core.aws import AwsAccess
from policygen.core.failures import RESOURCE_NOT_FOUND_ERROR, JobFailure
from policygen.iam.analysis import CLOUDTRAIL_SOURCE, LAST_ACCESSED_SOURCE, Analysis

log = logging.getLogger("policygen.policy.lastaccessed")

#: How long to wait for IAM to prepare the report.
DEFAULT_TIMEOUT = 120.0
FIRST_POLL, MAX_POLL = 0.5, 5.0


class NotReady(Exception):
    """IAM did not finish the report in time, or failed it."""


def services_accessed(
    iam: Any,
    principal_arn: str,
    since: datetime,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """The service namespaces `principal_arn` authenticated to at or after `since`.

    Polls with a growing delay (the report is asynchronous); pages through the result.
    """
    job_id = iam.generate_service_last_accessed_details(
        Arn=principal_arn, Granularity="SERVICE_LEVEL"
    )["JobId"]
    deadline, delay = time.monotonic() + timeout, FIRST_POLL
    namespaces: set[str] = set()
    marker: str | None = None
    while True:
        page = iam.get_service_last_accessed_details(
            JobId=job_id, **({"Marker": marker} if marker else {})
        )
        status = page["JobStatus"]
        if status == "IN_PROGRESS":
            if time.monotonic() + delay > deadline:
                raise NotReady(f"report {job_id} not ready after {timeout:.0f} s")
            sleep(delay)
            delay = min(delay * 2, MAX_POLL)
            continue
        if status != "COMPLETED":
            raise NotReady(page.get("Error", {}).get("Message") or f"report {job_id} {status}")
        namespaces.update(
            service["ServiceNamespace"]
            for service in page.get("ServicesLastAccessed", ())
            if service.get("LastAuthenticated") and service["LastAuthenticated"] >= since
        )
        if not page.get("IsTruncated"):
            return sorted(namespaces)
        marker = page["Marker"]


def apply(
    analysis: Analysis,
    access: AwsAccess,
    principal: Principal,
    since: datetime,
    **options: Any,
) -> None:
    """Record in `analysis` the services from last accessed data, or why CloudTrail's are used.

    A principal IAM does not know fails the job (`RESOURCE_NOT_FOUND_ERROR`).
    """
    what = f"iam:GenerateServiceLastAccessedDetails {principal.arn}"
    try:
        iam = aws.client(access, "iam")
        prefixes = services_accessed(iam, principal.arn, since, **options)
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            raise JobFailure(
                RESOURCE_NOT_FOUND_ERROR, f"{what}: principal not found in IAM"
            ) from exc
        return _fall_back(analysis, f"{what}: {aws.describe_error(exc)}")
    except (*aws.aws_errors(), NotReady) as exc:
        return _fall_back(analysis, f"{what}: {aws.describe_error(exc)}")
    analysis.service_level_source = LAST_ACCESSED_SOURCE
    analysis.last_accessed_prefixes = prefixes
    analysis.service_level_note = ""


def _fall_back(analysis: Analysis, reason: str) -> None:
    log.warning("service last accessed unavailable, using CloudTrail: %s", reason)
    analysis.service_level_source = CLOUDTRAIL_SOURCE
    analysis.service_level_note = f"service last accessed unavailable: {reason}"
