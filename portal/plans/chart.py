"""A goal's progress as a small SVG line chart, computed on the server.

``progress_chart`` returns plain numbers (coordinates and labels) that the
``_progress_chart.html`` partial draws; no JavaScript and no inline style, so it
works under the strict CSP and prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT, PAD = 320, 140, 28


@dataclass(frozen=True)
class Point:
    on: date
    value: float
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[Point]
    target_y: float | None
    baseline_y: float | None
    due_x: float
    y_min: float
    y_max: float
    start: date
    end: date
    percent: int | None  # progress from baseline towards target, 0-100

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def progress_percent(baseline: float | None, target: float | None, latest: float | None) -> int | None:
    """How far ``latest`` has come from ``baseline`` towards ``target`` (0-100).

    Works for goals that go down (pain 7 -> 3) as well as up."""
    if baseline is None or target is None or latest is None or target == baseline:
        return None
    share = (latest - baseline) / (target - baseline)
    return round(max(0.0, min(1.0, share)) * 100)


def progress_chart(start: date, due_on: date, baseline: float | None, target: float | None,
                   measurements: list[dict]) -> Chart:
    """Chart of ``measurements`` ([{"on": iso date, "value": n}]) from ``start``
    (baseline) to the goal's date, with the target as a line."""
    points_in = [(start, baseline)] if baseline is not None else []
    points_in += sorted((date.fromisoformat(m["on"]), float(m["value"])) for m in measurements)
    end = max([due_on, *(d for d, _ in points_in)])
    begin = min([start, *(d for d, _ in points_in)])
    values = [v for _, v in points_in] + [v for v in (target, baseline) if v is not None]
    y_min, y_max = (min(values), max(values)) if values else (0.0, 1.0)
    if y_min == y_max:
        y_min, y_max = y_min - 1, y_max + 1
    span_days = max((end - begin).days, 1)

    def x(day: date) -> float:
        return PAD + (WIDTH - 2 * PAD) * (day - begin).days / span_days

    def y(value: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - y_min) / (y_max - y_min)

    points = [Point(d, v, x(d), y(v)) for d, v in points_in]
    latest = points_in[-1][1] if points_in else None
    return Chart(WIDTH, HEIGHT, points, y(target) if target is not None else None,
                 y(baseline) if baseline is not None else None, x(due_on), y_min, y_max, begin, end,
                 progress_percent(baseline, target, latest))
