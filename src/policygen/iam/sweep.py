"""The mapping sweep: every botocore operation, under the eventSource CloudTrail logs it
with, through `policygen.mapping.map_call`.

One call at a time, a missing mapping shows only when a user hits it; the sweep finds them
all at once. An operation that comes out unmapped while its service is in the IAM
catalogue is a gap unless there is a reason it cannot be mapped; the sweep sorts each into
one (`Row.category`), and `scripts/mapping_sweep.py` prints them with the figures that
docs/behaviour.md quotes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from policygen.iam import catalogue, mapping

#: Why an unmapped operation of a known service stays unmapped.
UNSIGNED = "unsigned: the API takes no AWS signature, so no IAM action authorizes it"
BEARER = "bearer token: the API is authorized by a token, not by IAM"
NO_ACTION = "AWS documents no IAM action under this name (reason in operations.json)"
#: AWS's API reference (botocore's copy of it) names `<prefix>:<Operation>`: the action
#: exists at AWS, newer than the pinned catalogue, which policygen never writes past.
LAGS = "AWS's API reference names the same-named action; the pinned IAM catalogue lacks it"
CATALOGUE = "no action of this name in the pinned IAM catalogue; API reference names none"
#: A service the IAM catalogue does not know: not counted as a mapping gap.
UNKNOWN_SERVICE = "service not in the IAM catalogue"


@dataclass(frozen=True, slots=True)
class Row:
    """One botocore operation and what the mapping makes of it."""

    service: str
    event_source: str
    operation: str
    mapped: mapping.Mapped
    #: "" when mapped or ignored; else one of the reasons above.
    category: str


def _source(metadata: dict[str, Any], service: str) -> tuple[str, bool]:
    """The eventSource CloudTrail logs a service with (its endpointPrefix, else its
    signingName or name when that is what names its IAM service), and whether the IAM
    catalogue knows the service."""
    names = [n for n in (metadata.get("endpointPrefix"), metadata.get("signingName"), service) if n]
    for name in names:
        source = f"{name}.amazonaws.com"
        if catalogue.has_service(mapping.iam_prefix(source)):
            return source, True
    return f"{names[0]}.amazonaws.com", False


def _auth_category(metadata: dict[str, Any], operation: dict[str, Any]) -> str:
    """UNSIGNED or BEARER when the model says so, else ""."""
    auth = list(operation.get("auth", ())) or list(metadata.get("auth", ()))
    if operation.get("authtype") == "none" or auth == ["smithy.api#noAuth"]:
        return UNSIGNED
    if metadata.get("signatureVersion") == "bearer" or "smithy.api#httpBearerAuth" in auth[:1]:
        return BEARER
    return ""


def _category(mapped: mapping.Mapped, known: bool, auth: str, named: bool) -> str:
    """Why an operation is unmapped ("" when it is not); `named`: its API reference text
    names the action of its own name."""
    if mapped.status != "unmapped":
        return ""
    if not known:
        return UNKNOWN_SERVICE
    if auth:
        return auth
    if mapped.reason.startswith("no IAM action:"):
        return NO_ACTION
    return LAGS if named else CATALOGUE


def _names_itself(prefix: str, name: str, operation: dict[str, Any]) -> bool:
    """True when the operation's documentation names `<prefix>:<name>` as its action."""
    return f"{prefix}:{name}".lower() in operation.get("documentation", "").lower()


def rows() -> Iterator[Row]:
    """Every operation of every botocore service model, mapped."""
    from botocore.loaders import create_loader

    loader = create_loader()
    for service in sorted(loader.list_available_services("service-2")):
        model = loader.load_service_model(service, "service-2")
        metadata = model["metadata"]
        source, known = _source(metadata, service)
        for name, operation in sorted(model["operations"].items()):
            mapped = mapping.map_call(source, name)
            auth = _auth_category(metadata, operation)
            named = _names_itself(mapped.prefix, name, operation)
            category = _category(mapped, known, auth, named)
            yield Row(service, source, name, mapped, category)


def rule_kind(rule: str) -> str:
    """The kind of a mapping rule, for figures: its text before the citation
    (`operation table entry: https://...` -> `operation table entry`)."""
    return rule.split(":", 1)[0].split(" (")[0] if rule else ""


@dataclass(slots=True)
class Figures:
    """The sweep's counts."""

    operations: int = 0
    services: int = 0
    mapped: int = 0
    ignored: int = 0
    #: how mapped operations were mapped, by the kinds of rule that named their actions.
    by_rule: Counter[str] = field(default_factory=Counter)
    #: unmapped operations by category.
    unmapped: Counter[str] = field(default_factory=Counter)


def figures(swept: list[Row]) -> Figures:
    """Count the sweep: operations, mapped (by kind of rule), ignored, unmapped by reason."""
    out = Figures()
    out.operations = len(swept)
    out.services = len({row.service for row in swept})
    for row in swept:
        if row.mapped.status == "mapped":
            out.mapped += 1
            kinds = {rule_kind(rule) for _, rule in row.mapped.rules}
            out.by_rule[" + ".join(sorted(kinds))] += 1
        elif row.mapped.status == "ignored":
            out.ignored += 1
        else:
            out.unmapped[row.category] += 1
    return out
