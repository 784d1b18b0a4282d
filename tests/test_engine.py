"""Reading trails and matching principals, end to end through `generate_policy`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from policygen import generate_policy

from logfactory import (
    ACCOUNT,
    OTHER_ACCOUNT,
    ROLE_ARN,
    USER_ARN,
    record,
    user_identity,
    write_log,
)

WINDOW = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}


def actions(logs: Path, principal: str = ROLE_ARN, **options) -> list[str]:
    return list(generate_policy(principal, logs, **{**WINDOW, **options}).analysis.actions)


def test_role_matches_by_session_issuer_with_path(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeInstances")])
    assert actions(logs) == ["ec2:DescribeInstances"]


def test_user_matches_by_user_arn(logs: Path) -> None:
    write_log(logs, [record(USER_ARN, "s3.amazonaws.com", "ListBuckets")])
    assert actions(logs, USER_ARN) == ["s3:ListAllMyBuckets"]


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(f"arn:aws:iam::{OTHER_ACCOUNT}:role/app/deployer", id="other-account"),
        pytest.param(f"arn:aws:iam::{ACCOUNT}:role/deployer", id="same-name-no-path"),
        pytest.param(f"arn:aws:iam::{ACCOUNT}:role/other/deployer", id="same-name-other-path"),
        pytest.param(f"arn:aws:iam::{ACCOUNT}:user/app/deployer", id="user-of-same-name"),
    ],
)
def test_similar_principals_never_match(logs: Path, other: str) -> None:
    account = other.split(":")[4]
    write_log(logs, [record(other, "ec2.amazonaws.com", "RunInstances")], account=account)
    write_log(logs, [record(ROLE_ARN, "sts.amazonaws.com", "GetCallerIdentity")], suffix="B" * 16)
    assert actions(logs) == ["sts:GetCallerIdentity"]


def test_other_accounts_folder_is_not_read(logs: Path) -> None:
    # A copy of the principal's call in another account's folder (cross-account delivery).
    write_log(logs, [record(ROLE_ARN, "kms.amazonaws.com", "Decrypt")], account=OTHER_ACCOUNT)
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.stats.files_listed == 0


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"eventType": "AwsServiceEvent"}, id="service-event"),
        pytest.param({"eventType": "AwsConsoleSignIn"}, id="console-sign-in"),
        pytest.param({"eventType": "AwsCloudTrailInsight"}, id="insight"),
        pytest.param({"eventType": "AwsConsoleAction"}, id="console-action"),
        pytest.param({"eventType": "AwsVpceEvent"}, id="vpce"),
    ],
)
def test_records_that_are_not_the_principals_api_calls_are_ignored(
    logs: Path, overrides: dict
) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances", **overrides)])
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.actions == {}
    assert result.analysis.stats.ignored[overrides["eventType"]] == 1


def test_aws_service_identity_is_ignored_even_when_it_names_the_role(logs: Path) -> None:
    service = {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
    rec = record(service, "logs.amazonaws.com", "CreateLogStream")
    rec["requestParameters"] = {"roleArn": ROLE_ARN}
    write_log(logs, [rec])
    assert actions(logs) == []


def test_record_that_mentions_the_principal_is_not_theirs(logs: Path) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:user/admin"
    rec = record(other, "iam.amazonaws.com", "GetRole", requestParameters={"roleArn": ROLE_ARN})
    write_log(logs, [rec])
    assert actions(logs) == []


def test_calls_invoked_by_a_service_on_the_principals_behalf_count(logs: Path) -> None:
    identity = user_identity(ROLE_ARN, invokedBy="secretsmanager.amazonaws.com")
    write_log(logs, [record(identity, "kms.amazonaws.com", "Decrypt")])
    assert actions(logs) == ["kms:Decrypt"]


def test_federated_user_sessions_of_a_user_do_not_count_as_the_user(logs: Path) -> None:
    federated = {
        "type": "FederatedUser",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bot",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {"type": "IAMUser", "arn": USER_ARN, "accountId": ACCOUNT}
        },
    }
    write_log(logs, [record(federated, "s3.amazonaws.com", "ListBuckets")])
    assert actions(logs, USER_ARN) == []


def test_time_window_is_inclusive_and_filters_event_time(logs: Path) -> None:
    recs = [
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", when="2026-01-04T23:59:59Z"),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", when="2026-01-05T00:00:00Z"),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeImages", when="2026-01-06T00:00:00Z"),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVolumes", when="2026-01-06T00:00:01Z"),
    ]
    write_log(logs, recs, delivered="20260106T0005Z")
    assert actions(logs) == ["ec2:DescribeImages", "ec2:DescribeSubnets"]


def test_delivery_margin_reads_next_day_folder_but_prunes_beyond(logs: Path) -> None:
    late = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", when="2026-01-05T23:50:00Z")
    write_log(logs, [late], delivered="20260106T0030Z")
    far = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", when="2026-01-05T23:55:00Z")
    write_log(logs, [far], delivered="20260107T0100Z")
    early = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeImages", when="2026-01-05T01:00:00Z")
    write_log(logs, [early], delivered="20260104T2300Z")
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs"]
    assert result.analysis.stats.files_listed == 1


def test_region_folders_and_records_are_filtered(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")], region="us-east-1")
    eu = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", awsRegion="eu-west-1")
    write_log(logs, [eu], region="eu-west-1")
    assert actions(logs, regions=["eu-west-1"]) == ["ec2:DescribeSubnets"]
    assert actions(logs) == ["ec2:DescribeSubnets", "ec2:DescribeVpcs"]


def test_organization_trail_layout_and_plain_json(logs: Path) -> None:
    rec = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    write_log(logs, [rec], org="o-abcdefghij", compress=False)
    assert actions(logs) == ["ec2:DescribeVpcs"]


def test_digest_and_insight_files_are_skipped(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    for kind in ("CloudTrail-Digest", "CloudTrail-Insight"):
        folder = logs / "AWSLogs" / ACCOUNT / kind / "us-east-1" / "2026" / "01" / "05"
        folder.mkdir(parents=True)
        name = f"{ACCOUNT}_{kind}_us-east-1_20260105T1000Z_x.json.gz"
        body = {"Records": [record(ROLE_ARN, "iam.amazonaws.com", "DeleteRole")]}
        (folder / name).write_bytes(gzip.compress(json.dumps(body).encode()))
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs"]
    assert result.analysis.stats.files_listed == 1


def test_duplicate_event_ids_count_once(logs: Path) -> None:
    rec = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    write_log(logs, [rec], suffix="A" * 16)
    write_log(logs, [rec], suffix="B" * 16, delivered="20260105T1010Z")
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.actions["ec2:DescribeVpcs"].count == 1
    assert result.analysis.stats.duplicates == 1


TRUNCATED_JSON = json.dumps({"Records": [{"userIdentity": {"arn": ROLE_ARN}}]})[:-5].encode()


@pytest.mark.parametrize(
    "content, reason",
    [
        pytest.param(gzip.compress(TRUNCATED_JSON)[:-9], "corrupt gzip", id="truncated-gzip"),
        pytest.param(gzip.compress(TRUNCATED_JSON), "not JSON", id="not-json"),
        pytest.param(
            gzip.compress(b'{"Records": [{"eventTime": 1}, {"userIdentity": "' + ROLE_ARN.encode()),
            "not JSON",
            id="bad-type-then-bad-json",
        ),
        pytest.param(
            gzip.compress(json.dumps({"logFiles": [ROLE_ARN]}).encode()),
            "no Records",
            id="no-records",
        ),
        pytest.param(b"\x1f\x8bgarbage", "corrupt gzip", id="bad-header"),
    ],
)
def test_corrupt_file_is_reported_and_not_fatal(logs: Path, content: bytes, reason: str) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    bad = write_log(logs, [], suffix="C" * 16)
    bad.write_bytes(content)
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs"]
    assert result.analysis.stats.files_skipped == 1
    assert reason in result.analysis.stats.skipped[str(bad)]
    assert result.to_api()["properties"]["isComplete"] is False


def test_other_json_documents_in_the_folder_are_not_log_files(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    (logs / "manifest.json").write_text(json.dumps({"principals": [ROLE_ARN]}))
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.is_complete
    assert result.analysis.stats.ignored["not a CloudTrail log file"] == 1


def test_a_bare_array_of_records_is_read(logs: Path) -> None:
    export = logs / "export.json"
    export.write_text(json.dumps([record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")]))
    assert actions(logs) == ["ec2:DescribeVpcs"]


def test_request_parameters_are_read_when_they_change_the_action(logs: Path) -> None:
    params = {"bucketName": "b", "key": "k", "versionId": "v1"}
    get = record(ROLE_ARN, "s3.amazonaws.com", "GetObject", requestParameters=params)
    write_log(logs, [get, record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets")])
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert list(result.analysis.actions) == ["s3:GetObjectVersion", "s3:ListAllMyBuckets"]
    assert result.analysis.stats.records_bad == 0


def test_file_without_the_principal_is_not_decoded(logs: Path) -> None:
    """Bytes that cannot hold the principal's records cannot change its policy."""
    other = write_log(logs, [], suffix="D" * 16)
    other.write_bytes(gzip.compress(b"{not json, and no principal either"))
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.stats.files_read == 1
    assert result.analysis.stats.files_skipped == 0


