"""The benchmark harness still runs (tiny corpus; trailscraper only if it is installed)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from scanhelp import principal_arn

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "run.py"
TRAILSCRAPER = ROOT / "benchmarks" / ".venv-trailscraper" / "bin" / "trailscraper"
QUIET = "arn:aws:iam::111122223333:user/dev/alice"  # run.py's --quiet default


def _count_calls(corpus: Path) -> tuple[Counter[str], set[str]]:
    """API calls per principal ARN (IAM users and roles) in every log file of the corpus."""
    calls: Counter[str] = Counter()
    principals: set[str] = set()
    for path in corpus.glob("AWSLogs/*/CloudTrail/**/*.json.gz"):
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            arn = principal_arn(record)
            if arn is None:
                continue
            principals.add(arn)
            calls[arn] += record.get("eventType") == "AwsApiCall"
    return calls, principals


@pytest.mark.slow
def test_benchmark_harness_smoke(tmp_path: Path) -> None:
    results, doc = tmp_path / "results.json", tmp_path / "performance.md"
    args = [
        sys.executable,
        str(HARNESS),
        "--size",
        "2MB",
        "--rounds",
        "1",
        "--corpus",
        str(tmp_path / "corpus"),
        "--results",
        str(results),
        "--doc",
        str(doc),
        "--no-spark",  # the Spark cases start their own JVMs: the Spark tests cover the engine
    ]
    if not TRAILSCRAPER.exists():
        args.append("--no-trailscraper")
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(results.read_text())
    cases = ("decompress-1w", "one-1w", "one-2w", "one-quiet-1w", "all-2w", "cli-one")
    for case in (*cases, "ceiling-one-1w", "ceiling-all-1w", "index-build"):
        assert result["figures"][case]["seconds"] > 0, case
        assert result["figures"][case]["peak_rss_mb"] > 0, case
    # what the cases found, against a count made here with gzip and json alone
    runs = {name: result["runs"][name][0] for name in result["runs"]}
    calls, principals = _count_calls(tmp_path / "corpus")
    role = result["meta"]["role"]
    assert runs["one-1w"]["calls"] == runs["one-2w"]["calls"] == calls[role]
    assert runs["one-quiet-1w"]["calls"] == calls[QUIET]
    assert runs["all-2w"]["principals"] == len(principals)
    # the one-principal cases read the role's account only, the all-principals ones every file
    assert runs["one-1w"]["files"] == runs["decompress-1w"]["files"]
    assert runs["one-1w"]["files"] < runs["all-2w"]["files"] == runs["decompress-all-2w"]["files"]
    assert runs["index-build"]["bytes"] == runs["all-2w"]["bytes"]
    assert result["figures"]["index-query"]["slowest_principal"].startswith("arn:aws:iam::")
    assert set(result["ratios"]) >= {"one_vs_decompress_1w", "all_vs_decompress_2w"}
    # the ceilings read what their scans read, and stop before counting
    figures = result["figures"]
    assert figures["ceiling-one-1w"]["mb_per_s"] is not None
    assert result["runs"]["ceiling-one-1w"][0]["bytes"] == result["runs"]["one-1w"][0]["bytes"]
    assert result["runs"]["ceiling-all-1w"][0]["bytes"] == result["runs"]["all-2w"][0]["bytes"]
    assert "| target | measured | goal |" in doc.read_text()
