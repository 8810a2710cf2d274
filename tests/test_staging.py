"""Stager tests on a standalone EGL context: pixels read back, counters, errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb
from stagebuf._gl import load_program

SIZE = 64
BG = (0, 0, 0, 255)
RED = (255, 0, 0, 255)
GREEN = (0, 255, 0, 255)
BLUE = (0, 0, 255, 255)
WHITE = (255, 255, 255, 255)
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")


@pytest.fixture
def stager(ctx: Any, program: Any) -> Iterator[sb.Stager]:
    st = sb.Stager(ctx, LAYOUT, program)
    yield st
    st.release()


def tri(cx: float, cy: float, r: float = 0.2) -> np.ndarray[Any, Any]:
    """Three clip-space corners of a triangle around (cx, cy), counter-clockwise."""
    return np.array([[cx - r, cy - r], [cx + r, cy - r], [cx, cy + r]], dtype=np.float32)


def put(view: Any, cx: float, cy: float, color: tuple[int, ...], r: float = 0.2) -> None:
    view["in_pos"][:] = tri(cx, cy, r)
    view["in_color"][:] = color


def draw(fbo: Any, stager: sb.Stager, **kw: Any) -> np.ndarray[Any, Any]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render(**kw)
    data = fbo.read(components=4, alignment=1)
    return np.frombuffer(data, dtype=np.uint8).reshape(SIZE, SIZE, 4)


def px(img: np.ndarray[Any, Any], x: float, y: float) -> tuple[int, ...]:
    """The pixel at clip-space (x, y) (a little inside the triangle's centroid)."""
    col = int((x + 1) / 2 * SIZE)
    row = int((y + 1) / 2 * SIZE)  # fbo.read rows are bottom-up, like clip space
    return tuple(int(v) for v in img[row, col])


# -- pixels -------------------------------------------------------------------


def test_two_triangles_land_where_staged(fbo: Any, stager: sb.Stager) -> None:
    with stager.frame() as frame:
        tris = frame.reserve(6)
        put(tris[:3], -0.5, -0.5, RED)
        put(tris[3:], 0.5, 0.5, GREEN)
    img = draw(fbo, stager)
    assert px(img, -0.5, -0.55) == RED
    assert px(img, 0.5, 0.45) == GREEN
    assert px(img, -0.5, 0.5) == BG
    assert px(img, 0.5, -0.5) == BG
    assert px(img, -0.95, 0.95) == BG
    # Exactly two triangles' worth of coloured pixels, nothing stray.
    red = np.all(img == RED, axis=-1).sum()
    green = np.all(img == GREEN, axis=-1).sum()
    assert red > 20 and green > 20
    assert red + green + np.all(img == BG, axis=-1).sum() == SIZE * SIZE


def test_several_reserves_in_one_frame_draw_each_range(fbo: Any, stager: sb.Stager) -> None:
    spots = [(-0.5, -0.5, RED), (0.5, -0.5, GREEN), (-0.5, 0.5, BLUE), (0.5, 0.5, WHITE)]
    with stager.frame() as frame:
        for x, y, color in spots:
            put(frame.reserve(3), x, y, color)
        assert frame.vertex_count == 12
    assert stager.ranges == [(0, 3), (3, 3), (6, 3), (9, 3)]
    img = draw(fbo, stager)
    for x, y, color in spots:
        assert px(img, x, y - 0.05) == color
    assert px(img, 0.0, 0.0) == BG
    # Back-to-back triangle ranges are merged into one draw call.
    assert stager.stats.draw_calls_last_render == 1


def test_unmerged_modes_draw_ranges_separately(fbo: Any, stager: sb.Stager) -> None:
    with stager.frame() as frame:
        put(frame.reserve(3), -0.5, 0.0, RED)
        put(frame.reserve(3), 0.5, 0.0, GREEN)
    img = draw(fbo, stager, mode=moderngl.TRIANGLE_STRIP)
    assert stager.stats.draw_calls_last_render == 2
    assert px(img, -0.5, -0.05) == RED
    assert px(img, 0.5, -0.05) == GREEN


def test_indexed_ranges_are_offset_by_their_first_vertex(fbo: Any, stager: sb.Stager) -> None:
    quad = np.array([[-0.9, -0.9], [-0.1, -0.9], [-0.1, -0.1], [-0.9, -0.1]], dtype=np.float32)
    with stager.frame() as frame:
        put(frame.reserve(3), 0.5, 0.5, WHITE)  # a plain range first shifts the others
        for dx, color in ((0.0, RED), (1.0, BLUE)):
            verts, idx = frame.reserve_indexed(4, 6)
            verts["in_pos"][:] = quad + np.float32([dx, 0.0])
            verts["in_color"][:] = color
            idx[:] = [0, 1, 2, 0, 2, 3]  # relative to this range's own vertices
        assert frame.index_count == 12
    assert stager.stats.indices_last_frame == 12
    uploaded = np.frombuffer(stager.index_buffer.read(48), dtype=np.uint32)
    assert uploaded.tolist() == [3, 4, 5, 3, 5, 6, 7, 8, 9, 7, 9, 10]
    img = draw(fbo, stager)
    assert px(img, -0.5, -0.5) == RED  # whole quad covered: both index triangles drawn
    assert px(img, -0.2, -0.8) == RED
    assert px(img, -0.8, -0.2) == RED
    assert px(img, 0.5, -0.5) == BLUE
    assert px(img, 0.5, 0.45) == WHITE
    assert px(img, -0.5, 0.5) == BG


def test_index_out_of_range_raises_and_keeps_previous_frame(fbo: Any, stager: sb.Stager) -> None:
    with stager.frame() as frame:
        put(frame.reserve(3), 0.0, 0.0, GREEN)
    with (
        pytest.raises(ValueError, match=r"index 3 .* out of range: that range has 3 vertices"),
        stager.frame() as frame,
    ):
        verts, idx = frame.reserve_indexed(3, 3)
        put(verts, 0.0, 0.0, RED)
        idx[:] = [0, 1, 3]
    assert stager.stats.frames_discarded == 1
    assert px(draw(fbo, stager), 0.0, -0.05) == GREEN


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
def test_each_strategy_draws_the_latest_frame(
    ctx: Any, program: Any, fbo: Any, strategy: str
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:
        for i, color in enumerate((RED, GREEN, BLUE, WHITE, RED)):
            with stager.frame() as frame:
                put(frame.reserve(3), -0.5 + 0.25 * i, 0.0, color)
            img = draw(fbo, stager)
            assert px(img, -0.5 + 0.25 * i, -0.05) == color
            if i:  # the previous frame's triangle is gone
                assert px(img, -0.5 + 0.25 * (i - 1) - 0.15, -0.15) == BG
        expected = 3 if strategy in ("ring", "mapped") else 1  # "mapped" rotates a ring
        assert stager.stats.buffers_created == expected


def test_growth_inside_a_frame_keeps_earlier_views_valid(ctx: Any, program: Any, fbo: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program, initial_vertices=3) as stager:
        with stager.frame() as frame:
            first = frame.reserve(3)
            big = frame.reserve(3000)  # needs more room: a new arena slice
            put(first, -0.5, 0.0, RED)  # written after the growth: must still count
            big["in_pos"][:] = 5.0  # far off screen
            big["in_color"][:] = WHITE
            put(big[-3:], 0.5, 0.0, GREEN)
        assert stager.stats.writes_last_frame == 2  # two slices, two writes
        img = draw(fbo, stager)
        assert px(img, -0.5, -0.05) == RED
        assert px(img, 0.5, -0.05) == GREEN
        # The next frame of the same size fits one slice: one write.
        with stager.frame() as frame:
            put(frame.reserve(3), 0.0, 0.5, BLUE)
            frame.reserve(3000)["in_pos"][:] = 5.0
        assert stager.stats.writes_last_frame == 1
        assert px(draw(fbo, stager), 0.0, 0.45) == BLUE


def test_frame_after_gl_buffer_growth_draws_correctly(ctx: Any, program: Any, fbo: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="write") as stager:
        with stager.frame() as frame:
            put(frame.reserve(3), 0.0, 0.0, RED)
        size0 = stager.vertex_buffer.size
        with stager.frame() as frame:
            filler = frame.reserve(30_000)
            filler["in_pos"][:] = 5.0
            filler["in_color"][:] = WHITE
            put(frame.reserve(3), 0.5, 0.5, GREEN)
        assert stager.vertex_buffer.size >= 30_003 * LAYOUT.stride > size0
        assert stager.stats.buffers_created == 2
        img = draw(fbo, stager)
        assert px(img, 0.5, 0.45) == GREEN
        assert px(img, 0.0, -0.05) == BG


def test_zero_vertex_frame_draws_nothing(fbo: Any, stager: sb.Stager) -> None:
    with stager.frame() as frame:
        frame.reserve(0)
    img = draw(fbo, stager)
    assert np.all(img == BG)


# -- steady state and counters -----------------------------------------------


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
def test_steady_state_creates_nothing(ctx: Any, program: Any, strategy: str) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:

        def one_frame(n: int) -> None:
            with stager.frame() as frame:
                tris = frame.reserve(n)
                tris["in_pos"][:] = 0.0
                tris["in_color"][:] = RED

        for _ in range(5):  # warm-up: every ring slot sized
            one_frame(3000)
        stats = stager.stats
        before = (stats.buffers_created, stats.vertex_arrays_created, stats.arena_growths)
        high = stats.arena_high_water_bytes
        for _ in range(200):
            one_frame(3000)
        assert (stats.buffers_created, stats.vertex_arrays_created, stats.arena_growths) == before
        assert stats.arena_high_water_bytes == high
        assert stats.frames == 205
        assert stats.vertices_last_frame == 3000
        assert stats.bytes_uploaded_last_frame == 3000 * LAYOUT.stride
        # "mapped" frames are written in place: nothing to copy.
        assert stats.writes_last_frame == (0 if strategy == "mapped" else 1)
        assert stager.stack.bytes_in_use == 0


def test_gl_buffers_grow_geometrically_not_every_frame(ctx: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="orphan") as stager:
        sizes = []
        for n in range(1000, 40_000, 1000):  # a slowly growing workload
            with stager.frame() as frame:
                frame.reserve(n)["in_pos"][:] = 0.0
            sizes.append(stager.vertex_buffer.size)
        changes = [b for a, b in itertools.pairwise(sizes) if a != b]
        assert len(changes) <= 5  # 39 frames, a handful of doublings
        assert all(b >= 2 * a for a, b in itertools.pairwise(sorted(set(sizes))))


# -- limits and faults --------------------------------------------------------


def test_max_vertices_raises_and_keeps_what_was_staged(ctx: Any, program: Any, fbo: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program, max_vertices=6) as stager:
        with stager.frame() as frame:
            put(frame.reserve(3), -0.5, 0.0, RED)
            with pytest.raises(sb.StagingLimitError, match=r"9 vertices, past max_vertices=6"):
                frame.reserve(6)
            put(frame.reserve(3), 0.5, 0.0, GREEN)  # still usable after the error
        img = draw(fbo, stager)
        assert px(img, -0.5, -0.05) == RED
        assert px(img, 0.5, -0.05) == GREEN


def test_limit_hit_that_escapes_the_frame_keeps_previous_frame(
    ctx: Any, program: Any, fbo: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, program, max_vertices=6) as stager:
        with stager.frame() as frame:
            put(frame.reserve(3), 0.0, 0.0, BLUE)
        with pytest.raises(sb.StagingLimitError) as info, stager.frame() as frame:
            put(frame.reserve(3), 0.5, 0.5, RED)
            frame.reserve(100)
        assert info.value.requested == 103 and info.value.limit == 6
        assert isinstance(info.value, MemoryError)
        img = draw(fbo, stager)
        assert px(img, 0.0, -0.05) == BLUE
        assert px(img, 0.5, 0.45) == BG
        assert stager.stack.bytes_in_use == 0


def test_exception_inside_a_frame_discards_it(fbo: Any, stager: sb.Stager) -> None:
    with stager.frame() as frame:
        put(frame.reserve(3), 0.0, 0.0, GREEN)
    with pytest.raises(KeyError), stager.frame() as frame:
        put(frame.reserve(3), 0.0, 0.0, RED)
        raise KeyError("boom")
    assert stager.stats.frames == 1 and stager.stats.frames_discarded == 1
    assert px(draw(fbo, stager), 0.0, -0.05) == GREEN
    with stager.frame() as frame:  # and the stager goes on
        put(frame.reserve(3), 0.0, 0.0, BLUE)
    assert px(draw(fbo, stager), 0.0, -0.05) == BLUE


def test_misuse_raises_runtime_errors(stager: sb.Stager) -> None:
    with pytest.raises(sb.StagerError, match="render\\(\\) before any frame"):
        stager.render()
    with stager.frame() as frame:
        frame.reserve(3)
        with pytest.raises(sb.StagerError, match="frames cannot nest"), stager.frame():
            pass
    with pytest.raises(sb.StagerError, match="reserve\\(\\) outside a frame"):
        frame.reserve(3)
    with pytest.raises(sb.StagerError, match="reserve_indexed\\(\\) outside a frame"):
        frame.reserve_indexed(3, 3)
    stager.release()
    with pytest.raises(sb.StagerError, match="released Stager"):
        stager.frame().__enter__()
    with pytest.raises(sb.StagerError, match="released Stager"):
        stager.render()


@pytest.mark.parametrize(
    ("count", "exc", "match"),
    [
        (-1, ValueError, "non-negative int; got -1"),
        (2.5, TypeError, "got 2.5"),
        (True, TypeError, "got True"),
        ("3", TypeError, "got '3'"),
    ],
)
def test_bad_reserve_counts(stager: sb.Stager, count: Any, exc: type, match: str) -> None:
    with stager.frame() as frame:
        with pytest.raises(exc, match=match):
            frame.reserve(count)
        assert frame.vertex_count == 0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"strategy": "fast"}, ValueError, "unknown strategy 'fast'; expected one of ring"),
        (
            {"ring_size": 0},
            ValueError,
            r"ring_size must be from 1 to 16 \(frames in flight\); got 0",
        ),
        ({"max_vertices": -5}, ValueError, "max_vertices must be a non-negative int"),
    ],
)
def test_bad_stager_options(
    ctx: Any, program: Any, kwargs: dict[str, Any], exc: type, match: str
) -> None:
    with pytest.raises(exc, match=match):
        sb.Stager(ctx, LAYOUT, program, **kwargs)


