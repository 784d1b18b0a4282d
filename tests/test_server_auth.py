"""SigV4 authentication and per-account jobs, against a real server with boto3 and raw HTTP.

Refusals are AWS's common errors, which no service model lists: boto3 raises them as a
plain `ClientError` carrying the code, the status and the message.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from logfactory import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, record, write_log
from serverprocess import (
    KEY,
    KEYS,
    OTHER_KEY,
    TRAIL,
    ServerProcess,
    signed_headers,
    start,
)

LIST = "/policy/generation"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("trail")
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    server = ServerProcess(tmp_path_factory.mktemp("data"), "--trail", f"{TRAIL}={logs}")
    try:
        yield server
    finally:
        server.close()


def refused(call: Callable[[], Any]) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of the ClientError boto3 raises."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


PRESIGNED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/presigned"


def signed_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Make botocore sign as if its clock said `moment` (a client with a wrong clock)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment.replace(tzinfo=None))


def test_signed_requests_are_served_and_others_refused(server: ServerProcess) -> None:
    assert server.client().list_policy_generations()["ResponseMetadata"]["HTTPStatusCode"] == 200
    unsigned = server.client(signature_version=UNSIGNED)
    assert refused(unsigned.list_policy_generations) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )
    stranger = server.client(access_key="AKIDNOTCONFIGURED01", secret="whatever")
    assert refused(stranger.list_policy_generations)[:2] == ("UnrecognizedClientException", 403)
    wrong_secret = server.client(secret="not the secret")
    code, status, message = refused(wrong_secret.list_policy_generations)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "does not match the signature you provided" in message
    with_token = server.client(token="FwoGZXIvYXdzEXAMPLE")
    assert refused(with_token.list_policy_generations)[0] == "UnrecognizedClientException"
    assert httpx.get(f"{server.url}/health").status_code == 200  # liveness stays open


def test_refused_requests_do_no_work(server: ServerProcess) -> None:
    before = server.client().list_policy_generations()["policyGenerations"]
    for client in (
        server.client(signature_version=UNSIGNED),
        server.client(secret="not the secret"),
        server.client(access_key="AKIDNOTCONFIGURED01", secret="whatever"),
    ):
        code = refused(lambda c=client: start(c))[0]
        assert code.endswith("Exception") and code != "ValidationException"
    assert server.client().list_policy_generations()["policyGenerations"] == before
    for path in (LIST, "/analyzer", "/no/such/path"):  # unknown paths too: strangers learn nothing
        answer = server.request("GET", path, key=None)
        assert answer.status_code == 403
        assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    "offset, message",
    [
        (timedelta(minutes=-16), "Signature expired"),
        (timedelta(minutes=16), "Signature not yet current"),
    ],
)
def test_clock_skew(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, offset: timedelta, message: str
) -> None:
    signed_at(monkeypatch, datetime.now(UTC) + offset)
    code, status, text = refused(server.client().list_policy_generations)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert text.startswith(message) and "15 min." in text
    signed_at(monkeypatch, datetime.now(UTC) + offset / 2)  # within the 15 minutes
    server.client().list_policy_generations()


def test_tampering_and_malformed_signatures(server: ServerProcess) -> None:
    url, body = f"{server.url}{LIST}", b'{"policyGenerationDetails":{"principalArn":"x"}}'
    headers = signed_headers("PUT", url, body)
    tampered = httpx.put(url, content=body.replace(b'"x"', b'"y"'), headers=headers)
    assert tampered.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    other_service = signed_headers("GET", url, service="execute-api")
    answer = httpx.get(url, headers=other_service)
    assert answer.status_code == 403
    assert answer.json()["message"] == (
        "Credential should be scoped to correct service: 'access-analyzer'."
    )
    good = signed_headers("GET", url)
    for authorization in (
        "AWS4-HMAC-SHA256 Credential=" + KEY,
        good["Authorization"].replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host"),
        good["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        "Bearer token",
    ):
        answer = httpx.get(url, headers={**good, "Authorization": authorization})
        assert answer.status_code == 403, authorization
        assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    not_a_date = httpx.get(url, headers={**good, "X-Amz-Date": "yesterday"})
    assert not_a_date.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"


def test_presigned_urls(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    client = server.client()
    job_id = start(client, principal=PRESIGNED_ROLE)
    params = {"maxResults": 5, "principalArn": PRESIGNED_ROLE}
    url = client.generate_presigned_url("list_policy_generations", Params=params, ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    listed = [g["jobId"] for g in httpx.get(url).json()["policyGenerations"]]
    assert listed == [job_id]  # the job just started, not merely two empty lists
    signed_at(monkeypatch, datetime.now(UTC) - timedelta(minutes=2))
    stale = client.generate_presigned_url("list_policy_generations", ExpiresIn=60)
    answer = httpx.get(stale)
    assert answer.status_code == 403
    assert answer.json()["message"].startswith("Signature expired")


def test_jobs_are_scoped_to_the_callers_account(server: ServerProcess) -> None:
    mine, theirs = server.client(), server.client(access_key=OTHER_KEY)
    job_id = start(mine)
    assert KEYS[OTHER_KEY][1] == OTHER_ACCOUNT
    listed = [g["jobId"] for g in theirs.list_policy_generations()["policyGenerations"]]
    assert job_id not in listed
    mine_listed = mine.list_policy_generations(principalArn=ROLE_ARN)["policyGenerations"]
    assert [g["jobId"] for g in mine_listed] == [job_id]
    filtered = theirs.list_policy_generations(principalArn=ROLE_ARN)["policyGenerations"]
    assert filtered == []
    for call in (theirs.get_generated_policy, theirs.cancel_policy_generation):
        with pytest.raises(theirs.exceptions.ValidationException) as caught:
            call(jobId=job_id)  # as unknown as a job that never existed
        assert caught.value.response["fieldList"][0]["name"] == "jobId"
    with pytest.raises(theirs.exceptions.AccessDeniedException) as denied:
        start(theirs)  # a principal of another account
    assert ACCOUNT in denied.value.response["Error"]["Message"]
    assert server.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"
    other_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/app/deployer"
    own = start(theirs, principal=other_role)
    assert [g["jobId"] for g in theirs.list_policy_generations()["policyGenerations"]] == [own]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--no-auth", "--host", "0.0.0.0"), "refusing to listen on 0.0.0.0 without auth"),
        ((), "authentication is on but no access keys are configured"),
    ],
)
def test_no_auth_is_explicit_and_local(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "policygen", "serve", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
