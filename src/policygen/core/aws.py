"""Reaching AWS: whose credentials, one client per process, and what a failure means for a job.

An `AwsAccess` is a small picklable value (a role ARN, or none for the standard credential
chain). Clients are created from it lazily in each process that needs them, so a source
holding one can cross into worker processes. Assumed-role credentials refresh themselves
before they expire, so a long job is not cut off after an hour.

boto3 and the heavier parts of botocore are imported with the first client, not with
this module: a run over local folders never pays for them (about 80 ms and 25 MB per
process, and every scanner worker is a copy of its process).

Endpoints are botocore's business: `AWS_ENDPOINT_URL` and the per-service variables
(`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_STS`, ...) reach moto, LocalStack or a VPC
endpoint without any code here. Transient errors are retried by botocore (standard
mode unless `AWS_RETRY_MODE` says otherwise; `AWS_MAX_ATTEMPTS` attempts, default 3).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from policygen.core.failures import (
    AUTHORIZATION_ERROR,
    RESOURCE_NOT_FOUND_ERROR,
    SERVICE_ERROR,
    JobFailure,
)

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import Credentials

T = TypeVar("T")
log = logging.getLogger("policygen.core.aws")

#: How a server uses a request's `accessRole` (docs/s3.md).
AccessRoleMode = Literal["assume", "fallback", "ambient"]
ACCESS_ROLE_MODES: tuple[str, ...] = ("assume", "fallback", "ambient")
SESSION_NAME = "policygen"
#: Connections per client: enough for the concurrent GETs of one source.
DEFAULT_POOL = 32

#: Error codes that mean "not allowed" (any `KMS.*` code too: S3 could not decrypt for us).
AUTHORIZATION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AccountProblem",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
NOT_FOUND_CODES = frozenset(
    {"NoSuchBucket", "NoSuchEntity", "NotFound", "TrailNotFoundException", "NoSuchKey"}
)


@dataclass(frozen=True, slots=True)
class AwsAccess:
    """Whose credentials reach AWS: the standard chain's, or `role_arn` assumed with them.

    `region` is where regional calls (STS) go when the caller gives none.
    """

    role_arn: str | None = None
    region: str | None = None

    def describe(self) -> str:
        """Whose credentials, for messages (used as a plural subject)."""
        return (
            f"the credentials of role {self.role_arn}"
            if self.role_arn
            else "the ambient AWS credentials"
        )


@functools.cache
def aws_errors() -> tuple[type[Exception], ...]:
    """What a botocore call raises when AWS (or what stands in for it) fails or refuses."""
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ClientError, ResponseParserError)


def _fixed_provider(credentials: Credentials) -> Any:
    """A credential provider that hands out credentials made elsewhere (the assumed role's)."""
    from botocore.credentials import CredentialProvider

    class Fixed(CredentialProvider):
        METHOD = CANONICAL_NAME = "policygen-assume-role"

        def load(self) -> Credentials:
            return credentials

    return Fixed()


def client_config(pool: int = DEFAULT_POOL) -> Config:
    """Retries in botocore's standard mode (unless configured) and a sized connection pool."""
    from botocore.config import Config

    return Config(
        retries={"mode": os.environ.get("AWS_RETRY_MODE", "standard")},  # type: ignore[typeddict-item]
        max_pool_connections=pool,
        user_agent_extra="policygen",
    )


def _assumed_session(access: AwsAccess) -> botocore.session.Session:
    """A botocore session whose credentials come from AssumeRole, refreshed before expiry."""
    import botocore.session
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    base = botocore.session.Session()
    source = base.get_credentials()
    if source is None:
        raise NoCredentialsError()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=functools.partial(
            base.create_client, region_name=access.region, config=client_config(2)
        ),
        source_credentials=source,
        role_arn=access.role_arn,
        extra_args={"RoleSessionName": SESSION_NAME},
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    session = botocore.session.Session()
    session.get_component("credential_provider").insert_before("env", _fixed_provider(credentials))
    return session


_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _session(access: AwsAccess, pid: int) -> boto3.Session:
    import boto3

    if access.role_arn is None:
        return boto3.Session()
    return boto3.Session(botocore_session=_assumed_session(access))


@functools.lru_cache(maxsize=256)
def _client(access: AwsAccess, service: str, region: str | None, pool: int, pid: int) -> Any:
    return _session(access, pid).client(
        service, region_name=region or access.region, config=client_config(pool)
    )


def client(access: AwsAccess, service: str, region: str | None = None, pool: int = 10) -> Any:
    """This process's client for `service` with `access` (created once; thread-safe to use).

    Keyed by process id too, so a forked child never shares its parent's connections.
    """
    with _lock:
        return _client(access, service, region, pool, os.getpid())


def forget_clients() -> None:
    """Drop this process's sessions and clients (the environment changed: tests)."""
    with _lock:
        _client.cache_clear()
        _session.cache_clear()


def check_credentials(access: AwsAccess) -> None:
    """Fail now, naming the role, if the credentials cannot be had (AssumeRole is refused)."""
    what = f"sts:AssumeRole {access.role_arn}" if access.role_arn else "AWS credentials"
    try:
        with _lock:
            session = _session(access, os.getpid())
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        credentials.get_frozen_credentials()
    except aws_errors() as exc:
        raise failure(exc, what) from exc


def resolve_access(role_arn: str | None, region: str | None, mode: str) -> AwsAccess:
    """The access a job uses for `role_arn` under the server's `access_role` mode.

    `assume`: the role must be assumable. `fallback`: the ambient credentials when it is
    not. `ambient`: the role is not assumed at all.
    """
    if role_arn is None or mode == "ambient":
        return AwsAccess(None, region)
    access = AwsAccess(role_arn, region)
    try:
        check_credentials(access)
    except JobFailure as exc:
        if mode != "fallback":
            raise
        log.warning("%s; using the ambient credentials instead", exc.message)
        return AwsAccess(None, region)
    return access


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """A one-line account of an AWS failure: `Code: message`, or the exception's first line."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        text = f"{error_code(exc)}: {message}"
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure(exc: BaseException, what: str) -> JobFailure:
    """The job error for an AWS failure while doing `what` (which names the resource)."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return JobFailure(
            AUTHORIZATION_ERROR,
            f"{what}: no AWS credentials found (environment, profile, SSO, instance role, ...)",
        )
    message = f"{what}: {describe_error(exc)}"
    if not isinstance(exc, ClientError):
        return JobFailure(SERVICE_ERROR, message)
    meta = exc.response.get("ResponseMetadata", {})
    code = error_code(exc)
    status = meta.get("HTTPStatusCode")
    if code in AUTHORIZATION_CODES or code.startswith("KMS.") or status == 403:
        return JobFailure(AUTHORIZATION_ERROR, message)
    if code in NOT_FOUND_CODES or status == 404:
        return JobFailure(RESOURCE_NOT_FOUND_ERROR, message)
    attempts = meta.get("RetryAttempts", 0) + 1
    return JobFailure(SERVICE_ERROR, f"{message} (after {attempts} attempts)")


def call(what: str, function: Callable[..., T], **kwargs: Any) -> T:
    """`function(**kwargs)`, with AWS failures raised as the job error naming `what`."""
    try:
        return function(**kwargs)
    except aws_errors() as exc:
        raise failure(exc, what) from exc