def test_layout_must_feed_the_program(ctx: Any, program: Any) -> None:
    # A type mismatch on an attribute both sides name is refused at once; a missing
    # attribute may come from a mesh, so it is refused by the first range without it.
    with pytest.raises(sb.LayoutMismatchError, match="in_pos"):
        sb.Stager(ctx, sb.VertexLayout(in_pos="2i"), program)
    with sb.Stager(ctx, sb.VertexLayout(in_pos="2f"), program) as stager, stager.frame() as frame:
        with pytest.raises(sb.LayoutMismatchError, match="in_color"):
            frame.reserve(3)
        assert frame.vertex_count == 0
    with pytest.raises(TypeError, match="layout must be a VertexLayout"):
        sb.Stager(ctx, "2f 4f1", program)  # type: ignore[arg-type]


def test_released_context_is_reported() -> None:
    ctx = moderngl.create_context(standalone=True, backend="egl")
    program = load_program(ctx)
    stager = sb.Stager(ctx, LAYOUT, program)
    with stager.frame() as frame:
        frame.reserve(3)["in_pos"][:] = 0.0
    ctx.release()
    with pytest.raises(sb.StagerError, match="context was released"):
        stager.render()
    with pytest.raises(sb.StagerError, match="context was released"):
        stager.frame().__enter__()
    stager.release()  # releasing what is left never touches the dead context


