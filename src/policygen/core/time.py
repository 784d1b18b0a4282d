"""Timestamps as AWS writes them: ISO 8601 in UTC with a `Z`, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str | int | float | datetime) -> datetime:
    """Parse ISO 8601 (any offset, `Z`, date only) or epoch seconds into an aware UTC datetime.

    ValueError names the value when it is neither.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise ValueError(f"not an ISO 8601 time or epoch seconds: {value!r}") from None
    else:
        raise ValueError(f"not a time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """`2024-02-13T00:30:00Z`: the form CloudTrail records and the AWS API use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    """The current time in UTC, truncated to the second as AWS echoes it."""
    return datetime.now(UTC).replace(microsecond=0)
