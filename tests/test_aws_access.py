"""AWS credentials as policygen gets them (`core.aws`): none at all, a role assumed with
none to assume it with, and an endpoint that does not answer; against moto in server mode."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from policygen.core import aws
from policygen.core.aws import AwsAccess, check_credentials
from policygen.core.failures import AUTHORIZATION_ERROR, SERVICE_ERROR, JobFailure

from clihelp import policygen
from logfactory import ACCOUNT, ROLE_ARN
from motoserver import ISOLATED, MotoServer

READER = f"arn:aws:iam::{ACCOUNT}:role/t-access-reader"
NONE_FOUND = "no AWS credentials found (environment, profile, SSO, instance role, ...)"
WINDOW = ("--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z")


@pytest.fixture
def no_credentials(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An environment with moto's endpoint and no credentials anywhere."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = {**ISOLATED, "AWS_ENDPOINT_URL": moto.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws.forget_clients()
    yield env
    aws.forget_clients()


def test_no_credentials_at_all(no_credentials: dict[str, str]) -> None:
    with pytest.raises(JobFailure) as failed:
        check_credentials(AwsAccess(None))
    assert (failed.value.code, failed.value.message) == (
        AUTHORIZATION_ERROR,
        f"AWS credentials: {NONE_FOUND}",
    )


def test_no_credentials_to_assume_the_role_with(no_credentials: dict[str, str]) -> None:
    with pytest.raises(JobFailure) as failed:
        check_credentials(AwsAccess(READER))
    assert failed.value.message == f"sts:AssumeRole {READER}: {NONE_FOUND}"
    # the CLI says the same, in one line, with the exit code of an AWS refusal
    done = policygen(
        *("generate", "--principal", ROLE_ARN, "--logs", "s3://t-access-logs"),
        *("--access-role", READER, *WINDOW),
        env={**os.environ, **no_credentials},
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr == (
        f"policygen: error: AUTHORIZATION_ERROR: sts:AssumeRole {READER}: {NONE_FOUND}\n"
    )


def test_an_endpoint_that_does_not_answer_is_a_service_error(
    no_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    aws.forget_clients()
    with pytest.raises(JobFailure) as failed:
        check_credentials(AwsAccess(READER))
    assert failed.value.code == SERVICE_ERROR
    assert failed.value.message.startswith(
        f'sts:AssumeRole {READER}: Could not connect to the endpoint URL: "{url}/"'
    )
