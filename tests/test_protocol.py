"""The rest-json wire format, checked against botocore's own model and parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.parsers import RestJSONParser

from policygen.server import protocol
from policygen.server.errors import (
    AccessDeniedError,
    ConflictError,
    InternalServerError,
    ServiceError,
    ServiceQuotaExceededError,
    ThrottlingError,
    ValidationError,
)

ROLE = "arn:aws:iam::111122223333:role/app/deployer"
TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
ACCESS_ROLE = "arn:aws:iam::111122223333:role/service-role/AccessAnalyzerMonitorServiceRole"


def start_body(**details: Any) -> bytes:
    cloud_trail = {
        "trails": [{"cloudTrailArn": TRAIL, "allRegions": True}],
        "accessRole": ACCESS_ROLE,
        "startTime": "2026-01-05T00:00:00Z",
        **details,
    }
    return json.dumps(
        {"policyGenerationDetails": {"principalArn": ROLE}, "cloudTrailDetails": cloud_trail}
    ).encode()


def parse(operation: str, body: bytes = b"", query: dict | None = None, **path: str) -> dict:
    raw = protocol.RawRequest(path, query or {}, {}, body)
    return protocol.parse_request(protocol.operation(operation), raw)


def problems(operation: str, body: bytes = b"", query: dict | None = None, **path: str) -> dict:
    with pytest.raises(ValidationError) as caught:
        parse(operation, body, query, **path)
    return {f["name"]: f["message"] for f in caught.value.members["fieldList"] or []}


def botocore_parse(operation: str, wire: protocol.WireResponse) -> dict:
    """What boto3 makes of a response (for errors: the generic part plus the modelled fields,
    as botocore's endpoint adds them)."""
    headers = {name.lower(): value for name, value in wire.headers.items()}
    response = {"status_code": wire.status, "headers": headers, "body": wire.body}
    parsed = RestJSONParser().parse(response, protocol.operation(operation).output_shape)
    if wire.status >= 300:
        code = parsed["Error"]["Code"]
        error_shape = protocol.service_model().shape_for_error_code(code)
        parsed.update(RestJSONParser().parse(response, error_shape))
    return parsed


def test_start_request_is_parsed_into_python_values() -> None:
    params = parse("StartPolicyGeneration", start_body(endTime=1767657600))
    details = params["cloudTrailDetails"]
    assert params["policyGenerationDetails"]["principalArn"] == ROLE
    assert details["startTime"] == datetime(2026, 1, 5, tzinfo=UTC)
    assert details["endTime"] == datetime(2026, 1, 6, tzinfo=UTC)  # epoch seconds accepted
    assert details["trails"] == [{"cloudTrailArn": TRAIL, "allRegions": True}]


def test_every_problem_is_listed_with_its_path() -> None:
    body = start_body(
        trails=[{"cloudTrailArn": "trail/main", "regions": ["us-east-1", 7]}],
        accessRole="arn:aws:iam::111122223333:user/not-a-role",
        startTime="last tuesday",
    )
    found = problems("StartPolicyGeneration", body)
    assert set(found) == {
        "cloudTrailDetails.trails[0].cloudTrailArn",
        "cloudTrailDetails.trails[0].regions[1]",
        "cloudTrailDetails.accessRole",
        "cloudTrailDetails.startTime",
    }
    assert "regular expression pattern" in found["cloudTrailDetails.accessRole"]


@pytest.mark.parametrize(
    "body, field",
    [
        (b"{}", "policyGenerationDetails"),
        (b'{"policyGenerationDetails": {}}', "policyGenerationDetails.principalArn"),
        (
            b'{"policyGenerationDetails": {"principalArn": "root"}}',
            "policyGenerationDetails.principalArn",
        ),
        (b'{"policyGenerationDetails": []}', "policyGenerationDetails"),
    ],
)
def test_required_members_and_patterns(body: bytes, field: str) -> None:
    assert field in problems("StartPolicyGeneration", body)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_unparseable_body_is_cannot_parse(body: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        parse("StartPolicyGeneration", body)
    assert caught.value.members["reason"] == "cannotParse"


def test_query_strings_are_typed_by_the_model() -> None:
    params = parse(
        "GetGeneratedPolicy",
        query={"includeResourcePlaceholders": ["true"], "includeServiceLevelTemplate": ["false"]},
        jobId="abc",
    )
    assert params == {
        "jobId": "abc",
        "includeResourcePlaceholders": True,
        "includeServiceLevelTemplate": False,
    }
    assert "includeResourcePlaceholders" in problems(
        "GetGeneratedPolicy", query={"includeResourcePlaceholders": ["yes"]}, jobId="abc"
    )
    assert parse("ListPolicyGenerations", query={"maxResults": ["7"]}) == {"maxResults": 7}
    for bad in ("0", "-1", "ten"):
        assert "maxResults" in problems("ListPolicyGenerations", query={"maxResults": [bad]})


def test_get_response_parses_with_botocore() -> None:
    moment = datetime(2026, 1, 6, 12, 30, tzinfo=UTC)
    data = {
        "jobDetails": {"jobId": "j", "status": "SUCCEEDED", "startedOn": moment},
        "generatedPolicyResult": {
            "properties": {
                "principalArn": ROLE,
                "cloudTrailProperties": {
                    "trailProperties": [
                        {"cloudTrailArn": TRAIL, "regions": [], "allRegions": True}
                    ],
                    "startTime": "2026-01-05T00:00:00Z",
                    "endTime": moment,
                },
            },
            "generatedPolicies": [],
        },
    }
    wire = protocol.response(protocol.operation("GetGeneratedPolicy"), data)
    assert b'"startedOn":"2026-01-06T12:30:00Z"' in wire.body  # as AWS sends it
    parsed = botocore_parse("GetGeneratedPolicy", wire)
    assert parsed["jobDetails"]["startedOn"] == moment
    assert "completedOn" not in parsed["jobDetails"]
    properties = parsed["generatedPolicyResult"]["properties"]
    assert properties["cloudTrailProperties"]["startTime"] == datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "error, fields",
    [
        (
            ValidationError("bad", fields=[("jobId", "unknown")]),
            {"reason": "fieldValidationFailed"},
        ),
        (
            ConflictError("busy", "job-1"),
            {"resourceId": "job-1", "resourceType": "PolicyGeneration"},
        ),
        (ServiceQuotaExceededError("quota", "111122223333"), {"resourceId": "111122223333"}),
        (ThrottlingError("slow down", 2), {}),
        (AccessDeniedError("no"), {}),
        (InternalServerError("oops"), {}),
    ],
)
def test_errors_are_sent_as_aws_sends_them(error: ServiceError, fields: dict) -> None:
    wire = protocol.error_response(error)
    shape = protocol.service_model().shape_for(error.code)
    assert wire.status == shape.metadata["error"]["httpStatusCode"]
    assert wire.headers["x-amzn-ErrorType"] == error.code
    parsed = botocore_parse("StartPolicyGeneration", wire)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert fields.items() <= parsed.items()
    if isinstance(error, ThrottlingError):
        assert wire.headers["Retry-After"] == "2"
    if isinstance(error, ValidationError):
        assert parsed["fieldList"] == [{"name": "jobId", "message": "unknown"}]


def test_routes_come_from_the_model() -> None:
    assert protocol.route_path(protocol.operation("GetGeneratedPolicy")) == (
        "/policy/generation/{jobId}"
    )
    assert protocol.match_operation("PUT", "/policy/generation/abc") == "CancelPolicyGeneration"
    assert protocol.match_operation("DELETE", "/analyzer/a/archive-rule/r") == "DeleteArchiveRule"
    assert protocol.match_operation("GET", "/tags/arn%3Aaws%3Ax") == "ListTagsForResource"
    assert protocol.match_operation("GET", "/nothing/here") is None
