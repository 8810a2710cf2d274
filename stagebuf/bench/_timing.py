"""Timing helpers shared by the benches: interleaved repeats, statistics, units."""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["STATS", "Op", "Samples", "fmt_seconds", "interleaved"]

Op = str | Callable[[], object]
"""A statement (run with the ``names`` given to :func:`interleaved` as its globals)
or a function of no arguments. Statements time tight loops without a call per op."""

Samples = dict[str, list[float]]
"""Op name -> seconds per op, one figure per repeat."""

STATS: dict[str, Callable[[list[float]], float]] = {
    # timeit's way for micro-benchmarks: the run least disturbed by the machine
    "min": min,
    # for costs that vary from run to run by nature (page faults, cache state)
    "median": statistics.median,
}


def interleaved(
    ops: Mapping[str, Op], *, number: int, repeat: int, names: Mapping[str, Any] | None = None
) -> Samples:
    """Seconds per op of each op, per repeat: ``number`` ops each, the ops in turn.

    Every repeat times each op once, one after the other, so that drift on the
    machine (another process, a frequency change) hits them alike.
    """
    scope = dict(names or {})  # a function op ignores it
    timers = {name: timeit.Timer(op, globals=scope) for name, op in ops.items()}
    for timer in timers.values():
        timer.timeit(max(1, number // 10))  # warm-up: caches, the arena's capacity
    samples: Samples = {name: [] for name in ops}
    for _ in range(repeat):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(number) / number)
    return samples


def fmt_seconds(seconds: float) -> str:
    """A duration in the unit that keeps three figures: ns, µs or ms."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"
