"""Whole-frame workloads of ``python -m stagebuf.bench staging``: a mixed frame like a
real app's, instanced sprites and the streamed signal plot (the cost of one
``reserve`` call is in ``_small_frames_bench``).

The mixed frame's triangles are the particle workload of the triangle tables;
lines, points and the HUD drift linearly with time.

Each side does the same generation work into the same kind of structured array;
only where the array lives and how it reaches GL differ. CPU time per frame
(packing and upload) is timed; drawing is not, since llvmpipe rasterises on
the CPU and would swamp the figures. Draw calls are counted from one render.
"""

from __future__ import annotations

import time
from typing import Any

import moderngl
import numpy as np

from .._errors import StagerError
from .._gl import load_program
from .._layout import VertexLayout
from .._mesh import Mesh
from .._pack import write_attribute
from .._scene import ParticleField
from .._stager import Stager
from ._progress import Progress

__all__ = ["FRAME_CASES", "run_frames"]

LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
HUD = VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1")
SPRITE = VertexLayout(in_offset="2f", in_color="4f1")

GOAL_MIXED_VS_HAND = 1.15
GOAL_SPRITES_VS_HAND = 1.1
GOAL_SPRITES_VS_EXPANDED = 2.0
GOAL_SIGNAL_VS_SINGLE_COPY = 1.0  # "mapped" streams: no slower than one Buffer.write
SIGNAL_SIZES = ((64, 1_000), (64, 10_000))  # signals x samples: the example's, and 10x
FRAME_CASES = 3  # progress lines: the mixed frame, the sprites, the signal plot

_POINT_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform float u_size; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); gl_PointSize = u_size; v_color = in_color; }"""
_COLOR_FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
_HUD_VS = """#version 330 core
in vec2 in_pos; in vec2 in_uv; in vec4 in_color; out vec2 v_uv; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_uv = in_uv; v_color = in_color; }"""
_HUD_FS = """#version 330 core
in vec2 v_uv; in vec4 v_color; uniform sampler2D u_tex; out vec4 f_color;
void main() { f_color = texture(u_tex, v_uv) * v_color; }"""
_SPRITE_VS = """#version 330 core
in vec2 in_vert; in vec2 in_offset; in vec4 in_color; out vec4 v_color;
void main() { gl_Position = vec4(in_vert * 0.01 + in_offset, 0.0, 1.0); v_color = in_color; }"""
_EXPANDED_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_color = in_color; }"""


def _median_ms(step: Any, frames: int, warmup: int = 3) -> float:
    for i in range(warmup):
        step(i / 60)
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        step((warmup + i) / 60)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


class _Source:
    """Per-frame data of one kind of geometry: positions drift with time."""

    def __init__(self, n: int, rng: np.random.Generator, layout: VertexLayout) -> None:
        self.n = n
        self.base = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        self.vel = rng.uniform(-0.1, 0.1, (n, 2)).astype(np.float32)
        self.color = rng.integers(0, 256, (n, 4), dtype=np.uint8)
        self.uv = rng.random((n, 2), dtype=np.float32) if "in_uv" in layout.names else None
        self.xy = np.empty((n, 2), np.float32)  # scratch, the same on every side

    def fill(self, view: Any, t: float) -> None:
        np.multiply(self.vel, np.float32(t), out=self.xy)
        self.xy += self.base
        write_attribute(view, "in_pos", self.xy)
        write_attribute(view, "in_color", self.color)
        if self.uv is not None:
            write_attribute(view, "in_uv", self.uv)


