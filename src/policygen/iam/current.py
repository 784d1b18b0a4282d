"""What a principal holds today: its identity policies, read from IAM or from a file.

Both ways read the same shape, `GetAccountAuthorizationDetails`'s: live from IAM (every
page, with the ambient credentials or an assumed role, through `AWS_ENDPOINT_URL` like
every other AWS call), or offline from the JSON that
`aws iam get-account-authorization-details` writes, so an air-gapped reviewer gets the
same answer. For a user its groups' policies count too; managed policies are read at
their default version; a permissions boundary is kept aside (it limits, never grants).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from policygen.core.arns import Principal
from policygen.core.aws import AwsAccess, aws_errors, client, failure
from policygen.iam.grants import Grants, PolicyError, load_document, parse_policy

PolicyKind = Literal["inline", "managed", "aws-managed"]
#: Where each kind of principal keeps its inline policies in the details.
_LISTS = {"role": "RoleDetailList", "user": "UserDetailList"}
_INLINE = {"role": "RolePolicyList", "user": "UserPolicyList", "group": "GroupPolicyList"}
OPERATION = "iam:GetAccountAuthorizationDetails"


class PrincipalNotFound(ValueError):
    """The principal is not in the account's authorization details."""


@dataclass(frozen=True, slots=True)
class HeldPolicy:
    """One policy that applies to the principal: inline, or managed at its default version.

    `group` names the group it comes through, for a user's group policies.
    """

    name: str
    kind: PolicyKind
    document: dict[str, Any]
    arn: str | None = None
    version: str | None = None
    group: str | None = None

    @property
    def label(self) -> str:
        """How reports name it: `inline deploy`, `managed arn:...`, `group dev: inline x`."""
        what = f"{self.kind} {self.arn or self.name}"
        return f"group {self.group}: {what}" if self.group else what


@dataclass(slots=True)
class CurrentPermissions:
    """A principal's identity-based policies and where they were read from."""

    principal: Principal
    source: str
    policies: list[HeldPolicy] = field(default_factory=list)
    boundary: HeldPolicy | None = None

    def grants(self) -> Grants:
        """What the policies grant together (the boundary is not a grant)."""
        grants = Grants()
        for policy in self.policies:
            grants.add(parse_policy(policy.document), policy.label)
        return grants

    def boundary_grants(self) -> Grants | None:
        """What the permissions boundary allows, or None without one."""
        if self.boundary is None:
            return None
        grants = Grants()
        grants.add(parse_policy(self.boundary.document), self.boundary.label)
        return grants


def read_details_file(path: str | Path) -> dict[str, Any]:
    """The JSON `aws iam get-account-authorization-details` wrote; ValueError (naming the
    file) when it cannot be read or is not that."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not any(key in data for key in _LISTS.values()):
        raise ValueError(
            f"{path}: not the output of aws iam get-account-authorization-details "
            "(no RoleDetailList or UserDetailList)"
        )
    return data


def fetch_details(access: AwsAccess) -> dict[str, Any]:
    """Every page of GetAccountAuthorizationDetails, merged; AWS failures are JobFailures
    naming the operation and whose credentials were used."""
    try:
        paginator = client(access, "iam").get_paginator("get_account_authorization_details")
        return paginator.paginate().build_full_result()
    except aws_errors() as exc:
        raise failure(exc, f"{OPERATION} with {access.describe()}") from exc


def _entity(details: Mapping[str, Any], principal: Principal, source: str) -> dict[str, Any]:
    entries = details.get(_LISTS[principal.kind]) or []
    for entry in entries:
        if entry.get("Arn") == principal.arn:
            return entry
    raise PrincipalNotFound(
        f"{principal.kind} {principal.arn} is not in the authorization details of {source}"
    )


def _policy_details(details: Mapping[str, Any], arn: str, source: str) -> tuple[dict, str]:
    """A managed policy's default version document and its id."""
    for policy in details.get("Policies") or []:
        if policy.get("Arn") != arn:
            continue
        for version in policy.get("PolicyVersionList") or []:
            if version.get("IsDefaultVersion"):
                return load_document(version["Document"]), version.get("VersionId", "")
        raise ValueError(f"managed policy {arn} has no default version in {source}")
    raise ValueError(
        f"managed policy {arn} is not in {source} (was it written with a --filter that "
        "left out LocalManagedPolicy or AWSManagedPolicy?)"
    )


def _managed(
    details: Mapping[str, Any], attached: Mapping[str, str], source: str, group: str | None
) -> HeldPolicy:
    arn = attached["PolicyArn"]
    document, version = _policy_details(details, arn, source)
    kind: PolicyKind = "aws-managed" if ":iam::aws:policy/" in arn else "managed"
    return HeldPolicy(attached["PolicyName"], kind, document, arn, version, group)


def _policies_of(
    details: Mapping[str, Any],
    entry: Mapping[str, Any],
    kind: str,
    source: str,
    group: str | None = None,
) -> list[HeldPolicy]:
    held = [
        HeldPolicy(p["PolicyName"], "inline", load_document(p["PolicyDocument"]), group=group)
        for p in entry.get(_INLINE[kind]) or []
    ]
    held.extend(
        _managed(details, attached, source, group)
        for attached in entry.get("AttachedManagedPolicies") or []
    )
    return held


def _group(details: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    for group in details.get("GroupDetailList") or []:
        if group.get("GroupName") == name:
            return group
    raise ValueError(f"group {name} is not in the authorization details of {source}")


def permissions_from(
    details: Mapping[str, Any], principal: Principal, source: str
) -> CurrentPermissions:
    """The principal's policies in authorization details read from `source` (named in
    errors). ValueError when the details are incomplete or a policy is not valid."""
    entry = _entity(details, principal, source)
    try:
        current = CurrentPermissions(principal, source)
        current.policies = _policies_of(details, entry, principal.kind, source)
        for name in entry.get("GroupList") or []:
            group = _group(details, name, source)
            current.policies.extend(_policies_of(details, group, "group", source, name))
        boundary = entry.get("PermissionsBoundary") or {}
        if boundary.get("PermissionsBoundaryArn"):
            attached = {
                "PolicyArn": boundary["PermissionsBoundaryArn"],
                "PolicyName": boundary["PermissionsBoundaryArn"].rsplit("/", 1)[-1],
            }
            current.boundary = _managed(details, attached, source, None)
        for policy in [*current.policies, *([current.boundary] if current.boundary else [])]:
            parse_policy(policy.document)
    except PolicyError as exc:
        raise ValueError(f"{source}: a policy of {principal.arn} is not valid: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{source}: malformed authorization details ({exc!r})") from None
    return current


def current_permissions(
    principal: Principal,
    *,
    details_file: str | Path | None = None,
    access: AwsAccess | None = None,
) -> CurrentPermissions:
    """The principal's identity policies: from `details_file` when given, else from IAM
    with `access` (the ambient credentials by default)."""
    if details_file is not None:
        return permissions_from(read_details_file(details_file), principal, str(details_file))
    access = access or AwsAccess()
    source = f"IAM ({OPERATION}, account of {access.describe()})"
    return permissions_from(fetch_details(access), principal, source)
