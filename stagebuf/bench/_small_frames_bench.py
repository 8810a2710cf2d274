"""Small frames of ``python -m stagebuf.bench staging``: the fixed cost of a frame and
of a reserve, where a real program's frames are small (issue 15's goals).

Each case times whole frames on both sides, in turn within each repeat: fill
the same data, upload it, issue the draws (CPU time; the rasteriser finishes
each frame outside the timed part, into a 4x4 framebuffer). Figures are
medians of per-frame times; the ratio is stagebuf's time over the hand-written
loop's, per repeat, and the table shows the median ratio with its range over
repeats.

- one range of 1,000 triangles vs a reused buffer written and drawn;
- two instanced ranges of one mesh (20 records each) vs hand-written
  instancing (one reused buffer of 40 records, one draw), and the same with a
  uniform per range (a buffer and a draw per range by hand);
- 52 single-quad ranges, each with its own texture, vs a reused buffer and a
  draw per quad with its texture bound (a text demo's glyphs);
- the cost of one ``reserve`` call: plain, and with mode, program and two
  uniforms (merged into one draw, as a loop of equal ranges is).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import moderngl
import numpy as np

from .._layout import VertexLayout
from .._mesh import Mesh
from .._stager import Stager
from ._progress import Progress

__all__ = ["SMALL_FRAME_CASES", "run_small_frames"]

LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
GLYPH = VertexLayout(in_pos="2f", in_uv="2f")
CAR = VertexLayout(in_offset="2f", in_color="4f1")
MESH = VertexLayout(in_vert="2f")

GOAL_ONE_RANGE = 1.1
GOAL_INSTANCED = 1.0
GOAL_GLYPHS = 1.0
GOAL_RESERVE_NS = 500
GOAL_RESERVE_STATE_NS = 800
SMALL_FRAME_CASES = 4

_COLOR_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_color = in_color; }"""
_COLOR_FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
_DOT_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform float u_size; uniform vec4 u_tint; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); gl_PointSize = u_size;
              v_color = in_color * u_tint; }"""
_CAR_VS = """#version 330 core
in vec2 in_vert; in vec2 in_offset; in vec4 in_color; uniform vec4 u_tint; out vec4 v_color;
void main() { gl_Position = vec4(in_vert * 0.02 + in_offset, 0.0, 1.0);
              v_color = in_color * u_tint; }"""
_GLYPH_VS = """#version 330 core
in vec2 in_pos; in vec2 in_uv; out vec2 v_uv;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_uv = in_uv; }"""
_GLYPH_FS = """#version 330 core
in vec2 v_uv; uniform sampler2D u_tex; out vec4 f_color;
void main() { f_color = texture(u_tex, v_uv); }"""


def _ratios(
    ctx: Any,
    stagebuf: Callable[[float], None],
    hand: Callable[[float], None],
    frames: int,
    repeats: int,
) -> tuple[float, float, list[float]]:
    """Median ms per frame of each side and the per-repeat ratios (stagebuf / hand).

    ``ctx.finish()`` after each timed frame, untimed: the rasteriser's work on
    one side's frame never lands in the other side's time."""
    for i in range(5):  # warm: GL objects made, the arena at its size
        stagebuf(i / 60)
        hand(i / 60)
    ctx.finish()
    s_all: list[float] = []
    h_all: list[float] = []
    ratios = []
    for r in range(repeats):
        s_times: list[float] = []
        h_times: list[float] = []
        for i in range(frames):
            t = (r * frames + i) / 60
            for step, times in ((stagebuf, s_times), (hand, h_times)):
                t0 = time.perf_counter()
                step(t)
                times.append(time.perf_counter() - t0)
                ctx.finish()
        ratios.append(statistics.median(s_times) / statistics.median(h_times))
        s_all += s_times
        h_all += h_times
    return statistics.median(s_all) * 1e3, statistics.median(h_all) * 1e3, ratios


def _row(label: str, s_ms: float, h_ms: float, ratios: list[float], goal: float) -> None:
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= goal else "MISSED"
    print(
        f"{label:<34} {s_ms * 1e3:9.1f} us {h_ms * 1e3:9.1f} us {ratio:6.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f})  goal <= {goal:.2f}x: {verdict}"
    )


def _one_range(ctx: Any, frames: int, repeats: int) -> None:
    program = ctx.program(vertex_shader=_COLOR_VS, fragment_shader=_COLOR_FS)
    rng = np.random.default_rng(3)
    base = rng.uniform(-1, 1, (3000, 2)).astype(np.float32)
    color = rng.integers(0, 256, (3000, 4), dtype=np.uint8)
    stager = Stager(ctx, LAYOUT, program, strategy="write")

    def staged(t: float) -> None:
        with stager.frame() as frame:
            tris = frame.reserve(3000)
            np.add(base, np.float32(t), out=tris["in_pos"])
            tris["in_color"] = color
        stager.render()

    verts = np.empty(3000, LAYOUT.dtype)
    vbo = ctx.buffer(reserve=verts.nbytes, dynamic=True)
    vao = ctx.vertex_array(program, [(vbo, LAYOUT.format, *LAYOUT.names)])

    def hand(t: float) -> None:
        np.add(base, np.float32(t), out=verts["in_pos"])
        verts["in_color"] = color
        vbo.write(verts)
        vao.render(moderngl.TRIANGLES, vertices=3000)

    _row(
        "one range of 1,000 triangles", *_ratios(ctx, staged, hand, frames, repeats), GOAL_ONE_RANGE
    )
    stager.release()
    for obj in (vao, vbo, program):
        obj.release()


def _instanced(ctx: Any, frames: int, repeats: int) -> None:
    """Two instanced ranges of one mesh, 20 records each: with equal state (merged
    into one draw, against one hand-written instanced draw of 40 records: the
    goal) and with a uniform of their own (two draws on both sides)."""
    program = ctx.program(vertex_shader=_CAR_VS, fragment_shader=_COLOR_FS)
    program["u_tint"].value = (1.0, 1.0, 1.0, 1.0)
    car = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], np.float32)
    mesh = Mesh(ctx, car, layout=MESH, mode=moderngl.TRIANGLE_STRIP)
    rng = np.random.default_rng(4)
    offsets = [rng.uniform(-1, 1, (20, 2)).astype(np.float32) for _ in range(2)]
    colors = [rng.integers(0, 256, (20, 4), dtype=np.uint8) for _ in range(2)]
    tints = [(1.0, 0.5, 0.5, 1.0), (0.5, 0.5, 1.0, 1.0)]
    stager = Stager(ctx, CAR, program, strategy="write")
    records = np.empty(40, CAR.dtype)
    buffers = [ctx.buffer(reserve=records.nbytes, dynamic=True) for _ in range(2)]
    vaos = [
        ctx.vertex_array(
            program,
            [(mesh.vertex_buffer, "2f", "in_vert"), (b, CAR.format + "/i", *CAR.names)],
        )
        for b in buffers
    ]

    def staged(t: float) -> None:
        with stager.frame() as frame:
            for offset, color in zip(offsets, colors, strict=True):
                cars = frame.reserve_instances(mesh, 20)
                np.add(offset, np.float32(t), out=cars["in_offset"])
                cars["in_color"] = color
        stager.render()

    def hand(t: float) -> None:
        for half, offset, color in zip((records[:20], records[20:]), offsets, colors, strict=True):
            np.add(offset, np.float32(t), out=half["in_offset"])
            half["in_color"] = color
        buffers[0].write(records)
        vaos[0].render(moderngl.TRIANGLE_STRIP, vertices=4, instances=40)

    def staged_tinted(t: float) -> None:
        with stager.frame() as frame:
            for offset, color, tint in zip(offsets, colors, tints, strict=True):
                cars = frame.reserve_instances(mesh, 20, uniforms={"u_tint": tint})
                np.add(offset, np.float32(t), out=cars["in_offset"])
                cars["in_color"] = color
        stager.render()

    halves = [records[:20], records[20:]]

    def hand_tinted(t: float) -> None:
        for half, buf, vao, offset, color, tint in zip(
            halves, buffers, vaos, offsets, colors, tints, strict=True
        ):
            np.add(offset, np.float32(t), out=half["in_offset"])
            half["in_color"] = color
            buf.write(half)
            program["u_tint"].value = tint
            vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=20)

    _row(
        "two instanced ranges (40 records)",
        *_ratios(ctx, staged, hand, frames, repeats),
        GOAL_INSTANCED,
    )
    s_ms, h_ms, ratios = _ratios(ctx, staged_tinted, hand_tinted, frames, repeats)
    ratio = statistics.median(ratios)
    print(
        f"{'  the same, a uniform each':<34} {s_ms * 1e3:9.1f} us {h_ms * 1e3:9.1f} us "
        f"{ratio:6.2f}x ({min(ratios):.2f}-{max(ratios):.2f})  (two draws each side)"
    )
    stager.release()
    for obj in (*vaos, *buffers, program):
        obj.release()
    mesh.release()


def _glyphs(ctx: Any, frames: int, repeats: int) -> None:
    program = ctx.program(vertex_shader=_GLYPH_VS, fragment_shader=_GLYPH_FS)
    rng = np.random.default_rng(5)
    textures = []
    for _ in range(52):
        texels = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
        textures.append(ctx.texture((8, 8), 4, texels.tobytes()))
    corner = np.array([(0, 0), (1, 0), (0, 1), (1, 0), (1, 1), (0, 1)], np.float32)
    origins = rng.uniform(-1, 0.9, (52, 1, 2)).astype(np.float32)
    positions = (origins + corner * 0.05).astype(np.float32)  # (52, 6, 2)
    stager = Stager(ctx, GLYPH, program, strategy="write")

    def staged(t: float) -> None:
        with stager.frame() as frame:
            for i, texture in enumerate(textures):
                quad = frame.reserve(6, textures={0: texture})
                quad["in_pos"] = positions[i]
                quad["in_uv"] = corner
        stager.render()

    verts = np.empty((52, 6), GLYPH.dtype)
    vbo = ctx.buffer(reserve=verts.nbytes, dynamic=True)
    vao = ctx.vertex_array(program, [(vbo, GLYPH.format, *GLYPH.names)])

    def hand(t: float) -> None:
        for i in range(52):
            verts[i]["in_pos"] = positions[i]
            verts[i]["in_uv"] = corner
        vbo.write(verts)
        for i, texture in enumerate(textures):
            texture.use(0)
            vao.render(moderngl.TRIANGLES, vertices=6, first=6 * i)

    _row("52 quads, a texture each", *_ratios(ctx, staged, hand, frames, repeats), GOAL_GLYPHS)
    stager.release()
    for obj in (vao, vbo, *textures, program):
        obj.release()


def _reserve_costs(ctx: Any, repeats: int) -> None:
    program = ctx.program(vertex_shader=_COLOR_VS, fragment_shader=_COLOR_FS)
    dots = ctx.program(vertex_shader=_DOT_VS, fragment_shader=_COLOR_FS)
    uniforms = {"u_size": 4.0, "u_tint": (1.0, 1.0, 1.0, 1.0)}
    stager = Stager(ctx, LAYOUT, program, strategy="write")
    cases: dict[str, tuple[int, dict[str, Any], int]] = {
        "reserve(3)": (3, {}, GOAL_RESERVE_NS),
        "reserve(1, mode, program, 2 uniforms)": (
            1,
            {"mode": moderngl.POINTS, "program": dots, "uniforms": uniforms},
            GOAL_RESERVE_STATE_NS,
        ),
    }
    calls = 10_000
    for _ in range(4):  # past a new stager's first frames, which watch uniforms (Python path)
        with stager.frame() as frame:
            frame.reserve(3)
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, (n, kwargs, _) in cases.items():
            with stager.frame() as frame:
                reserve = frame.reserve
                for _ in range(calls // 10):  # the first slice grows to the frame once
                    reserve(n, **kwargs)
                t0 = time.perf_counter()
                for _ in range(calls):
                    reserve(n, **kwargs)
                samples[label].append((time.perf_counter() - t0) / calls * 1e9)
    for label, (_, _, goal) in cases.items():
        ns = samples[label]
        best = min(ns)
        verdict = "met" if best <= goal else "MISSED"
        print(
            f"{label:<40} {best:6.0f} ns (median {statistics.median(ns):.0f})  "
            f"goal <= {goal} ns: {verdict}"
        )
    stager.release()
    program.release()
    dots.release()


def run_small_frames(ctx: Any, *, quick: bool, progress: Progress) -> None:
    """Print the small-frame table (SMALL_FRAME_CASES cases)."""
    frames, repeats = (30, 3) if quick else (120, 7)
    fbo = ctx.simple_framebuffer((4, 4))
    fbo.use()
    print()
    print(
        "small frames: stage, upload and issue the draws, per frame (median), stagebuf vs "
        "hand-written moderngl, ratio median (range over repeats)"
    )
    print(f"{'':<34} {'stagebuf':>12} {'hand':>12}")
    with progress.case("one 1,000-triangle range"):
        _one_range(ctx, frames, repeats)
    with progress.case("two instanced ranges"):
        _instanced(ctx, frames, repeats)
    with progress.case("52 textured quads"):
        _glyphs(ctx, frames, repeats)
    with progress.case("reserve costs"):
        _reserve_costs(ctx, 3 if quick else 15)
    fbo.release()
