"""reserve_attributes: per-vertex attributes streamed each frame beside a mesh's static
ones, compared with plain moderngl drawing the same two buffers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb

SIZE = 64
STATIC = sb.VertexLayout(in_x="f", in_color="4f1")
HEIGHTS = sb.VertexLayout(in_y="f")
PLOT_VS = """#version 330 core
in float in_x; in vec4 in_color; in float in_y; out vec4 v_color;
void main() { gl_Position = vec4(in_x, in_y, 0.0, 1.0); v_color = in_color; }"""
FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
DOT_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_color = in_color; }"""


@pytest.fixture
def plot(ctx: Any) -> Iterator[Any]:
    program = ctx.program(vertex_shader=PLOT_VS, fragment_shader=FS)
    yield program
    program.release()


def grid(n: int, rng: np.random.Generator) -> Any:
    """A static strip of n columns, two vertices each (bottom, top), random colours."""
    verts = np.zeros(2 * n, STATIC.dtype)
    verts["in_x"] = np.repeat(np.linspace(-0.9, 0.9, n, dtype=np.float32), 2)
    verts["in_color"] = rng.integers(0, 256, (2 * n, 4), dtype=np.uint8)
    verts["in_color"][:, 3] = 255
    return verts


def heights(n: int, rng: np.random.Generator) -> Any:
    h = np.empty(2 * n, np.float32)
    h[0::2] = rng.uniform(-0.9, -0.1, n)
    h[1::2] = rng.uniform(0.1, 0.9, n)
    return h


def grab(fbo: Any) -> Any:
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def reference(ctx: Any, fbo: Any, program: Any, draws: list[tuple[Any, Any, Any, int]]) -> Any:
    """Plain moderngl: per draw, the static vertices in one buffer, the streamed
    values in another, the mesh's indices in a third."""
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    for static, streamed, indices, mode in draws:
        made = [ctx.buffer(static.tobytes()), ctx.buffer(streamed.tobytes())]
        ibo = None
        if indices is not None:
            ibo = ctx.buffer(indices.tobytes())
            made.append(ibo)
            if indices.dtype == np.uint16:
                ctx.enable_direct(0x8D69)  # GL_PRIMITIVE_RESTART_FIXED_INDEX
        vao = ctx.vertex_array(
            program,
            [(made[0], STATIC.format, *STATIC.names), (made[1], "f", "in_y")],
            index_buffer=ibo,
            index_element_size=4 if indices is None else indices.itemsize,
        )
        vao.render(mode, vertices=len(static) if indices is None else len(indices))
        if indices is not None and indices.dtype == np.uint16:
            ctx.disable_direct(0x8D69)
        vao.release()
        for b in made:
            b.release()
    return grab(fbo)


def staged(fbo: Any, stager: sb.Stager) -> Any:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    return grab(fbo)


@pytest.mark.parametrize("index_dtype", [None, np.uint16, np.uint32])
def test_streamed_heights_beside_static_columns_match_plain_moderngl(
    ctx: Any, fbo: Any, plot: Any, index_dtype: Any
) -> None:
    rng = np.random.default_rng(5)
    static = grid(12, rng)
    if index_dtype is None:
        indices, mode = None, moderngl.TRIANGLE_STRIP
    else:  # two strips split by the restart index
        restart = np.iinfo(index_dtype).max
        indices = np.array([*range(0, 12), restart, *range(12, 24)], index_dtype)
        mode = moderngl.TRIANGLE_STRIP
    mesh = sb.Mesh(ctx, static, indices, mode=mode, layout=STATIC)
    with sb.Stager(ctx, HEIGHTS, plot) as stager:
        for _ in range(4):  # every ring slot, then around again
            h = heights(12, rng)
            with stager.frame() as frame:
                y = frame.reserve_attributes(mesh)
                sb.write_attribute(y, "in_y", h)
            got = staged(fbo, stager)
            assert_same = reference(ctx, fbo, plot, [(static, h, indices, mode)])
            assert np.array_equal(got, assert_same)
            assert got[..., :3].any()  # something was drawn
    mesh.release()


