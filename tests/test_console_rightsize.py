"""The console's last mile: a job's policy ready to apply (Terraform, CloudFormation), and
what it removes from the principal's current policies (IAM in moto, read by the server)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from test_rightsize import ROLE_ARN, expected_role, world  # noqa: F401  (the module's fixture)

from consolehelp import visitor
from formatcheck import cloudformation_template, terraform_documents
from motoserver import MotoServer
from serverprocess import OTHER_KEY, TRAIL, ServerProcess, start


@pytest.fixture(scope="module")
def served(moto: MotoServer, world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """A server reading the world's trail and IAM in moto, with the role's job done."""
    server = ServerProcess(
        tmp_path_factory.mktemp("data"),
        "--trail", f"{TRAIL}={world['logs']}", "--access-role-mode", "ambient",
        env=moto.env(),
    )  # fmt: skip
    try:
        job_id = start(server.client(), ROLE_ARN)
        server.final(job_id)
        yield server, job_id
    finally:
        server.close()


def _documents(server: ServerProcess, job_id: str) -> list[dict[str, Any]]:
    query = "includeResourcePlaceholders=true"  # the console's default rendering
    answer = server.request("GET", f"/policy/generation/{job_id}?{query}").json()
    return [json.loads(p["policy"]) for p in answer["generatedPolicyResult"]["generatedPolicies"]]


def test_downloads_ready_to_apply_carry_the_apis_policy(
    served: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, job_id = served
    expected = _documents(server, job_id)
    with visitor(server) as who:
        page = who.get(f"/console/jobs/{job_id}")
        assert 'id="download-terraform"' in page.text
        terraform = who.get(f"/console/jobs/{job_id}/policy.tf")
        template = who.get(f"/console/jobs/{job_id}/policy.yaml")
        missing = who.get(f"/console/jobs/{job_id}/policy.exe")
    assert terraform.status_code == 200
    assert "attachment" in terraform.headers["content-disposition"]
    found = terraform_documents(terraform.text, tmp_path / "tf")
    assert [kind for kind, _ in found] == ["aws_iam_policy"] * len(expected)
    if found[0][1]:  # evaluated by `terraform console` where the binary exists
        assert [document for _, document in found] == expected
    assert template.status_code == 200
    parsed = cloudformation_template(template.text, tmp_path / "policy.yaml")
    resources = list(parsed["Resources"].values())
    assert [r["Type"] for r in resources] == ["AWS::IAM::ManagedPolicy"] * len(expected)
    assert [r["Properties"]["PolicyDocument"] for r in resources] == expected
    assert missing.status_code == 404


def _rows(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_what_it_removes_shows_the_trim_as_a_diff(served: tuple[ServerProcess, str]) -> None:
    server, job_id = served
    with visitor(server) as who:
        page = who.get(f"/console/jobs/{job_id}/removes")
    with visitor(server, OTHER_KEY) as other:
        hidden = other.get(f"/console/jobs/{job_id}/removes")
    assert page.status_code == 200, page.text
    counts = expected_role()["counts"]
    summary = re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page.text)
    assert summary == [
        ("Actions granted", str(counts["grantedBefore"])),
        ("Granted after trimming", "4"),
        ("Actions used", "5"),
        ("Used but not granted", "1"),
    ]
    rows = _rows(page.text, "removes-services")
    assert [row[0] for row in rows[1:]] == ["ec2", "s3", "sqs", "cloudwatch"]
    assert rows[-1][-1] == "1 (never used)"
    removed = [unescape(x) for x in re.findall(r'<span class="removed">- (.*?)</span>', page.text)]
    added = [unescape(x) for x in re.findall(r'<span class="added">\+ (.*?)</span>', page.text)]
    assert any('"s3:*"' in line for line in removed)
    assert any('"ec2:Describe*"' in line for line in removed)
    assert any('"s3:GetObject"' in line for line in added)
    assert any('"ec2:DescribeInstances"' in line for line in added)
    # trimming only narrows actions: no scope is added, the unused Metrics statement goes
    assert not any("Condition" in line or "Resource" in line for line in added)
    assert '"Sid": "Metrics",' in [line.strip() for line in removed]
    assert hidden.status_code == 404


def _removes_error(server: ServerProcess, job_id: str) -> str:
    with visitor(server) as who:
        page = who.get(f"/console/jobs/{job_id}/removes")
    assert page.status_code == 200, page.text
    [error] = re.findall(r'<p role="alert" id="removes-error">(.*?)</p>', page.text, re.S)
    return unescape(error)


def test_what_it_removes_of_a_job_still_running(served: tuple[ServerProcess, str]) -> None:
    server, _ = served
    with server.frozen_workers():
        job_id = start(server.client(), ROLE_ARN)
        assert _removes_error(server, job_id) == (
            "The job has not succeeded: there are no calls to compare with yet."
        )


def test_what_it_removes_when_iam_does_not_know_the_principal(
    served: tuple[ServerProcess, str],
) -> None:
    server, _ = served
    missing = ROLE_ARN.replace("rightsize-worker", "rightsize-gone")
    job_id = start(server.client(), missing)
    assert server.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"
    assert _removes_error(server, job_id) == (
        f"IAM could not be read: RESOURCE_NOT_FOUND_ERROR: role {missing} is not in the "
        "authorization details of IAM (iam:GetAccountAuthorizationDetails, account of the "
        "ambient AWS credentials)"
    )
