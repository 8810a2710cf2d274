"""sb.Mesh: every accepted form of vertices and indices (structured, numbers, raw
bytes, a moderngl Buffer the caller keeps), restart indices written as -1, each
refused input, and release() that never deletes another context's buffers.

Pixels are drawn through a Stager (frame.draw and reserve_instances) and compared
with the structured-array form, or with plain moderngl."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import moderngl
import numpy as np
import pytest
from test_drawlist import (
    DOT_FS,
    INSTANCE,
    MESH_LAYOUT,
    QUAD_VERTS,
    SPRITE_VS,
    Reference,
    assert_same,
    sprite_records,
    staged,
)

import stagebuf as sb
from stagebuf._gl import load_program

# Float colours, so that every form (numbers too) can hold the same vertices.
TRI = sb.VertexLayout(in_pos="2f", in_color="4f")


@pytest.fixture
def progs(ctx: Any) -> Iterator[dict[str, Any]]:
    made = {
        "tri": load_program(ctx),
        "sprite": ctx.program(vertex_shader=SPRITE_VS, fragment_shader=DOT_FS),
    }
    made["sprite"]["u_scale"].value = 0.1
    yield made
    for p in made.values():
        p.release()


def tri_vertices(n: int, rng: np.random.Generator) -> Any:
    v = np.zeros(n, TRI.dtype)
    v["in_pos"] = rng.uniform(-0.95, 0.95, (n, 2))
    v["in_color"] = rng.integers(1, 256, (n, 4)) / 255.0
    v["in_color"][:, 3] = 1.0
    return v


def quad_vertices() -> Any:
    v = np.zeros(4, MESH_LAYOUT.dtype)
    v["in_vert"] = QUAD_VERTS
    return v


def numbers(records: Any) -> Any:
    """The records as plain float32 numbers, shape (n, components)."""
    return np.ascontiguousarray(records).view(np.float32).reshape(len(records), -1)


# Each form of the same vertices: (records, ctx) -> the `vertices` argument.
VERTEX_FORMS: dict[str, Callable[[Any, Any], Any]] = {
    "structured": lambda r, ctx: r,
    "columns": lambda r, ctx: numbers(r),
    "flat": lambda r, ctx: numbers(r).reshape(-1),
    "flat list": lambda r, ctx: numbers(r).reshape(-1).tolist(),
    "float64 rows": lambda r, ctx: numbers(r).astype(np.float64),
    "bytes": lambda r, ctx: r.tobytes(),
    "bytearray": lambda r, ctx: bytearray(r.tobytes()),
    "memoryview": lambda r, ctx: memoryview(numbers(r)),
    "uint8": lambda r, ctx: r.view(np.uint8),
    "Buffer": lambda r, ctx: ctx.buffer(r.tobytes()),
}


def draw_frame(ctx: Any, fbo: Any, progs: dict[str, Any], shape: sb.Mesh, quad: sb.Mesh) -> Any:
    """One frame: a mesh drawn with frame.draw, then instances of a quad mesh."""
    rng = np.random.default_rng(7)
    records = sprite_records(12, rng)
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager:
        with stager.frame() as frame:
            frame.draw(shape, program=progs["tri"])
            frame.reserve_instances(quad, 12)[:] = records
        return staged(fbo, stager)


# -- every form draws the same pixels ----------------------------------------------


@pytest.mark.parametrize("form", list(VERTEX_FORMS))
def test_every_vertex_form_draws_what_the_structured_array_draws(
    ctx: Any, fbo: Any, progs: dict[str, Any], form: str
) -> None:
    tris = tri_vertices(30, np.random.default_rng(3))
    want_shape = sb.Mesh(ctx, tris)
    want_quad = sb.Mesh(ctx, quad_vertices(), mode=moderngl.TRIANGLE_STRIP)
    want = draw_frame(ctx, fbo, progs, want_shape, want_quad)

    made = VERTEX_FORMS[form]
    shape_data, quad_data = made(tris, ctx), made(quad_vertices(), ctx)
    shape = sb.Mesh(ctx, shape_data, layout=TRI)
    quad = sb.Mesh(ctx, quad_data, layout=MESH_LAYOUT, mode=moderngl.TRIANGLE_STRIP)
    assert (shape.vertex_count, quad.vertex_count) == (30, 4)
    assert shape.vertex_buffer.read() == tris.tobytes()
    assert_same(draw_frame(ctx, fbo, progs, shape, quad), want)
    for mesh in (want_shape, want_quad, shape, quad):
        mesh.release()
    for data in (shape_data, quad_data):
        if isinstance(data, moderngl.Buffer):
            data.release()


def test_a_buffer_is_used_as_it_is_and_outlives_the_mesh(
    ctx: Any, fbo: Any, progs: dict[str, Any]
) -> None:
    tris = tri_vertices(30, np.random.default_rng(4))
    buffer = ctx.buffer(tris.tobytes())
    glo = buffer.glo
    quad = sb.Mesh(ctx, quad_vertices(), mode=moderngl.TRIANGLE_STRIP)
    shape = sb.Mesh(ctx, buffer, layout=TRI)
    assert shape.vertex_buffer is buffer  # not copied
    first = draw_frame(ctx, fbo, progs, shape, quad)
    shape.release()
    assert shape.released
    assert buffer.glo == glo
    assert buffer.read() == tris.tobytes()  # not released with the mesh
    again = sb.Mesh(ctx, buffer, layout=TRI)  # the same Buffer, drawn by a new mesh
    assert_same(draw_frame(ctx, fbo, progs, again, quad), first)
    again.release()
    quad.release()
    assert buffer.read() == tris.tobytes()
    buffer.release()


def test_bytes_and_arrays_are_copied_when_the_mesh_is_made(ctx: Any) -> None:
    quad = quad_vertices()
    raw = bytearray(quad.tobytes())
    indices = np.array([0, 1, 2, -1, 3], np.int32)
    mesh = sb.Mesh(ctx, raw, indices, layout=MESH_LAYOUT)
    raw[:] = bytes(len(raw))
    indices[:] = 0
    assert mesh.vertex_buffer.read() == quad.tobytes()
    assert np.frombuffer(mesh.index_buffer.read(), np.uint32).tolist() == [0, 1, 2, 2**32 - 1, 3]
    mesh.release()


def test_a_padded_buffer_draws_vertex_count_vertices(
    ctx: Any, fbo: Any, progs: dict[str, Any]
) -> None:
    tris = tri_vertices(30, np.random.default_rng(5))
    quad = sb.Mesh(ctx, quad_vertices(), mode=moderngl.TRIANGLE_STRIP)
    want_shape = sb.Mesh(ctx, tris)
    want = draw_frame(ctx, fbo, progs, want_shape, quad)
    # A loader's buffer: the vertices, then 4 bytes of padding and a stray vertex.
    stray = tri_vertices(1, np.random.default_rng(0))
    buffer = ctx.buffer(tris.tobytes() + stray.tobytes() + bytes(4))
    with pytest.raises(ValueError, match=r"holds 748 bytes, not a whole number of 24-byte"):
        sb.Mesh(ctx, buffer, layout=TRI)
    shape = sb.Mesh(ctx, buffer, layout=TRI, vertex_count=30)
    assert shape.vertex_count == shape.draw_count == 30
    assert_same(draw_frame(ctx, fbo, progs, shape, quad), want)
    for mesh in (shape, want_shape, quad):
        mesh.release()
    buffer.release()


INDICES = np.array([0, 1, 2, 3, 4, 5, 2, 5, 9, 6, 7, 8, 9, 8, 1], np.uint32)

# Each form of the same indices: (ctx) -> (indices, keyword arguments).
INDEX_FORMS: dict[str, Callable[[Any], tuple[Any, dict[str, Any]]]] = {
    "u4 array": lambda ctx: (INDICES, {}),
    "u2 array": lambda ctx: (INDICES.astype(np.uint16), {}),
    "list": lambda ctx: (INDICES.tolist(), {}),
    "int8 as u2": lambda ctx: (INDICES.astype(np.int8), {"index_dtype": "u2"}),
    "bytes u2": lambda ctx: (INDICES.astype(np.uint16).tobytes(), {"index_dtype": "u2"}),
    "memoryview u4": lambda ctx: (memoryview(INDICES), {"index_dtype": np.uint32}),
    "Buffer u4": lambda ctx: (ctx.buffer(INDICES.tobytes()), {"index_dtype": "u4"}),
    # 15 u2 indices padded to 32 bytes (16 indices): index_count says how many.
    "padded Buffer u2": lambda ctx: (
        ctx.buffer(INDICES.astype(np.uint16).tobytes() + b"\xff\x00"),
        {"index_dtype": "u2", "index_count": 15},
    ),
}


@pytest.mark.parametrize("form", list(INDEX_FORMS))
def test_every_index_form_draws_what_the_uint32_array_draws(
    ctx: Any, fbo: Any, progs: dict[str, Any], form: str
) -> None:
    tris = tri_vertices(10, np.random.default_rng(6))
    quad = sb.Mesh(ctx, quad_vertices(), mode=moderngl.TRIANGLE_STRIP)
    want_shape = sb.Mesh(ctx, tris, INDICES)
    want = draw_frame(ctx, fbo, progs, want_shape, quad)
    indices, kw = INDEX_FORMS[form](ctx)
    shape = sb.Mesh(ctx, tris, indices, **kw)
    assert shape.index_count == shape.draw_count == 15
    assert shape.index_dtype == np.dtype(kw.get("index_dtype", indices_dtype(indices)))
    assert_same(draw_frame(ctx, fbo, progs, shape, quad), want)
    for mesh in (shape, want_shape, quad):
        mesh.release()
    if isinstance(indices, moderngl.Buffer):
        assert indices.read()[:30] == INDICES.astype(shape.index_dtype).tobytes()[:30]
        indices.release()


def indices_dtype(indices: Any) -> Any:
    return indices.dtype if isinstance(indices, np.ndarray) else np.uint32


# -- restart written as -1 ----------------------------------------------------------

# Two quads as triangle strips, one bottom left, one top right. Drawn as one strip
# without a restart, the triangles joining them would cross the middle.
STRIPS = np.zeros(8, TRI.dtype)
STRIPS["in_pos"] = [
    *[(-0.9, -0.9), (-0.2, -0.9), (-0.9, -0.2), (-0.2, -0.2)],
    *[(0.2, 0.2), (0.9, 0.2), (0.2, 0.9), (0.9, 0.9)],
]
STRIPS["in_color"] = [(1.0, 0.5, 0.25, 1.0)] * 4 + [(0.25, 0.5, 1.0, 1.0)] * 4


def two_strips(ctx: Any, fbo: Any, program: Any, *, joined: bool = False) -> Any:
    """The strips drawn by plain moderngl: two draws (or one joined strip)."""
    ref = Reference(ctx, fbo)
    if joined:
        ref.draw(program, TRI, STRIPS, moderngl.TRIANGLE_STRIP)
    else:
        ref.draw(program, TRI, STRIPS[:4], moderngl.TRIANGLE_STRIP)
        ref.draw(program, TRI, STRIPS[4:], moderngl.TRIANGLE_STRIP)
    return ref.image()


@pytest.mark.parametrize(
    ("dtype", "index_dtype", "stored", "restart"),
    [
        (np.int16, None, np.uint32, 0xFFFFFFFF),
        (np.int32, None, np.uint32, 0xFFFFFFFF),
        (np.int64, None, np.uint32, 0xFFFFFFFF),
        (np.int64, "u2", np.uint16, 0xFFFF),
        (np.int32, "u4", np.uint32, 0xFFFFFFFF),
    ],
)
def test_minus_one_in_signed_indices_restarts_the_strip(
    ctx: Any,
    fbo: Any,
    progs: dict[str, Any],
    dtype: Any,
    index_dtype: Any,
    stored: Any,
    restart: int,
) -> None:
    indices = np.array([0, 1, 2, 3, -1, 4, 5, 6, 7], dtype)
    mesh = sb.Mesh(ctx, STRIPS, indices, mode=moderngl.TRIANGLE_STRIP, index_dtype=index_dtype)
    assert mesh.index_dtype == stored
    assert np.frombuffer(mesh.index_buffer.read(), stored).tolist() == [
        0,
        1,
        2,
        3,
        restart,
        4,
        5,
        6,
        7,
    ]
    with sb.Stager(ctx, TRI, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.draw(mesh)
        got = staged(fbo, stager)
    want = two_strips(ctx, fbo, progs["tri"])
    assert_same(got, want)
    # The comparison can tell: one joined strip covers the middle too.
    assert (two_strips(ctx, fbo, progs["tri"], joined=True) != want).any(axis=-1).sum() > 50
    mesh.release()


def test_the_restart_index_of_one_type_becomes_the_other_types(ctx: Any) -> None:
    verts = tri_vertices(4, np.random.default_rng(1))
    up = sb.Mesh(ctx, verts, np.array([0, 1, 0xFFFF, 2, 3], np.uint16), index_dtype="u4")
    down = sb.Mesh(ctx, verts, np.array([0, 1, 0xFFFFFFFF, 2], np.uint32), index_dtype="u2")
    assert np.frombuffer(up.index_buffer.read(), np.uint32).tolist() == [0, 1, 0xFFFFFFFF, 2, 3]
    assert np.frombuffer(down.index_buffer.read(), np.uint16).tolist() == [0, 1, 0xFFFF, 2]
    up.release()
    down.release()


@pytest.mark.parametrize(
    ("indices", "kw", "match"),
    [
        (np.array([0, -2, 1], np.int32), {}, r"index -2 is out of range for 4 vertices \(-1, "),
        ([0, 1, -5], {}, r"index -5 is out of range for 4 vertices \(-1, the restart index"),
        (np.array([0, 1, 4], np.int64), {}, r"index 4 is out of range for 4 vertices"),
        (np.array([0, 9], np.uint16), {}, r"index 9 is out of range .*restart index 65535 is"),
        # In a uint8 array no value restarts: 255 is an index like any other.
        (np.array([0, 255], np.uint8), {}, r"index 255 is out of range for 4 vertices"),
        (np.array([1, 0xFFFFFFFF], np.int64), {}, r"index 4294967295 is out of range"),
    ],
)
def test_bad_indices_are_named(ctx: Any, indices: Any, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sb.Mesh(ctx, tri_vertices(4, np.random.default_rng(1)), indices, **kw)


def test_an_index_that_does_not_fit_u2_is_named(ctx: Any) -> None:
    verts = np.zeros(70_000, MESH_LAYOUT.dtype)
    with pytest.raises(ValueError, match=r"index 65535 does not fit index_dtype uint16 "):
        sb.Mesh(ctx, verts, [0, 1, 65535], index_dtype="u2")
    mesh = sb.Mesh(ctx, verts, [0, 1, 65535])  # u4 holds it
    assert mesh.index_dtype == np.uint32
    mesh.release()


# -- flat numbers, as the docstring says ---------------------------------------------


def test_flat_numbers_hold_whole_vertices_in_the_layouts_order(ctx: Any) -> None:
    layout = sb.VertexLayout(in_pos="2f", in_color="4f1")  # 6 components per vertex
    flat = [1, -1, 255, 0, 10, 255, -1, 1, 1, 2, 3, 4]
    mesh = sb.Mesh(ctx, np.array(flat), layout=layout)  # int64
    want = np.zeros(2, layout.dtype)
    want["in_pos"] = [(1, -1), (-1, 1)]
    want["in_color"] = [(255, 0, 10, 255), (1, 2, 3, 4)]
    assert mesh.vertex_count == 2
    assert mesh.vertex_buffer.read() == want.tobytes()
    mesh.release()
    with pytest.raises(ValueError, match=r"Mesh: values of shape \(11,\) are not records of 6 c"):
        sb.Mesh(ctx, np.array(flat[:-1]), layout=layout)
    with pytest.raises(
        TypeError, match=r"values of float64 would be truncated into attribute 'in_color'"
    ):
        sb.Mesh(ctx, np.array([*flat[:-1], 0.5]), layout=layout)
    with pytest.raises(ValueError, match=r"values of shape \(\) are not records of 2 comp"):
        sb.Mesh(ctx, np.float32(1.0), layout=MESH_LAYOUT)


# -- refused input --------------------------------------------------------------------


@pytest.fixture
def other_ctx(ctx: Any) -> Iterator[Any]:
    """A second standalone context; the session context is current again afterwards."""
    other = moderngl.create_context(standalone=True, backend="egl")
    yield other
    other.release()
    ctx.__enter__()


def test_bad_buffers_are_named_and_left_as_they_were(ctx: Any, other_ctx: Any) -> None:
    quad = quad_vertices()
    other_ctx.__enter__()
    foreign = other_ctx.buffer(quad.tobytes())
    ctx.__enter__()
    buffer = ctx.buffer(quad.tobytes())  # 32 bytes: 4 vertices of 8 bytes
    odd = ctx.buffer(bytes(6))
    gone = ctx.buffer(bytes(8))
    gone.release()
    glo = buffer.glo
    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: sb.Mesh(ctx, buffer), TypeError, r"a moderngl Buffer carries no attribute layout"),
        (
            lambda: sb.Mesh(ctx, buffer, layout=sb.VertexLayout(in_vert="3f")),
            ValueError,
            rf"vertex Buffer \(glo {glo}\) holds 32 bytes, not a whole number of 12-byte "
            r"vertices; pass vertex_count=",
        ),
        (
            lambda: sb.Mesh(ctx, odd, layout=MESH_LAYOUT),
            ValueError,
            r"holds 6 bytes, not a whole number of 8-byte vertices",
        ),
        (
            lambda: sb.Mesh(ctx, buffer, layout=MESH_LAYOUT, vertex_count=5),
            ValueError,
            rf"vertex_count=5 needs 40 bytes of 8-byte vertices; the vertex Buffer \(glo {glo}\)"
            r" holds 32",
        ),
        (
            lambda: sb.Mesh(ctx, buffer, layout=MESH_LAYOUT, vertex_count=-1),
            ValueError,
            r"vertex_count must be an int >= 0; got -1",
        ),
        (
            lambda: sb.Mesh(ctx, buffer, layout=MESH_LAYOUT, vertex_count=True),
            ValueError,
            r"vertex_count must be an int >= 0; got True",
        ),
        (
            lambda: sb.Mesh(ctx, foreign, layout=MESH_LAYOUT),
            ValueError,
            r"vertex Buffer \(glo \d+\) belongs to another moderngl context than the mesh's",
        ),
        (
            lambda: sb.Mesh(ctx, gone, layout=MESH_LAYOUT),
            ValueError,
            r"the vertex Buffer \(glo \d+\) was released",
        ),
        (
            lambda: sb.Mesh(ctx, buffer, layout=sb.VertexLayout(in_vert="2f/i")),
            ValueError,
            r"usage is 'i'; a mesh holds per-vertex data",
        ),
        (
            lambda: sb.Mesh(ctx, quad, buffer),
            TypeError,
            r"an index Buffer carries no index type; pass index_dtype='u2'",
        ),
        (
            lambda: sb.Mesh(ctx, quad, buffer, index_dtype="u8"),
            ValueError,
            r"Mesh: index_dtype 'u8' is not an index type",
        ),
        (
            lambda: sb.Mesh(ctx, quad, odd, index_dtype="u4"),
            ValueError,
            r"the index Buffer \(glo \d+\) holds 6 bytes, not a whole number of 4-byte indices;"
            r" pass index_count=",
        ),
        (
            lambda: sb.Mesh(ctx, quad, buffer, index_dtype="u2", index_count=17),
            ValueError,
            rf"index_count=17 needs 34 bytes of 2-byte indices; the index Buffer \(glo {glo}\)",
        ),
        (
            lambda: sb.Mesh(ctx, quad, foreign, index_dtype="u2"),
            ValueError,
            r"index Buffer \(glo \d+\) belongs to another moderngl context",
        ),
        (
            lambda: sb.Mesh(ctx, quad, gone, index_dtype="u2"),
            ValueError,
            r"the index Buffer \(glo \d+\) was released",
        ),
        (
            lambda: sb.Mesh(ctx, quad, vertex_count=4),
            TypeError,
            r"vertex_count=4 applies to a moderngl Buffer",
        ),
        (
            lambda: sb.Mesh(ctx, quad, [0, 1, 2], index_count=3),
            TypeError,
            r"index_count=3 applies to a moderngl Buffer",
        ),
        (
            lambda: sb.Mesh(ctx, quad, index_dtype="u2"),
            TypeError,
            r"index_dtype='u2' / index_count=None given without indices",
        ),
    ]
    for make, kind, match in cases:
        with pytest.raises(kind, match=match):
            make()
        # Nothing happened to the Buffer, and nothing was left behind.
        assert buffer.glo == glo
        assert buffer.read() == quad.tobytes()
        assert ctx.error == "GL_NO_ERROR"
    mesh = sb.Mesh(ctx, buffer, layout=MESH_LAYOUT)  # still usable
    assert mesh.vertex_count == 4
    mesh.release()
    assert buffer.read() == quad.tobytes()
    for b in (buffer, odd):
        b.release()
    other_ctx.__enter__()
    foreign.release()
    ctx.__enter__()


def test_bad_bytes_are_named(ctx: Any) -> None:
    quad = quad_vertices()
    with pytest.raises(TypeError, match=r"raw bytes carries no attribute layout; pass layout="):
        sb.Mesh(ctx, quad.tobytes())
    with pytest.raises(TypeError, match=r"raw bytearray carries no attribute layout"):
        sb.Mesh(ctx, bytearray(8))
    with pytest.raises(ValueError, match=r"the vertices hold 12 bytes, not a whole number of 8-"):
        sb.Mesh(ctx, bytes(12), layout=MESH_LAYOUT)
    with pytest.raises(ValueError, match=r"vertex memoryview is not C-contiguous"):
        sb.Mesh(ctx, memoryview(np.zeros(8, np.float32))[::2], layout=MESH_LAYOUT)
    with pytest.raises(TypeError, match=r"raw bytes indices carry no index type; pass index_"):
        sb.Mesh(ctx, quad, bytes(6))
    with pytest.raises(ValueError, match=r"the indices hold 5 bytes, not a whole number of 2-"):
        sb.Mesh(ctx, quad, bytes(5), index_dtype="u2")
    with pytest.raises(ValueError, match=r"index 1798 is out of range for 4 vertices"):
        sb.Mesh(ctx, quad, np.array([0, 1798], np.uint16).tobytes(), index_dtype="u2")
    with pytest.raises(TypeError, match=r"indices must be integers; got an array of float64"):
        sb.Mesh(ctx, quad, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match=r"vertices of list are not an array"):
        sb.Mesh(ctx, [[0.0, 1.0], [2.0]], layout=MESH_LAYOUT)
    with pytest.raises(TypeError, match=r"ctx must be a moderngl.Context; got str 'ctx'"):
        sb.Mesh("ctx", quad)


def test_a_released_context_is_refused(other_ctx: Any) -> None:
    other_ctx.release()
    with pytest.raises(ValueError, match=r"Mesh: ctx was released; make the mesh on a live"):
        sb.Mesh(other_ctx, quad_vertices())


def test_a_mesh_whose_buffer_was_released_refuses_to_draw(ctx: Any, progs: dict[str, Any]) -> None:
    buffer = ctx.buffer(quad_vertices().tobytes())
    indices = ctx.buffer(np.array([0, 1, 2], np.uint32).tobytes())
    mesh = sb.Mesh(ctx, buffer, indices, layout=MESH_LAYOUT, index_dtype="u4")
    indices.release()
    assert mesh.released  # it cannot draw: stagers drop what they cached for it
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager, stager.frame() as frame:
        with pytest.raises(sb.StagerError, match=r"draw: the mesh's index Buffer was released"):
            frame.draw(mesh, program=progs["tri"])
        buffer.release()
        with pytest.raises(
            sb.StagerError, match=r"reserve_instances: the mesh's vertex Buffer was released"
        ):
            frame.reserve_instances(mesh, 2)
    mesh.release()  # frees nothing: both Buffers were the caller's


# -- release() and other contexts (issue 17) ------------------------------------------


def same_names(ctx: Any, names: set[int], count: int) -> list[Any]:
    """Buffers on ``ctx`` (made current), numbered 1.., some of which take ``names``."""
    ctx.__enter__()
    made = [ctx.buffer(bytes([i + 1]) * 64) for i in range(count)]
    assert names <= {b.glo for b in made}, "the injection needs buffers of the same GL names"
    return made


@pytest.mark.parametrize("gc_mode", [None, "auto"])
def test_release_after_the_context_was_released_deletes_nothing_elsewhere(
    ctx: Any, gc_mode: str | None
) -> None:
    a = moderngl.create_context(standalone=True, backend="egl")
    b = moderngl.create_context(standalone=True, backend="egl")
    try:
        a.gc_mode = gc_mode  # "auto": moderngl's finaliser releases a dropped buffer
        mesh = sb.Mesh(a, quad_vertices(), [0, 1, 2, 2, 1, 3])
        names = {mesh.vertex_buffer.glo, mesh.index_buffer.glo}
        held = [mesh.vertex_buffer, mesh.index_buffer] if gc_mode is None else []
        a.release()
        theirs = same_names(b, names, max(names) + 2)
        mesh.release()
        gc.collect()  # with gc_mode "auto", the mesh's buffers are finalised by now
        for handle in held:
            handle.release()  # a handle kept past release() is safe to release too
        mesh.release()
        assert mesh.released
        assert b.error == "GL_NO_ERROR"
        for i, buf in enumerate(theirs):
            assert buf.read() == bytes([i + 1]) * 64, f"{buf.glo} was deleted"
        assert b.error == "GL_NO_ERROR"
    finally:
        b.release()
        a.release()
        ctx.__enter__()


def test_release_deletes_on_the_meshs_context_whatever_is_current(ctx: Any) -> None:
    a = moderngl.create_context(standalone=True, backend="egl")
    b = moderngl.create_context(standalone=True, backend="egl")
    try:
        mesh = sb.Mesh(a, quad_vertices(), [0, 1, 2, 2, 1, 3])
        held = (mesh.vertex_buffer, mesh.index_buffer)
        names = {buf.glo for buf in held}
        theirs = same_names(b, names, max(names) + 2)  # b is current now
        mesh.release()
        assert all(isinstance(buf.mglo, moderngl.InvalidObject) for buf in held)
        b.__enter__()
        for i, buf in enumerate(theirs):
            assert buf.read() == bytes([i + 1]) * 64, f"{buf.glo} was deleted"
        assert a.error == b.error == "GL_NO_ERROR"
    finally:
        b.release()
        a.release()
        ctx.__enter__()


def test_a_borrowed_buffer_survives_its_meshs_release_on_a_released_context(ctx: Any) -> None:
    a = moderngl.create_context(standalone=True, backend="egl")
    try:
        a.__enter__()
        buffer = a.buffer(quad_vertices().tobytes())
        mesh = sb.Mesh(a, buffer, layout=MESH_LAYOUT)
        a.release()
        ctx.__enter__()
        theirs = ctx.buffer(bytes([9]) * 32)
        mesh.release()  # owns nothing: no GL call at all
        assert theirs.read() == bytes([9]) * 32
        theirs.release()
    finally:
        a.release()
        ctx.__enter__()


def test_an_empty_index_list_is_no_indices_to_draw(ctx: Any) -> None:
    """`[]` is float64 to numpy; as indices it means none (a red-team find)."""
    mesh = sb.Mesh(ctx, np.zeros(3, MESH_LAYOUT.dtype), [])
    assert mesh.index_dtype == np.uint32 and mesh.index_count == 0 and mesh.draw_count == 0
    mesh.release()
