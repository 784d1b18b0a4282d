#!/usr/bin/env python3
"""Check policygen's event-to-action mapping against real CloudTrail logs.

Walks a folder of public CloudTrail samples (any layout: `{"Records": [...]}` files, JSON
arrays, NDJSON, single events, gzipped or not) and prints, for the `AwsApiCall` records:
how many distinct (eventSource, eventName) pairs and records map, the unmapped pairs, any
emitted action missing from the catalogue (must be none), and every disagreement with the
action AWS itself named in an AccessDenied message, which is the mapping's ground truth.

Usage: scripts/dataset_report.py [DATASETS_DIR]   (default: ../shared/datasets)
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from policygen.cloudtrail.qualifiers import needs_parameters, qualifier_for
from policygen.iam import catalogue
from policygen.iam.mapping import Mapped, map_call

ROOT = Path(__file__).resolve().parent.parent
DENIED_ACTION = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")

Pair = tuple[str, str]


def read_json_values(path: Path) -> list[Any]:
    """The JSON values in a file: one document, or one per line (NDJSON); [] if neither."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return []
    text = data.decode("utf-8", "replace")
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    values = []
    for line in text.splitlines():
        try:
            values.append(json.loads(line))
        except ValueError:
            continue
    return values


def find_records(value: Any) -> Iterator[dict[str, Any]]:
    """Every object that looks like a CloudTrail record, however deeply it is wrapped."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("eventSource"), str) and isinstance(item.get("eventName"), str):
                yield item
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def api_calls(root: Path, exclude: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dataset folder, record) for the `AwsApiCall` records under `root`."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md"):
        folder = path.relative_to(root).parts[0]
        if folder in exclude:
            continue
        for value in read_json_values(path):
            for record in find_records(value):
                if record.get("eventType") == "AwsApiCall":
                    yield folder, record


def map_record(record: dict[str, Any]) -> Mapped:
    """Map a record as the scanner does: qualifier only when the parameters matter."""
    source, name = record["eventSource"], record["eventName"]
    params = record.get("requestParameters")
    qualifier = qualifier_for(source, name, params) if needs_parameters(source, name) else ""
    return map_call(source, name, qualifier)


def denied_action(record: dict[str, Any]) -> str | None:
    """The IAM action an AccessDenied message names, if it names one."""
    message = record.get("errorMessage")
    match = DENIED_ACTION.search(message) if isinstance(message, str) else None
    return match.group(1) if match else None


class Report:
    """Counts gathered over all records."""

    def __init__(self) -> None:
        self.records: Counter[Pair] = Counter()
        self.mapped: dict[Pair, Mapped] = {}
        self.not_in_catalogue: set[str] = set()
        self.disagreements: Counter[tuple[str, str, str, str]] = Counter()
        self.agreements: Counter[Pair] = Counter()
        self.folders: dict[Pair, set[str]] = defaultdict(set)

    def add(self, folder: str, record: dict[str, Any]) -> None:
        pair = (record["eventSource"], record["eventName"])
        mapped = map_record(record)
        self.records[pair] += 1
        self.folders[pair].add(folder)
        self.mapped.setdefault(pair, mapped)  # the status never depends on the qualifier
        self.not_in_catalogue.update(a for a in mapped.actions if not in_catalogue(a))
        truth = denied_action(record)
        if truth is None:
            return
        if truth.lower() in {a.lower() for a in mapped.actions}:
            self.agreements[pair] += 1
        else:
            ours = ", ".join(mapped.actions) or f"<{mapped.status}: {mapped.reason}>"
            self.disagreements[(*pair, truth, ours)] += 1

    def print(self) -> None:
        by_status: dict[str, list[Pair]] = defaultdict(list)
        for pair, mapped in self.mapped.items():
            by_status[mapped.status].append(pair)
        pairs, records = len(self.records), sum(self.records.values())
        print(f"AwsApiCall records: {records}, distinct (eventSource, eventName) pairs: {pairs}")
        for status in ("mapped", "ignored", "unmapped"):
            found = by_status[status]
            count = sum(self.records[p] for p in found)
            print(
                f"  {status:9} pairs {len(found):5} ({share(len(found), pairs)})"
                f"   records {count:6} ({share(count, records)})"
            )
        for status in ("unmapped", "ignored"):
            print(f"\n{status.capitalize()} pairs ({len(by_status[status])}):")
            for pair in sorted(by_status[status]):
                where = ", ".join(sorted(self.folders[pair]))
                print(
                    f"  {pair[0]} {pair[1]} x{self.records[pair]} [{where}]:"
                    f" {self.mapped[pair].reason}"
                )
        print(f"\nMapped actions not in the catalogue: {len(self.not_in_catalogue)}")
        for action in sorted(self.not_in_catalogue):
            print(f"  {action}")
        print(
            f"\nDenial messages: {sum(self.agreements.values())} agree"
            f" ({len(self.agreements)} pairs), {sum(self.disagreements.values())} disagree:"
        )
        for (source, name, truth, ours), count in sorted(self.disagreements.items()):
            where = ", ".join(sorted(self.folders[source, name]))
            print(f"  {source} {name} x{count} [{where}]: AWS checked {truth}, we map to {ours}")


def in_catalogue(action: str) -> bool:
    """True when `action` is a catalogue action written in canonical casing."""
    return catalogue.canonical(*catalogue.split_action(action)) == action


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "datasets", nargs="?", type=Path, default=ROOT.parent / "shared" / "datasets"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="FOLDER",
        help="skip a dataset folder, e.g. the hand-edited panther-analysis and streamalert",
    )
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        parser.error(f"not a folder: {args.datasets}")
    report = Report()
    for folder, record in api_calls(args.datasets, set(args.exclude)):
        report.add(folder, record)
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
