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
  upload: what the abstraction costs);
- stagebuf, default strategy: "mapped" where it runs (the frame is written
  straight into a persistently mapped GL buffer: no copy at upload; its goals
  are <= 0.95x the hand-written loop at 100k triangles, <= 0.85x at 1M).

Then every upload strategy against the hand-written loop at each size, twice:
packing and upload only, and with a draw per frame into a 1x1 framebuffer
(every vertex processed, little rasterised), where the "mapped" frames wait
on fences when the GPU is behind (counted).

Then the whole-frame workloads (``_frame_bench``): a mixed frame of a real app
and instanced sprites, each against hand-written moderngl, and the cost of one
``reserve`` call.

With ``--plot``, the three loops on the particle workload are measured at the
triangle counts between the table's too (1k to 1M): the plot's staging panel,
CPU ms per frame against triangles.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import moderngl
import numpy as np

from .. import STRATEGIES, Stager
from .._errors import StagerError
from .._gl import create_headless_context, load_program
from .._layout import VertexLayout
from .._scene import ParticleField, TriangleField
from ._frame_bench import FRAME_CASES, run_frames
from ._pack_bench import FORMATS, run_pack_rows
from ._plot import Panel, Series
from ._progress import Progress
from ._small_frames_bench import SMALL_FRAME_CASES, run_small_frames

__all__ = ["run"]

# The packing-bound workload (cheap maths per vertex, so packing and upload
# dominate) and the demo's maths-bound galaxy (sin/cos per vertex).
WORKLOADS: dict[str, Any] = {"particles": ParticleField, "galaxy": TriangleField}

LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
SIZES = (10_000, 100_000, 1_000_000)
SWEEP_SIZES = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)  # --plot
GOAL_VS_NAIVE = 4.0  # at 100k triangles
GOAL_VS_HAND = 1.15
GOAL_MAPPED_VS_HAND = {100_000: 0.95, 1_000_000: 0.85}  # issue 18: zero-copy upload


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
    def __init__(
        self, ctx: Any, program: Any, field: Any, strategy: str | None, *, draw: bool = False
    ) -> None:
        self.field = field
        self.stager = Stager(ctx, LAYOUT, program, strategy=strategy)
        self.draw = draw

    def __call__(self, t: float) -> None:
        n = self.field.n
        with self.stager.frame() as frame:
            tris = frame.reserve(3 * n)
            self.field.fill(tris, t)
        if self.draw:
            self.stager.render()


class _HandDrawn(_HandWritten):
    """The hand-written loop, drawing its buffer after each write."""

    def __call__(self, t: float) -> None:
        super().__call__(t)
        self.vao.render(moderngl.TRIANGLES, vertices=3 * self.field.n)


def _runs_here(ctx: Any, program: Any) -> tuple[str, ...]:
    """The strategies that run on this context ("mapped" needs GL 4.4 or
    ARB_buffer_storage, and STAGEBUF_NO_MAPPED unset)."""
    runs = []
    for strategy in STRATEGIES:
        try:
            Stager(ctx, LAYOUT, program, strategy=strategy).release()
        except StagerError:
            continue
        runs.append(strategy)
    return tuple(runs)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f}"


def _sides(
    ctx: Any, program: Any, field: Any, quick: bool
) -> tuple[float, float, float, float, list[float]]:
    """Seconds per frame of the naive, hand-written, stagebuf ("write") and stagebuf
    (default strategy) loops on one field: the best of three medians each; then the
    default's ratios to the hand-written loop, one per repeat (same run)."""
    frames = _frames_for(field.n, quick)
    naive = _Naive(ctx, program, field)
    hand = _HandWritten(ctx, program, field)
    # The same upload as the hand-written loop (one buffer, plain writes), so
    # the difference is what the abstraction costs; the strategies are
    # compared with each other below.
    staged = _Staged(ctx, program, field, "write")
    default = _Staged(ctx, program, field, None)
    # Interleave the four so drift on the machine hits them alike.
    t_naive, t_hand, t_staged, t_default = [], [], [], []
    for _ in range(3):
        t_naive.append(_time_frames(naive, frames))
        t_hand.append(_time_frames(hand, frames))
        t_staged.append(_time_frames(staged, frames))
        t_default.append(_time_frames(default, frames))
    hand.release()
    staged.stager.release()
    default.stager.release()
    ratios = [d / h for d, h in zip(t_default, t_hand, strict=True)]
    return min(t_naive), min(t_hand), min(t_staged), min(t_default), ratios


