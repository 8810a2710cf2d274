"""The arena bench's report: both backends' samples merged into one table.

Results arrive per backend (``"c"`` measured in one process, ``"python"`` in
the same or a child process) and per case, as raw samples. A row compares one
op with its baseline, each backend against the baseline measured in its own
process, and judges the backend's goal on the row's statistic (the minimum of
repeats, or the median of frames).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._arena_cases import SWEEP_SIZES, sweep_op
from ._plot import Panel, Series
from ._timing import STATS, Samples, fmt_seconds

__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "ROWS",
    "Results",
    "Row",
    "fast_path_table",
    "goal_table",
    "sweep_panel",
]

BACKENDS = ("c", "python")
BACKEND_NAMES = {"c": "compiled", "python": "pure Python"}
_COLORS = {"c": "C0", "python": "C1", "numpy": "C2"}
_SHORT = {"c": "c", "python": "py"}

Results = dict[str, dict[str, Samples]]
"""Backend -> case key -> samples (see :mod:`._arena_cases`)."""


@dataclass(frozen=True)
class Row:
    """One line of the goal table: ``ours`` against ``base``, both ops of ``case``.

    ``goals``: backend -> the limit on the ratio (ours / base at most the limit;
    with ``faster``, base / ours at least the limit). No goals: informative.
    """

    label: str
    case: str
    ours: str
    base: str
    goals: Mapping[str, float] = field(default_factory=dict)
    faster: bool = False
    stat: str = "min"

    def figures(self, samples: Samples) -> tuple[float, float]:
        """Seconds per op of ours and of the baseline: the row's statistic of each."""
        stat = STATS[self.stat]
        return stat(samples[self.ours]), stat(samples[self.base])

    def ratio(self, ours: float, base: float) -> float:
        """The figure the goal limits: a speed-up for ``faster`` rows, else a slowdown."""
        return base / ours if self.faster else ours / base

    def met(self, backend: str, ours: float, base: float) -> bool | None:
        """Whether ``backend`` meets its goal here; None where the row has none."""
        limit = self.goals.get(backend)
        if limit is None:
            return None
        ratio = self.ratio(ours, base)
        return ratio >= limit if self.faster else ratio <= limit

    def ratio_text(self, ratio: float) -> str:
        return f"{ratio:.2f}x faster" if self.faster else f"{ratio:.2f}x"

    def limit_text(self, limit: float) -> str:
        sign = ">=" if self.faster else "<="
        return f"{sign} {limit:g}x{' faster' if self.faster else ''}"

    def goal_text(self) -> str:
        """The goal as the table shows it: one limit, or one per backend."""
        limits = [(b, self.goals[b]) for b in BACKENDS if b in self.goals]
        if not limits:
            return "(informative)"
        if len({limit for _, limit in limits}) == 1:
            return self.limit_text(limits[0][1])
        return ", ".join(f"{_SHORT[b]} {self.limit_text(limit)}" for b, limit in limits)


ROWS = (
    Row(
        "4 KiB uninit_slice scope vs np.empty",
        "small_scope",
        "ours",
        "base",
        goals={"c": 0.8, "python": 3.5},
    ),
    Row(
        "buffer(list of 1000 floats) vs np.array",
        "buffer_list",
        "ours",
        "base",
        goals={"c": 1.2, "python": 1.2},
    ),
    Row(
        "64 MiB slice fill vs resident array fill",
        "big_fill",
        "ours",
        "floor",
        goals={"c": 1.15, "python": 1.15},
    ),
    Row("64 MiB slice fill vs np.empty + fill", "big_fill", "ours", "empty", faster=True),
    Row(
        "frame of 64 temporaries vs np.empty (median, frames in a row)",
        "frame",
        "ours",
        "base",
        goals={"c": 5.0, "python": 5.0},
        faster=True,
        stat="median",
    ),
    Row(
        "the same frames, the two sides in turn (median)",
        "frame",
        "ours_mixed",
        "base_mixed",
        faster=True,
        stat="median",
    ),
    Row(
        "4 KiB scope, shape (1024,) vs 1024",
        "tuple_shape",
        "ours",
        "base",
        goals={"c": 1.1, "python": 1.1},
    ),
)


