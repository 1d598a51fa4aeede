"""A server-rendered bar chart: geometry is computed here, the template only draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from messaging.console_selectors import DayVolume

WIDTH = 720
HEIGHT = 220
MARGIN_LEFT = 40
MARGIN_BOTTOM = 28
MARGIN_TOP = 10
SERIES = (("inbound", "Inbound"), ("outbound", "Outbound"), ("blocked", "Blocked"))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class DayLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_bottom: float
    plot_right: int
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    days: Sequence[DayVolume]
    total: int


# At most this many intervals on the y-axis (so at most one more tick).
MAX_INTERVALS = 5


def tick_step(peak: int) -> int:
    """The y-axis step: the smallest "nice" number (1, 2 or 5 times a power of ten) that
    covers `peak` in at most `MAX_INTERVALS` intervals, so every tick is a round number."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * MAX_INTERVALS >= peak:
                return step
        magnitude *= 10


def tick_values(peak: int) -> list[int]:
    """Round tick values from 0 up to the first multiple of the step at or above `peak`
    (at least one interval, so an empty chart still has an axis)."""
    step = tick_step(peak)
    intervals = max(1, -(-peak // step))
    return [step * i for i in range(intervals + 1)]


def day_labels(days: Sequence[date]) -> list[str]:
    """ "1 Dec" on the first day and whenever the month changes, the bare day otherwise."""
    labels = []
    previous_month: tuple[int, int] | None = None
    for day in days:
        month = (day.year, day.month)
        labels.append(f"{day.day} {day:%b}" if month != previous_month else str(day.day))
        previous_month = month
    return labels


def volume_chart(days: Sequence[DayVolume]) -> Chart:
    peak = max((max(d.inbound, d.outbound, d.blocked) for d in days), default=0)
    values = tick_values(peak)
    top = values[-1]
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    plot_width = WIDTH - MARGIN_LEFT - 8
    slot = plot_width / max(len(days), 1)
    bar_width = slot * 0.8 / len(SERIES)
    bottom = HEIGHT - MARGIN_BOTTOM
    bars: list[Bar] = []
    labels: list[DayLabel] = []
    texts = day_labels([d.day for d in days])
    for index, day in enumerate(days):
        left = MARGIN_LEFT + index * slot + slot * 0.1
        for offset, (series, name) in enumerate(SERIES):
            value = getattr(day, series)
            height = plot_height * value / top
            bars.append(
                Bar(
                    x=round(left + offset * bar_width, 1),
                    y=round(bottom - height, 1),
                    width=round(bar_width - 1, 1),
                    height=round(height, 1),
                    series=series,
                    label=f"{day.day.day} {day.day:%b}: {value} {name.lower()}",
                )
            )
        labels.append(DayLabel(x=round(left + slot * 0.4, 1), text=texts[index]))
    ticks = [Tick(y=round(bottom - plot_height * v / top, 1), value=v) for v in values]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=MARGIN_LEFT,
        plot_bottom=bottom,
        plot_right=WIDTH - 8,
        bars=bars,
        ticks=ticks,
        labels=labels,
        days=days,
        total=sum(d.inbound + d.outbound + d.blocked for d in days),
    )
