"""The ground truth of a corpus: its principals and who called what, by outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from policygen_synth.spec import Json

OUTCOMES = ("ok", "denied", "error")


@dataclass
class Manifest:
    """Ground truth: the principals and, per principal, its own API calls by outcome.

    A record is a principal's own call when its `eventType` is `AwsApiCall` and its
    identity is the user (`IAMUser`, `arn`) or a session of the role (`AssumedRole`,
    `sessionContext.sessionIssuer.arn`), whoever `invokedBy` names; every eventID counts
    once (re-delivered duplicates and other accounts' copies do not add calls).
    """

    params: dict[str, Json]
    principals: list[dict[str, str]]
    counts: dict[str, dict[tuple[str, str], dict[str, int]]]
    stats: dict[str, int]

    def calls(self, principal_arn: str) -> dict[tuple[str, str], dict[str, int]]:
        """(eventSource, eventName) -> {"ok": n, "denied": n, "error": n} for a principal."""
        return self.counts.get(principal_arn, {})

    def to_json(self) -> str:
        principals = [
            {
                **p,
                "calls": [
                    {"eventSource": s, "eventName": n, **c}
                    for (s, n), c in sorted(self.calls(p["arn"]).items())
                ],
            }
            for p in self.principals
        ]
        return msgspec.json.format(
            msgspec.json.encode(
                {"params": self.params, "stats": self.stats, "principals": principals}
            ),
            indent=2,
        ).decode()

    def write(self, path: Path | str) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        doc = msgspec.json.decode(text)
        principals, counts = [], {}
        for entry in doc["principals"]:
            calls = entry.pop("calls")
            principals.append(entry)
            counts[entry["arn"]] = {
                (c["eventSource"], c["eventName"]): {o: c[o] for o in OUTCOMES} for c in calls
            }
        return cls(doc["params"], principals, counts, doc["stats"])

    @classmethod
    def read(cls, path: Path | str) -> Manifest:
        return cls.from_json(Path(path).read_bytes())
