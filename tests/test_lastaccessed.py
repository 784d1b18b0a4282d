"""The service-level template from IAM service last accessed data.

moto does not implement `GenerateServiceLastAccessedDetails` (it answers HTTP 500), so
the AWS API shape is exercised here with botocore's Stubber; the fallback is also tested
against moto (test_s3.py, test_s3_server.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.parsers import RestJSONParser
from botocore.stub import Stubber

from policygen.core import aws
from policygen.core.arns import Principal
from policygen.core.aws import AwsAccess
from policygen.core.failures import RESOURCE_NOT_FOUND_ERROR, JobFailure
from policygen.iam.analysis import ActionUse, Analysis, UnmappedCall
from policygen.pipeline import GenerationResult
from policygen.policy import explain as report
from policygen.policy import lastaccessed
from policygen.policy.render import RenderOptions
from policygen.server import protocol
from policygen.server.protocol import TEMPLATE_SOURCE_HEADER

from logfactory import ROLE_ARN

START = datetime(2026, 1, 5, tzinfo=UTC)
JOB = "b1b2c3d4-0000-4000-8000-000000000001"


def service(namespace: str, when: datetime | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"ServiceName": namespace.upper(), "ServiceNamespace": namespace}
    if when is not None:
        entry["LastAuthenticated"] = when
    return entry


def sla_report(
    status: str, services: tuple[dict[str, Any], ...] = (), **more: Any
) -> dict[str, Any]:
    """A GetServiceLastAccessedDetails answer (the model requires the completion date)."""
    return {
        "JobStatus": status,
        "JobCreationDate": START,
        "JobCompletionDate": START,
        "ServicesLastAccessed": list(services),
        **more,
    }


@pytest.fixture
def iam() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_generate(stubber: Stubber) -> None:
    stubber.add_response(
        "generate_service_last_accessed_details",
        {"JobId": JOB},
        {"Arn": ROLE_ARN, "Granularity": "SERVICE_LEVEL"},
    )


def test_polls_until_ready_and_pages_through(iam: tuple[Any, Stubber]) -> None:
    client, stubber = iam
    expect_generate(stubber)
    stubber.add_response(
        "get_service_last_accessed_details", sla_report("IN_PROGRESS"), {"JobId": JOB}
    )
    first = (service("sns", datetime(2026, 1, 6, tzinfo=UTC)), service("ec2", None))
    stubber.add_response(
        "get_service_last_accessed_details",
        sla_report("COMPLETED", first, IsTruncated=True, Marker="m1"),
        {"JobId": JOB},
    )
    second = (service("sqs", datetime(2025, 12, 1, tzinfo=UTC)), service("kms", START))
    stubber.add_response(
        "get_service_last_accessed_details",
        sla_report("COMPLETED", second, IsTruncated=False),
        {"JobId": JOB, "Marker": "m1"},
    )
    waits: list[float] = []
    found = lastaccessed.services_accessed(client, ROLE_ARN, START, sleep=waits.append)
    assert found == ["kms", "sns"]  # sqs was last used before the window, ec2 never
    assert waits == [lastaccessed.FIRST_POLL]


def test_a_report_that_never_finishes_is_not_ready(iam: tuple[Any, Stubber]) -> None:
    client, stubber = iam
    expect_generate(stubber)
    for _ in range(3):
        stubber.add_response(
            "get_service_last_accessed_details", sla_report("IN_PROGRESS"), {"JobId": JOB}
        )
    with pytest.raises(lastaccessed.NotReady, match="not ready"):
        lastaccessed.services_accessed(client, ROLE_ARN, START, timeout=2.0, sleep=lambda _: None)


@pytest.fixture
def stubbed(iam: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """`aws.client(..., "iam")` returns the stubbed client."""
    client, stubber = iam
    monkeypatch.setattr(aws, "client", lambda *args, **kwargs: client)
    return stubber


def analysis_with_unmapped() -> Analysis:
    """ec2 with action-level output, and an sns call that could not be mapped."""
    result = Analysis(ROLE_ARN)
    result.actions = {"ec2:DescribeVpcs": ActionUse(count=1)}
    result.unmapped = [UnmappedCall("sns.amazonaws.com", "Teleport", "sns", 1, "unknown call")]
    return result


def test_apply_uses_last_accessed_services_without_action_level_output(stubbed: Stubber) -> None:
    expect_generate(stubbed)
    services = tuple(service(name, START) for name in ("ec2", "sqs", "notaservice"))
    stubbed.add_response(
        "get_service_last_accessed_details", sla_report("COMPLETED", services), {"JobId": JOB}
    )
    analysis = analysis_with_unmapped()
    lastaccessed.apply(analysis, AwsAccess(), Principal.parse(ROLE_ARN), START)
    assert analysis.service_level_source == "serviceLastAccessed"
    # ec2 has action-level output from CloudTrail; sns is unmapped; unknown prefixes dropped
    assert analysis.service_level_prefixes == ["sns", "sqs"]
    stored = Analysis.from_dict(json.loads(json.dumps(analysis.to_dict())))
    assert stored.service_level_prefixes == ["sns", "sqs"]
    result = GenerationResult(Principal.parse(ROLE_ARN), stored, START, START)
    api = result.to_api(service_level=True)
    statements = json.loads(api["generatedPolicies"][0]["policy"])["Statement"]
    assert [s["Action"] for s in statements if s["Sid"].startswith("ServiceLevel")] == [
        "sns:*",
        "sqs:*",
    ]
    with_template = report.extension(stored, RenderOptions(service_level=True))
    assert with_template["serviceLevelTemplateSource"] == "serviceLastAccessed"
    assert "serviceLevelTemplateSource" not in report.extension(stored, RenderOptions())


def test_apply_falls_back_to_cloudtrail_when_iam_refuses(stubbed: Stubber) -> None:
    stubbed.add_client_error(
        "generate_service_last_accessed_details", "AccessDenied", "not allowed", 403
    )
    analysis = analysis_with_unmapped()
    lastaccessed.apply(analysis, AwsAccess(), Principal.parse(ROLE_ARN), START)
    assert analysis.service_level_source == "cloudTrail"
    assert "AccessDenied: not allowed" in analysis.service_level_note
    assert analysis.service_level_prefixes == ["sns"]


def test_unknown_principal_fails_the_job(stubbed: Stubber) -> None:
    stubbed.add_client_error("generate_service_last_accessed_details", "NoSuchEntity", "no", 404)
    with pytest.raises(JobFailure) as failure:
        lastaccessed.apply(Analysis(ROLE_ARN), AwsAccess(), Principal.parse(ROLE_ARN), START)
    assert failure.value.code == RESOURCE_NOT_FOUND_ERROR
    assert ROLE_ARN in failure.value.message


def test_template_source_is_a_header_and_the_body_stays_aws_shaped() -> None:
    result = GenerationResult(Principal.parse(ROLE_ARN), Analysis(ROLE_ARN), START, START)
    data = {
        "jobDetails": {"jobId": "j", "status": "SUCCEEDED", "startedOn": START},
        "generatedPolicyResult": result.to_api(service_level=True),
        protocol.EXTRA_HEADERS: {TEMPLATE_SOURCE_HEADER: "cloudTrail"},
    }
    wire = protocol.response(protocol.operation("GetGeneratedPolicy"), data)
    assert wire.headers[TEMPLATE_SOURCE_HEADER] == "cloudTrail"
    assert set(json.loads(wire.body)) == {"jobDetails", "generatedPolicyResult"}
    response = {"status_code": 200, "headers": wire.headers, "body": wire.body}
    output = protocol.operation("GetGeneratedPolicy").output_shape
    parsed = RestJSONParser().parse(response, output)
    assert parsed["generatedPolicyResult"]["generatedPolicies"] == []