def test_a_record_with_a_wrongly_typed_field_does_not_lose_the_file(logs: Path) -> None:
    good = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")
    bad = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeSubnets", eventTime=12345)
    write_log(logs, [good, bad])
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert list(result.analysis.actions) == ["ec2:DescribeVpcs"]
    assert result.analysis.stats.records_bad == 1


@pytest.mark.parametrize(
    "mode, expected",
    [("include", ["ec2:DescribeVpcs", "iam:DeleteRole"]), ("exclude", ["ec2:DescribeVpcs"])],
)
def test_denied_calls_included_by_default_and_excludable(
    logs: Path, mode: str, expected: list[str]
) -> None:
    denied = record(
        ROLE_ARN,
        "iam.amazonaws.com",
        "DeleteRole",
        errorCode="AccessDenied",
        errorMessage="not authorized to perform: iam:DeleteRole",
    )
    throttled = record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs", errorCode="Throttling")
    write_log(logs, [denied, throttled])
    result = generate_policy(ROLE_ARN, logs, denied=mode, **WINDOW)
    assert sorted(result.analysis.actions) == expected
    if mode == "include":
        assert result.analysis.actions["iam:DeleteRole"].denied_only


def test_data_events_can_be_left_out_like_aws(logs: Path) -> None:
    data = record(
        ROLE_ARN, "s3.amazonaws.com", "GetObject", managementEvent=False, eventCategory="Data"
    )
    write_log(logs, [data, record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets")])
    assert actions(logs) == ["s3:GetObject", "s3:ListAllMyBuckets"]
    assert actions(logs, data_events=False) == ["s3:ListAllMyBuckets"]


def test_unmapped_call_is_reported_and_makes_result_incomplete(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "TeleportInstance")])
    result = generate_policy(ROLE_ARN, logs, **WINDOW)
    assert result.analysis.actions == {}
    [unmapped] = result.analysis.unmapped
    assert (unmapped.event_source, unmapped.event_name) == ("ec2.amazonaws.com", "TeleportInstance")
    api = result.to_api(service_level=True)
    assert api["properties"]["isComplete"] is False
    [policy] = api["generatedPolicies"]
    assert json.loads(policy["policy"])["Statement"][0]["Action"] == "ec2:*"


