"""The activity chart's geometry: bars per day (or week, month, year) of counted events, with
their axes, in SVG user units. No query and no request: the user page counts, this draws."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

#: The most bars a chart draws; longer ranges are drawn per week, month or year.
MAX_BARS = 92


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class Bar:
    label: str
    count: int
    noun: str = "event"
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0

    @property
    def title(self) -> str:
        return f"{self.label}: {_counted(self.count, self.noun)}"


@dataclass
class Tick:
    text: str
    x: float
    y: float
    anchor: str = "middle"


@dataclass
class Chart:
    """An SVG bar chart of events (or requests) per day (or per week, month or year for long
    ranges)."""

    start: datetime.date
    end: datetime.date
    unit: str
    bars: list[Bar]
    total: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    noun: str = "event"

    @property
    def caption(self) -> str:
        return _counted(self.total, self.noun)

    # The drawing, in SVG user units (the SVG scales to the page's width).
    width = 880
    height = 190
    left = 44
    right = 8
    top = 10
    bottom = 26

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom

    @property
    def plot_right(self) -> float:
        return self.width - self.right


def _next_month(day: datetime.date) -> datetime.date:
    return datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)


# unit: (the start of the bucket that holds a day, the start of the next bucket, its label)
_UNITS = {
    "day": (
        lambda d: d,
        lambda d: d + datetime.timedelta(days=1),
        lambda d: d.isoformat(),
    ),
    "week": (
        lambda d: d - datetime.timedelta(days=d.weekday()),
        lambda d: d + datetime.timedelta(days=7),
        lambda d: f"Week of {d.isoformat()}",
    ),
    "month": (
        lambda d: d.replace(day=1),
        _next_month,
        lambda d: d.strftime("%Y-%m"),
    ),
    "year": (
        lambda d: d.replace(month=1, day=1),
        lambda d: d.replace(year=d.year + 1),
        lambda d: str(d.year),
    ),
}


def _bucket_starts(unit: str, start: datetime.date, end: datetime.date, limit: int):
    """The starts of the buckets from `start` to `end`, or None if there are more than
    `limit`."""
    first_of, next_of, _ = _UNITS[unit]
    starts, current = [], first_of(start)
    while current <= end:
        if len(starts) == limit:
            return None
        starts.append(current)
        try:
            current = next_of(current)
        except (OverflowError, ValueError):  # past 9999-12-31
            break
    return starts


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def activity_chart(
    day_counts: dict[datetime.date, int],
    start: datetime.date,
    end: datetime.date,
    noun: str = "event",
) -> Chart:
    """The chart of `day_counts` (of `noun`s) from `start` to `end` (both included): one bar
    per day, or per week, month or year when there would be more than `MAX_BARS` bars."""
    for unit in _UNITS:
        starts = _bucket_starts(unit, start, end, MAX_BARS)
        if starts is not None:
            break
    else:
        # Centuries of range: draw the years that have events (or the last few).
        if day_counts:
            start, end = max(start, min(day_counts)), min(end, max(day_counts))
        else:
            start = max(start, end.replace(month=1, day=1, year=max(1, end.year - 9)))
        unit = "year"
        starts = _bucket_starts(unit, start, end, 10_000)

    first_of, _, label_of = _UNITS[unit]
    counts = dict.fromkeys(starts, 0)
    for day, count in day_counts.items():
        bucket = first_of(day)
        if bucket in counts and start <= day <= end:
            counts[bucket] += count
    bars = [Bar(label_of(bucket), counts[bucket], noun) for bucket in starts]

    chart = Chart(start, end, unit, bars, sum(counts.values()), [], [], noun)
    top_value = _nice_ceiling(max(counts.values(), default=0))
    plot_width = chart.plot_right - chart.left
    plot_height = chart.plot_bottom - chart.top
    slot = plot_width / max(len(bars), 1)
    gap = min(slot * 0.2, 6)
    for index, bar in enumerate(bars):
        bar.width = round(slot - gap, 2)
        bar.x = round(chart.left + index * slot + gap / 2, 2)
        height = plot_height * bar.count / top_value
        if bar.count:
            height = max(height, 1.5)  # one event still shows
        bar.height = round(height, 2)
        bar.y = round(chart.plot_bottom - height, 2)

    values = [0, top_value // 2, top_value] if top_value % 2 == 0 else [0, top_value]
    chart.y_ticks = [
        Tick(
            str(value),
            chart.left - 6,
            round(chart.plot_bottom - plot_height * value / top_value, 2),
            "end",
        )
        for value in values
    ]
    # Date labels under the first and the last bar, and a few between them.
    wanted = 6 if unit == "day" else 5
    step = max(1, math.ceil(len(bars) / wanted))
    indexes = sorted({*range(0, len(bars), step), len(bars) - 1})
    if len(indexes) > 2 and indexes[-1] - indexes[-2] < step * 0.6:
        del indexes[-2]  # too close to the last label
    for index in indexes:
        anchor = "start" if index == 0 else "end" if index == len(bars) - 1 else "middle"
        text = starts[index].isoformat() if unit in ("day", "week") else label_of(starts[index])
        x = bars[index].x + (bars[index].width if anchor == "end" else 0)
        if anchor == "middle":
            x += bars[index].width / 2
        if len(bars) == 1:
            anchor, x = "middle", chart.left + plot_width / 2
        chart.x_ticks.append(Tick(text, round(x, 2), chart.height - 8, anchor))
    return chart