def test_streamed_records_anywhere_in_the_frame_read_their_own_values(
    ctx: Any, fbo: Any, plot: Any
) -> None:
    """Ranges before and between streamed ones push their records past the buffer's
    start; each streamed draw still reads its own records, vertex i from record i."""
    rng = np.random.default_rng(6)
    left, right = grid(5, rng), grid(7, rng)
    left["in_x"] = left["in_x"] * 0.4 - 0.5
    right["in_x"] = right["in_x"] * 0.4 + 0.5
    a = sb.Mesh(ctx, left, mode=moderngl.TRIANGLE_STRIP, layout=STATIC)
    b = sb.Mesh(ctx, right, mode=moderngl.TRIANGLE_STRIP, layout=STATIC)
    dots = ctx.program(vertex_shader=DOT_VS, fragment_shader=FS)
    dot_layout = sb.VertexLayout(in_pos="2f", in_color="4f1")
    with sb.Stager(ctx, HEIGHTS, plot) as stager:
        for frame_no in range(3):
            ha, hb = heights(5, rng), heights(7, rng)
            with stager.frame() as frame:
                pad = frame.reserve(3 + frame_no, layout=dot_layout, program=dots)
                pad["in_pos"] = 5.0  # off screen: only moves what follows
                sb.write_attribute(frame.reserve_attributes(a), "in_y", ha)
                frame.reserve(1, layout=dot_layout, program=dots)["in_pos"] = 5.0
                sb.write_attribute(frame.reserve_attributes(b), "in_y", hb)
            kinds = [d[0] for d in stager.draw_list]
            assert kinds == ["plain", "streamed", "plain", "streamed"]
            assert stager.ranges[1][0] > 0  # the streamed records start past the buffer's start
            got = staged(fbo, stager)
            want = reference(
                ctx,
                fbo,
                plot,
                [
                    (left, ha, None, moderngl.TRIANGLE_STRIP),
                    (right, hb, None, moderngl.TRIANGLE_STRIP),
                ],
            )
            assert np.array_equal(got, want)
    dots.release()


def test_only_the_streamed_bytes_are_uploaded_and_steady_frames_make_no_gl_objects(
    ctx: Any, fbo: Any, plot: Any
) -> None:
    rng = np.random.default_rng(7)
    static = grid(500, rng)
    mesh = sb.Mesh(ctx, static, mode=moderngl.TRIANGLE_STRIP, layout=STATIC)
    with sb.Stager(ctx, HEIGHTS, plot) as stager:

        def one_frame() -> None:
            with stager.frame() as frame:
                sb.write_attribute(frame.reserve_attributes(mesh), "in_y", heights(500, rng))
            stager.render()

        for _ in range(6):
            one_frame()
        buffers = stager.stats.buffers_created
        arrays = stager.stats.vertex_arrays_created
        growths = stager.stack.growths
        for _ in range(20):
            one_frame()
        assert stager.stats.buffers_created == buffers
        assert stager.stats.vertex_arrays_created == arrays
        assert stager.stack.growths == growths
        # 4 bytes per vertex streamed; the 5-byte static records stay in the mesh.
        assert stager.stats.bytes_uploaded_last_frame == 4 * len(static)
        assert stager.stats.writes_last_frame == (0 if stager.strategy == "mapped" else 1)
    mesh.release()


def test_a_streamed_draw_may_name_its_own_mode_program_uniforms_and_layer(
    ctx: Any, fbo: Any, plot: Any
) -> None:
    rng = np.random.default_rng(8)
    static = grid(6, rng)
    mesh = sb.Mesh(ctx, static, mode=moderngl.TRIANGLE_STRIP, layout=STATIC)
    h = heights(6, rng)
    with sb.Stager(ctx, HEIGHTS, plot) as stager:
        with stager.frame() as frame:
            y = frame.reserve_attributes(mesh, mode=moderngl.LINE_STRIP, layer=2)
            sb.write_attribute(y, "in_y", h)
        assert stager.draw_list == [("streamed", moderngl.LINE_STRIP, 0, 12)]
        got = staged(fbo, stager)
    want = reference(ctx, fbo, plot, [(static, h, None, moderngl.LINE_STRIP)])
    assert np.array_equal(got, want)
    mesh.release()