def test_result_shape_matches_get_generated_policy(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "DescribeVpcs")])
    result = generate_policy(
        ROLE_ARN,
        logs,
        regions=["us-east-1"],
        trail_arn=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main",
        **WINDOW,
    )
    assert result.to_api() == {
        "properties": {
            "principalArn": ROLE_ARN,
            "isComplete": True,
            "cloudTrailProperties": {
                "trailProperties": [
                    {
                        "cloudTrailArn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main",
                        "regions": ["us-east-1"],
                        "allRegions": False,
                    }
                ],
                "startTime": "2026-01-05T00:00:00Z",
                "endTime": "2026-01-06T00:00:00Z",
            },
        },
        "generatedPolicies": [
            {
                "policy": '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0",'
                '"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*"}]}'
            }
        ],
    }


@pytest.mark.parametrize(
    "principal, message",
    [
        ("arn:aws:iam::111122223333:root", "not an IAM user or role ARN"),
        ("alice", "not an IAM user or role ARN"),
    ],
)
def test_bad_principal_is_a_value_error(logs: Path, principal: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_policy(principal, logs, **WINDOW)


def test_start_after_end_is_a_value_error(logs: Path) -> None:
    with pytest.raises(ValueError, match="after end"):
        generate_policy(ROLE_ARN, logs, start="2026-02-01", end="2026-01-01")


def test_missing_folder_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        generate_policy(ROLE_ARN, tmp_path / "nope", **WINDOW)
