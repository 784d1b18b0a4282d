"""Deterministic synthetic CloudTrail: the sample trail, every test fixture, benchmark corpora.

Not part of the policygen runtime: tests, benchmarks and `policygen synth` use it. Output
is laid out exactly as CloudTrail delivers to S3 (log files, a few digest files and an
Insights file to be skipped), and comes with a ground-truth `Manifest` of who called what,
so scanners can be checked against it.

How it stays fast and reproducible at gigabyte scale:
- every (principal, call, outcome, variant) record is rendered once into a byte template
  with a few slots (time, ids); a record then costs one `%` format (`records`);
- every log file is drawn from its own RNG seeded by (seed, account, region, index), so
  files are byte-identical whatever the number of worker processes (`logfiles`);
- the manifest only aggregates counts per (principal, call, outcome) (`manifest`).
The calls and behaviour profiles are data: `calls.json`, `profiles.json` (`calls`).
"""

from policygen_synth.corpus import generate_corpus
from policygen_synth.manifest import Manifest
from policygen_synth.spec import CorpusSpec

__all__ = ["CorpusSpec", "Manifest", "generate_corpus"]
