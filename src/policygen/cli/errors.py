"""How the command reports failure: one line on stderr, exit code 2 for bad input, 3 when
AWS refused or failed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from policygen.core.failures import JobFailure

USAGE_ERROR = 2
AWS_ERROR = 3


class InputError(click.ClickException):
    """Bad input from the user: reported in one line, exit code 2."""

    exit_code = USAGE_ERROR


class AwsError(click.ClickException):
    """AWS refused or failed: one line naming what, exit code 3."""

    exit_code = AWS_ERROR


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into one-line CLI errors."""
    try:
        yield
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise InputError(str(exc)) from None
    except JobFailure as exc:
        raise AwsError(f"{exc.code}: {exc.message}") from None
