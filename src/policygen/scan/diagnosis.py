"""Why a job found nothing: what it left out, and who was in the logs instead.

A one-principal scan never decodes a file without the principal's ARN (that is what
makes it fast), so an empty result alone cannot say whether the logs were empty, the
window wrong, or the ARN one letter off. When nothing matched, `look_around` reads a few
files of the window in every account (at most `MAX_FILES`, spread over the listing),
decoding every record, and finds the principals that look like the one asked for: the
same name in another account, a user asked for as a role (or the other way round), the
same name on another path, a role session's name given as the role's.

`explanation` turns a scan's statistics into the short block the CLI prints on stderr
and the server returns in its `policygen` section: what was read, what was left out and
dropped by reason with counts, and what to ask for instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from itertools import islice
from typing import Any

from policygen.cloudtrail.records import Record
from policygen.core.arns import Principal
from policygen.core.failures import JobFailure
from policygen.scan.decode import FileError, decode_records, decompress, other_shapes
from policygen.scan.query import DEFAULT_MAX_FILE_BYTES
from policygen.scan.usage import ScanStats
from policygen.sources.base import Selection, TrailSource, iter_contents

#: Files decoded whole by a look around, and files listed to choose them from.
MAX_FILES = 64
MAX_LISTED = 20_000
#: Principals named in a diagnosis at most.
MAX_LOOKALIKES = 5
#: The plural noun a prune reason starts with (`files`, `day folders`).
_SINGULAR = re.compile(r"^((?:\w+ )?(?:file|folder))s\b")
_ONE = r"\1"
#: `ScanStats.ignored` reasons about files, not about the principal's records.
FILE_REASONS = frozenset({"not a CloudTrail log file", "not a CloudTrail record"})


def look_around(
    source: TrailSource,
    selection: Selection,
    principal: Principal,
    record_key: str | None = None,
    max_files: int = MAX_FILES,
) -> dict[str, Any]:
    """Who made the calls in a sample of the window's files, in any account; JSON-ready.

    Failures to list or read are reported in the result, never raised: this only
    explains a result that is already complete.
    """
    wider = replace(selection, accounts=None, pruned=Counter())
    try:
        listed = list(islice(source.list_objects(wider), MAX_LISTED + 1))
        step = max(1, len(listed) // max_files)
        picked = listed[::step][:max_files]
        callers, sessions, looked = _callers(source, picked, record_key)
    except (JobFailure, OSError) as exc:
        return {"error": str(exc)}
    listed_count = f"{MAX_LISTED}+" if len(listed) > MAX_LISTED else str(len(listed))
    itself = callers.pop(principal.arn, 0)
    accounts: Counter[str] = Counter()
    for arn, count in callers.items():
        accounts[arn.split(":")[4]] += count
    found = lookalikes(principal, callers, sessions)
    if itself:
        why = "the principal itself, in files or records the job left out (see above)"
        found.insert(0, {"arn": principal.arn, "why": why, "records": itself})
    return {
        "filesListed": listed_count,
        "filesLookedAt": looked,
        "records": sum(callers.values()),
        "principals": len(callers),
        "accounts": dict(accounts.most_common()),
        "lookalikes": found[:MAX_LOOKALIKES],
    }


def _callers(
    source: TrailSource, objects: list[Any], record_key: str | None
) -> tuple[Counter[str], dict[str, Counter[str]], int]:
    """Records per user or role ARN, role ARNs per session name, and files decoded."""
    callers: Counter[str] = Counter()
    sessions: dict[str, Counter[str]] = {}
    looked = 0
    for _, data in iter_contents(source, objects):
        if isinstance(data, OSError):
            continue
        try:
            records = _records(decompress(data, DEFAULT_MAX_FILE_BYTES), record_key)
        except FileError:
            continue
        looked += 1
        for record in records:
            _count(record, callers, sessions)
    return callers, sessions, looked


def _records(text: bytes, record_key: str | None) -> list[Record]:
    stats = ScanStats()
    try:
        return decode_records(text, stats)
    except FileError as exc:
        return other_shapes(text, record_key, stats, exc)


def _count(record: Record, callers: Counter[str], sessions: dict[str, Counter[str]]) -> None:
    identity = record.userIdentity
    if identity is None:
        return
    if identity.type == "IAMUser" and identity.arn:
        callers[identity.arn] += 1
        return
    context = identity.sessionContext
    issuer = context.sessionIssuer if context is not None else None
    if identity.type != "AssumedRole" or issuer is None or issuer.type != "Role":
        return
    if issuer.arn:
        callers[issuer.arn] += 1
        session = (identity.arn or "").rsplit("/", 1)[-1]
        if session:
            sessions.setdefault(session.lower(), Counter())[issuer.arn] += 1


def lookalikes(
    asked: Principal, callers: Counter[str], sessions: dict[str, Counter[str]]
) -> list[dict[str, Any]]:
    """The principals seen that look like `asked`, most records first, each with why."""
    found = []
    for arn, count in callers.most_common():
        why = _likeness(asked, arn)
        if why:
            found.append({"arn": arn, "why": why, "records": count})
    for role, count in sessions.get(asked.name.lower(), Counter()).most_common():
        why = f"{asked.name} is a session name of this role: ask for the role"
        found.append({"arn": role, "why": why, "records": count})
    return found[:MAX_LOOKALIKES]


def _likeness(asked: Principal, arn: str) -> str:
    """Why `arn` looks like the principal asked for ("" when it does not)."""
    try:
        seen = Principal.parse(arn)
    except ValueError:
        return ""
    if seen.arn == asked.arn or seen.name.lower() != asked.name.lower():
        return ""
    differences = []
    if seen.kind != asked.kind:
        differences.append(f"a {seen.kind}, not a {asked.kind}")
    if seen.account != asked.account:
        differences.append(f"in account {seen.account}, not {asked.account}")
    if seen.kind == asked.kind and _path(seen) != _path(asked):
        differences.append(f"path {_path(seen)}, not {_path(asked)}")
    if seen.name != asked.name:
        differences.append("other letter case")
    return "same name, " + ", ".join(differences) if differences else ""


def _path(principal: Principal) -> str:
    resource = principal.arn.split(":", 5)[5]
    return "/" + resource.partition("/")[2].removesuffix(principal.name)


def needs_explanation(stats: ScanStats) -> bool:
    """Whether a one-principal result is empty or thin: nothing matched, or more of the
    principal's records were dropped than kept."""
    return stats.records_matched == 0 or sum(_dropped(stats).values()) > stats.records_matched