class _Mixed:
    """10k triangles, 5k lines, 2k points, a HUD of 500 indexed quads (own layout,
    program and texture): the frame of a real app."""

    def __init__(self, ctx: Any, progs: dict[str, Any], texture: Any) -> None:
        rng = np.random.default_rng(1)
        # The triangles are the staging bench's packing-bound particles: temporaries
        # on the second stack for stagebuf, preallocated scratch for the hand.
        self.tris = ParticleField(10_000)
        self.scratch = self.tris.scratch()
        self.lines = _Source(10_000, rng, LAYOUT)
        self.points = _Source(2_000, rng, LAYOUT)
        self.hud = _Source(2_000, rng, HUD)
        quad = np.array([0, 1, 2, 0, 2, 3], np.uint32)
        self.hud_indices = (quad + 4 * np.arange(500, dtype=np.uint32)[:, None]).reshape(-1)
        self.progs, self.texture = progs, texture


class _MixedHand:
    """The best hand-written moderngl frame: one reused buffer per layout, drawn in order."""

    def __init__(self, ctx: Any, m: _Mixed) -> None:
        self.m = m
        self.verts = np.empty(42_000, LAYOUT.dtype)
        self.hud = np.empty(2_000, HUD.dtype)
        self.vbo = ctx.buffer(reserve=self.verts.nbytes, dynamic=True)
        self.hbo = ctx.buffer(reserve=self.hud.nbytes, dynamic=True)
        self.ibo = ctx.buffer(reserve=m.hud_indices.nbytes, dynamic=True)
        self.idx = np.empty_like(m.hud_indices)
        tri, hud = m.progs["tri"], m.progs["hud"]
        self.vao = ctx.vertex_array(tri, [(self.vbo, LAYOUT.format, *LAYOUT.names)])
        self.pvao = ctx.vertex_array(m.progs["dot"], [(self.vbo, LAYOUT.format, *LAYOUT.names)])
        self.hvao = ctx.vertex_array(
            hud, [(self.hbo, HUD.format, *HUD.names)], index_buffer=self.ibo, index_element_size=4
        )

    def __call__(self, t: float) -> None:
        m, v = self.m, self.verts
        m.tris.fill(v[:30_000], t, scratch=m.scratch)
        m.lines.fill(v[30_000:40_000], t)
        m.points.fill(v[40_000:], t)
        m.hud.fill(self.hud, t)
        self.idx[:] = m.hud_indices  # a HUD changes every frame: indices are rewritten too
        self.vbo.write(v)
        self.hbo.write(self.hud)
        self.ibo.write(self.idx)

    def render(self) -> int:
        self.vao.render(moderngl.TRIANGLES, vertices=30_000)
        self.vao.render(moderngl.LINES, vertices=10_000, first=30_000)
        self.m.progs["dot"]["u_size"].value = 2.0
        self.pvao.render(moderngl.POINTS, vertices=2_000, first=40_000)
        self.m.texture.use(0)
        self.hvao.render(moderngl.TRIANGLES)
        return 4

    def release(self) -> None:
        for obj in (self.vao, self.pvao, self.hvao, self.vbo, self.hbo, self.ibo):
            obj.release()


class _MixedStaged:
    """The same frame through one Stager; ``quads_one_by_one``: the HUD as 500 calls."""

    def __init__(self, ctx: Any, m: _Mixed, *, quads_one_by_one: bool = False) -> None:
        self.m = m
        self.stager = Stager(ctx, LAYOUT, m.progs["tri"], strategy="write")
        self.one_by_one = quads_one_by_one
        self.quad = np.array([0, 1, 2, 0, 2, 3], np.uint32)
        self.hud_rel = m.hud_indices  # 500 quads: relative to the range's own vertices
        self.hud_data = np.empty(2_000, HUD.dtype)

    def __call__(self, t: float) -> None:
        m = self.m
        hud_state = {"layout": HUD, "program": m.progs["hud"], "textures": {0: m.texture}}
        with self.stager.frame() as frame:
            m.tris.fill(frame.reserve(30_000), t)
            m.lines.fill(frame.reserve(10_000, mode=moderngl.LINES), t)
            points = frame.reserve(
                2_000, mode=moderngl.POINTS, program=m.progs["dot"], uniforms={"u_size": 2.0}
            )
            m.points.fill(points, t)
            if self.one_by_one:
                # An immediate-mode UI: one call per quad, its four vertices copied
                # from the HUD's data (made by one vectorised fill, as text layout would).
                m.hud.fill(self.hud_data, t)
                reserve, quad, data = frame.reserve_indexed, self.quad, self.hud_data
                for k in range(0, 2_000, 4):
                    verts, idx = reserve(4, 6, **hud_state)
                    verts[:] = data[k : k + 4]
                    idx[:] = quad
            else:
                verts, idx = frame.reserve_indexed(2_000, 3_000, **hud_state)
                m.hud.fill(verts, t)
                idx[:] = self.hud_rel


