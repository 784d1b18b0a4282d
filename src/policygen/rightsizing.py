"""Library entry points beyond one generation: right-sizing a principal, and one policy
per IAM Identity Center permission set.

Built on the generation pipeline: the CLI calls these, so it cannot disagree with the
library. A layer of its own, between `policygen.pipeline` (which it uses) and the
server and CLI (which use it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from policygen.core.arns import Principal
from policygen.core.aws import AwsAccess
from policygen.core.time import format_time
from policygen.iam import permsets
from policygen.iam.analysis import Analysis, AnalysisOptions, analyse
from policygen.iam.current import current_permissions
from policygen.pipeline import (
    GenerateOptions,
    GenerationResult,
    Job,
    ScanOptions,
    TrailProperties,
    generate_policy,
    render,
)
from policygen.policy.render import RenderOptions
from policygen.policy.rightsize import RightSizing, right_size
from policygen.sources.open import Location


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"startTime": format_time(start), "endTime": format_time(end)}


@dataclass(slots=True)
class Diff:
    """A principal's right-sizing and the generation it was measured against."""

    result: GenerationResult
    sizing: RightSizing

    def to_dict(self, options: RenderOptions | None = None) -> dict[str, Any]:
        """`policygen diff --json`: the comparison, the trimmed policies and, beside them,
        the policy generated from scratch (rendered under `options`)."""
        options = options or RenderOptions.policygen()
        return {
            **self.sizing.to_dict(),
            "window": window(self.result.start, self.result.end),
            "isComplete": self.result.analysis.is_complete,
            "incompleteReasons": self.result.analysis.incomplete_reasons,
            "generated": [json.loads(text) for text in self.result.policies(options)],
        }


def diff_principal(
    principal_arn: str,
    logs: Location,
    *,
    authorization_details: str | Path | None = None,
    access: AwsAccess | None = None,
    **generate: Any,
) -> Diff:
    """Compare what `principal_arn` holds with what it used in the logs' window.

    Its policies come from `authorization_details` (the JSON of
    `aws iam get-account-authorization-details`) when given, else from IAM with `access`
    (ambient credentials by default); they are read before the logs, so a missing
    principal or a refusal fails fast. `generate` are `GenerateOptions`'s keywords.
    ValueError for bad input, JobFailure when AWS refuses.
    """
    principal = Principal.parse(principal_arn)
    current = current_permissions(principal, details_file=authorization_details, access=access)
    result = generate_policy(principal_arn, logs, **generate)
    return Diff(result, right_size(current, result.analysis))


@dataclass(slots=True)
class PermissionSetResult:
    """One permission set's policy from the calls of all its roles, in every account."""

    name: str
    roles: list[str]
    analysis: Analysis
    start: datetime
    end: datetime
    trails: list[TrailProperties]
    #: account -> action -> calls, for the explanation.
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return self.roles[0].split(":")[1] if self.roles else "aws"

    def policies(self, options: RenderOptions) -> list[str]:
        """The permission set's inline policy (split like generated ones), member accounts
        written as `${aws:PrincipalAccount}`."""
        principal = Principal(permsets.label(self.name), self.partition, "", "role", self.name)
        accounts = sorted(self.accounts)
        return [
            json.dumps(permsets.generalise(json.loads(text), accounts), separators=(",", ":"))
            for text in render(self.analysis, principal, options)
        ]

    def to_dict(self, options: RenderOptions) -> dict[str, Any]:
        """What `generate --permission-set` writes: the policies and per-account usage."""
        return {
            "permissionSet": self.name,
            "roles": self.roles,
            "window": window(self.start, self.end),
            "isComplete": self.analysis.is_complete,
            "accountVariable": permsets.ACCOUNT_VARIABLE,
            "generatedPolicies": [{"policy": text} for text in self.policies(options)],
            "accounts": self.accounts,
        }


def _per_account(usages: dict[str, Any], options: AnalysisOptions) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for arn, usage in usages.items():
        counts = out.setdefault(permsets.account_of(arn), {})
        for action, use in analyse(usage, options).actions.items():
            counts[action] = counts.get(action, 0) + use.count
    return {account: dict(sorted(c.items())) for account, c in sorted(out.items())}


def permission_set_results(
    job: Job, options: AnalysisOptions, scan: ScanOptions, name: str | None = None
) -> list[PermissionSetResult]:
    """One result per permission set with a role in the logs (only `name`'s when given),
    from one scan of every account."""
    found = scan.scan(job.source, job.selection(None), None)
    return permission_sets_of(job, found, options, name)


def permission_sets_of(
    job: Job, found: dict[str, Any], options: AnalysisOptions, name: str | None = None
) -> list[PermissionSetResult]:
    """Permission set results from an all-principals scan's usages (`found`)."""
    results = []
    for set_name, roles in permsets.members(found, name).items():
        usages = {arn: found[arn] for arn in roles}
        analysis = analyse(permsets.merged_usage(set_name, usages), options)
        per_account = _per_account(usages, options)
        results.append(
            PermissionSetResult(
                set_name, roles, analysis, job.start, job.end, job.trails(), per_account
            )
        )
    return results


def generate_permission_set(
    name: str, logs: Location, options: GenerateOptions | None = None, **flags: Any
) -> PermissionSetResult:
    """The policy of permission set `name` from every account in the logs (an
    organization trail), as `options` (or `GenerateOptions`'s keyword `flags`) say;
    ValueError when no role of it made a call in the window."""
    options = options or GenerateOptions(**flags)
    job = options.job(logs)
    results = permission_set_results(job, options.analysis(), options.scan(), name)
    if not results:
        raise ValueError(f"no role of permission set {name} made a call in the window")
    return results[0]
