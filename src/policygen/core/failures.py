"""Failures that end a policy generation, typed by the model's `JobErrorCode`.

They live here, not in `jobs`, so that sources and AWS helpers can raise them without
depending on the worker machinery; the CLI reports them too.
"""

from __future__ import annotations

# `JobError.code` values (the model's JobErrorCode).
AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"
RESOURCE_NOT_FOUND_ERROR = "RESOURCE_NOT_FOUND_ERROR"
SERVICE_ERROR = "SERVICE_ERROR"


class JobFailure(Exception):
    """The job cannot succeed; `code` is its `jobError.code`, the message names what failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[JobFailure], tuple[str, str]]:
        """Picklable with its code: a failure on a Spark executor is raised on the driver."""
        return type(self), (self.code, self.message)
