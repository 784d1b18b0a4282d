"""The bundled sample trail is exactly what the generator makes, so it cannot drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample-trail"
#: The command that made examples/sample-trail (run it again after changing the generator).
SAMPLE_ARGS = [
    "synth", "--size", "3MB", "--seed", "1", "--account", "111122223333",
    "--region", "us-east-1", "--region", "eu-west-1",
]  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sample_trail_is_reproducible(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    done = subprocess.run(
        [sys.executable, "-m", "policygen", *SAMPLE_ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "arn:aws:iam::111122223333:role/app/deployer" in done.stdout.split()
    assert tree(out) == tree(SAMPLE)
