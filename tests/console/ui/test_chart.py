"""The dashboard chart: round y-axis ticks that match the bars, and day labels with a month."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from console.ui.chart import HEIGHT, MARGIN_BOTTOM, MARGIN_TOP, day_labels, volume_chart
from messaging.console_selectors import DayVolume

PLOT_HEIGHT = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM


def _days(peak: int, count: int = 3) -> list[DayVolume]:
    first = date(2026, 11, 30)
    return [
        DayVolume(day=first + timedelta(days=i), inbound=peak if i == 1 else 0)
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (5, [0, 1, 2, 3, 4, 5]),
        (7, [0, 2, 4, 6, 8]),
        (12, [0, 5, 10, 15]),
        (99, [0, 20, 40, 60, 80, 100]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_y_axis_ticks_are_evenly_spaced_round_numbers_reaching_the_maximum(
    peak: int, expected: list[int]
) -> None:
    chart = volume_chart(_days(peak))

    assert [t.value for t in chart.ticks] == expected


@pytest.mark.parametrize("peak", [1, 5, 7, 12, 99, 1234])
def test_the_tallest_bar_reaches_exactly_as_high_as_its_value_on_the_axis(peak: int) -> None:
    chart = volume_chart(_days(peak))
    bottom = chart.plot_bottom
    top_tick = chart.ticks[-1]
    tallest = max(chart.bars, key=lambda b: b.height)

    # Bars and ticks share one scale: pixels per unit are the same for both.
    assert tallest.height / peak == pytest.approx((bottom - top_tick.y) / top_tick.value, rel=0.01)


def test_ticks_are_drawn_at_even_heights() -> None:
    ys = [t.y for t in volume_chart(_days(7)).ticks]

    gaps = {round(a - b, 1) for a, b in itertools.pairwise(ys)}
    assert len(gaps) == 1


def test_an_empty_chart_has_flat_bars_and_an_axis() -> None:
    chart = volume_chart(_days(0))

    assert all(b.height == 0 for b in chart.bars)
    assert len(chart.ticks) == 2


def test_day_labels_name_the_month_on_the_first_day_and_when_it_changes() -> None:
    days = [date(2026, 11, 29) + timedelta(days=i) for i in range(4)]

    assert day_labels(days) == ["29 Nov", "30", "1 Dec", "2"]


def test_the_chart_labels_its_days_with_the_month() -> None:
    chart = volume_chart(_days(3))

    assert [label.text for label in chart.labels] == ["30 Nov", "1 Dec", "2"]
    assert chart.bars[0].label == "30 Nov: 0 inbound"
