"""Charts drawn on the server: the geometry of simple SVG bar charts, for Jinja to write out.

No chart library and no JavaScript: a template (``staff/_charts.html``) turns
these shapes into inline SVG with a ``viewBox`` (so it scales with the page),
``role="img"``, a ``<title>`` and a ``<desc>`` that says what the chart shows in
words; the page puts the same figures in a table beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

WIDTH = 640
HEIGHT = 260
LEFT = 64  # room for the value axis labels
RIGHT = 12
TOP = 12
BOTTOM = 40  # room for the period labels


def number(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def nice_ticks(top: Decimal, count: int = 4) -> list[Decimal]:
    """Round gridline values from 0 to at least ``top`` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0:
        return [Decimal(0), Decimal(1)]
    raw = float(top) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step_d = Decimal(str(step))
    ticks = [Decimal(0)]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step_d)
    return ticks


def _tick_label(value: Decimal, money: bool) -> str:
    if value >= 1_000_000:
        text = f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    elif value >= 10_000:
        text = f"{value / 1000:.0f}k"
    else:
        text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return text


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass
class ColumnChart:
    """Vertical bars, one per period, with an optional comparison line (the previous period)."""

    id: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    comparison: str = ""  # polyline points
    comparison_dots: list[tuple[float, float, str]] = field(default_factory=list)
    baseline: float = 0
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT


def column_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: list[str],
    values: list[object],
    *,
    value_text: list[str] | None = None,
    comparison: list[object] | None = None,
    money: bool = False,
) -> ColumnChart:
    amounts = [number(v) for v in values]
    previous = [number(v) for v in comparison] if comparison is not None else []
    top = max([*amounts, *previous, Decimal(0)])
    ticks = nice_ticks(top)
    scale_top = ticks[-1] or Decimal(1)
    plot_height = HEIGHT - TOP - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    baseline = TOP + plot_height
    chart = ColumnChart(chart_id, title, description, baseline=baseline)

    def y_of(value: Decimal) -> float:
        return round(baseline - float(value / scale_top) * plot_height, 1)

    chart.ticks = [(y_of(tick), _tick_label(tick, money)) for tick in ticks]
    count = max(len(amounts), 1)
    slot = plot_width / count
    bar_width = max(slot * 0.7, 1.0)
    every = max(1, math.ceil(count / 8))  # at most about 8 period labels
    texts = value_text or [str(v) for v in values]
    for index, (label, amount) in enumerate(zip(labels, amounts, strict=True)):
        x = LEFT + index * slot + (slot - bar_width) / 2
        top_y = y_of(amount)
        chart.bars.append(Bar(round(x, 1), top_y, round(bar_width, 1), round(baseline - top_y, 1), label, texts[index]))
        if index % every == 0:
            chart.labels.append((round(LEFT + index * slot + slot / 2, 1), label))
    if previous:
        points = []
        for index, amount in enumerate(previous[:count]):
            cx, cy = round(LEFT + index * slot + slot / 2, 1), y_of(amount)
            points.append(f"{cx},{cy}")
            chart.comparison_dots.append((cx, cy, str(comparison[index])))  # type: ignore[index]
        chart.comparison = " ".join(points)
    return chart


@dataclass
class BarRow:
    y: float
    width: float
    label: str
    value: str


@dataclass
class BarChart:
    """Horizontal bars, one per item (top books, top genres), labelled with their values."""

    id: str
    title: str
    description: str
    width: int = WIDTH
    height: int = 0
    rows: list[BarRow] = field(default_factory=list)
    label_width: int = 220
    bar_height: int = 22


def bar_chart(chart_id: str, title: str, description: str, items: list[tuple[str, object, str]]) -> BarChart:
    chart = BarChart(chart_id, title, description)
    room = WIDTH - chart.label_width - 90
    top = max([number(value) for _, value, _ in items] + [Decimal(0)]) or Decimal(1)
    for index, (label, value, text) in enumerate(items):
        shown = label if len(label) <= 32 else label[:31] + "…"
        width = round(float(number(value) / top) * room, 1)
        chart.rows.append(BarRow(index * 30 + 6, max(width, 1.0), shown, text))
    chart.height = max(len(items) * 30 + 12, 40)
    return chart
