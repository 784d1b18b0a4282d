"""The activity chart of a job page, laid out here and drawn as SVG by its template.

Two kinds, by what is known without reading logs again:
- `bars`: calls per hour (windows up to three days) or per day, stacked by service, from
  the usage index's hour rows when the job's trails are indexed;
- `spans`: otherwise, per service the time from its first to its last call with the
  number of calls, from the job's own analysis (which keeps first, last and counts per
  action, not per-call times).
Either comes with the same numbers as a table, for screen readers and for reading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from policygen.core.time import parse_time
from policygen.index.activity import HourCount

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 40
#: Okabe and Ito's palette (told apart with colour blindness), then grey for the rest.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
OTHER_COLOUR = "#8a8a8a"
OTHER = "other services"
HOURLY_UP_TO = timedelta(days=3)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Shape:
    """One rectangle, with the words a screen reader or a tooltip gives it."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(slots=True)
class Chart:
    kind: str  # "bars", "spans" or "empty"
    caption: str
    shapes: list[Shape] = field(default_factory=list)
    legend: list[tuple[str, str, int]] = field(default_factory=list)  # service, colour, calls
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    table_head: tuple[str, ...] = ()
    table: list[tuple[str, ...]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


def service_of(event_source: str) -> str:
    """`ec2.amazonaws.com` -> `ec2`: how the chart names a service."""
    return event_source.split(".", 1)[0]


def _colours(totals: Mapping[str, int]) -> dict[str, str]:
    """The busiest services get a colour each; the others share `OTHER`'s."""
    ranked = sorted(totals, key=lambda s: (-totals[s], s))
    kept = ranked if len(ranked) <= len(PALETTE) else ranked[: len(PALETTE) - 1]
    colours = {service: PALETTE[i] for i, service in enumerate(kept)}
    return {s: colours.get(s, OTHER_COLOUR) for s in ranked}


def _legend(totals: Mapping[str, int], colours: Mapping[str, str]) -> list[tuple[str, str, int]]:
    named = [(s, colours[s], totals[s]) for s in colours if colours[s] != OTHER_COLOUR]
    rest = sum(totals[s] for s in colours if colours[s] == OTHER_COLOUR)
    return named + ([(OTHER, OTHER_COLOUR, rest)] if rest else [])


def _floor(moment: datetime, step: timedelta) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if step == DAY else moment


def bars(rows: Iterable[HourCount], start: datetime, end: datetime) -> Chart:
    """Calls per hour or day and service, stacked, over the whole window."""
    step = HOUR if end - start <= HOURLY_UP_TO else DAY
    first, last = _floor(start, step), _floor(end, step)
    buckets = [first + step * i for i in range(int((last - first) / step) + 1)]
    counts: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        hour = datetime.strptime(row.hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        service = service_of(row.event_source)
        counts[_floor(hour, step)][service] += row.calls
        totals[service] += row.calls
    unit = "hour" if step == HOUR else "day"
    caption = f"Calls per {unit} and service (UTC), from the usage index"
    if not totals:
        return Chart("empty", caption + ": no calls in the window")
    colours = _colours(totals)
    peak = max(sum(c.values()) for c in counts.values())
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(buckets)
    chart = Chart("bars", caption, legend=_legend(totals, colours))
    chart.table_head = (unit.capitalize(), "Service", "Calls")
    fmt = "%Y-%m-%d %H:00" if step == HOUR else "%Y-%m-%d"
    for i, bucket in enumerate(buckets):
        y = TOP + plot_h
        for service, calls in sorted(counts.get(bucket, {}).items(), key=lambda kv: -totals[kv[0]]):
            height = max(plot_h * calls / peak, 1.5)  # a single call stays visible
            y -= height
            label = f"{service}: {calls} call{'s' * (calls != 1)}, {bucket.strftime(fmt)}"
            x = LEFT + i * slot + slot * 0.1
            chart.shapes.append(Shape(x, y, max(slot * 0.8, 1), height, colours[service], label))
            chart.table.append((bucket.strftime(fmt), service, str(calls)))
    every = max(1, len(buckets) // 8)
    label_fmt = "%d %H:00" if step == HOUR else "%m-%d"
    chart.x_labels = [
        (LEFT + i * slot + slot / 2, b.strftime(label_fmt))
        for i, b in enumerate(buckets)
        if i % every == 0
    ]
    chart.y_labels = [(TOP + plot_h * (1 - f), str(round(peak * f))) for f in (0, 0.5, 1)]
    return chart


def spans(uses: Mapping[str, tuple[int, str, str]], start: datetime, end: datetime) -> Chart:
    """Per service, from its first to its last call, with its calls (`uses`: action ->
    (calls, first, last))."""
    caption = (
        "First to last call per service (UTC), from the job's analysis: "
        "index the trail (policygen index) for calls per hour"
    )
    per_service: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for action, use in uses.items():
        per_service[action.split(":", 1)[0]].append(use)
    if not per_service:
        return Chart("empty", caption + ": no calls in the window")
    rows = {
        service: (sum(u[0] for u in found), min(u[1] for u in found), max(u[2] for u in found))
        for service, found in sorted(per_service.items())
    }
    colours = _colours({s: r[0] for s, r in rows.items()})
    height = TOP + BOTTOM + 22 * len(rows)
    chart = Chart("spans", caption, legend=[], height=height)
    chart.table_head = ("Service", "Calls (summed over its actions)", "First call", "Last call")
    plot_w = WIDTH - LEFT - RIGHT - 64
    seconds = max((end - start).total_seconds(), 1)

    def at(text: str) -> float:
        offset = (parse_time(text) - start).total_seconds()
        return LEFT + 64 + plot_w * min(max(offset / seconds, 0), 1)

    for i, (service, (calls, first, last)) in enumerate(rows.items()):
        x0, x1 = at(first), at(last)
        label = f"{service}: {calls} call{'s' * (calls != 1)}, {first} to {last}"
        y = TOP + 22 * i
        chart.shapes.append(Shape(x0, y + 4, max(x1 - x0, 3), 14, colours[service], label))
        chart.y_labels.append((y + 15, service))
        chart.table.append((service, str(calls), first, last))
    chart.x_labels = [
        (LEFT + 64, start.strftime("%Y-%m-%d %H:%M")),
        (LEFT + 64 + plot_w, end.strftime("%Y-%m-%d %H:%M")),
    ]
    return chart