def test_bad_streamed_ranges_are_refused_and_lose_nothing(ctx: Any, fbo: Any, plot: Any) -> None:
    rng = np.random.default_rng(9)
    static = grid(4, rng)
    mesh = sb.Mesh(ctx, static, mode=moderngl.TRIANGLE_STRIP, layout=STATIC)
    other = sb.Mesh(
        ctx, static[["in_x"]].astype([("in_x", "f4")]), layout=sb.VertexLayout(in_x="f")
    )
    h = heights(4, rng)
    with sb.Stager(ctx, HEIGHTS, plot) as stager:
        with stager.frame() as frame:
            sb.write_attribute(frame.reserve_attributes(mesh), "in_y", h)
            with pytest.raises(TypeError, match="expected a stagebuf Mesh; got ndarray"):
                frame.reserve_attributes(static)
            with pytest.raises(ValueError, match=r"repeats the mesh's attribute 'in_x'"):
                frame.reserve_attributes(mesh, layout=sb.VertexLayout(in_x="f", in_y="f"))
            with pytest.raises(ValueError, match=r"is per instance \(/i\)"):
                frame.reserve_attributes(mesh, layout=HEIGHTS.with_usage("i"))
            with pytest.raises(sb.LayoutMismatchError, match=r"in_color: the program reads it"):
                frame.reserve_attributes(other)  # neither layout has in_color
            with pytest.raises(TypeError, match=r"layer must be an int.*got str 'top'"):
                frame.reserve_attributes(mesh, layer="top")
            assert frame.vertex_count == 8
        assert stager.draw_list == [("streamed", moderngl.TRIANGLE_STRIP, 0, 8)]
        got = staged(fbo, stager)
    want = reference(ctx, fbo, plot, [(static, h, None, moderngl.TRIANGLE_STRIP)])
    assert np.array_equal(got, want)
    mesh.release()
    other.release()


def test_a_mesh_of_another_context_is_refused(ctx: Any, plot: Any) -> None:
    other_ctx = moderngl.create_context(standalone=True, backend="egl")
    try:
        foreign = sb.Mesh(other_ctx, grid(3, np.random.default_rng(1)), layout=STATIC)
        ctx.__enter__()
        with sb.Stager(ctx, HEIGHTS, plot) as stager, stager.frame() as frame:
            with pytest.raises(ValueError, match="mesh belongs to another moderngl context"):
                frame.reserve_attributes(foreign)
            assert frame.vertex_count == 0
        foreign.release()
    finally:
        other_ctx.release()
        ctx.__enter__()


def test_normalised_streamed_attributes_past_the_start_are_refused_on_moderngl(
    ctx: Any, plot: Any
) -> None:
    """moderngl's VertexArray.bind cannot re-point a normalised attribute: streamed
    'f1' records must be the frame's first; past it the reserve says so."""
    vs = """#version 330 core
    in float in_x; in float in_y; in vec4 in_tint; out vec4 v_color;
    void main() { gl_Position = vec4(in_x, in_y, 0.0, 1.0); v_color = in_tint; }"""
    program = ctx.program(vertex_shader=vs, fragment_shader=FS)
    xs = np.zeros(4, [("in_x", "f4")])
    mesh = sb.Mesh(ctx, xs, mode=moderngl.TRIANGLE_STRIP)
    tinted = sb.VertexLayout(in_y="f", in_tint="4f1")
    with sb.Stager(ctx, tinted, program) as stager, stager.frame() as frame:
        frame.reserve_attributes(mesh)[:] = 0  # at the start: fine
        with pytest.raises(sb.StagerError, match=r"cannot point the normalised attributes"):
            frame.reserve_attributes(mesh)
        assert frame.vertex_count == 4
    mesh.release()
    program.release()
