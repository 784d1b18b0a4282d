"""Helpers shared by the scan, index and all-principals tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from policygen.scan.usage import Usage
from policygen.sources.base import Selection
from policygen_synth import Manifest

#: A window holding every event of the test corpus (it starts 2026-01-05 and lasts two days).
EVERYTHING = Selection(datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC))


def principal_arn(record: dict) -> str | None:
    """The IAM user's or role's ARN a raw CloudTrail record was made by (None for other
    identities): read straight from the JSON, independently of policygen's decoder."""
    identity = record.get("userIdentity") or {}
    if identity.get("type") == "IAMUser":
        return identity["arn"]
    if identity.get("type") == "AssumedRole":
        return identity["sessionContext"]["sessionIssuer"]["arn"]
    return None


def by_outcome(usage: Usage) -> dict[tuple[str, str], dict[str, int]]:
    """Counts per (eventSource, eventName) and outcome, the manifest's shape."""
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("ok", "denied", "error"), 0)
    )
    for key, stats in usage.calls.items():
        found[key.event_source, key.event_name][key.outcome] += stats.count
    return dict(found)


def truth(manifest: Manifest, arn: str) -> dict[tuple[str, str], dict[str, int]]:
    """The manifest's counts for `arn`, without calls it never made."""
    return {call: counts for call, counts in manifest.calls(arn).items() if any(counts.values())}


def comparable(usage: Usage) -> dict:
    """Everything a scan found, as plain data (to compare two scans exactly)."""
    return {key: (s.count, s.first, s.last, s.example_event_id) for key, s in usage.calls.items()}
