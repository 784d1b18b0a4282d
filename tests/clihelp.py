"""The `policygen` command as a user runs it: a real process."""

from __future__ import annotations

import os
import subprocess
import sys


def policygen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m policygen ARGS` with `env` added to this environment; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "policygen", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
