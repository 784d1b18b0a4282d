#!/usr/bin/env python3
"""Peak RSS of a one-principal scan over a million-file trail (listing stays lazy).

`.venv/bin/python benchmarks/million.py FOLDER` writes, once, 1,000,000 empty log files
(10 accounts x 4 regions x 100 days x 250 deliveries) under FOLDER, then scans all of them
for one principal with 2 workers and records the peak RSS in benchmarks/results.json
(`small.million`, shown in docs/performance.md by `run.py --render`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCOUNTS = [f"{100000000000 + i:012d}" for i in range(10)]
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-south-1"]
DAYS, PER_DAY = 100, 250


def make(root: Path) -> None:
    """Empty files in the CloudTrail layout: every file listed, batched and opened."""
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in range(DAYS):
                month, mday = divmod(day, 28)
                ymd = f"2026/{month + 1:02}/{mday + 1:02}"
                folder = root / "AWSLogs" / account / "CloudTrail" / region / ymd
                folder.mkdir(parents=True, exist_ok=True)
                for k in range(PER_DAY):
                    stamp = f"{ymd.replace('/', '')}T{k * 5 // 60:02}{k * 5 % 60:02}Z"
                    name = f"{account}_CloudTrail_{region}_{stamp}_{k:016d}.json.gz"
                    os.close(os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644))


def main() -> int:
    from policygen.core.arns import Principal
    from policygen.core.time import parse_time
    from policygen.scan.scanner import scan
    from policygen.sources.base import Selection
    from policygen.sources.local import LocalFolder

    root = Path(sys.argv[1])
    if not (root / "AWSLogs").is_dir():
        make(root)
    selection = Selection(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-05-01T00:00:00Z"))
    principal = Principal.parse(f"arn:aws:iam::{ACCOUNTS[0]}:role/x")
    began = time.perf_counter()
    found = scan(LocalFolder(root), selection, principal, workers=2)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    figure = {
        "files": found[principal.arn].stats.files_listed,
        "seconds": round(time.perf_counter() - began, 1),
        "peak_rss_mb": round((own + 2 * worker) / 1e6, 1),
        "load_average": " / ".join(f"{value:.1f}" for value in os.getloadavg()),
    }
    results = HERE / "results.json"
    data = json.loads(results.read_text())
    data.setdefault("small", {})["million"] = figure
    results.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