def test_context_released_inside_a_frame_is_reported() -> None:
    ctx = moderngl.create_context(standalone=True, backend="egl")
    stager = sb.Stager(ctx, LAYOUT, load_program(ctx))
    with pytest.raises(sb.StagerError, match="context was released"), stager.frame() as frame:
        frame.reserve(3)["in_pos"][:] = 0.0
        ctx.release()
    assert stager.stack.bytes_in_use == 0


def test_trim_after_a_burst_gives_the_arena_back(ctx: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:

        def one_frame(n: int) -> None:
            with stager.frame() as frame:
                frame.reserve(n)["in_pos"][:] = 0.0

        for _ in range(5):
            one_frame(3000)
        steady = stager.stack.high_water_bytes
        one_frame(300_000)  # a burst
        assert stager.stack.capacity_bytes > 50 * steady
        one_frame(3000)
        released = stager.trim()
        assert released > 0
        for _ in range(5):
            one_frame(3000)
        assert 0 < stager.stack.capacity_bytes <= 2 * steady
        assert stager.stats.writes_last_frame == (0 if stager.strategy == "mapped" else 1)


def test_first_slice_shrinks_after_a_quiet_window(ctx: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="write") as stager:
        with stager.frame() as frame:
            frame.reserve(100_000)
        stager.stack.reset_high_water()
        for _ in range(2 * sb.HINT_WINDOW):  # the burst's window, then a quiet one
            with stager.frame() as frame:
                frame.reserve(1000)["in_pos"][:] = 0.0
        stager.stack.reset_high_water()
        with stager.frame() as frame:
            frame.reserve(1000)
        # The frame's slice is back to the recent peak (1000 -> 1024 vertices).
        assert stager.stack.high_water_bytes <= 2 * 1024 * LAYOUT.stride


def test_builtin_inputs_are_not_layout_attributes(ctx: Any, fbo: Any) -> None:
    program = ctx.program(
        vertex_shader="""#version 330 core
        in vec2 in_pos; in vec4 in_color; out vec4 v_color;
        void main() {
            gl_Position = vec4(in_pos, 0.0, 1.0);
            v_color = in_color * (gl_VertexID >= 0 ? 1.0 : 0.0);
        }""",
        fragment_shader="""#version 330 core
        in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }""",
    )
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            put(frame.reserve(3), 0.0, 0.0, GREEN)
        assert px(draw(fbo, stager), 0.0, -0.05) == GREEN
    program.release()


def test_a_frame_is_single_use(stager: sb.Stager) -> None:
    frame = stager.frame()
    with frame:
        frame.reserve(3)
    with pytest.raises(sb.StagerError, match="a Frame is single-use"), frame:
        pass
    assert stager.ranges == [(0, 3)]


def test_arena_overflow_in_reserve_indexed_keeps_the_frame_usable(
    ctx: Any, program: Any, fbo: Any
) -> None:
    stack = sb.Stack(max_capacity=64 * 1024)
    with sb.Stager(ctx, LAYOUT, program, stack=stack, initial_vertices=16) as stager:
        with stager.frame() as frame:
            with pytest.raises(sb.StackOverflowError, match="exceeds max_capacity=65536"):
                frame.reserve_indexed(3, 100_000)  # the first index slice cannot open
            verts, idx = frame.reserve_indexed(3, 3)  # still usable
            put(verts, 0.0, 0.0, BLUE)
            idx[:] = [0, 1, 2]
            with pytest.raises(sb.StackOverflowError):
                frame.reserve_indexed(3, 20_000)  # vertices fit, the indices do not
            assert frame.vertex_count == 3  # no phantom vertices from the failed calls
            assert frame.index_count == 3
        assert px(draw(fbo, stager), 0.0, -0.05) == BLUE
        # A spill slice that cannot be twice the frame still gets what was asked.
        with stager.frame() as frame:
            frame.reserve(16)["in_pos"][:] = 5.0
            frame.reserve(2000)["in_pos"][:] = 5.0
            put(frame.reserve(1000)[-3:], 0.5, 0.5, RED)
        assert stager.stats.vertices_last_frame == 3016
    assert stack.bytes_in_use == 0


def test_a_callers_stack_is_not_trimmed(ctx: Any, program: Any) -> None:
    stack = sb.Stack()
    with sb.Stager(ctx, LAYOUT, program, stack=stack) as stager:
        with stager.frame() as frame:
            frame.reserve(3)
        assert stager.trim() == 0
    assert stack.capacity_bytes > 0
