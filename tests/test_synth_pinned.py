"""The generator's output is pinned: the same spec and seed write the same bytes.

The hashes below were taken from corpora written by the generator as it stood in
`src/policygen/synth.py` before it left the package (commit cc41533), so moving or
refactoring it cannot change a fixture, a benchmark corpus or the sample trail unnoticed.
Change them only when the generator's output is meant to change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from policygen_synth import CorpusSpec, generate_corpus

#: Every user and role profile, two days, two worker processes.
FULL = CorpusSpec(
    seed=11,
    days=2,
    users_per_account=6,
    roles_per_account=7,
    target_bytes=2_000_000,
    records_per_file=(20, 80),
)
#: An organization trail under a key prefix, three accounts and regions, plain JSON.
ORG = CorpusSpec(
    seed=5,
    accounts=("111122223333", "444455556666", "777788889999"),
    regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
    org_id="o-exampleorgid",
    prefix="team/logs",
    gzip=False,
    target_bytes=200_000,
)


def tree_sha256(root: Path) -> str:
    """One hash over every file's path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("spec", "workers", "files", "expected"),
    [
        (FULL, 2, 34, "e00652c097be71c25b04d0f90227ff296499b9b3c39b7c0248c99ea7acdb6a41"),
        (ORG, 1, 20, "db377199adf19467a9e469228d02b9cd37e9ae7ee48078234a9ca11b79db3e9f"),
    ],
    ids=["full", "org"],
)
def test_same_spec_writes_the_pinned_bytes(
    tmp_path: Path, spec: CorpusSpec, workers: int, files: int, expected: str
) -> None:
    generate_corpus(tmp_path, spec, workers=workers)
    assert sum(1 for p in tmp_path.rglob("*") if p.is_file()) == files
    assert tree_sha256(tmp_path) == expected