def _dropped(stats: ScanStats) -> Counter[str]:
    return Counter({k: n for k, n in stats.ignored.items() if k not in FILE_REASONS and n})


def explanation(principal_arn: str, stats: ScanStats) -> list[str]:
    """The block that tells a user why a result is empty or thin; [] when it is neither."""
    if not needs_explanation(stats):
        return []
    matched = stats.records_matched
    head = f"only {_n(matched, 'record')} of" if matched else "no records of"
    lines = [f"{head} {principal_arn} matched:"]
    files = (
        f"files: {stats.files_listed} listed, {stats.files_read} read, "
        f"{stats.files_skipped} unreadable; records decoded: {stats.records_read}"
    )
    if stats.shapes:
        files += f" ({counted(stats.shapes)})"
    lines.append(files)
    if stats.pruned:
        lines.append("left out by name: " + counted(stats.pruned))
    others = sum(n for k, n in stats.ignored.items() if k == "not a CloudTrail log file")
    if others:
        lines.append(f"files that are not CloudTrail logs: {others}")
    dropped = _dropped(stats)
    if dropped:
        lines.append("of its records, dropped: " + counted(dropped))
    lines.extend(_diagnosis_lines(stats.diagnosis))
    return ["  " + line if at else line for at, line in enumerate(lines)]


def _diagnosis_lines(diagnosis: dict[str, Any]) -> list[str]:
    if not diagnosis:
        return []
    if "error" in diagnosis:
        return [f"could not look around: {diagnosis['error']}"]
    accounts = ", ".join(diagnosis["accounts"]) or "none"
    lines = [
        f"looked at {diagnosis['filesLookedAt']} of {diagnosis['filesListed']} files in the "
        f"window, any account: {diagnosis['records']} records of "
        f"{diagnosis['principals']} other users and roles (accounts: {accounts})"
    ]
    for seen in diagnosis["lookalikes"]:
        lines.append(f"seen {seen['arn']}: {seen['why']} ({_n(seen['records'], 'record')})")
    if diagnosis["lookalikes"] and diagnosis["lookalikes"][0]["records"]:
        lines.append(f"did you mean {diagnosis['lookalikes'][0]['arn']}?")
    return lines


def confined(stats: ScanStats, account: str) -> ScanStats:
    """A copy of `stats` that names no account but `account` and no principal outside it
    (what a server may show a caller of that account)."""
    pruned: Counter[str] = Counter()
    for reason, count in stats.pruned.items():
        other = reason.rsplit(" ", 1)[-1]
        if reason.startswith(("files of account ", "folders of account ")) and other != account:
            reason = reason.removesuffix(other).replace("account", "other accounts")
        pruned[reason.strip()] += count
    found = dict(stats.diagnosis)
    if "lookalikes" in found:
        found["lookalikes"] = [
            seen for seen in found["lookalikes"] if seen["arn"].split(":")[4] == account
        ]
        found["accounts"] = {a: n for a, n in found["accounts"].items() if a == account}
    copy = replace(stats, pruned=pruned, diagnosis=found)
    return copy


def counted(counter: Counter[str]) -> str:
    """`2 files of other regions, 1 folder of account 1234...`: reasons are plural."""
    return ", ".join(
        f"{n} {reason if n != 1 else _SINGULAR.sub(_ONE, reason, count=1)}"
        for reason, n in sorted(counter.items())
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
