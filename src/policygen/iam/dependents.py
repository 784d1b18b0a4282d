"""Dependent actions: permissions the IAM catalogue says an action needs besides its own.

The SAR's "Dependent actions" column (`policygen.iam.catalogue.dependent_action_sources`).
Each is reported with the action and resource type that brought it in, so a reviewer
can see why it is there; the policy gets them only when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policygen.iam import catalogue

#: Dependents never added to a policy from the catalogue: `iam:PassRole` on an unscoped
#: resource is a privilege-escalation grant; policygen infers it from the roles passed.
NOT_ADDED = {"iam:PassRole": "inferred, scoped to the roles actually passed (--pass-role)"}


@dataclass(frozen=True, slots=True)
class Dependent:
    """One dependent action and why it is listed."""

    action: str
    needed_by: str
    resource_type: str  # "" when the catalogue lists it for the action as a whole

    @property
    def reason(self) -> str:
        on = f" (resource type {self.resource_type})" if self.resource_type else ""
        return f"the IAM catalogue lists it as a dependent action of {self.needed_by}{on}"

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "neededBy": self.needed_by, "reason": self.reason}


def dependents_of(actions: Iterable[str]) -> dict[str, list[Dependent]]:
    """Action in the policy -> its dependent actions that the policy does not already
    grant (sorted; actions without any are left out)."""
    granted = set(actions)
    found: dict[str, list[Dependent]] = {}
    for action in sorted(granted):
        deps = [
            Dependent(dep, action, resource_type)
            for dep, resource_type in catalogue.dependent_action_sources(action)
            if dep not in granted
        ]
        if deps:
            found[action] = sorted(deps, key=lambda d: d.action)
    return found


def added_actions(actions: Iterable[str]) -> list[str]:
    """The dependent actions a policy gets with `--dependent-actions` (sorted, unique)."""
    return sorted(
        {
            dep.action
            for deps in dependents_of(actions).values()
            for dep in deps
            if dep.action not in NOT_ADDED
        }
    )
