"""Arena benchmark: the second stack side by side with ``np.empty``, in one run.

``python -m stagebuf.bench arena [--quick]`` prints one table. Each case times
stagebuf and numpy doing the same work in the same process, as the minimum over
several repeats (timeit's way: the minimum is the run least disturbed by the
rest of the machine), after a warm-up that lets the arena reach its steady
capacity. The cases and their goals:

1. a 4 KiB ``sb.uninit_slice(1024, np.float32)`` scope (enter + exit, the
   module-level thread-local function) against ``np.empty(1024, np.float32)``:
   goal within 3x of ``np.empty``;
2. a 64 MiB slice written once (``fill``), repeated, against ``np.empty`` plus
   the same write: goal at least 2.5x faster (fresh 64 MiB arrays come from
   ``mmap`` and pay a page fault per page on their first write);
3. a frame of 64 temporaries of mixed sizes (1 KiB to 8 MiB, a fixed seeded
   mix), all alive at once and nested, each written once, against ``np.empty``
   for each: goal at least 5x faster;
4. the same 4 KiB scope with a tuple shape ``(1024,)`` against the int form:
   goal as fast (within 10%).

A second table measures the arena's one hand-inlined fast path (marked FAST
PATH in stagebuf/_arena): the thread-local ``uninit_slice`` scope against the
same scope made through ``slice_scope`` (``thread_stack().uninit_slice``: part
1 not inlined) and against a locked owned stack, whose scopes never take the
inline bump (parts 2 and 3).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import stagebuf as sb

__all__ = ["run"]

_F4 = np.float32
_BIG_ITEMS = 64 * 1024 * 1024 // 4  # float32 items in 64 MiB
_FRAME_TEMPS = 64
_FRAME_SEED = 1234


@dataclass
class _Case:
    name: str
    ours: float  # seconds per op
    theirs: float
    goal: str
    met: bool
    ratio: str


def _best(stmt: Callable[[], object] | str, number: int, repeat: int, **names: Any) -> float:
    """Seconds per op: the minimum over ``repeat`` runs of ``number`` ops each."""
    timer = timeit.Timer(stmt, globals=names) if isinstance(stmt, str) else timeit.Timer(stmt)
    timer.timeit(max(1, number // 10))  # warm-up
    return min(timer.repeat(repeat=repeat, number=number)) / number


def _fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


def _frame_sizes() -> list[int]:
    """The fixed mix of case 3: bytes per temporary, log-uniform over 1 KiB..8 MiB."""
    rng = random.Random(_FRAME_SEED)
    lo, hi = math.log2(1024), math.log2(8 * 1024 * 1024)
    return [int(2 ** rng.uniform(lo, hi)) // 4 * 4 for _ in range(_FRAME_TEMPS)]


def _case_small_scope(number: int, repeat: int) -> _Case:
    names = {"uninit_slice": sb.uninit_slice, "np": np, "f4": _F4}
    ours = _best("with uninit_slice(1024, f4) as s: pass", number, repeat, **names)
    theirs = _best("s = np.empty(1024, f4)", number, repeat, **names)
    ratio = ours / theirs
    return _Case(
        "4 KiB uninit_slice scope vs np.empty",
        ours,
        theirs,
        "<= 3.0x np.empty",
        ratio <= 3.0,
        f"{ratio:.2f}x slower",
    )


def _case_big_slice(number: int, repeat: int) -> _Case:
    def ours() -> None:
        with sb.uninit_slice(_BIG_ITEMS, _F4) as s:
            s.fill(1.0)

    def theirs() -> None:
        s = np.empty(_BIG_ITEMS, _F4)
        s.fill(1.0)

    t_ours = _best(ours, number, repeat)
    t_theirs = _best(theirs, number, repeat)
    speedup = t_theirs / t_ours
    return _Case(
        "64 MiB slice, written once",
        t_ours,
        t_theirs,
        ">= 2.5x faster",
        speedup >= 2.5,
        f"{speedup:.2f}x faster",
    )


def _case_frame(number: int, repeat: int) -> _Case:
    counts = [n // 4 for n in _frame_sizes()]

    def ours() -> None:
        with contextlib.ExitStack() as frame:
            for n in counts:  # nested: each scope opens inside the ones before
                frame.enter_context(sb.uninit_slice(n, _F4)).fill(1.0)

    def theirs() -> None:
        temps = []
        for n in counts:  # all alive at once, as in the frame above
            t = np.empty(n, _F4)
            t.fill(1.0)
            temps.append(t)

    t_ours = _best(ours, number, repeat)
    t_theirs = _best(theirs, number, repeat)
    speedup = t_theirs / t_ours
    return _Case(
        f"frame of {_FRAME_TEMPS} temporaries, 1 KiB..8 MiB",
        t_ours,
        t_theirs,
        ">= 5.0x faster",
        speedup >= 5.0,
        f"{speedup:.2f}x faster",
    )


def _case_tuple_shape(number: int, repeat: int) -> _Case:
    names = {"uninit_slice": sb.uninit_slice, "f4": _F4}
    ours = _best("with uninit_slice((1024,), f4) as s: pass", number, repeat, **names)
    theirs = _best("with uninit_slice(1024, f4) as s: pass", number, repeat, **names)
    ratio = ours / theirs
    return _Case(
        "4 KiB scope, shape (1024,) vs 1024",
        ours,
        theirs,
        "<= 1.1x the int form",
        ratio <= 1.1,
        f"{ratio:.2f}x",
    )


def _fast_path_rows(number: int, repeat: int) -> list[tuple[str, float]]:
    """Seconds per 4 KiB scope: the fast path, and the same scope without its parts."""
    locked = sb.Stack()
    with locked.uninit_slice(1024, _F4):  # warm: the chunk exists
        pass
    stmt = "with make(1024, f4) as s: pass"
    return [
        (
            "thread-local uninit_slice (fast path)",
            _best(stmt, number, repeat, make=sb.uninit_slice, f4=_F4),
        ),
        (
            "via slice_scope (thread_stack().uninit_slice)",
            _best(stmt, number, repeat, make=sb.thread_stack().uninit_slice, f4=_F4),
        ),
        (
            "via the slow path (a locked Stack)",
            _best(stmt, number, repeat, make=locked.uninit_slice, f4=_F4),
        ),
    ]


def _table(cases: list[_Case]) -> str:
    head = ("case", "stagebuf", "numpy", "ratio", "goal", "met")
    rows = [
        (c.name, _fmt(c.ours), _fmt(c.theirs), c.ratio, c.goal, "yes" if c.met else "NO")
        for c in cases
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        # the case name to the left, the figures to the right
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        padded[0] = cells[0].ljust(widths[0])
        return "  ".join(padded)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


def run(quick: bool = False) -> None:
    """Run the arena cases and print one table (``quick``: fewer repeats, noisier)."""
    repeat = 3 if quick else 7
    print(
        f"stagebuf arena bench: Python {platform.python_version()} ({sys.executable}), "
        f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs"
        f"{', quick' if quick else ''}"
    )
    stack = sb.thread_stack()
    if stack.checked:
        print(f"note: {sb.CHECKED_ENV} is set: the thread stack runs checked (slower)")
    sizes = _frame_sizes()
    # Warm-up: the thread stack grows to its steady capacity before any timing.
    _case_frame(1, 1)
    _case_big_slice(1, 1)
    growths = stack.growths
    cases = [
        _case_small_scope(20_000 if quick else 200_000, repeat),
        _case_big_slice(2 if quick else 5, repeat),
        _case_frame(2 if quick else 4, repeat),
        _case_tuple_shape(20_000 if quick else 200_000, repeat),
    ]
    print(_table(cases))
    rows = _fast_path_rows(20_000 if quick else 200_000, repeat)
    fast = rows[0][1]
    print()
    width = max(len(name) for name, _ in rows)
    print(f"{'the fast path, measured'.ljust(width)}  per scope  vs fast path")
    for name, t in rows:
        print(f"{name.ljust(width)}  {_fmt(t).rjust(9)}  {t / fast:10.2f}x")
    print(
        f"frame mix: {len(sizes)} temporaries (seed {_FRAME_SEED}), "
        f"{sum(sizes) / 2**20:.1f} MiB in all; arena growths while timing: "
        f"{stack.growths - growths} (capacity {stack.capacity_bytes / 2**20:.0f} MiB)"
    )
