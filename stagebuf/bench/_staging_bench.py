"""``python -m stagebuf.bench staging``: CPU time per frame to pack and upload triangles.

Three ways to get N procedurally generated triangles (position ``2f``, colour
``4f1``, three vertices each) into a GL buffer every frame, timed side by side
in one run on a headless context. Only the CPU work is timed (generation,
packing and ``Buffer.write``); nothing is drawn, since a software rasteriser
would swamp the figures.

- naive: fresh numpy arrays each frame, a new ``ctx.buffer`` and vertex array;
- hand-written: preallocated numpy arrays (``out=``), one interleaved array and
  one reused buffer -- the best a user would write by hand;
- stagebuf: ``with stager.frame() as f: f.reserve(3 * n)``, temporaries on the
  second stack, one upload per frame (strategy "write", the hand-written loop's
  upload; the ring/orphan/write strategies are timed against each other after).

Then the whole-frame workloads (``_frame_bench``): a mixed frame of a real app
and instanced sprites, each against hand-written moderngl, and the cost of one
``reserve`` call.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._gl import create_headless_context, load_program
from .._layout import VertexLayout
from .._scene import ParticleField, TriangleField
from .._staging import STRATEGIES, Stager
from ._frame_bench import run_frames

__all__ = ["run"]

# The packing-bound workload (cheap maths per vertex, so packing and upload
# dominate) and the demo's maths-bound galaxy (sin/cos per vertex).
WORKLOADS: dict[str, Any] = {"particles": ParticleField, "galaxy": TriangleField}

LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
SIZES = (10_000, 100_000, 1_000_000)
GOAL_VS_NAIVE = 4.0  # at 100k triangles
GOAL_VS_HAND = 1.15


def _frames_for(n: int, quick: bool) -> int:
    base = 6 if n >= 1_000_000 else 30 if n >= 100_000 else 120
    return max(3, base // 3) if quick else base


def _time_frames(step: Callable[[float], None], frames: int, warmup: int = 3) -> float:
    """Median seconds of one ``step(t)`` after warm-up frames."""
    for i in range(warmup):
        step(i / 60)
    times = []
    gc.collect()
    for i in range(frames):
        t0 = time.perf_counter()
        step((warmup + i) / 60)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class _Naive:
    def __init__(self, ctx: Any, program: Any, field: Any) -> None:
        self.ctx, self.program, self.field = ctx, program, field

    def __call__(self, t: float) -> None:
        pos, color = self.field.naive(t)
        verts = np.empty(len(pos), dtype=LAYOUT.dtype)
        verts["in_pos"] = pos
        verts["in_color"] = color
        vbo = self.ctx.buffer(verts)
        vao = self.ctx.vertex_array(self.program, [(vbo, LAYOUT.format, *LAYOUT.names)])
        # A naive loop would draw with this vao now; release both so the GL
        # objects do not pile up between frames.
        vao.release()
        vbo.release()


class _HandWritten:
    def __init__(self, ctx: Any, program: Any, field: Any) -> None:
        self.field = field
        self.verts = np.empty(3 * field.n, dtype=LAYOUT.dtype)
        self.scratch = field.scratch()
        self.vbo = ctx.buffer(reserve=max(self.verts.nbytes, 4), dynamic=True)
        self.vao = ctx.vertex_array(program, [(self.vbo, LAYOUT.format, *LAYOUT.names)])

    def __call__(self, t: float) -> None:
        self.field.fill(self.verts, t, scratch=self.scratch)
        self.vbo.write(self.verts)

    def release(self) -> None:
        self.vao.release()
        self.vbo.release()


class _Staged:
    def __init__(self, ctx: Any, program: Any, field: Any, strategy: str) -> None:
        self.field = field
        self.stager = Stager(ctx, LAYOUT, program, strategy=strategy)

    def __call__(self, t: float) -> None:
        n = self.field.n
        with self.stager.frame() as frame:
            tris = frame.reserve(3 * n)
            self.field.fill(tris, t)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f}"


def _compare(ctx: Any, program: Any, workload: str, make: Any, quick: bool) -> None:
    print()
    print(f"workload: {workload}")
    print(
        f"{'triangles':>10} {'naive':>9} {'hand':>9} {'stagebuf':>9} "
        f"{'vs naive':>9} {'vs hand':>8}  goals"
    )
    for n in SIZES:
        field = make(n)
        frames = _frames_for(n, quick)
        naive = _Naive(ctx, program, field)
        hand = _HandWritten(ctx, program, field)
        # The same upload as the hand-written loop (one buffer, plain writes), so
        # the difference is what the abstraction costs; the strategies are
        # compared with each other below.
        staged = _Staged(ctx, program, field, "write")
        # Interleave the three so drift on the machine hits them alike.
        t_naive, t_hand, t_staged = [], [], []
        for _ in range(3):
            t_naive.append(_time_frames(naive, frames))
            t_hand.append(_time_frames(hand, frames))
            t_staged.append(_time_frames(staged, frames))
        tn, th, ts = min(t_naive), min(t_hand), min(t_staged)
        hand.release()
        staged.stager.release()
        goal = ""
        if n == 100_000:
            ok_naive = tn / ts >= GOAL_VS_NAIVE
            ok_hand = ts / th <= GOAL_VS_HAND
            goal = (
                f">= {GOAL_VS_NAIVE:.0f}x naive: {'met' if ok_naive else 'MISSED'}; "
                f"<= {GOAL_VS_HAND}x hand: {'met' if ok_hand else 'MISSED'}"
            )
        print(f"{n:>10} {_ms(tn)} {_ms(th)} {_ms(ts)} {tn / ts:8.2f}x {ts / th:7.3f}x  {goal}")


def _strategies(ctx: Any, program: Any, quick: bool) -> None:
    """Each upload strategy at every size: none may fall off a cliff."""
    print()
    print("upload strategies, particle triangles (CPU ms per frame, best median of repeats)")
    print(f"{'triangles':>10} " + " ".join(f"{s:>9}" for s in STRATEGIES) + "  worst/best")
    for n in SIZES:
        field = ParticleField(n)
        frames = _frames_for(n, quick)
        stagers = {s: _Staged(ctx, program, field, s) for s in STRATEGIES}
        timings: dict[str, list[float]] = {s: [] for s in STRATEGIES}
        for _ in range(3):
            for s, step in stagers.items():
                timings[s].append(_time_frames(step, frames))
        best = {s: min(t) for s, t in timings.items()}
        spread = max(best.values()) / min(best.values())
        print(f"{n:>10} " + " ".join(_ms(best[s]) for s in STRATEGIES) + f"  {spread:9.2f}x")
        for step in stagers.values():
            step.stager.release()


def run(quick: bool = False) -> None:
    """Print the staging tables: stagebuf vs naive vs hand-written, then the strategies."""
    ctx = create_headless_context()
    program = load_program(ctx)
    print(
        f"stagebuf staging benchmark | Python {sys.version.split()[0]} | numpy "
        f"{np.__version__} | {ctx.info['GL_RENDERER']}"
    )
    print("CPU ms per frame to generate, pack and upload N triangles (median), no drawing")
    for workload, make in WORKLOADS.items():
        _compare(ctx, program, workload, make, quick)
    _strategies(ctx, program, quick)
    run_frames(ctx, program, quick=quick)
    program.release()
    ctx.release()
