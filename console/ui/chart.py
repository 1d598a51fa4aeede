"""A server-rendered bar chart: geometry is computed here, the template only draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from messaging.selectors import DayVolume

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


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def volume_chart(days: Sequence[DayVolume]) -> Chart:
    peak = max((max(d.inbound, d.outbound, d.blocked) for d in days), default=0)
    top = _nice_max(peak)
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    plot_width = WIDTH - MARGIN_LEFT - 8
    slot = plot_width / max(len(days), 1)
    bar_width = slot * 0.8 / len(SERIES)
    bottom = HEIGHT - MARGIN_BOTTOM
    bars: list[Bar] = []
    labels: list[DayLabel] = []
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
                    label=f"{day.day:%b %d}: {value} {name.lower()}",
                )
            )
        labels.append(DayLabel(x=round(left + slot * 0.4, 1), text=f"{day.day:%d}"))
    ticks = [
        Tick(y=round(bottom - plot_height * i / 4, 1), value=round(top * i / 4)) for i in range(5)
    ]
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
