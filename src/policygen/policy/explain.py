"""policygen's details next to a result: why each action is there, and what to review.

The CLI prints them under one extra top-level key, `"policygen"`, of an otherwise
AWS-shaped `generatedPolicyResult`; `policygen explain` prints the explain part as a
table. Everything here is read from the `Analysis` (nothing is recomputed from logs).
"""

from __future__ import annotations

import json
from typing import Any

from policygen.iam.analysis import ActionUse, Analysis
from policygen.iam.dependents import NOT_ADDED, dependents_of
from policygen.iam.mapping import SAME_NAME
from policygen.iam.passrole import is_instance_profile
from policygen.policy.render import PASS_ROLE, RenderOptions
from policygen.scan.diagnosis import confined, explanation

#: The one extra top-level key of the CLI result.
EXTENSION_KEY = "policygen"


def use_entry(use: ActionUse) -> dict[str, Any]:
    """Why an action is granted: how many calls, when, an example, and which calls."""
    return {
        "count": use.count,
        "first": use.first,
        "last": use.last,
        "exampleEventId": use.example_event_id,
        "deniedCount": use.denied_count,
        "deniedOnly": use.denied_only,
        "events": list(use.events),
        "mappedBy": dict(use.mapped_by),
    }


def explain(analysis: Analysis) -> dict[str, dict[str, Any]]:
    """Per action of the policy (and per service of inferred PassRole, keyed
    `iam:PassRole -> <service>`), the calls that caused it."""
    entries = {action: use_entry(use) for action, use in analysis.actions.items()}
    for service, use in analysis.passed_roles.items():
        entries[f"{PASS_ROLE} -> {service}"] = {
            **use_entry(use),
            "inferred": True,
            "roles": [r for r in use.roles if not is_instance_profile(r)],
            "instanceProfiles": [r for r in use.roles if is_instance_profile(r)],
        }
    return entries


def pass_role_entries(analysis: Analysis) -> list[dict[str, Any]]:
    """Inferred PassRole grants, one per service the roles were passed to."""
    return [
        {
            "service": service,
            "roles": [r for r in use.roles if not is_instance_profile(r)],
            "instanceProfiles": [r for r in use.roles if is_instance_profile(r)],
            "moreNotListed": use.overflow is not None,
            "count": use.count,
            "events": list(use.events),
        }
        for service, use in analysis.passed_roles.items()
    ]


def dependent_entries(analysis: Analysis) -> dict[str, list[dict[str, str]]]:
    """Action -> dependent actions the policy lacks, each with why it is listed and,
    where it is never added, why not."""
    out: dict[str, list[dict[str, str]]] = {}
    for action, deps in dependents_of(analysis.actions).items():
        out[action] = [
            {
                **dep.to_dict(),
                **({"notAdded": NOT_ADDED[dep.action]} if dep.action in NOT_ADDED else {}),
            }
            for dep in deps
        ]
    return out


def extension(analysis: Analysis, options: RenderOptions) -> dict[str, Any]:
    """The `"policygen"` object of the CLI result."""
    return {
        "options": {
            "resources": options.resources,
            "passRole": options.pass_role,
            "dependentActions": options.dependent_actions,
            "maxArnsPerStatement": options.max_arns,
        },
        "deniedOnly": [a for a, use in analysis.actions.items() if use.denied_only],
        "passRole": pass_role_entries(analysis),
        "dependentActions": dependent_entries(analysis),
        "unmapped": [
            {
                "eventSource": u.event_source,
                "eventName": u.event_name,
                "count": u.count,
                "reason": u.reason,
            }
            for u in analysis.unmapped
        ],
        "skippedFiles": dict(sorted(analysis.stats.skipped.items())),
        **why(analysis),
        "explain": explain(analysis),
        **(
            {"serviceLevelTemplateSource": analysis.service_level_source}
            if options.service_level
            else {}
        ),
    }


def why(analysis: Analysis, account: str | None = None) -> dict[str, Any]:
    """`{"whyEmpty": [...]}`, the lines that say why a result is empty or thin, and what
    the scan left out and looked at; nothing when the result is neither. With `account`
    (a server answering that account), nothing of other accounts is named."""
    stats = analysis.stats if account is None else confined(analysis.stats, account)
    lines = explanation(analysis.principal_arn, stats)
    if not lines:
        return {}
    return {
        "whyEmpty": [line.strip() for line in lines],
        "leftOut": dict(sorted(stats.pruned.items())),
        "dropped": dict(sorted(stats.ignored.items())),
        "lookedAround": stats.diagnosis,
    }


_COLUMNS = ("ACTION", "CALLS", "FIRST", "LAST", "EXAMPLE EVENT", "FROM")


def explain_table(analysis: Analysis) -> str:
    """`policygen explain`'s table: one row per action, `!` marking actions that were
    only ever denied (a reviewer may drop them)."""
    entries = explain(analysis)
    rows = [
        (
            ("! " if entry["deniedOnly"] else "") + name,
            str(entry["count"]),
            entry["first"],
            entry["last"],
            entry["exampleEventId"],
            ", ".join(entry["events"]),
        )
        for name, entry in entries.items()
    ]
    if not rows:
        return "no actions: the principal made no API calls in the window"
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [_COLUMNS, *rows]
    ]
    if any(entry["deniedOnly"] for entry in entries.values()):
        lines.append("! only ever denied: a reviewer may drop it")
    lines.extend(_rule_lines(entries))
    return "\n".join(line.rstrip() for line in lines)


def _rule_lines(entries: dict[str, dict[str, Any]]) -> list[str]:
    """Below the table, how each call maps to an action not named like it (rename tables,
    families, cited entries, request facts), so a reviewer can check the rule."""
    found = [
        f"  {name} <- {event}: {rule}"
        for name, entry in entries.items()
        for event, rule in entry.get("mappedBy", {}).items()
        if rule != SAME_NAME
    ]
    return ["", "mapped by:", *found] if found else []


def explain_json(analysis: Analysis) -> str:
    return json.dumps(explain(analysis), indent=2)
