#!/usr/bin/env python3
"""Beyond-AWS figures over real CloudTrail logs: inferred PassRole, observed resource ARNs.

Reads every record in a folder of public samples (any layout, as `dataset_report.py`),
runs the real scanner (`policygen.scan.scanner.Scan`) over them for every IAM user and role
found, analyses each principal, and renders policygen's mode with `--resources observed`.
Prints, over all principals: the PassRole grants inferred (and each one), and the share
of statements that name observed ARNs.

Usage: scripts/beyond_report.py [DATASETS_DIR] [--exclude FOLDER ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import msgspec
from dataset_report import find_records, read_json_values

from policygen.cloudtrail.records import RECORD_DECODER, Record
from policygen.core.arns import Principal
from policygen.iam.analysis import analyse
from policygen.policy.render import PASS_ROLE_SID, SUPPORTED_SID, RenderOptions, render_analysis
from policygen.scan.fold import Scan
from policygen.scan.query import ScanQuery

ROOT = Path(__file__).resolve().parent.parent
EVERYTHING = ScanQuery(None, "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


def names_arns(statement: dict) -> bool:
    """Whether a statement lists at least one observed ARN (not `*`, not a placeholder)."""
    resources = statement["Resource"]
    resources = [resources] if isinstance(resources, str) else resources
    return any(r != "*" and "${" not in r for r in resources)


def records(root: Path, exclude: set[str]) -> list[Record]:
    """Every decodable record under `root` (the scanner's own struct)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md"):
        if path.relative_to(root).parts[0] in exclude:
            continue
        for value in read_json_values(path):
            for item in find_records(value):
                try:
                    found.append(RECORD_DECODER.decode(json.dumps(item)))
                except msgspec.ValidationError:
                    continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "datasets", nargs="?", type=Path, default=ROOT.parent / "shared" / "datasets"
    )
    parser.add_argument("--exclude", action="append", default=[], metavar="FOLDER")
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        parser.error(f"not a folder: {args.datasets}")
    scan = Scan(EVERYTHING)
    scan.add_records(records(args.datasets, set(args.exclude)))
    options = RenderOptions.policygen(resources="observed")
    totals: Counter[str] = Counter()
    grants = []
    for arn, usage in sorted(scan.results().items()):
        try:
            principal = Principal.parse(arn)
        except ValueError:
            continue
        analysis = analyse(usage)
        policies = render_analysis(analysis, options, partition=principal.partition)
        statements = [s for text in policies for s in json.loads(text)["Statement"]]
        supported = [s for s in statements if s["Sid"].startswith(SUPPORTED_SID)]
        scoped = [s for s in supported if s["Resource"] != "*"]
        totals["principals"] += 1
        totals["statements"] += len(supported)
        totals["scoped statements"] += len(scoped)
        totals["statements with observed ARNs"] += sum(1 for s in supported if names_arns(s))
        totals["actions"] += len(analysis.actions)
        totals["actions with observed ARNs"] += sum(1 for u in analysis.actions.values() if u.arns)
        for statement in statements:
            if statement["Sid"].startswith(PASS_ROLE_SID):
                service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
                grants.append((arn, service, statement["Resource"]))
    print(f"principals: {totals['principals']}, actions: {totals['actions']}")
    print(f"iam:PassRole grants inferred: {len(grants)}")
    for arn, service, resource in grants:
        print(f"  {arn} -> {service}: {resource}")
    for label, part, whole in (
        ("statements with observed ARNs", "statements with observed ARNs", "statements"),
        ("of statements with a resource", "statements with observed ARNs", "scoped statements"),
        ("actions with observed ARNs", "actions with observed ARNs", "actions"),
    ):
        share = 100 * totals[part] / totals[whole] if totals[whole] else 0.0
        print(f"{label}: {totals[part]}/{totals[whole]} ({share:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