def _mixed_rows(ctx: Any, frames: int, repeats: int) -> None:
    progs = {
        "tri": ctx.program(vertex_shader=_EXPANDED_VS, fragment_shader=_COLOR_FS),
        "dot": ctx.program(vertex_shader=_POINT_VS, fragment_shader=_COLOR_FS),
        "hud": ctx.program(vertex_shader=_HUD_VS, fragment_shader=_HUD_FS),
    }
    texture = ctx.texture((8, 8), 4, np.full((8, 8, 4), 255, np.uint8).tobytes())
    m = _Mixed(ctx, progs, texture)
    hand = _MixedHand(ctx, m)
    staged = _MixedStaged(ctx, m)
    one_by_one = _MixedStaged(ctx, m, quads_one_by_one=True)
    times: dict[str, list[float]] = {"hand": [], "stagebuf": [], "500 calls": []}
    for _ in range(repeats):
        times["hand"].append(_median_ms(hand, frames))
        times["stagebuf"].append(_median_ms(staged, frames))
        times["500 calls"].append(_median_ms(one_by_one, frames))
    hand_calls = hand.render()
    staged.stager.render()
    calls = staged.stager.stats.draw_calls_last_render
    one_by_one.stager.render()
    calls_500 = one_by_one.stager.stats.draw_calls_last_render
    th = min(times["hand"])
    print()
    print("mixed frame: 10k triangles, 5k lines, 2k points, HUD of 500 indexed quads")
    print("(own layout, program, texture); CPU ms per frame to pack and upload (median)")
    print(f"{'':>22} {'ms':>8} {'vs hand':>8} {'draws':>6}  goals")
    print(f"{'hand-written moderngl':>22} {th:8.3f} {1:7.3f}x {hand_calls:>6}")
    for name, n_calls in (("stagebuf", calls), ("500 calls", calls_500)):
        t = min(times[name])
        ratios = [a / b for a, b in zip(times[name], times["hand"], strict=True)]
        goal = ""
        if name == "stagebuf":
            ok = t / th <= GOAL_MIXED_VS_HAND and n_calls == hand_calls
            goal = (
                f"<= {GOAL_MIXED_VS_HAND}x hand, draws == state changes: "
                f"{'met' if ok else 'MISSED'}"
            )
        label = "stagebuf" if name == "stagebuf" else "stagebuf, 500 reserves"
        print(
            f"{label:>22} {t:8.3f} {t / th:7.3f}x {n_calls:>6}  {goal} "
            f"(ratio over repeats {min(ratios):.2f}-{max(ratios):.2f})"
        )
    hand.release()
    staged.stager.release()
    one_by_one.stager.release()
    texture.release()
    for p in progs.values():
        p.release()


