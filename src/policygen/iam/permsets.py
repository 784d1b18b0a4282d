"""IAM Identity Center permission sets: one policy from the roles they provision.

Identity Center provisions a permission set into each account as a role
`role/aws-reserved/sso.amazonaws.com/[region/]AWSReservedSSO_<name>_<suffix>` (the
suffix differs per account). The permission set's inline policy is one document for all
of them, so their calls are merged into one usage, and ARNs in a member role's own
account are written with the account as the policy variable `${aws:PrincipalAccount}`
(IAM fills it in with the calling role's account, so the one policy is right in every
account); ARNs in other accounts stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from policygen.scan.usage import ScanStats, Usage

SSO_ROLE_RE = re.compile(
    r"arn:[^:]+:iam::(?P<account>\d{12}):role/aws-reserved/sso\.amazonaws\.com/"
    r"(?:[a-z0-9-]+/)?AWSReservedSSO_(?P<name>.+)_(?P<suffix>[0-9a-f]{16})"
)
#: What an account id of a member role becomes in the permission set's policy.
ACCOUNT_VARIABLE = "${aws:PrincipalAccount}"


def permission_set_of(arn: str) -> str | None:
    """The permission set name of an Identity Center role ARN, else None."""
    match = SSO_ROLE_RE.fullmatch(arn)
    return match["name"] if match else None


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def members(arns: Iterable[str], name: str | None = None) -> dict[str, list[str]]:
    """Permission set name -> its role ARNs among `arns` (only `name`'s when given)."""
    out: dict[str, list[str]] = {}
    for arn in sorted(arns):
        found = permission_set_of(arn)
        if found is not None and (name is None or found == name):
            out.setdefault(found, []).append(arn)
    return out


def label(name: str) -> str:
    """How a permission set is named where a principal ARN would be."""
    return f"permission-set/{name}"


def merged_usage(name: str, usages: Mapping[str, Usage]) -> Usage:
    """One usage of all the member roles' calls (scan statistics counted once: the
    members were read in the same scan)."""
    merged = Usage(label(name))
    for usage in usages.values():
        merged.merge(Usage(usage.principal_arn, usage.calls, ScanStats(), usage.observed))
        merged.stats = usage.stats
    return merged


def generalise(document: dict[str, Any], accounts: Iterable[str]) -> dict[str, Any]:
    """The policy with the member accounts in Resource ARNs made `${aws:PrincipalAccount}`
    (duplicates this makes removed)."""
    pattern = re.compile(
        r"^(arn:[^:]*:[^:]*:[^:]*:)(" + "|".join(map(re.escape, accounts)) + r")(:)"
    )
    for statement in document["Statement"]:
        resources = statement["Resource"]
        listed = [resources] if isinstance(resources, str) else resources
        out = list(dict.fromkeys(pattern.sub(rf"\g<1>{ACCOUNT_VARIABLE}\g<3>", r) for r in listed))
        statement["Resource"] = out[0] if len(out) == 1 else out
    return document
