"""Bar charts as server-side SVG: this module does the geometry, reports/_chart.html the markup.

No JavaScript and nothing from a CDN: the report page is complete as served.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime

from jobs.models import JobStatus

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 80
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 12
CHAR_WIDTH = 6.5  # of an 11px label, roughly: longer labels than their slot are slanted
TICKS = 4


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # the index of its series: its colour and legend entry
    title: str  # the tooltip


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[str]
    labels: list[str]
    values: list[list[float]]  # one list per series, one value per label
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    slant_labels: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def axes_path(self) -> str:
        return f"M{self.plot_left},{TOP} V{self.plot_bottom} H{self.plot_right}"

    @property
    def rows(self) -> list[list]:
        """The numbers behind the chart, a row per label, for the table under it."""
        return [[label, *(values[i] for values in self.values)] for i, label in enumerate(self.labels)]


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 4, 5 or 8 times a power of ten at or above value (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 4, 5, 8, 10) if step * power >= value)


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value:,.0f}"


def bar_chart(
    *,
    title: str,
    x_label: str,
    y_label: str,
    labels: list[str],
    series: dict[str, list],
    stacked: bool = False,
) -> Chart:
    """Bars per label: one per series side by side, or stacked into one. None counts as 0."""
    values = [[value or 0 for value in column] for column in series.values()]
    chart = Chart(title, x_label, y_label, list(series), labels, values)
    heights = (
        [sum(group) for group in zip(*values, strict=True)] if stacked else [v for c in values for v in c]
    )
    top = _nice_ceiling(max(heights, default=0))
    scale = PLOT_HEIGHT / top
    slot = PLOT_WIDTH / max(len(labels), 1)
    per_slot = 1 if stacked else len(values)
    bar_width = slot * 0.8 / per_slot
    for i, label in enumerate(labels):
        left = LEFT + i * slot + slot * 0.1
        base = chart.plot_bottom
        for s, column in enumerate(values):
            height = column[i] * scale
            x = left if stacked else left + s * bar_width
            y = base - height
            if height > 0:
                chart.bars.append(
                    Bar(x, y, bar_width, height, s, f"{label} {chart.series[s]}: {column[i]:g}")
                )
            if stacked:
                base = y
    every = math.ceil(len(labels) / MAX_X_LABELS) or 1
    chart.x_ticks = [(LEFT + (i + 0.5) * slot, label) for i, label in enumerate(labels) if i % every == 0]
    chart.slant_labels = max(map(len, labels), default=0) * CHAR_WIDTH > slot * every
    chart.y_ticks = [
        (chart.plot_bottom - n * PLOT_HEIGHT / TICKS, _number(n * top / TICKS)) for n in range(TICKS + 1)
    ]
    return chart


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M")


def report_charts(data: dict) -> list[Chart]:
    """Throughput over time, jobs by status, and run time per type, from a stored report's data."""
    buckets = data["throughput"]["buckets"]
    run_time = data["run_time"]
    # Stored as jsonb, whose objects forget their order: put it back.
    statuses = [status for status in JobStatus.values if status in data["by_status"]]
    types = sorted(run_time)
    return [
        bar_chart(
            title="Throughput: finished jobs per interval",
            x_label="interval start (UTC)",
            y_label="jobs",
            labels=[_clock(bucket["start"]) for bucket in buckets],
            series={
                outcome: [b[outcome] for b in buckets] for outcome in ("succeeded", "failed", "cancelled")
            },
            stacked=True,
        ),
        bar_chart(
            title="Jobs created, by status",
            x_label="status",
            y_label="jobs",
            labels=statuses,
            series={"jobs": [data["by_status"][status] for status in statuses]},
        ),
        bar_chart(
            title="Run time per type",
            x_label="job type",
            y_label="seconds",
            labels=types,
            series={p: [run_time[type][p] for type in types] for p in ("p50", "p95")},
        ),
    ]
