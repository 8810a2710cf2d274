"""``--plot FILE.png``: the benches' sweeps drawn as log-log panels (matplotlib, Agg).

The suites hand over :class:`Panel` objects (plain figures, no matplotlib), so
they run without it; matplotlib is imported only to draw, and
:func:`require_matplotlib` lets the command line refuse ``--plot`` before any
bench runs when it is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is optional (the `plot` extra)
    from matplotlib.axes import Axes  # type: ignore[import-not-found, unused-ignore]
    from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "MISSING_MATPLOTLIB",
    "Panel",
    "PlotUnavailableError",
    "Series",
    "draw",
    "require_matplotlib",
]

MISSING_MATPLOTLIB = (
    "--plot needs matplotlib: pip install matplotlib (or the extra: pip install 'stagebuf[plot]')"
)


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


@dataclass(frozen=True)
class Series:
    """One line of a panel: ``y[i]`` at ``x[i]``."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "-o"
    color: str | None = None  # a matplotlib colour: the same line, the same colour in every run


@dataclass(frozen=True)
class Panel:
    """One log-log plot: its title, axis labels, lines and a caption under it.

    ``x_bytes``: the x values are sizes in bytes, labelled 64 B, 1 KiB, ...
    """

    title: str
    xlabel: str
    ylabel: str
    caption: str
    series: list[Series] = field(default_factory=list)
    x_bytes: bool = False


def require_matplotlib() -> None:
    """Raise PlotUnavailableError, saying how to install matplotlib, when it is missing."""
    try:
        importlib.import_module("matplotlib")
    except ImportError as err:
        raise PlotUnavailableError(MISSING_MATPLOTLIB) from err


def _size_label(nbytes: float) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes:g} B"


def _draw_panel(ax: Axes, panel: Panel) -> None:
    from matplotlib.ticker import (  # type: ignore[import-not-found, unused-ignore]
        FuncFormatter,
        LogLocator,
        NullFormatter,
    )

    for series in panel.series:
        ax.plot(
            series.x, series.y, series.style, color=series.color, label=series.label, markersize=4
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Labels at 1, 2 and 5 of each decade: a range within one decade still reads.
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    if panel.x_bytes:
        ticks = sorted({x for s in panel.series for x in s.x})
        ax.set_xticks(ticks, [_size_label(x) for x in ticks], rotation=45, ha="right")
        ax.minorticks_off()
    ax.set_title(panel.title)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    # The caption says what the op includes; below the axis labels, wrapped by hand.
    ax.annotate(
        panel.caption,
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -70 if panel.x_bytes else -45),
        textcoords="offset points",
        va="top",
        fontsize=8,
        wrap=True,
    )


def draw(path: str | Path, panels: Sequence[Panel]) -> Figure:
    """Draw ``panels`` side by side into one PNG at ``path`` (Agg: no display needed).

    Returns the figure (its axes in the order of ``panels``). Raises
    PlotUnavailableError when matplotlib is missing, ValueError for no panels.
    """
    if not panels:
        raise ValueError("There is nothing to plot: no panel was measured.")
    require_matplotlib()
    from matplotlib.backends.backend_agg import (  # type: ignore[import-not-found, unused-ignore]
        FigureCanvasAgg,
    )
    from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]

    fig = Figure(figsize=(6.5 * len(panels), 5.5), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas: renders to memory, never to a screen
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        _draw_panel(ax, panel)
    fig.savefig(path, dpi=110)
    return fig
