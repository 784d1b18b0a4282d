"""Option values the CLI cannot use: one line naming the option, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from clihelp import policygen
from logfactory import ROLE_ARN


@pytest.mark.parametrize(
    "value, why",
    [
        ("12parsecs", "not a size: '12parsecs' (e.g. 200MB, 1.5GB, 512KiB)"),
        ("0", "not a positive size: '0'"),
        ("0.4", "not a positive size: '0.4'"),  # less than a byte
    ],
)
def test_max_file_bytes_must_be_a_positive_size(logs: Path, value: str, why: str) -> None:
    done = policygen(
        "generate", "--principal", ROLE_ARN, "--logs", str(logs), "--max-file-bytes", value
    )
    assert done.returncode == 2
    assert done.stderr == f"policygen: error: Invalid value for '--max-file-bytes': {why}\n"
