"""The errors Access Analyzer sends, as exceptions the server raises.

Modelled errors carry only their modelled members; `protocol.error_response` turns each
into the exact wire form (status code, `x-amzn-ErrorType` header, JSON body) from
botocore's model, so SDKs raise the matching typed exception
(`client.exceptions.ValidationException`, ...). The common errors every AWS service sends
(authentication, HTTP-level problems) are in no service model: they carry their own
status and a `message`, and SDKs raise them as a `ClientError` with that code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

#: `resourceType` of the policy generation jobs in Conflict and ServiceQuotaExceeded errors.
POLICY_GENERATION = "PolicyGeneration"

#: (field name, what is wrong with it): one entry of `ValidationException.fieldList`.
FieldProblem = tuple[str, str]


class ServiceError(Exception):
    """An AWS-modelled error; `code` names its shape in the service model."""

    code: ClassVar[str] = "InternalServerException"

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        self.message = message
        self.members: dict[str, Any] = {"message": message, **members}


class ValidationError(ServiceError):
    """400: the request does not satisfy the model or policygen's rules for it.

    `reason` is one of the model's `ValidationExceptionReason` values.
    """

    code = "ValidationException"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "fieldValidationFailed",
        fields: Iterable[FieldProblem] = (),
    ) -> None:
        field_list = [{"name": name, "message": text} for name, text in fields]
        super().__init__(message, reason=reason, fieldList=field_list or None)

    @classmethod
    def for_fields(cls, problems: list[FieldProblem]) -> ValidationError:
        """One error listing every field problem, worded as AWS words them."""
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        details = "; ".join(
            f"Value at '{name}' failed to satisfy constraint: {text}" for name, text in problems
        )
        return cls(f"{count} validation {noun} detected: {details}", fields=problems)


class ConflictError(ServiceError):
    """409: the request conflicts with a job (a running job, a reused client token)."""

    code = "ConflictException"

    def __init__(self, message: str, resource_id: str, resource_type: str = POLICY_GENERATION):
        super().__init__(message, resourceId=resource_id, resourceType=resource_type)


class ServiceQuotaExceededError(ServiceError):
    """402 (as AWS models it, not 429): a configured quota is used up."""

    code = "ServiceQuotaExceededException"

    def __init__(self, message: str, resource_id: str, resource_type: str = POLICY_GENERATION):
        super().__init__(message, resourceId=resource_id, resourceType=resource_type)


class ThrottlingError(ServiceError):
    """429: too many requests; `Retry-After` tells SDKs when to retry."""

    code = "ThrottlingException"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, retryAfterSeconds=retry_after_seconds)


class AccessDeniedError(ServiceError):
    """403: this server does not serve the caller's request (see `allowed_accounts`)."""

    code = "AccessDeniedException"


class InternalServerError(ServiceError):
    """500: something unexpected failed; the details are in the server log, not the body."""

    code = "InternalServerException"


class CommonError(ServiceError):
    """An error AWS sends for every service and models for none (AWS's "common errors")."""

    status: ClassVar[int] = 400


class MissingAuthenticationTokenError(CommonError):
    """403: the request is not signed."""

    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureError(CommonError):
    """403: the signature is malformed or lacks a part SigV4 requires."""

    code = "IncompleteSignatureException"
    status = 403


class UnrecognizedClientError(CommonError):
    """403: the access key (or a session token) is not one this server knows."""

    code = "UnrecognizedClientException"
    status = 403


class InvalidSignatureError(CommonError):
    """403: the signature does not match, is scoped wrongly, or is outside the clock skew."""

    code = "InvalidSignatureException"
    status = 403


class RequestEntityTooLargeError(CommonError):
    """413: the request body is larger than any Access Analyzer request needs."""

    code = "RequestEntityTooLargeException"
    status = 413


class MalformedHttpRequestError(CommonError):
    """400: the request is not valid HTTP, or uses a method or path no route knows."""

    code = "MalformedHttpRequestException"
