"""Checks at the call that names a value, and what a failed upload leaves drawable
(0.4): uniform values in numpy shapes, values moderngl would refuse at render(),
released objects, stager options, uniforms set between reserves, PATCHES, the
frame on screen after a failed upload, and GL buffers released on their own
context."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)
FULL = [(-1, -1), (3, -1), (-1, 3)]
FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
MATRIX_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform mat4 u_m; uniform vec3 u_rgb; uniform int u_mode;
out vec4 v_color;
void main() {
    gl_Position = u_m * vec4(in_pos, 0.0, 1.0);
    v_color = u_mode == 1 ? vec4(u_rgb, 1.0) : in_color;
}"""


@pytest.fixture
def matrix_program(ctx: Any) -> Iterator[Any]:
    program = ctx.program(vertex_shader=MATRIX_VS, fragment_shader=FS)
    program["u_m"].write(np.eye(4, dtype="f4").tobytes())
    program["u_mode"].value = 0
    program["u_rgb"].value = (1.0, 1.0, 1.0)
    yield program
    program.release()


def grab(fbo: Any) -> Any:
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def tri(frame: sb.Frame, color: tuple[int, ...], **options: Any) -> None:
    verts = frame.reserve(3, **options)
    verts["in_pos"] = [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5)]
    verts["in_color"] = color


def full(frame: sb.Frame, color: tuple[int, ...]) -> None:
    verts = frame.reserve(3)
    verts["in_pos"] = FULL
    verts["in_color"] = color