class _Sprites:
    """``n`` sprites bouncing in the view: offsets and colours change every frame."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(2)
        self.n = n
        self.src = _Source(n, rng, SPRITE)

    def fill(self, view: Any, t: float) -> None:
        src = self.src
        np.multiply(src.vel, np.float32(t), out=src.xy)
        src.xy += src.base
        write_attribute(view, "in_offset", src.xy)
        write_attribute(view, "in_color", src.color)


def _sprite_rows(ctx: Any, frames: int, repeats: int) -> None:
    n = 100_000
    sprites = _Sprites(n)
    quad_layout = VertexLayout(in_vert="2f")
    corners = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], np.float32)
    verts = np.zeros(4, quad_layout.dtype)
    verts["in_vert"] = corners
    mesh = Mesh(ctx, verts, mode=moderngl.TRIANGLE_STRIP)
    program = ctx.program(vertex_shader=_SPRITE_VS, fragment_shader=_COLOR_FS)
    flat = ctx.program(vertex_shader=_EXPANDED_VS, fragment_shader=_COLOR_FS)
    stager = Stager(ctx, SPRITE, program, strategy="write")

    def staged(t: float) -> None:
        with stager.frame() as frame:
            sprites.fill(frame.reserve_instances(mesh, n), t)

    records = np.empty(n, SPRITE.dtype)
    ibuf = ctx.buffer(reserve=records.nbytes, dynamic=True)
    hand_vao = ctx.vertex_array(
        program, [(mesh.vertex_buffer, "2f", "in_vert"), (ibuf, "2f 4f1/i", *SPRITE.names)]
    )

    def hand(t: float) -> None:
        sprites.fill(records, t)
        ibuf.write(records)

    expanded = np.empty(4 * n, LAYOUT.dtype)
    xy = np.empty((n, 4, 2), np.float32)
    ebuf = ctx.buffer(reserve=expanded.nbytes, dynamic=True)
    quad_idx = np.array([0, 1, 2, 2, 1, 3], np.uint32)
    eidx = ctx.buffer((quad_idx + 4 * np.arange(n, dtype=np.uint32)[:, None]).tobytes())
    evao = ctx.vertex_array(
        flat, [(ebuf, LAYOUT.format, *LAYOUT.names)], index_buffer=eidx, index_element_size=4
    )
    colors = expanded["in_color"].reshape(n, 4, 4)

    def expand(t: float) -> None:
        src = sprites.src
        np.multiply(src.vel, np.float32(t), out=src.xy)
        src.xy += src.base
        np.add(src.xy[:, None, :], corners * np.float32(0.01), out=xy)
        write_attribute(expanded, "in_pos", xy.reshape(-1, 2))
        colors[:] = src.color[:, None, :]
        ebuf.write(expanded)

    times: dict[str, list[float]] = {"hand": [], "stagebuf": [], "expanded": []}
    for _ in range(repeats):
        times["hand"].append(_median_ms(hand, frames))
        times["stagebuf"].append(_median_ms(staged, frames))
        times["expanded"].append(_median_ms(expand, frames))
    stager.render()
    th, ts, te = (min(times[k]) for k in ("hand", "stagebuf", "expanded"))
    print()
    print(f"instanced sprites: {n:,} per frame (offset 2f, colour 4f1, one quad mesh);")
    print("CPU ms per frame to pack and upload (median)")
    print(f"{'hand-written instancing':>26} {th:8.3f}")
    print(f"{'4 vertices per sprite':>26} {te:8.3f}")
    ok = ts / th <= GOAL_SPRITES_VS_HAND and te / ts >= GOAL_SPRITES_VS_EXPANDED
    ratios = [a / b for a, b in zip(times["stagebuf"], times["hand"], strict=True)]
    print(
        f"{'stagebuf reserve_instances':>26} {ts:8.3f}  {ts / th:.3f}x hand "
        f"(repeats {min(ratios):.2f}-{max(ratios):.2f}), {te / ts:.2f}x faster than 4 vertices; "
        f"draws {stager.stats.draw_calls_last_render}; goals <= {GOAL_SPRITES_VS_HAND}x hand, "
        f">= {GOAL_SPRITES_VS_EXPANDED:.0f}x vs 4 vertices: {'met' if ok else 'MISSED'}"
    )
    stager.release()
    for obj in (hand_vao, ibuf, evao, ebuf, eidx, program, flat):
        obj.release()
    mesh.release()


def _signal_rows(ctx: Any, frames: int, repeats: int) -> None:
    """examples/signal_plot.py's streamed case: y values streamed beside a static mesh
    (positions, colours, strip indices), against a hand-written single-copy upload
    of the same bytes (one ``Buffer.write`` from the same array). Both sides copy
    the bytes once; the stagers' frame cycle is what else they pay."""
    streamed = VertexLayout(in_y="f")
    program = load_program(ctx, "signal")
    print()
    print("streamed signal plot (examples/signal_plot.py): y values (f4) beside a static")
    print("mesh, CPU ms per frame to upload them (median); the hand side is one")
    print("Buffer.write of the same array; every stagebuf strategy copies the bytes once or more")
    strategies = [s for s in ("mapped", "ring") if _runs(ctx, streamed, program, s)]
    print(
        f"{'signals x samples':>18} {'MB':>6} {'hand':>8} "
        + " ".join(f"{s:>8}" for s in strategies)
        + "  goal"
    )
    for signals, samples in SIGNAL_SIZES:
        times = _signal_case(ctx, program, signals * samples, strategies, frames, repeats)
        th = min(times["hand"])
        goal = ""
        if "mapped" in strategies:
            ratios = [a / b for a, b in zip(times["mapped"], times["hand"], strict=True)]
            tm = min(times["mapped"])
            ok = tm / th <= GOAL_SIGNAL_VS_SINGLE_COPY
            goal = (
                f"mapped {tm / th:.2f}x hand (repeats {min(ratios):.2f}-{max(ratios):.2f}); "
                f"<= {GOAL_SIGNAL_VS_SINGLE_COPY:.1f}x: {'met' if ok else 'MISSED'}"
            )
        mb = 4 * signals * samples / 1e6
        print(
            f"{f'{signals} x {samples:,}':>18} {mb:6.2f} {th:8.3f} "
            + " ".join(f"{min(times[s]):8.3f}" for s in strategies)
            + f"  {goal}"
        )
    program.release()