def _compare(
    ctx: Any,
    program: Any,
    workload: str,
    make: Any,
    quick: bool,
    progress: Progress,
    default: str,
) -> dict[int, tuple[float, float, float]]:
    """Print one workload's table; return its figures (naive, hand, stagebuf) by size."""
    figures = {}
    for n in SIZES:
        with progress.case(f"{workload}, {n:,} triangles"):
            figures[n] = _sides(ctx, program, make(n), quick)
    print()
    print(f"workload: {workload} (stagebuf: strategy 'write'; default: {default!r})")
    print(
        f"{'triangles':>10} {'naive':>9} {'hand':>9} {'stagebuf':>9} {'default':>9} "
        f"{'vs naive':>9} {'vs hand':>8} {'default':>8}  goals"
    )
    for n, (tn, th, ts, td, ratios) in figures.items():
        goals = []
        if n == 100_000:
            ok_naive = tn / ts >= GOAL_VS_NAIVE
            ok_hand = ts / th <= GOAL_VS_HAND
            goals.append(
                f">= {GOAL_VS_NAIVE:.0f}x naive: {'met' if ok_naive else 'MISSED'}; "
                f"<= {GOAL_VS_HAND}x hand: {'met' if ok_hand else 'MISSED'}"
            )
        goal = GOAL_MAPPED_VS_HAND.get(n)
        if goal is not None and default == "mapped" and workload == "particles":
            ok = td / th <= goal
            goals.append(
                f"mapped <= {goal}x hand: {'met' if ok else 'MISSED'} "
                f"(repeats {min(ratios):.2f}-{max(ratios):.2f})"
            )
        print(
            f"{n:>10} {_ms(tn)} {_ms(th)} {_ms(ts)} {_ms(td)} {tn / ts:8.2f}x "
            f"{ts / th:7.3f}x {td / th:7.3f}x  {'; '.join(goals)}"
        )
    return {n: f[:3] for n, f in figures.items()}


def _sweep_panel(
    ctx: Any,
    program: Any,
    measured: dict[int, tuple[float, float, float]],
    quick: bool,
    progress: Progress,
) -> Panel:
    """The plot's staging panel: the particle workload from 1k to 1M triangles,
    the table's sizes reused (``measured``) and the ones between measured here."""
    figures = dict(measured)
    for n in SWEEP_SIZES:
        if n not in figures:
            with progress.case(f"particles, {n:,} triangles (plot)"):
                figures[n] = _sides(ctx, program, ParticleField(n), quick)[:3]
    sizes = sorted(figures)
    series = [
        Series(label, sizes, [figures[n][k] * 1e3 for n in sizes], style)
        for k, (label, style) in enumerate(
            (("naive", "--s"), ("hand-written", "-^"), ("stagebuf", "-o"))
        )
    ]
    return Panel(
        title="Staging: CPU ms per frame",
        xlabel="triangles per frame (particles: 2f position + 4f1 colour, 3 vertices each)",
        ylabel="ms per frame (log)",
        caption=(
            "CPU time to generate, pack and upload (Buffer.write) each frame; nothing is\n"
            "drawn. Best of three medians of frames, as the staging table."
        ),
        series=series,
    )


