"""Writing a corpus: log files in worker processes, then digests, Insights and the manifest."""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgspec

from policygen_synth.digests import (
    Digested,
    digest_files,
    event_span,
    write_digests,
    write_insight,
)
from policygen_synth.logfiles import log_file
from policygen_synth.manifest import OUTCOMES, Manifest
from policygen_synth.spec import CorpusSpec
from policygen_synth.world import World, world_of

#: The manifest's stats that workers add up, in the manifest's order.
TOTALS = (
    "log_files",
    "records",
    "raw_bytes",
    "stored_bytes",
    "duplicate_records",
    "cross_account_calls",
)


@dataclass(slots=True)
class Partial:
    """What a worker reports: aggregate counts only, so memory stays bounded."""

    counts: Counter[int] = field(default_factory=Counter)  # records by manifest key
    totals: Counter[str] = field(default_factory=Counter)  # by name in TOTALS
    digested: Digested = field(default_factory=dict)

    def merge(self, other: Partial) -> None:
        self.counts.update(other.counts)
        self.totals.update(other.totals)
        self.digested.update(other.digested)


def _run(root: str, spec: CorpusSpec, jobs: list[tuple[str, str, int]]) -> Partial:
    """Write a batch of log files (runs in a worker process when workers > 1)."""
    world = world_of(spec)
    digested = digest_files(world)
    part = Partial()
    made: set[Path] = set()
    for account, region, j in jobs:
        out = log_file(world, account, region, j)
        path = Path(root, out.key)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(out.data)
        part.counts.update(out.counts)
        part.totals.update(
            log_files=1,
            records=out.records,
            raw_bytes=out.raw_size,
            stored_bytes=len(out.data),
            duplicate_records=out.duplicates,
            cross_account_calls=out.cross,
        )
        if j in digested:
            part.digested[account, region, j] = (
                out.key,
                hashlib.sha256(out.data).hexdigest(),
                *event_span(world, j),
            )
    return part


def _manifest(world: World, part: Partial, digests: int) -> Manifest:
    counts: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
    for key, n in sorted(part.counts.items()):
        pi, source, name, outcome = world.keys[key]
        per_call = counts.setdefault(world.principals[pi].arn, {})
        per_call.setdefault((source, name), dict.fromkeys(OUTCOMES, 0))[outcome] += n
    # As JSON has it: lists, not tuples.
    params = msgspec.json.decode(msgspec.json.encode(asdict(world.spec)))
    stats = {name: part.totals[name] for name in TOTALS} | {
        "files_per_stream": world.files_per_stream,
        "digest_files": digests,
        "insight_files": 1,
    }
    return Manifest(params, [p.describe() for p in world.principals], counts, stats)


def generate_corpus(
    root: Path | str, spec: CorpusSpec, workers: int = 1, write_manifest: bool = True
) -> Manifest:
    """Write the corpus under `root` and return its manifest.

    Output depends only on `spec`: `workers` processes split the files between them, and
    every file is drawn from its own seeded RNG. The manifest goes to `manifest.json`
    beside `AWSLogs` (under the key prefix), outside the CloudTrail layout.
    """
    root = Path(root)
    world = world_of(spec)
    # Window-major order: consecutive files share a window and its cached time table.
    jobs = [(a, r, j) for j in range(world.files_per_stream) for a, r in world.streams]
    part = Partial()
    if workers <= 1:
        part = _run(str(root), spec, jobs)
    else:
        size = max(1, len(jobs) // (workers * 4))
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(
                _run, [str(root)] * len(batches), [spec] * len(batches), batches
            ):
                part.merge(result)
    digests = write_digests(root, world, part.digested)
    write_insight(root, spec)
    manifest = _manifest(world, part, digests)
    if write_manifest:
        base = root / spec.prefix if spec.prefix else root
        manifest.write(base / "manifest.json")
    return manifest
