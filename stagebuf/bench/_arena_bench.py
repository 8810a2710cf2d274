"""Arena benchmark: the second stack, compiled and pure Python, side by side with numpy.

``python -m stagebuf.bench arena [--quick] [--plot FILE.png]`` prints one goal
table. The process measures the arena backend it imported
(``stagebuf.ARENA_BACKEND``); when that is the compiled one, a child process
started with ``STAGEBUF_PURE_PYTHON=1`` measures the pure-Python arena, case
by case in turn with the parent (:mod:`._arena_worker`). Each process times
its own baseline too, so every ratio is a same-process ratio. Without a
compiled arena the compiled column reads n/a and only the pure-Python goals
are judged.

Each case times stagebuf and its baseline interleaved, repeat by repeat, after
a warm-up that lets the arena reach its steady capacity. Figures are the
minimum over repeats (timeit's way: the run least disturbed by the rest of the
machine), except the frame's, the median of frames. The cases and their goals:

1. a 4 KiB ``sb.uninit_slice(1024, np.float32)`` scope (enter + exit, the
   module-level thread-local function) against ``np.empty(1024, np.float32)``:
   at most 0.8x ``np.empty`` compiled, at most 3.5x in pure Python;
2. a ``sb.buffer(list_of_1000_floats)`` scope (enter + exit) against
   ``np.array(list)``, both float64: within 1.2x;
3. a 64 MiB slice written once (``fill``) against the same fill of an array
   whose pages are already resident, the bandwidth floor: within 1.15x. The
   same slice against ``np.empty`` plus the fill is shown too, with no goal
   (a fresh 64 MiB array comes from ``mmap`` and faults on every page);
4. a frame of 64 temporaries of mixed sizes (1 KiB to 8 MiB, a fixed seeded
   mix), all alive at once and nested, each written once, against
   ``np.empty`` for each: at least 5x faster, on the median of frames;
5. the same 4 KiB scope with a tuple shape ``(1024,)`` against the int form:
   within 1.1x.

Where the goals name one figure it holds for both backends. A second table
measures the arena's one hand-inlined fast path (marked FAST PATH in
stagebuf/_arena): the thread-local ``uninit_slice`` scope against the same
scope made through ``slice_scope`` (``thread_stack().uninit_slice``: part 1
not inlined) and against a locked owned stack, whose scopes never take the
inline bump (parts 2 and 3).

With ``--plot``, a sweep adds the cost of one scope (enter + exit, no write)
from 64 B to 64 MiB, per backend and for ``np.empty``: the plot's arena panel.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Collection

import numpy as np

import stagebuf as sb

from ._arena_cases import CASES, FRAME_SEED, frame_sizes, frames, measure, repeats, warm_up
from ._arena_report import (
    BACKEND_NAMES,
    Results,
    fast_path_table,
    goal_table,
    sweep_panel,
)
from ._arena_worker import Worker
from ._plot import Panel
from ._progress import Progress

__all__ = ["run"]

_TABLE_CASES = ("small_scope", "buffer_list", "big_fill", "frame", "tuple_shape", "fast_path")


def _plan(sweep: bool, only: Collection[str] | None) -> list[str]:
    """The case keys to run, in order: the tables', then the plot's sweep."""
    keys = [*_TABLE_CASES, "sweep"] if sweep else list(_TABLE_CASES)
    return [k for k in keys if only is None or k in only]


def _no_compiled_note() -> str:
    value = os.environ.get(sb.PURE_PYTHON_ENV)
    why = (
        f"{sb.PURE_PYTHON_ENV}={value} in the environment"
        if value
        else "the compiled module is not built or did not load"
    )
    return f"this process runs the pure-Python arena ({why})"


def _header(quick: bool, child: bool) -> str:
    backends = f"arena {BACKEND_NAMES[sb.ARENA_BACKEND]}" + (
        f", pure Python in a child process ({sb.PURE_PYTHON_ENV}=1)" if child else ""
    )
    return (
        f"stagebuf arena bench: Python {platform.python_version()} ({sys.executable}), "
        f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{backends}{', quick' if quick else ''}"
    )


def _measure_all(keys: list[str], quick: bool, worker: Worker | None) -> Results:
    """Each case in this process, then (with a worker) in the child: in turn, never at once."""
    own = sb.ARENA_BACKEND
    progress = Progress("arena", len(keys) * (2 if worker else 1))
    results: Results = {own: {}}
    if worker is not None:
        results[worker.backend] = {}
    for key in keys:
        with progress.case(f"{CASES[key].label}, {BACKEND_NAMES[own]}"):
            results[own][key] = measure(key, quick)
        if worker is not None:
            with progress.case(f"{CASES[key].label}, {BACKEND_NAMES[worker.backend]}"):
                results[worker.backend][key] = worker.measure(key, quick)
    return results


def _print_tables(results: Results, quick: bool, child: bool) -> None:
    print(goal_table(results))
    if not child:
        print(f"compiled: n/a: {_no_compiled_note()}; only the pure-Python goals are judged.")
    print(
        "baseline: timed in the same process as the backend to its left "
        f"({'the pure-Python one in a child process' if child else 'this one'}); "
        f"min of {repeats(quick)} repeats, the frame: median of {frames(quick)} frames."
    )
    if any("fast_path" in cases for cases in results.values()):
        print()
        print(fast_path_table(results))


def run(
    quick: bool = False, *, sweep: bool = False, only: Collection[str] | None = None
) -> Panel | None:
    """Run the arena cases and print the tables; return the plot's panel when ``sweep``.

    ``quick``: fewer repeats, noisier figures. ``only``: the case keys to run
    (of :data:`._arena_cases.CASES`; a test's hook), all by default.
    """
    keys = _plan(sweep, only)
    child = sb.ARENA_BACKEND == "c"
    print(_header(quick, child))
    stack = sb.thread_stack()
    if stack.checked:
        print(f"note: {sb.CHECKED_ENV} is set: the thread stacks run checked (slower)")
    warm_up()
    growths = stack.growths
    with Worker() if child else contextlib.nullcontext() as worker:
        results = _measure_all(keys, quick, worker)
    _print_tables(results, quick, child)
    sizes = frame_sizes()
    print(
        f"frame mix: {len(sizes)} temporaries (seed {FRAME_SEED}), "
        f"{sum(sizes) / 2**20:.1f} MiB in all; arena growths while timing: "
        f"{stack.growths - growths} (capacity {stack.capacity_bytes / 2**20:.0f} MiB)"
    )
    if "sweep" not in keys:
        return None
    note = "" if child else f"Compiled path: n/a: {_no_compiled_note()}."
    return sweep_panel(results, sb.ARENA_BACKEND, note=note)
