#!/usr/bin/env python3
"""Sweep every botocore operation through policygen's call -> action mapping.

Prints the figures (operations, mapped by kind of rule, unmapped by reason) and, with
--list, every operation of a service the IAM catalogue knows that comes out unmapped,
with its reason. docs/behaviour.md quotes the figures; tests/test_sweep.py checks them.

    .venv/bin/python scripts/mapping_sweep.py [--list] [--category TEXT]
"""

from __future__ import annotations

import argparse

from policygen.iam import catalogue, sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list every unmapped operation")
    parser.add_argument("--category", default="", help="list only reasons containing TEXT")
    args = parser.parse_args()
    swept = list(sweep.rows())
    figures = sweep.figures(swept)
    print(f"IAM catalogue {catalogue.version()}")
    print(f"operations: {figures.operations} in {figures.services} botocore services")
    print(f"mapped: {figures.mapped}")
    for kind, count in sorted(figures.by_rule.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6}  {kind}")
    print(f"ignored (not a permission check): {figures.ignored}")
    print(f"unmapped: {sum(figures.unmapped.values())}")
    for reason, count in sorted(figures.unmapped.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6}  {reason}")
    if args.list:
        for row in swept:
            listed = row.category and row.category != sweep.UNKNOWN_SERVICE
            if listed and args.category.lower() in row.category.lower():
                print(f"{row.event_source}\t{row.operation}\t{row.mapped.reason}")


if __name__ == "__main__":
    main()
