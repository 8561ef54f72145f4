"""Server-side SVG bar charts: geometry computed here, drawn by ``stats/_chart.html``.

No JavaScript: each bar is a link to the cases behind it, and every chart is followed
by a table with the same figures (the accessible form of the chart).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str | None
    title: str  # what a screen reader and a tooltip say: label and value
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    bars: list[Bar]
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    ticks: list[tuple[float, str]]  # (y, label)
    label_every: int


def bar_chart(chart_id: str, title: str, items: list[tuple[str, float, str | None, str]], *,
              width: int = 640, height: int = 240) -> Chart:
    """Lay out bars for ``items`` of (label, value, href, title)."""
    left, right, top, bottom = 48, 8, 12, height - 40
    top_value = max((v for _, v, _, _ in items), default=0) or 1
    nice = _nice_ceiling(top_value)
    n = max(len(items), 1)
    slot = (width - left - right) / n
    bar_width = max(2.0, slot * 0.7)
    bars = []
    for i, (label, value, href, bar_title) in enumerate(items):
        h = (bottom - top) * (value / nice)
        bars.append(Bar(label, value, href, bar_title, x=round(left + i * slot + (slot - bar_width) / 2, 1),
                        y=round(bottom - h, 1), width=round(bar_width, 1), height=round(h, 1)))
    ticks = [(round(bottom - (bottom - top) * f, 1), _fmt(nice * f)) for f in (0, 0.25, 0.5, 0.75, 1)]
    label_every = max(1, n // 12 + (1 if n % 12 else 0)) if n > 12 else 1
    return Chart(chart_id, title, bars, width, height, top, bottom, left, ticks, label_every)


def _nice_ceiling(value: float) -> float:
    """The next 'round' number at or above ``value`` (1, 2, 2.5, 5 times a power of 10)."""
    import math

    exponent = math.floor(math.log10(value))
    base = 10**exponent
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * base:
            return step * base
    return 10 * base


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