def _signal_case(
    ctx: Any, program: Any, n: int, strategies: list[str], frames: int, repeats: int
) -> dict[str, list[float]]:
    """ms per frame of each side, per repeat, streaming ``n`` y values."""
    static = VertexLayout(in_base="2f", in_color="4f1")
    streamed = VertexLayout(in_y="f")
    mesh = Mesh(ctx, np.zeros(n, static.dtype), mode=moderngl.LINE_STRIP, layout=static)
    y = np.random.default_rng(4).uniform(-1, 1, n).astype(np.float32)
    vbo = ctx.buffer(reserve=y.nbytes, dynamic=True)

    def hand(t: float) -> None:
        vbo.write(y)

    def staged(stager: Stager) -> Any:
        def step(t: float) -> None:
            with stager.frame() as frame:
                write_attribute(frame.reserve_attributes(mesh), "in_y", y)

        return step

    stagers = {s: Stager(ctx, streamed, program, strategy=s) for s in strategies}
    steps = {"hand": hand, **{s: staged(st) for s, st in stagers.items()}}
    times: dict[str, list[float]] = {s: [] for s in steps}
    for _ in range(repeats):
        for s, step in steps.items():
            times[s].append(_median_ms(step, frames))
    for stager in stagers.values():
        stager.release()
    vbo.release()
    mesh.release()
    return times


def _runs(ctx: Any, layout: VertexLayout, program: Any, strategy: str) -> bool:
    """Whether ``strategy`` runs on this context ("mapped" may not)."""
    try:
        Stager(ctx, layout, program, strategy=strategy).release()
    except StagerError:
        return False
    return True


def run_frames(ctx: Any, *, quick: bool, progress: Progress) -> None:
    """Print the mixed-frame, instanced-sprite and signal-plot tables (FRAME_CASES cases)."""
    ctx.enable(moderngl.PROGRAM_POINT_SIZE)
    frames, repeats = (10, 2) if quick else (40, 5)
    with progress.case("mixed frame"):
        _mixed_rows(ctx, frames, repeats)
    with progress.case("instanced sprites"):
        _sprite_rows(ctx, frames, repeats)
    with progress.case("streamed signal plot"):
        _signal_rows(ctx, frames, repeats)
