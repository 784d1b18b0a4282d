"""The "what it removes" page: the principal's policies as IAM holds them now, against the
job's calls (`policygen diff`), and each policy's trimmed version as a line diff a reviewer
approves line by line."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from policygen.core.failures import JobFailure
from policygen.policy.rightsize import RightSizing
from policygen.server.backend import PolicyGenerationService
from policygen.server.store import JobRecord, Status


@dataclass(slots=True)
class PolicyDiff:
    """One held policy: what happens to it, and its trimmed text against the held one."""

    name: str
    kind: str
    action: str
    granted: int
    used: list[str]
    #: (mark, line): mark is "+", "-" or " ", as a unified diff writes them.
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class RemovesPage:
    """Everything the page shows; `error` instead when IAM could not be read."""

    job: JobRecord
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    never_used: dict[str, int] = field(default_factory=dict)
    policies: list[PolicyDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _text(documents: list[dict[str, Any]]) -> list[str]:
    return [line for doc in documents for line in json.dumps(doc, indent=2).splitlines()]


def policy_diffs(sizing: RightSizing) -> list[PolicyDiff]:
    """Each held policy's diff, in the order IAM lists them."""
    found = []
    for trim, entry in zip(sizing.trims, sizing.to_dict()["policies"], strict=True):
        diff = PolicyDiff(
            entry["name"], entry["kind"], entry["action"], entry["grants"], entry["used"]
        )
        held, trimmed = _text([trim.policy.document]), _text(trim.trimmed)
        for line in difflib.unified_diff(held, trimmed, lineterm="", n=3):
            if line.startswith(("---", "+++", "@@")):
                continue
            diff.lines.append((line[:1], line[1:]))
        found.append(diff)
    return found


def removes_page(service: PolicyGenerationService, job_id: str, account: str | None) -> RemovesPage:
    """The page of a job the account can see (ValidationError otherwise)."""
    job = service.visible_job(job_id, account, with_analysis=True)
    page = RemovesPage(job)
    if job.status is not Status.SUCCEEDED or job.analysis is None:
        page.error = "The job has not succeeded: there are no calls to compare with yet."
        return page
    try:
        sizing = service.right_sizing(job)
    except JobFailure as exc:
        page.error = f"IAM could not be read: {exc.code}: {exc.message}"
        return page
    summary = sizing.to_dict()
    page.counts = summary["counts"]
    page.services = summary["services"]
    page.never_used = summary["servicesGrantedNeverUsed"]
    page.notes = summary["notes"]
    page.policies = policy_diffs(sizing)
    return page
