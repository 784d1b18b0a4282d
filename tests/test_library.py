"""The Python entry points of right-sizing (`policygen.rightsizing`), as docs/rightsizing.md
shows them: a permission set's policy and a principal's diff, without the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policygen.policy.render import RenderOptions
from policygen.rightsizing import diff_principal, generate_permission_set
from test_permsets import DATA_ENG, DATA_ENG_OTHER, org_trail  # noqa: F401 (the fixture)
from test_rightsize import world  # noqa: F401 (the module's fixture)

from logfactory import ACCOUNT, OTHER_ACCOUNT
from rightsizeworld import ROLE_ARN

WINDOW = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}


def test_generate_permission_set(org_trail: Path) -> None:  # noqa: F811
    result = generate_permission_set("DataEng", org_trail, **WINDOW)
    assert result.roles == [DATA_ENG, DATA_ENG_OTHER]
    assert result.partition == "aws"
    written = result.to_dict(RenderOptions.policygen())
    assert written["permissionSet"] == "DataEng"
    assert written["accountVariable"] == "${aws:PrincipalAccount}"
    assert written["window"] == {"startTime": WINDOW["start"], "endTime": WINDOW["end"]}
    assert written["generatedPolicies"] == [
        {
            "policy": '{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0",'
            '"Effect":"Allow","Action":["dynamodb:GetItem","glue:GetTable","s3:GetObject"],'
            '"Resource":"*"}]}'
        }
    ]
    assert written["accounts"] == {
        ACCOUNT: {"dynamodb:GetItem": 1, "s3:GetObject": 1},
        OTHER_ACCOUNT: {"dynamodb:GetItem": 1, "glue:GetTable": 2},
    }


def test_generate_permission_set_nobody_used(org_trail: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError, match=r"^no role of permission set Nobody made a call"):
        generate_permission_set("Nobody", org_trail, **WINDOW)


def test_diff_principal_from_a_details_file(world: dict[str, Path]) -> None:  # noqa: F811
    found = diff_principal(
        ROLE_ARN, world["logs"], authorization_details=world["details"], **WINDOW
    ).to_dict()
    assert found["source"] == str(world["details"])
    assert found["counts"]["used"] == 5
    assert found["usedNotGranted"] == ["kms:Decrypt"]
    assert [(p["name"], p["action"]) for p in found["policies"]] == [
        ("queue", "trim"),
        ("rightsize-S3AndDescribe", "trim"),
    ]
    assert json.loads(json.dumps(found)) == found  # JSON as it is