def _format(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column to the left, the figures to the right."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        padded[0] = cells[0].ljust(widths[0])
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


def _goal_cells(row: Row, results: Results) -> list[str]:
    """The row's cells: each backend's figures and ratio (n/a where not measured), goal, met."""
    times: list[str] = []
    ratios: list[str] = []
    verdicts: list[str] = []
    for backend in BACKENDS:
        samples = results.get(backend, {}).get(row.case)
        if samples is None:
            times += ["n/a", "n/a"]
            ratios.append("n/a")
            continue
        ours, base = row.figures(samples)
        times += [fmt_seconds(ours), fmt_seconds(base)]
        ratios.append(row.ratio_text(row.ratio(ours, base)))
        met = row.met(backend, ours, base)
        if met is not None:
            verdicts.append(f"{_SHORT[backend]} {'yes' if met else 'NO'}")
    return [row.label, *times, *ratios, row.goal_text(), ", ".join(verdicts) or "-"]


def goal_table(results: Results) -> str:
    """The goal table: a row per case measured by at least one backend."""
    head = ["case", "compiled", "baseline", "pure Python", "baseline", "ratio c", "ratio py"]
    head += ["goal", "met"]
    rows = [
        _goal_cells(row, results)
        for row in ROWS
        if any(row.case in results.get(b, {}) for b in BACKENDS)
    ]
    return _format(head, rows)


_FAST_PATH_ROWS = (
    ("fast", "thread-local uninit_slice (fast path)"),
    ("slice_scope", "via slice_scope (thread_stack().uninit_slice)"),
    ("locked", "via the slow path (a locked Stack)"),
)


def fast_path_table(results: Results) -> str:
    """Per 4 KiB scope, the fast path and the same scope without its parts, per backend."""
    head = ["the fast path, measured"]
    for backend in BACKENDS:
        head += [BACKEND_NAMES[backend], "vs fast"]
    rows = []
    for op, label in _FAST_PATH_ROWS:
        cells = [label]
        for backend in BACKENDS:
            samples = results.get(backend, {}).get("fast_path")
            if samples is None:
                cells += ["n/a", "n/a"]
                continue
            t, fast = min(samples[op]), min(samples["fast"])
            cells += [fmt_seconds(t), f"{t / fast:.2f}x"]
        rows.append(cells)
    return _format(head, rows)


def sweep_panel(results: Results, own: str, *, note: str = "") -> Panel:
    """The plot's arena panel: ns per scope against slice size, each backend and np.empty.

    np.empty is the one measured in the ``own`` process; ``note`` ends the caption.
    """
    series = []
    for backend in BACKENDS:
        samples = results.get(backend, {}).get("sweep")
        if samples is not None:
            ns = [min(samples[sweep_op("ours", n)]) * 1e9 for n in SWEEP_SIZES]
            label = f"stagebuf, {BACKEND_NAMES[backend]}"
            series.append(Series(label, SWEEP_SIZES, ns, color=_COLORS[backend]))
    own_samples = results[own]["sweep"]
    ns = [min(own_samples[sweep_op("base", n)]) * 1e9 for n in SWEEP_SIZES]
    series.append(Series("np.empty", SWEEP_SIZES, ns, style="--s", color=_COLORS["numpy"]))
    caption = (
        "One scope: enter + exit of uninit_slice(n, uint8), no write. np.empty(n, uint8):\n"
        "no write either, so a large array's first-touch page faults are not counted\n"
        "(the table's 64 MiB fill rows include a write). Min of repeats."
    )
    return Panel(
        title="Arena: ns per scope",
        xlabel="slice size",
        ylabel="ns per scope (log)",
        caption=caption + (f"\n{note}" if note else ""),
        series=series,
        x_bytes=True,
    )