def _strategy_times(
    ctx: Any, program: Any, n: int, quick: bool, strategies: tuple[str, ...], draw: bool
) -> tuple[dict[str, float], dict[str, tuple[int, int]]]:
    """Seconds per frame of the hand-written loop ("hand") and each upload strategy on
    ``n`` particle triangles (best median of three), drawn after each frame or not;
    and each strategy's fence waits over its frames: ``(waits, frames)``."""
    field = ParticleField(n)
    frames = _frames_for(n, quick)
    steps: dict[str, Any] = {
        "hand": (_HandDrawn if draw else _HandWritten)(ctx, program, field),
        **{s: _Staged(ctx, program, field, s, draw=draw) for s in strategies},
    }
    timings: dict[str, list[float]] = {s: [] for s in steps}
    for _ in range(3):
        for s, step in steps.items():
            timings[s].append(_time_frames(step, frames))
    ctx.finish()
    waits = {}
    for s, step in steps.items():
        if s == "hand":
            step.release()
        else:
            stats = step.stager.stats
            waits[s] = (stats.fence_waits, stats.frames)
            step.stager.release()
    return {s: min(t) for s, t in timings.items()}, waits


def _strategies(ctx: Any, program: Any, quick: bool, progress: Progress) -> None:
    """Each upload strategy at every size against the hand-written loop, packing and
    upload only, then with a draw per frame: none may fall off a cliff."""
    strategies = _runs_here(ctx, program)
    for draw in (False, True):
        best = {}
        # Drawn into one pixel: every vertex is processed, little is rasterised (Mesa
        # skips draws under rasterizer discard, so that would draw nothing at all).
        target = ctx.framebuffer(color_attachments=[ctx.renderbuffer((1, 1), 4)])
        try:
            if draw:
                target.use()
            for n in SIZES:
                what = "drawn" if draw else "upload"
                with progress.case(f"upload strategies ({what}), {n:,} triangles"):
                    best[n] = _strategy_times(ctx, program, n, quick, strategies, draw)
        finally:
            # Never release the bound framebuffer (Mesa then leaves an error pending).
            ctx.detect_framebuffer(0).use()
            target.release()
        print()
        if draw:
            print(
                "upload strategies with a draw per frame into a 1x1 framebuffer (llvmpipe\n"
                "processes every vertex on the CPU: that dominates); CPU ms per frame, best\n"
                "median of repeats; waits: frames that waited on a fence for their slot /\n"
                "frames staged"
            )
        else:
            print("upload strategies, particles (CPU ms per frame, best median of repeats)")
        names = ("hand", *strategies)
        print(
            f"{'triangles':>10} "
            + " ".join(f"{s:>9}" for s in names)
            + "  worst/best"
            + ("  mapped/hand  mapped waits" if "mapped" in strategies else "")
        )
        for n, (times, waits) in best.items():
            spread = max(times[s] for s in strategies) / min(times[s] for s in strategies)
            row = f"{n:>10} " + " ".join(_ms(times[s]) for s in names) + f"  {spread:9.2f}x"
            if "mapped" in strategies:
                w, f = waits["mapped"]
                row += f"  {times['mapped'] / times['hand']:10.3f}x  {w:>5}/{f}"
            print(row)


def run(quick: bool = False, *, sweep: bool = False) -> Panel | None:
    """Print the staging tables: stagebuf vs naive vs hand-written, then the strategies
    and whole frames. ``sweep``: also measure the sizes between, for the plot's panel."""
    extra = len(set(SWEEP_SIZES) - set(SIZES)) if sweep else 0
    cases = len(WORKLOADS) * len(SIZES) + 2 * len(SIZES) + FRAME_CASES + SMALL_FRAME_CASES
    cases += len(FORMATS)
    progress = Progress("staging", cases + extra)
    ctx = create_headless_context()
    program = load_program(ctx)
    print(
        f"stagebuf staging benchmark | Python {sys.version.split()[0]} | numpy "
        f"{np.__version__} | {ctx.info['GL_RENDERER']}"
    )
    print("CPU ms per frame to generate, pack and upload N triangles (median), no drawing")
    default = Stager(ctx, LAYOUT, program).strategy
    figures = {
        workload: _compare(ctx, program, workload, make, quick, progress, default)
        for workload, make in WORKLOADS.items()
    }
    _strategies(ctx, program, quick, progress)
    run_frames(ctx, quick=quick, progress=progress)
    run_small_frames(ctx, quick=quick, progress=progress)
    print()
    run_pack_rows(quick, progress=progress)
    panel = _sweep_panel(ctx, program, figures["particles"], quick, progress) if sweep else None
    program.release()
    ctx.release()
    return panel
