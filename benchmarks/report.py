"""The in-process benchmark's report, from its pyperf suite: a table, the targets and a chart.

Run ``python -m benchmarks.report [FILE]`` (or ``python -m benchmarks.inprocess --report-only
FILE``) to re-print and re-chart a saved suite (default ``benchmarks/results/inprocess.json``);
the chart goes beside it (``inprocess.png``).

Every figure is a pyperf median over all the values of all the worker processes; ratios are
ratios of medians, and the middleware's added cost is ``(middleware - bare app) - engine``.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyperf

from benchmarks.common import VERSIONS_OF

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TARGET_FRESH = 1.20  # engine / floor (all_fresh) and engine / floor_es256 (fresh_alb)
TARGET_REPEATED = 0.10  # engine / floor (repeated)
TARGET_ADDED_US = 3.0  # what a middleware adds beyond the engine, in microseconds
STACKS = ("asgi", "wsgi")
DEFAULT = Path(__file__).parent / "results" / "inprocess.json"


@dataclass(frozen=True)
class Figure:
    """One benchmark's figures, in microseconds per call."""

    median_us: float
    spread_pct: float  # pyperf's standard deviation relative to the mean
    values: int


@dataclass(frozen=True)
class Target:
    """One performance target and whether the run met it."""

    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit


class Figures:
    """The suite's figures by shape and contender, in the order they ran."""

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.by_shape: dict[str, dict[str, Figure]] = {}
        for bench in suite.get_benchmarks():
            shape, contender = bench.get_name().split("/", 1)
            nvalue = bench.get_nvalue()
            spread = 100 * bench.stdev() / bench.mean() if nvalue > 1 else math.nan
            figure = Figure(bench.median() * 1e6, spread, nvalue)
            self.by_shape.setdefault(shape, {})[contender] = figure

    def median(self, shape: str, contender: str) -> float:
        return self.by_shape[shape][contender].median_us

    def ratio(self, shape: str, contender: str, reference: str = "floor") -> float:
        return self.median(shape, contender) / self.median(shape, reference)

    def added_us(self, shape: str, stack: str) -> float:
        """What ``<stack>_middleware`` adds to ``<stack>_bare`` beyond the engine's own time."""
        middleware = self.median(shape, f"{stack}_middleware")
        return middleware - self.median(shape, f"{stack}_bare") - self.median(shape, "engine")

    def targets(self) -> list[Target]:
        found = [
            Target(
                "fresh_alb engine / floor_es256",
                self.ratio("fresh_alb", "engine", "floor_es256"),
                TARGET_FRESH,
                "x",
            ),
            Target(
                "all_fresh engine / floor", self.ratio("all_fresh", "engine"), TARGET_FRESH, "x"
            ),
            Target(
                "repeated engine / floor", self.ratio("repeated", "engine"), TARGET_REPEATED, "x"
            ),
        ]
        for shape in self.by_shape:
            for stack in STACKS:
                name = f"{shape} ({stack}_middleware - {stack}_bare) - engine"
                found.append(Target(name, self.added_us(shape, stack), TARGET_ADDED_US, "us"))
        return found


def table(figures: Figures) -> str:
    """The shape x contender table."""
    lines = [
        f"{'shape':<10} {'contender':<16} {'median us':>10} {'x floor':>8} {'x es256':>8} "
        f"{'+- %':>6} {'values':>6}"
    ]
    for shape, row in figures.by_shape.items():
        for name, figure in row.items():
            es256 = (
                f"{figures.ratio(shape, name, 'floor_es256'):8.2f}" if "floor_es256" in row else ""
            )
            lines.append(
                f"{shape:<10} {name:<16} {figure.median_us:10.1f} "
                f"{figures.ratio(shape, name):8.3f} {es256:>8} {figure.spread_pct:6.1f} "
                f"{figure.values:6d}"
            )
    return "\n".join(lines)


def added_table(figures: Figures) -> str:
    """The middleware's added cost per shape."""
    lines = [
        "middleware added cost (us): (middleware - bare app) - engine",
        f"{'shape':<10} {'engine':>8} {'asgi':>8} {'wsgi':>8}",
    ]
    for shape in figures.by_shape:
        asgi, wsgi = (figures.added_us(shape, stack) for stack in STACKS)
        lines.append(f"{shape:<10} {figures.median(shape, 'engine'):8.1f} {asgi:8.1f} {wsgi:8.1f}")
    return "\n".join(lines)