def centre(fbo: Any, stager: sb.Stager) -> tuple[int, ...]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    return tuple(int(v) for v in grab(fbo)[SIZE // 2, SIZE // 2])


# -- uniform values ------------------------------------------------------------


def test_a_4x4_array_feeds_a_mat4_as_its_bytes_would(
    ctx: Any, fbo: Any, matrix_program: Any
) -> None:
    """A (4, 4) float array is taken in memory order, as
    ``uniform.write(m.astype('f4').tobytes())`` takes it (a pyrr-style matrix with its
    translation in the last row moves the triangle)."""
    m = np.eye(4)
    m[3, :2] = (0.25, 0.125)  # translation, row-major storage
    m[0, 0] = 0.5
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        for value in (m, m.astype("f4"), m.reshape(-1).tolist(), m.astype("f4").tobytes()):
            with stager.frame() as frame:
                tri(frame, RED, uniforms={"u_m": value})
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            stager.render()
            got = grab(fbo)
            # plain moderngl: the same matrix written as bytes
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            matrix_program["u_m"].write(m.astype("f4").tobytes())
            verts = np.zeros(3, LAYOUT.dtype)
            verts["in_pos"] = [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5)]
            verts["in_color"] = RED
            vbo = ctx.buffer(verts.tobytes())
            vao = ctx.vertex_array(matrix_program, [(vbo, LAYOUT.format, *LAYOUT.names)])
            vao.render(moderngl.TRIANGLES)
            want = grab(fbo)
            vao.release()
            vbo.release()
            matrix_program["u_m"].write(np.eye(4, dtype="f4").tobytes())
            assert np.array_equal(got, want), type(value)
            assert got[..., 0].any()


def test_vectors_scalars_and_ints_in_numpy_shapes(ctx: Any, fbo: Any, matrix_program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        for rgb in (np.array([0.0, 1.0, 0.0]), np.array([[0.0, 1.0, 0.0]]), (0, 1, 0)):
            with stager.frame() as frame:
                full(frame, RED)
                frame.reserve(0)  # an empty range: nothing drawn
                tri(frame, RED, uniforms={"u_rgb": rgb, "u_mode": np.array([1])})
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            stager.render()
            image = grab(fbo)
            assert tuple(image[20, 20]) == GREEN  # inside the small triangle: u_rgb
            assert tuple(image[60, 60]) == RED  # the full one keeps the program's own
        assert matrix_program["u_mode"].value == 0  # restored after the frame


@pytest.mark.parametrize(
    ("uniforms", "error", "match"),
    [
        ({"u_mode": 2**31}, ValueError, r"uniform 'u_mode' holds int values .*; got 2147483648"),
        ({"u_mode": -(2**31) - 1}, ValueError, r"uniform 'u_mode' holds int values"),
        ({"u_mode": 1.5}, TypeError, r"uniform 'u_mode' holds integers; got 1.5"),
        ({"u_mode": [1, 2]}, ValueError, r"uniform 'u_mode' takes a number; got \[1, 2\]"),
        ({"u_m": np.eye(3)}, ValueError, r"uniform 'u_m' takes 16 numbers; got array"),
        ({"u_m": b"\0" * 60}, ValueError, r"uniform 'u_m' takes 16 float32 values"),
        ({"u_rgb": ["a", "b", "c"]}, ValueError, r"uniform 'u_rgb' takes 3 numbers"),
    ],
)
def test_values_moderngl_would_refuse_are_refused_at_the_reserve(
    ctx: Any, fbo: Any, matrix_program: Any, uniforms: dict[str, Any], error: Any, match: str
) -> None:
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        with stager.frame() as frame:
            full(frame, BLUE)
            with pytest.raises(error, match=match):
                tri(frame, RED, uniforms=uniforms)
            assert frame.vertex_count == 3
        assert centre(fbo, stager) == BLUE  # the frame was kept, and renders


def test_released_programs_and_textures_are_refused_where_they_are_named(
    ctx: Any, program: Any
) -> None:
    gone = ctx.program(vertex_shader=MATRIX_VS, fragment_shader=FS)
    gone.release()
    texture = ctx.texture((1, 1), 4, b"\xff" * 4)
    texture.release()
    with pytest.raises(ValueError, match="Stager: the program was released"):
        sb.Stager(ctx, LAYOUT, gone)
    with sb.Stager(ctx, LAYOUT, program) as stager, stager.frame() as frame:
        with pytest.raises(ValueError, match="reserve: the program was released"):
            frame.reserve(3, program=gone)
        with pytest.raises(ValueError, match="reserve: the texture for unit 0 was released"):
            frame.reserve(3, textures={0: texture})
        assert frame.vertex_count == 0


def test_stager_options_are_checked_where_they_are_named(ctx: Any, program: Any) -> None:
    with pytest.raises(TypeError, match=r"Stager: stack must be a stagebuf.Stack; got str"):
        sb.Stager(ctx, LAYOUT, program, stack="not a stack")  # type: ignore[arg-type]
    capped = sb.Stack(max_capacity=1 << 16)
    with pytest.raises(
        ValueError, match=r"initial_vertices=100000 needs 1200000 bytes .* max_capacity of 65536"
    ):
        sb.Stager(ctx, LAYOUT, program, stack=capped, initial_vertices=100_000)
    with sb.Stager(ctx, LAYOUT, program, stack=capped) as stager:
        for bad in (-3, 2.5, "10"):
            with pytest.raises((ValueError, TypeError), match="Stager: max_vertices"):
                stager.max_vertices = bad  # type: ignore[assignment]
            with pytest.raises((ValueError, TypeError), match="Stager: max_indices"):
                stager.max_indices = bad  # type: ignore[assignment]
        assert stager.max_vertices is None and stager.max_indices is None
        stager.max_vertices = 3
        with stager.frame() as frame:
            frame.reserve(3)[:] = 0
            with pytest.raises(sb.StagingLimitError):
                frame.reserve(1)


def test_patches_without_a_tessellation_stage_is_named_at_render(
    ctx: Any, fbo: Any, program: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            tri(frame, RED, mode=moderngl.PATCHES)
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        with pytest.raises(sb.StagerError, match="PATCHES needs a program with a tessellation"):
            stager.render()
        assert ctx.error == "GL_NO_ERROR"  # read, so nothing is left pending
        with stager.frame() as frame:
            full(frame, GREEN)
        assert centre(fbo, stager) == GREEN


# -- uniforms set between reserves --------------------------------------------


def test_a_uniform_set_between_reserves_is_said_once(
    ctx: Any, fbo: Any, matrix_program: Any
) -> None:
    """The immediate-mode habit: set a uniform, draw, set it again, draw. A draw list
    reads the program's value at render(), so both ranges get the last one."""
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        matrix_program["u_mode"].value = 1
        frame = stager.begin()
        matrix_program["u_rgb"].value = (1.0, 0.0, 0.0)
        full(frame, BLUE)
        matrix_program["u_rgb"].value = (0.0, 1.0, 0.0)
        with pytest.warns(sb.UniformBetweenReservesWarning, match=r"uniform 'u_rgb' of a pro"):
            tri(frame, BLUE)
        frame.end()
        assert centre(fbo, stager) == GREEN  # the last value, for every range
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once: not again
            with stager.frame() as frame:
                matrix_program["u_rgb"].value = (1.0, 0.0, 0.0)
                full(frame, BLUE)
                matrix_program["u_rgb"].value = (0.0, 1.0, 0.0)
                tri(frame, BLUE)
        matrix_program["u_mode"].value = 0


def test_per_range_uniforms_are_not_warned_about(ctx: Any, fbo: Any, matrix_program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager, warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            with stager.frame() as frame:
                tri(frame, BLUE, uniforms={"u_rgb": (1.0, 0.0, 0.0), "u_mode": 1})
                tri(frame, BLUE, uniforms={"u_rgb": (0.0, 1.0, 0.0), "u_mode": 1})
                full(frame, BLUE)
        assert centre(fbo, stager) == BLUE


# -- the frame on screen after a failed upload ----------------------------------


def _failing_write(monkeypatch: pytest.MonkeyPatch, fault: BaseException) -> None:
    real = moderngl.Buffer.write
    armed = [True]

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        if armed and armed.pop():
            real(self, b"\x00" * 16)  # part of the frame reaches the buffer first
            raise fault
        return real(self, *args, **kwargs)

    monkeypatch.setattr(moderngl.Buffer, "write", write)


@pytest.mark.parametrize(("strategy", "ring_size"), [("write", 3), ("orphan", 3), ("ring", 1)])
@pytest.mark.parametrize("fault", [KeyboardInterrupt(), RuntimeError("injected")])
def test_a_failed_upload_into_the_buffer_on_screen_is_never_drawn(
    ctx: Any,
    fbo: Any,
    program: Any,
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
    ring_size: int,
    fault: BaseException,
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy, ring_size=ring_size) as stager:
        with stager.frame() as frame:
            full(frame, RED)
        assert centre(fbo, stager) == RED
        _failing_write(monkeypatch, fault)
        with pytest.raises(type(fault)), stager.frame() as frame:
            full(frame, GREEN)  # same size: written into the buffer on screen
        monkeypatch.undo()
        with pytest.raises(sb.StagerError, match=r"the frame on screen is gone: the upload"):
            stager.render()
        with stager.frame() as frame:
            full(frame, BLUE)
        assert centre(fbo, stager) == BLUE
        assert stager.stack.bytes_in_use == 0


def test_a_ring_keeps_the_frame_on_screen_through_a_failed_upload(
    ctx: Any, fbo: Any, program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="ring", ring_size=2) as stager:
        for color in (BLUE, RED):
            with stager.frame() as frame:
                full(frame, color)
        _failing_write(monkeypatch, RuntimeError("injected"))
        with pytest.raises(RuntimeError), stager.frame() as frame:
            full(frame, GREEN)
        monkeypatch.undo()
        assert centre(fbo, stager) == RED


def test_a_gl_error_after_the_write_into_the_buffer_on_screen_is_never_drawn(
    ctx: Any, fbo: Any, program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="write") as stager:
        with stager.frame() as frame:
            full(frame, RED)
        errors = iter(["GL_OUT_OF_MEMORY"])
        real = type(ctx).error
        monkeypatch.setattr(
            type(ctx), "error", property(lambda c: next(errors, None) or real.fget(c))
        )
        with pytest.raises(sb.GLError, match="uploading a frame"), stager.frame() as frame:
            full(frame, GREEN)
        monkeypatch.undo()
        with pytest.raises(sb.StagerError, match=r"frame on screen is gone.*GLError"):
            stager.render()


# -- GL objects released on their own context -----------------------------------


def test_a_strategy_change_releases_buffers_on_the_stagers_context(ctx: Any, program: Any) -> None:
    other = moderngl.create_context(standalone=True, backend="egl")
    try:
        ctx.__enter__()
        with sb.Stager(ctx, LAYOUT, program, strategy="ring", ring_size=3) as stager:
            for color in (RED, GREEN, BLUE):
                with stager.frame() as frame:
                    full(frame, color)
            names = [slot.vbo.glo for slot in stager._uploader.slots]
            other.__enter__()
            # Buffers of the other context with the same GL names as the stager's.
            theirs = []
            while not set(names) <= {b.glo for b in theirs} and len(theirs) < 20_000:
                theirs.append(other.buffer(bytes([len(theirs) % 256]) * 64))
            assert set(names) <= {b.glo for b in theirs}
            stager.strategy = "write"  # releases two slots' buffers: on ctx, not here
            other.__enter__()
            for i, buffer in enumerate(theirs):
                assert buffer.read() == bytes([i % 256]) * 64
            assert stager.gl_bytes > 0
            for buffer in theirs:
                buffer.release()
        ctx.__enter__()
    finally:
        other.release()
        ctx.__enter__()


def test_a_stager_of_a_released_context_releases_nothing_elsewhere() -> None:
    own = moderngl.create_context(standalone=True, backend="egl")
    other = moderngl.create_context(standalone=True, backend="egl")
    try:
        own.__enter__()
        prog = sb.load_program(own)
        stager = sb.Stager(own, LAYOUT, prog, strategy="ring", ring_size=3)
        for color in (RED, GREEN, BLUE):
            with stager.frame() as frame:
                full(frame, color)
        own.release()
        other.__enter__()
        theirs = [other.buffer(bytes([i]) * 64) for i in range(64)]
        with pytest.raises(sb.StagerError, match="context was released"):
            stager.strategy = "write"
        stager.release()  # drops its objects without a GL call
        for i, buffer in enumerate(theirs):
            assert buffer.read() == bytes([i]) * 64
        for buffer in theirs:
            buffer.release()
    finally:
        other.release()


# -- found by a red-team review ---------------------------------------------------------

BOOL_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform bool u_on; uniform vec4 u_tint; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_color = u_on ? u_tint : in_color; }"""


@pytest.fixture
def bool_program(ctx: Any) -> Iterator[Any]:
    program = ctx.program(vertex_shader=BOOL_VS, fragment_shader=FS)
    program["u_on"].value = 0
    program["u_tint"].value = (0.0, 0.0, 1.0, 1.0)
    yield program
    program.release()


def test_bool_uniforms_take_bools_and_ints_and_refuse_floats_at_the_reserve(
    ctx: Any, fbo: Any, bool_program: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, bool_program) as stager:
        for bad in (0.5, 1.0, (0.0, 0.5)):
            with stager.frame() as frame:
                full(frame, RED)
                with pytest.raises((TypeError, ValueError), match=r"uniform 'u_on'"):
                    frame.reserve(3, uniforms={"u_on": bad})
            assert centre(fbo, stager) == RED  # refused at the reserve, the frame drew
        for good in (True, np.True_, 1, 2**40, np.array([1])):
            with stager.frame() as frame:
                full(frame, RED)
                tri(frame, RED, uniforms={"u_on": good})
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            stager.render()
            assert tuple(grab(fbo)[20, 20]) == BLUE, good  # the tint: u_on is true
            assert tuple(grab(fbo)[60, 60]) == RED


def test_a_writable_memoryview_and_bytes_of_the_wrong_size(
    ctx: Any, fbo: Any, bool_program: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, bool_program) as stager:
        with stager.frame() as frame:
            tint = memoryview(np.array([0.0, 1.0, 0.0, 1.0], "f4"))  # writable: unhashable
            tri(frame, RED, uniforms={"u_on": True, "u_tint": tint})
            with pytest.raises(ValueError, match=r"'u_tint' takes 4 float32 values \(16 bytes\)"):
                tri(frame, RED, uniforms={"u_tint": bytes(15)})
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        assert tuple(grab(fbo)[20, 20]) == GREEN


def test_a_program_or_texture_released_after_the_frame_named_it_is_named_at_render(
    ctx: Any, fbo: Any, program: Any
) -> None:
    other = ctx.program(vertex_shader=MATRIX_VS, fragment_shader=FS)
    other["u_m"].write(np.eye(4, dtype="f4").tobytes())
    with sb.Stager(ctx, LAYOUT, program) as stager:
        for _ in range(2):  # the second frame's state comes from the cache
            with stager.frame() as frame:
                tri(frame, RED, program=other)
        other.release()
        with pytest.raises(sb.StagerError, match=r"the program of a range was released after"):
            stager.render()
        with stager.frame() as frame:
            with pytest.raises(ValueError, match="the program was released"):
                tri(frame, RED, program=other)  # refused where it is named, once known
            full(frame, GREEN)
        assert centre(fbo, stager) == GREEN


def test_the_uniform_warning_points_at_the_callers_line_and_nan_is_no_change(
    ctx: Any, matrix_program: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        matrix_program["u_rgb"].value = (float("nan"), 0.0, 0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with stager.frame() as frame:  # NaN set once, read back twice: no change
                tri(frame, RED)
                tri(frame, RED)
        frame = stager.begin()
        matrix_program["u_rgb"].value = (1.0, 0.0, 0.0)
        tri(frame, RED)
        matrix_program["u_rgb"].value = (0.0, 1.0, 0.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame.reserve(3)[:] = 0
        frame.end()
        assert [w.filename for w in caught] == [__file__]


def test_ring_size_has_an_upper_bound(ctx: Any, program: Any) -> None:
    with pytest.raises(ValueError, match=r"ring_size must be from 1 to 16 .*; got 1000000000"):
        sb.Stager(ctx, LAYOUT, program, ring_size=10**9)


def test_a_frame_ended_by_a_uniform_values_eq_refuses_the_reserve_in_progress(
    ctx: Any, matrix_program: Any
) -> None:
    """Python code in an option's __eq__ may end the frame: the reserve it runs in is
    refused, on both paths, instead of handing out a view of the ended frame."""
    with sb.Stager(ctx, LAYOUT, matrix_program) as stager:
        for _ in range(4):  # past the first frames (the compiled path takes over)
            with stager.frame() as frame:
                tri(frame, RED, uniforms={"u_mode": 0})
        frame = stager.begin()
        tri(frame, RED, uniforms={"u_mode": 0})

        ended = []

        class Ender(int):
            __hash__ = int.__hash__

            def __eq__(self, other: object) -> bool:
                if not ended:  # the first comparison, in the state cache's lookup
                    ended.append(True)
                    frame.end()
                return int.__eq__(self, other)  # type: ignore[operator]

        with pytest.raises(sb.StagerError, match=r"reserve\(\) outside a frame: this frame has"):
            frame.reserve(3, uniforms={"u_mode": Ender(0)})
        assert stager.stats.frames == 5 and stager.stats.vertices_last_frame == 3


def test_a_first_slice_that_does_not_fit_names_initial_vertices(ctx: Any, program: Any) -> None:
    stack = sb.Stack(max_capacity=64 << 10)
    with (
        stack.uninit_slice(60 << 10, np.uint8),  # someone else holds most of the stack
        sb.Stager(ctx, LAYOUT, program, stack=stack, initial_vertices=1000) as stager,
    ):
        with pytest.raises(
            sb.StackOverflowError, match=r"first arena slice of 12000 bytes \(initial_vert"
        ):
            stager.begin()
        assert stager.open_frame is None
    with (
        sb.Stager(ctx, LAYOUT, program, stack=stack, initial_vertices=1000) as stager,
        stager.frame() as frame,  # once there is room, it stages
    ):
        full(frame, RED)