def targets_text(figures: Figures) -> str:
    """Each target with PASS or MISS."""
    lines = ["targets:"]
    for target in figures.targets():
        digits = 3 if target.unit == "x" else 1
        lines.append(
            f"  {'PASS' if target.passed else 'MISS'}  {target.name}: "
            f"{target.value:.{digits}f} {target.unit} (target <= {target.limit:g} {target.unit})"
        )
    return "\n".join(lines)


def machine_text(suite: Any) -> str:
    """Where and when the suite was measured, from pyperf's metadata and the harness's own."""
    meta = suite.get_metadata()
    loads = [
        run.get_metadata()["load_avg_1min"]
        for bench in suite.get_benchmarks()
        for run in bench.get_runs()
        if "load_avg_1min" in run.get_metadata()
    ]
    start, end = suite.get_dates()
    versions = ", ".join(
        f"{name} {meta[f'{name}_version']}" for name in VERSIONS_OF if f"{name}_version" in meta
    )
    dirty = " (with uncommitted changes)" if meta.get("package_dirty") == "True" else ""
    load = f"{min(loads):.2f}-{max(loads):.2f}" if loads else "unknown"
    return (
        f"{meta.get('cpu_model_name', 'unknown CPU')}, {meta.get('cpu_count', '?')} CPUs; "
        f"Python {meta.get('python_version', '?')}; {versions}; package commit "
        f"{meta.get('package_commit', 'unknown')}{dirty}; {start:%Y-%m-%d %H:%M} to "
        f"{end:%H:%M} ({(end - start).total_seconds():.0f} s); 1-min load average {load} "
        f"(median {statistics.median(loads) if loads else float('nan'):.2f})"
    )


def _draw_bars(axes: Axes, figures: Figures, contenders: Sequence[str]) -> None:
    shapes = list(figures.by_shape)
    height = 0.8 / len(shapes)
    for index, shape in enumerate(shapes):
        rows = [(y, name) for y, name in enumerate(contenders) if name in figures.by_shape[shape]]
        offsets = [y - 0.4 + height * (index + 0.5) for y, _ in rows]
        ratios = [figures.ratio(shape, name) for _, name in rows]
        bars = axes.barh(offsets, ratios, height=height, label=shape)
        axes.bar_label(bars, labels=[f"{r:.2g}x" for r in ratios], padding=2, fontsize=7)


def draw_chart(path: Path, figures: Figures) -> None:
    """Ratio to each shape's floor per contender, grouped by shape, log scale, a line at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contenders = list(dict.fromkeys(c for row in figures.by_shape.values() for c in row))
    contenders.remove("floor")
    figure, axes = plt.subplots(figsize=(11, 7), layout="constrained")
    _draw_bars(axes, figures, contenders)
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--", label="floor (1.0)")
    axes.set_xscale("log")
    every = [figures.ratio(s, c) for s, row in figures.by_shape.items() for c in row]
    axes.set_xlim(min(every) / 2, max(every) * 3)
    axes.set_yticks(range(len(contenders)), contenders)
    axes.invert_yaxis()
    axes.set_xlabel("median time per call / that shape's floor (log scale; floor = 1)")
    meta = figures.suite.get_metadata()
    axes.set_title(
        "In-process cost relative to the cryptographic floor (ES256 + RS256 verify), pyperf\n"
        f"{meta.get('cpu_model_name', '')}, {meta.get('cpu_count', '?')} CPUs, "
        f"Python {str(meta.get('python_version', '')).split(' ')[0]}, "
        f"package {meta.get('package_commit', 'unknown')}",
        fontsize=10,
    )
    axes.legend(title="traffic shape", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="x", which="both", alpha=0.3)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, dpi=120, format="png")
    temporary.replace(path)
    plt.close(figure)


def report(path: Path) -> Figures:
    """Print the report of the suite in ``path`` and draw its chart beside it (``.png``)."""
    figures = Figures(pyperf.BenchmarkSuite.load(str(path)))
    print()
    print(table(figures), added_table(figures), targets_text(figures), sep="\n\n")
    print(f"\nmachine: {machine_text(figures.suite)}")
    chart = path.with_suffix(".png")
    draw_chart(chart, figures)
    print(f"wrote {chart}")
    return figures


if __name__ == "__main__":
    report(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
