"""Draw lists: one Stager stages a whole frame (modes, programs, layouts, uniforms,
textures, indices, meshes, instances). Each scene is drawn through stagebuf and
through plain moderngl, and the two images must be identical."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb
from stagebuf._backends._moderngl._current import current_native
from stagebuf._gl import load_program

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
HUD = sb.VertexLayout(in_pos="2f", in_uv="2f")
INSTANCE = sb.VertexLayout(in_offset="2f", in_color="4f1")
QUAD_VERTS = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], dtype=np.float32)

DOT_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform float u_size; uniform vec4 u_tint;
out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); gl_PointSize = u_size;
              v_color = in_color * u_tint; }"""
DOT_FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
HUD_VS = """#version 330 core
in vec2 in_pos; in vec2 in_uv; out vec2 v_uv;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_uv = in_uv; }"""
HUD_FS = """#version 330 core
in vec2 v_uv; uniform sampler2D u_tex; out vec4 f_color;
void main() { f_color = texture(u_tex, v_uv); }"""
MESH_VS = """#version 330 core
in vec2 in_vert; out vec4 v_color;
void main() { gl_Position = vec4(in_vert * 0.5, 0.0, 1.0); v_color = vec4(1.0); }"""
SPRITE_VS = """#version 330 core
in vec2 in_vert; in vec2 in_offset; in vec4 in_color; uniform float u_scale;
out vec4 v_color;
void main() { gl_Position = vec4(in_vert * u_scale + in_offset, 0.0, 1.0); v_color = in_color; }"""


def old_gl(stager: sb.Stager, *, base_vertex: bool, base_instance: bool) -> None:
    """Make the stager's backend answer as an older GL context would."""
    caps = stager._backend.caps
    stager._backend.caps = dataclasses.replace(
        caps, base_vertex=base_vertex, base_instance=base_instance
    )


@pytest.fixture
def progs(ctx: Any) -> Iterator[dict[str, Any]]:
    made = {
        "tri": load_program(ctx),
        "dot": ctx.program(vertex_shader=DOT_VS, fragment_shader=DOT_FS),
        "hud": ctx.program(vertex_shader=HUD_VS, fragment_shader=HUD_FS),
        "sprite": ctx.program(vertex_shader=SPRITE_VS, fragment_shader=DOT_FS),
    }
    made["dot"]["u_tint"].value = (1.0, 1.0, 1.0, 1.0)
    made["sprite"]["u_scale"].value = 0.1
    ctx.enable(moderngl.PROGRAM_POINT_SIZE)
    yield made
    ctx.disable(moderngl.PROGRAM_POINT_SIZE)
    for p in made.values():
        p.release()


@pytest.fixture
def texture(ctx: Any) -> Iterator[Any]:
    """A 4x4 checker of two colours, nearest filtering: texels land on exact pixels."""
    texels = np.zeros((4, 4, 4), np.uint8)
    texels[...] = (255, 200, 0, 255)
    texels[::2, ::2] = texels[1::2, 1::2] = (0, 90, 255, 255)
    tex = ctx.texture((4, 4), 4, texels.tobytes())
    tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    yield tex
    tex.release()


def grab(fbo: Any) -> np.ndarray[Any, Any]:
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def staged(fbo: Any, stager: sb.Stager, **kw: Any) -> np.ndarray[Any, Any]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render(**kw)
    return grab(fbo)


class Reference:
    """The same draws in plain moderngl: a fresh buffer and vertex array per draw."""

    def __init__(self, ctx: Any, fbo: Any) -> None:
        self.ctx = ctx
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        self.fbo = fbo

    def draw(
        self,
        program: Any,
        layout: sb.VertexLayout,
        verts: np.ndarray[Any, Any],
        mode: int,
        *,
        indices: np.ndarray[Any, Any] | None = None,
        uniforms: dict[str, Any] | None = None,
        texture: Any = None,
        instances: tuple[sb.VertexLayout, np.ndarray[Any, Any]] | None = None,
    ) -> None:
        ctx = self.ctx
        for name, value in (uniforms or {}).items():
            program[name].value = value
        if texture is not None:
            texture.use(0)
        vbo = ctx.buffer(np.ascontiguousarray(verts).tobytes())
        made = [vbo]
        content = [(vbo, layout.format, *layout.names)]
        count = len(verts)
        if instances is not None:
            ilayout, records = instances
            ibuf = ctx.buffer(np.ascontiguousarray(records).tobytes())
            made.append(ibuf)
            content.append((ibuf, ilayout.format + "/i", *ilayout.names))
        ibo = None
        if indices is not None:
            if indices.dtype == np.uint16:
                ctx.enable_direct(0x8D69)  # GL_PRIMITIVE_RESTART_FIXED_INDEX
            ibo = ctx.buffer(indices.tobytes())
            made.append(ibo)
            count = len(indices)
        vao = ctx.vertex_array(
            program,
            content,
            index_buffer=ibo,
            index_element_size=4 if indices is None else indices.itemsize,
        )
        vao.render(mode, vertices=count, instances=-1 if instances is None else len(instances[1]))
        if indices is not None and indices.dtype == np.uint16:
            ctx.disable_direct(0x8D69)
        vao.release()
        for buf in made:
            buf.release()

    def image(self) -> np.ndarray[Any, Any]:
        return grab(self.fbo)


def vertices(layout: sb.VertexLayout, n: int, rng: np.random.Generator) -> Any:
    """``n`` random vertices of ``layout`` inside clip space."""
    v = np.zeros(n, layout.dtype)
    for a in layout.attributes:
        if a.kind == "f" and a.size == 1:  # normalised colour bytes, opaque
            v[a.name] = rng.integers(0, 256, (n, a.components), dtype=np.uint8)
            v[a.name][:, -1] = 255
        elif a.name == "in_uv":
            v[a.name] = rng.random((n, a.components), dtype=np.float32)
        else:
            v[a.name] = rng.uniform(-0.95, 0.95, (n, a.components)).astype(np.float32)
    return v


def quad(x: float, y: float, r: float) -> Any:
    v = np.zeros(4, HUD.dtype)
    v["in_pos"] = [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    v["in_uv"] = [(0, 0), (1, 0), (1, 1), (0, 1)]
    return v


QUAD_INDICES = np.array([0, 1, 2, 0, 2, 3], np.uint32)


def assert_same(got: np.ndarray[Any, Any], want: np.ndarray[Any, Any]) -> None:
    assert (want != (0, 0, 0, 255)).any(axis=-1).sum() > 50, "the reference drew too little"
    diff = (got != want).any(axis=-1)
    assert not diff.any(), f"{diff.sum()} pixels differ, first at {np.argwhere(diff)[:3].tolist()}"


# -- a whole frame ------------------------------------------------------------


def test_a_mixed_frame_matches_plain_moderngl(
    ctx: Any, fbo: Any, progs: dict[str, Any], texture: Any
) -> None:
    rng = np.random.default_rng(7)
    tris = vertices(LAYOUT, 30, rng)
    lines = vertices(LAYOUT, 20, rng)
    dots = vertices(LAYOUT, 15, rng)
    quads = [quad(-0.6 + 0.4 * i, 0.7, 0.15) for i in range(4)]
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        for k in range(4):  # every slot of the ring, then one more
            with stager.frame() as frame:
                frame.reserve(30)[:] = tris
                frame.reserve(20, mode=moderngl.LINES)[:] = lines
                frame.reserve(
                    15, mode=moderngl.POINTS, program=progs["dot"], uniforms={"u_size": 3.0}
                )[:] = dots
                for q in quads:
                    v, i = frame.reserve_indexed(
                        4, 6, layout=HUD, program=progs["hud"], textures={0: texture}
                    )
                    v[:] = q
                    i[:] = QUAD_INDICES
                frame.reserve(6)[:] = tris[:6]  # back to the defaults: a new draw
            got = staged(fbo, stager)
            assert stager.stats.draw_calls_last_render == 5
            # One per GL buffer ("mapped": none once each slot's buffers are made, the
            # frame is written in place).
            steady = stager.strategy == "mapped" and k == 3
            assert stager.stats.writes_last_frame == (0 if steady else 2)
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, tris, moderngl.TRIANGLES)
    ref.draw(progs["tri"], LAYOUT, lines, moderngl.LINES)
    ref.draw(progs["dot"], LAYOUT, dots, moderngl.POINTS, uniforms={"u_size": 3.0})
    for q in quads:
        ref.draw(progs["hud"], HUD, q, moderngl.TRIANGLES, indices=QUAD_INDICES, texture=texture)
    ref.draw(progs["tri"], LAYOUT, tris[:6], moderngl.TRIANGLES)
    assert_same(got, ref.image())


def test_layouts_share_one_upload_and_steady_frames_make_no_gl_objects(
    ctx: Any, fbo: Any, progs: dict[str, Any], texture: Any
) -> None:
    rng = np.random.default_rng(3)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:

        def one_frame() -> None:
            with stager.frame() as frame:
                frame.reserve(9)[:] = vertices(LAYOUT, 9, rng)
                v, i = frame.reserve_indexed(4, 6, layout=HUD, program=progs["hud"])
                v[:] = quad(0, 0, 0.3)
                i[:] = QUAD_INDICES
                frame.reserve(2, mode=moderngl.LINES)[:] = vertices(LAYOUT, 2, rng)
            stager.render()

        for _ in range(5):
            one_frame()
        made = (stager.stats.buffers_created, stager.stats.vertex_arrays_created)
        assert made[0] == 6  # 3 ring slots x (vertex + index buffer), not one set per layout
        for _ in range(20):
            one_frame()
        assert (stager.stats.buffers_created, stager.stats.vertex_arrays_created) == made
        assert stager.stats.writes_last_frame == (0 if stager.strategy == "mapped" else 2)


def test_500_quads_with_one_state_are_one_draw(
    ctx: Any, fbo: Any, progs: dict[str, Any], texture: Any
) -> None:
    quads = [quad(-0.95 + 0.08 * (k % 25), -0.95 + 0.09 * (k // 25), 0.03) for k in range(500)]
    with sb.Stager(ctx, HUD, progs["hud"]) as stager:
        with stager.frame() as frame:
            for q in quads:
                v, i = frame.reserve_indexed(4, 6, textures={0: texture})
                v[:] = q
                i[:] = QUAD_INDICES
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 1
        assert len(stager.ranges) == 500
    ref = Reference(ctx, fbo)
    for q in quads:
        ref.draw(progs["hud"], HUD, q, moderngl.TRIANGLES, indices=QUAD_INDICES, texture=texture)
    assert_same(got, ref.image())


@pytest.mark.parametrize(
    ("second", "calls"),
    [
        ({}, 1),
        ({"uniforms": {"u_size": 2.0}}, 1),  # equal values: the same state
        ({"uniforms": {"u_size": 5.0}}, 2),
        ({"mode": moderngl.LINES}, 2),
        ({"uniforms": {"u_size": 2.0, "u_tint": (1.0, 0.5, 0.5, 1.0)}}, 2),
    ],
)
def test_only_equal_state_merges(
    ctx: Any, fbo: Any, progs: dict[str, Any], second: dict[str, Any], calls: int
) -> None:
    rng = np.random.default_rng(1)
    a, b = vertices(LAYOUT, 10, rng), vertices(LAYOUT, 10, rng)
    first = {"mode": moderngl.POINTS, "uniforms": {"u_size": 2.0}}
    with sb.Stager(ctx, LAYOUT, progs["dot"]) as stager:
        with stager.frame() as frame:
            frame.reserve(10, **first)[:] = a
            frame.reserve(10, **{**first, **second})[:] = b
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == calls
    ref = Reference(ctx, fbo)
    ref.draw(progs["dot"], LAYOUT, a, moderngl.POINTS, uniforms=first["uniforms"])
    spec = {**first, **second}
    ref.draw(
        progs["dot"], LAYOUT, b, spec["mode"], uniforms={"u_tint": (1.0,) * 4, **spec["uniforms"]}
    )
    assert_same(got, ref.image())


@pytest.mark.parametrize(
    "mode", [moderngl.TRIANGLE_STRIP, moderngl.LINE_STRIP, moderngl.TRIANGLE_FAN]
)
def test_strips_and_fans_are_never_merged(
    ctx: Any, fbo: Any, progs: dict[str, Any], mode: int
) -> None:
    rng = np.random.default_rng(5)
    a, b = vertices(LAYOUT, 6, rng), vertices(LAYOUT, 6, rng)
    with sb.Stager(ctx, LAYOUT, progs["tri"], mode=mode) as stager:
        with stager.frame() as frame:
            frame.reserve(6)[:] = a
            frame.reserve(6)[:] = b
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 2
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, a, mode)
    ref.draw(progs["tri"], LAYOUT, b, mode)
    assert_same(got, ref.image())


def test_ranges_split_into_partial_primitives_are_not_merged(
    ctx: Any, fbo: Any, progs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(8)
    a, b = vertices(LAYOUT, 4, rng), vertices(LAYOUT, 5, rng)  # 4 and 5: no whole triangles
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.reserve(4)[:] = a
            frame.reserve(5)[:] = b
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 2
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, a, moderngl.TRIANGLES)
    ref.draw(progs["tri"], LAYOUT, b, moderngl.TRIANGLES)
    assert_same(got, ref.image())


# -- indices --------------------------------------------------------------------


@pytest.mark.parametrize("index_dtype", ["u2", "u4", np.uint16, np.uint32])
def test_restart_index_passes_through(
    ctx: Any, fbo: Any, progs: dict[str, Any], index_dtype: Any
) -> None:
    dtype = np.dtype(index_dtype)
    restart = np.iinfo(dtype).max
    rng = np.random.default_rng(2)
    v = vertices(LAYOUT, 8, rng)
    idx = np.array([0, 1, 2, 3, restart, 4, 5, 6, 7], dtype)
    with sb.Stager(ctx, LAYOUT, progs["tri"], index_dtype=index_dtype) as stager:
        with stager.frame() as frame:
            frame.reserve(3)[:] = vertices(LAYOUT, 3, rng)  # shifts the indexed range
            verts, ind = frame.reserve_indexed(8, 9, mode=moderngl.TRIANGLE_STRIP)
            assert ind.dtype == dtype
            verts[:] = v
            ind[:] = idx
        uploaded = np.frombuffer(stager.index_buffer.read(9 * dtype.itemsize), dtype)
        assert uploaded.tolist() == [3, 4, 5, 6, restart, 7, 8, 9, 10]
        with stager.frame() as frame:  # the same strip alone, drawn
            verts, ind = frame.reserve_indexed(8, 9, mode=moderngl.TRIANGLE_STRIP)
            verts[:] = v
            ind[:] = idx
        got = staged(fbo, stager)
    ref = Reference(ctx, fbo)
    wide = idx.astype(np.uint32)
    wide[idx == restart] = 0xFFFFFFFF
    ref.draw(progs["tri"], LAYOUT, v, moderngl.TRIANGLE_STRIP, indices=wide)
    assert_same(got, ref.image())


@pytest.mark.parametrize("index_dtype", ["u2", "u4"])
def test_out_of_range_index_names_it_and_keeps_the_last_frame(
    ctx: Any, fbo: Any, progs: dict[str, Any], index_dtype: str
) -> None:
    rng = np.random.default_rng(4)
    v = vertices(LAYOUT, 3, rng)
    with sb.Stager(ctx, LAYOUT, progs["tri"], index_dtype=index_dtype) as stager:
        with stager.frame() as frame:
            frame.reserve(3)[:] = v
        before = staged(fbo, stager)
        bad = np.iinfo(np.dtype(index_dtype)).max - 1
        with (
            pytest.raises(ValueError, match=rf"index {bad} .* has 3 vertices"),
            stager.frame() as frame,
        ):
            verts, ind = frame.reserve_indexed(3, 3)
            verts[:] = v
            ind[:] = [0, 1, bad]
        assert stager.stats.frames == 1 and stager.stats.frames_discarded == 1
        assert (staged(fbo, stager) == before).all()


def test_many_indexed_ranges_are_checked_each(ctx: Any, progs: dict[str, Any]) -> None:
    # Past a handful of ranges the check runs vectorised: it must still name the bad one.
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with (
            pytest.raises(
                ValueError,
                match=r"index 4 in the indexed range of reserve_indexed call 21 of this frame "
                r"\(its vertices start at vertex 80 of the frame\)",
            ),
            stager.frame() as frame,
        ):
            for k in range(40):
                verts, ind = frame.reserve_indexed(4, 6)
                verts["in_pos"] = 0.0
                ind[:] = [0, 1, 2, 0, 2, 4 if k == 20 else 3]
        with stager.frame() as frame:  # restart indices are fine in the vectorised path too
            for _ in range(40):
                verts, ind = frame.reserve_indexed(4, 7, mode=moderngl.TRIANGLE_STRIP)
                verts["in_pos"] = 0.0
                ind[:] = [0, 1, 2, 0xFFFFFFFF, 1, 2, 3]
        got = np.frombuffer(stager.index_buffer.read(7 * 4 * 40), np.uint32).reshape(40, 7)
        assert (got[:, 3] == 0xFFFFFFFF).all()
        assert got[:, 0].tolist() == list(range(0, 160, 4))


def test_u2_indices_past_65535_vertices_rebase_the_draw(
    ctx: Any, fbo: Any, progs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(6)
    v = vertices(LAYOUT, 6, rng)
    idx = np.array([0, 1, 2, 3, 4, 5], np.uint16)
    with sb.Stager(ctx, LAYOUT, progs["tri"], index_dtype="u2") as stager:
        with stager.frame() as frame:
            frame.reserve(70_002)["in_pos"] = 5.0  # off screen: pushes the next range far
            for k in range(2):
                verts, ind = frame.reserve_indexed(3, 3)
                verts[:] = v[3 * k : 3 * k + 3]
                ind[:] = [0, 1, 2]
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 2  # the 70k-vertex range + one merged
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, v, moderngl.TRIANGLES, indices=idx)
    assert_same(got, ref.image())


def test_bad_index_dtype_is_named(ctx: Any, progs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"index_dtype 'u1' is not an index type; expected 'u2'"):
        sb.Stager(ctx, LAYOUT, progs["tri"], index_dtype="u1")


# -- empty ranges, layouts ---------------------------------------------------


def test_empty_ranges_are_legal_and_draw_nothing(ctx: Any, fbo: Any, progs: dict[str, Any]) -> None:
    rng = np.random.default_rng(9)
    v = vertices(LAYOUT, 3, rng)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            assert frame.reserve(0).shape == (0,)
            frame.reserve_indexed(0, 0)
            frame.reserve_indexed(4, 0)
        assert staged(fbo, stager).tolist() == staged(fbo, stager).tolist()
        assert stager.stats.draw_calls_last_render == 0
        with stager.frame() as frame:
            frame.reserve_indexed(5, 0)
            frame.reserve(3)[:] = v
            frame.reserve(0, mode=moderngl.LINES)
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 1
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, v, moderngl.TRIANGLES)
    assert_same(got, ref.image())


def test_per_instance_layout_is_refused_by_reserve(ctx: Any, progs: dict[str, Any]) -> None:
    per_instance = sb.VertexLayout(in_pos="2f/i", in_color="4f1/i")
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager, stager.frame() as frame:
        with pytest.raises(ValueError, match=r"per instance \(/i\).*reserve_instances"):
            frame.reserve(3, layout=per_instance)
        with pytest.raises(ValueError, match=r"per instance \(/i\).*reserve_instances"):
            frame.reserve_indexed(3, 3, layout=per_instance)
        assert frame.vertex_count == 0 and frame.index_count == 0


def test_a_layout_mismatch_is_named_at_the_reserve(ctx: Any, progs: dict[str, Any]) -> None:
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager, stager.frame() as frame:
        with pytest.raises(sb.LayoutMismatchError, match=r"in_color.*no attribute of that name"):
            frame.reserve(3, layout=sb.VertexLayout(in_pos="2f"))
        with pytest.raises(sb.LayoutMismatchError, match="in_uv"):
            frame.reserve(3, layout=LAYOUT, program=progs["hud"])
        frame.reserve(3)["in_pos"] = 0.0  # the frame goes on
    assert stager.stats.frames == 1


# -- bad options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"mode": 12345}, ValueError, r"mode 12345 is not a GL draw mode; expected one of"),
        ({"mode": "lines"}, ValueError, r"mode 'lines' is not a GL draw mode"),
        ({"program": "prog"}, TypeError, r"program must be a moderngl.Program.*got str 'prog'"),
        ({"layout": "2f 4f1"}, TypeError, r"layout must be a VertexLayout; got str"),
        ({"uniforms": {"u_nope": 1.0}}, KeyError, r"no uniform 'u_nope'.*u_scale"),
        ({"uniforms": [1.0]}, TypeError, r"uniforms must be a mapping"),
        ({"textures": {-1: None}}, ValueError, r"texture unit -1 is not a unit number"),
        ({"textures": {0: "tex"}}, TypeError, r"texture for unit 0 has no .use"),
    ],
)
def test_bad_range_options_are_named(
    ctx: Any, progs: dict[str, Any], kwargs: dict[str, Any], exc: type, match: str
) -> None:
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager, stager.frame() as frame:
        with pytest.raises(exc, match=match):
            frame.reserve(3, **kwargs)
        with pytest.raises(exc, match=match):
            frame.reserve_indexed(3, 3, **kwargs)
        assert frame.vertex_count == 0 and frame.index_count == 0


def test_bad_stager_arguments_are_named(ctx: Any, progs: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"ctx must be a moderngl.Context; got NoneType None"):
        sb.Stager(None, LAYOUT, progs["tri"])
    with pytest.raises(TypeError, match=r"program must be a moderngl.Program.*NoneType None"):
        sb.Stager(ctx, LAYOUT, None)
    with pytest.raises(ValueError, match=r"mode 99 is not a GL draw mode"):
        sb.Stager(ctx, LAYOUT, progs["tri"], mode=99)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.reserve(3)["in_pos"] = 0.0
        with pytest.raises(ValueError, match=r"mode 12345 is not a GL draw mode"):
            stager.render(mode=12345)
        with pytest.raises(ValueError, match=r"unknown strategy 'fastest'; expected one of ring"):
            stager.strategy = "fastest"
        # The default: "mapped" on this GL 4.5 context, unless mapping is switched off.
        mapping_off = os.environ.get("STAGEBUF_NO_MAPPED", "") not in ("", "0")
        assert stager.strategy == ("ring" if mapping_off else "mapped")
        with pytest.raises(ValueError, match=r"mode 7777 is not a GL draw mode"):
            stager.mode = 7777
        assert stager.mode == moderngl.TRIANGLES
        stager.render()  # still usable


def test_a_program_that_reads_no_attributes_is_refused(ctx: Any) -> None:
    bare = ctx.program(
        vertex_shader="""#version 330 core
        void main() { gl_Position = vec4(float(gl_VertexID) * 0.1, 0.0, 0.0, 1.0); }""",
        fragment_shader=DOT_FS.replace("in vec4 v_color;", "vec4 v_color = vec4(1.0);"),
    )
    with pytest.raises(sb.LayoutMismatchError, match="Stager: The program reads no vertex attr"):
        sb.Stager(ctx, LAYOUT, bare)  # refused where it is named, not at the first reserve
    with sb.Stager(ctx, LAYOUT, load_program(ctx)) as stager, stager.frame() as frame:
        with pytest.raises(sb.LayoutMismatchError, match="reserve: The program reads no vertex"):
            frame.reserve(3, program=bare)
        assert frame.vertex_count == 0
    bare.release()


# -- program, strategy and context changes ------------------------------------------


def test_assigning_a_program_takes_full_effect(ctx: Any, fbo: Any, progs: dict[str, Any]) -> None:
    rng = np.random.default_rng(11)
    v = vertices(LAYOUT, 30, rng)
    tinted = ctx.program(vertex_shader=DOT_VS, fragment_shader=DOT_FS)
    tinted["u_tint"].value = (0.0, 1.0, 0.0, 1.0)
    tinted["u_size"].value = 1.0
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        images = []
        for k in range(6):
            if k == 2:
                stager.program = tinted
            with stager.frame() as frame:
                frame.reserve(30)[:] = v
            images.append(staged(fbo, stager))
        with pytest.raises(TypeError, match=r"program must be a moderngl\.Program"):
            stager.program = 42
        with pytest.raises(sb.LayoutMismatchError, match="in_pos"):
            stager.program = ctx.program(
                vertex_shader=DOT_VS.replace("in vec2 in_pos", "in ivec2 in_pos").replace(
                    "vec4(in_pos", "vec4(vec2(in_pos)"
                ),
                fragment_shader=DOT_FS,
            )
        assert stager.program is tinted  # refused: nothing changed
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, v, moderngl.TRIANGLES)
    old = ref.image()
    ref = Reference(ctx, fbo)
    ref.draw(tinted, LAYOUT, v, moderngl.TRIANGLES)
    new = ref.image()
    assert not (old == new).all()
    for k, img in enumerate(images):
        assert_same(img, old if k < 2 else new)
    tinted.release()


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
def test_changing_strategy_keeps_the_last_frame(
    ctx: Any, fbo: Any, progs: dict[str, Any], strategy: str
) -> None:
    rng = np.random.default_rng(12)
    v = vertices(LAYOUT, 12, rng)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        for _ in range(2):
            with stager.frame() as frame:
                frame.reserve(12)[:] = v
        before = staged(fbo, stager)
        stager.strategy = strategy
        assert (staged(fbo, stager) == before).all()
        for _ in range(4):
            with stager.frame() as frame:
                frame.reserve(12)[:] = v
            assert (staged(fbo, stager) == before).all()


def test_frame_and_render_use_the_stagers_context(
    ctx: Any, fbo: Any, progs: dict[str, Any]
) -> None:
    other = moderngl.create_context(standalone=True, backend="egl")
    other_buffer = other.buffer(b"\x07" * 64)
    rng = np.random.default_rng(13)
    v = vertices(LAYOUT, 9, rng)
    try:
        with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
            for _ in range(3):
                other.__enter__()  # another context is current while staging ...
                with stager.frame() as frame:
                    frame.reserve(9)[:] = v
            ctx.__enter__()
            fbo.clear(0.0, 0.0, 0.0, 1.0)
            other.__enter__()  # ... and while drawing
            before = current_native()
            stager.render()
            after = current_native()  # what was current is current again
            assert before is not None and after is not None
            assert after.context == before.context
            ctx.__enter__()
            got = grab(fbo)
            uploaded = np.frombuffer(stager.vertex_buffer.read(9 * LAYOUT.stride), LAYOUT.dtype)
            assert uploaded.tobytes() == v.tobytes()
        other.__enter__()
        assert other_buffer.read() == b"\x07" * 64  # nothing written into the other context
        assert other.error == "GL_NO_ERROR"
    finally:
        other_buffer.release()
        other.release()
        ctx.__enter__()
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, v, moderngl.TRIANGLES)
    assert_same(got, ref.image())


def test_render_mode_override_draws_each_range(ctx: Any, fbo: Any, progs: dict[str, Any]) -> None:
    rng = np.random.default_rng(14)
    a, b = vertices(LAYOUT, 6, rng), vertices(LAYOUT, 6, rng)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.reserve(6)[:] = a
            frame.reserve(6)[:] = b
        staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 1
        got = staged(fbo, stager, mode=moderngl.LINE_STRIP)
        assert stager.stats.draw_calls_last_render == 2
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, a, moderngl.LINE_STRIP)
    ref.draw(progs["tri"], LAYOUT, b, moderngl.LINE_STRIP)
    assert_same(got, ref.image())


# -- meshes and instancing -------------------------------------------------------


def sprite_records(n: int, rng: np.random.Generator) -> Any:
    r = np.zeros(n, INSTANCE.dtype)
    r["in_offset"] = rng.uniform(-0.85, 0.85, (n, 2)).astype(np.float32)
    r["in_color"] = rng.integers(0, 256, (n, 4), dtype=np.uint8)
    r["in_color"][:, 3] = 255
    return r


MESH_LAYOUT = sb.VertexLayout(in_vert="2f")


def quad_mesh(ctx: Any, *, indexed: bool = False) -> sb.Mesh:
    verts = np.zeros(4, MESH_LAYOUT.dtype)
    if indexed:
        verts["in_vert"] = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        return sb.Mesh(ctx, verts, QUAD_INDICES.astype(np.uint16))
    verts["in_vert"] = QUAD_VERTS
    return sb.Mesh(ctx, verts, mode=moderngl.TRIANGLE_STRIP)


@pytest.mark.parametrize("indexed", [False, True])
def test_instances_match_plain_moderngl_instancing(
    ctx: Any, fbo: Any, progs: dict[str, Any], indexed: bool
) -> None:
    rng = np.random.default_rng(15)
    a, b, c = sprite_records(20, rng), sprite_records(10, rng), sprite_records(5, rng)
    tris = vertices(LAYOUT, 6, rng)
    mesh = quad_mesh(ctx, indexed=indexed)
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager:
        for _ in range(4):
            with stager.frame() as frame:
                frame.reserve(6, layout=LAYOUT, program=progs["tri"])[:] = tris
                frame.reserve_instances(mesh, 20)[:] = a
                frame.reserve_instances(mesh, 10)[:] = b  # merged with the one before
                frame.reserve_instances(mesh, 5, uniforms={"u_scale": 0.05})[:] = c
            got = staged(fbo, stager)
            assert stager.stats.draw_calls_last_render == 3
        made = stager.stats.vertex_arrays_created
        for _ in range(3):
            with stager.frame() as frame:
                frame.reserve(6, layout=LAYOUT, program=progs["tri"])[:] = tris
                frame.reserve_instances(mesh, 30)[:] = np.concatenate([a, b])
            stager.render()
        assert stager.stats.vertex_arrays_created == made
    assert progs["sprite"]["u_scale"].value == pytest.approx(0.1)  # the program's own, back
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, tris, moderngl.TRIANGLES)
    mverts = np.frombuffer(mesh.vertex_buffer.read(), MESH_LAYOUT.dtype)
    midx = np.frombuffer(mesh.index_buffer.read(), np.uint16) if indexed else None
    for recs, scale in ((np.concatenate([a, b]), 0.1), (c, 0.05)):
        ref.draw(
            progs["sprite"],
            MESH_LAYOUT,
            mverts,
            mesh.mode,
            indices=midx,
            uniforms={"u_scale": scale},
            instances=(INSTANCE, recs),
        )
    assert_same(got, ref.image())
    mesh.release()


def test_retained_mesh_draws_in_order(ctx: Any, fbo: Any, progs: dict[str, Any]) -> None:
    rng = np.random.default_rng(16)
    under, over = vertices(LAYOUT, 30, rng), vertices(LAYOUT, 30, rng)
    big = np.zeros(4, LAYOUT.dtype)
    big["in_pos"] = QUAD_VERTS * 0.6
    big["in_color"] = (40, 200, 90, 255)
    mesh = sb.Mesh(ctx, big, mode=moderngl.TRIANGLE_STRIP, layout=LAYOUT)
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.reserve(30)[:] = under
            frame.draw(mesh)
            frame.reserve(30)[:] = over
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 3
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], LAYOUT, under, moderngl.TRIANGLES)
    ref.draw(progs["tri"], LAYOUT, big, moderngl.TRIANGLE_STRIP)
    ref.draw(progs["tri"], LAYOUT, over, moderngl.TRIANGLES)
    assert_same(got, ref.image())
    mesh.release()
    with pytest.raises(sb.StagerError, match="the mesh was released"):
        stager_again = sb.Stager(ctx, LAYOUT, progs["tri"])
        try:
            with stager_again.frame() as frame:
                frame.draw(mesh)
        finally:
            stager_again.release()


def test_instanced_program_missing_an_attribute_lists_three_sides(
    ctx: Any, progs: dict[str, Any]
) -> None:
    mesh = quad_mesh(ctx)
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager, stager.frame() as frame:
        with pytest.raises(
            sb.LayoutMismatchError,
            match=r"(?s)program attributes: .*in_vert.*mesh layout: .*in_vert.*instance layout: "
            r".*in_offset.*in_color: the program reads it",
        ):
            frame.reserve_instances(mesh, 3, layout=sb.VertexLayout(in_offset="2f"))
        assert frame.vertex_count == 0
    mesh.release()


def test_mesh_checks_its_input(ctx: Any) -> None:
    with pytest.raises(TypeError, match="carry no attribute names"):
        sb.Mesh(ctx, QUAD_VERTS)
    with pytest.raises(ValueError, match=r"index 9 is out of range for 4 vertices"):
        sb.Mesh(ctx, QUAD_VERTS, [0, 1, 9], layout=MESH_LAYOUT)
    with pytest.raises(ValueError, match=r"20 bytes, not a whole number of 8-byte vertices"):
        sb.Mesh(ctx, np.zeros(20, np.uint8), layout=MESH_LAYOUT)
    with pytest.raises(ValueError, match="mode 77 is not a GL draw mode"):
        sb.Mesh(ctx, QUAD_VERTS, layout=MESH_LAYOUT, mode=77)
    mesh = sb.Mesh(ctx, QUAD_VERTS, [0, 1, 2, 2, 1, 3], layout=MESH_LAYOUT)
    assert (mesh.vertex_count, mesh.index_count, mesh.index_dtype) == (4, 6, np.uint32)
    mesh.release()
    mesh.release()
    assert mesh.released


# -- found by trying to break it ---------------------------------------------------


def test_uniform_values_are_copied_when_reserved(ctx: Any, fbo: Any, progs: dict[str, Any]) -> None:
    rng = np.random.default_rng(21)
    a, b = vertices(LAYOUT, 9, rng), vertices(LAYOUT, 9, rng)
    tint = [1.0, 0.0, 0.0, 1.0]
    tint_array = np.array([0.0, 0.0, 1.0, 1.0])
    with sb.Stager(ctx, LAYOUT, progs["dot"]) as stager:
        with stager.frame() as frame:
            frame.reserve(9, uniforms={"u_tint": tint, "u_size": 1.0})[:] = a
            tint[0], tint[1] = 0.0, 1.0  # meant for the next range only
            frame.reserve(9, uniforms={"u_tint": tint_array, "u_size": 1.0})[:] = b
            tint_array[:] = 0.5  # changes nothing already reserved
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == 2
    ref = Reference(ctx, fbo)
    ref.draw(progs["dot"], LAYOUT, a, moderngl.TRIANGLES, uniforms={"u_tint": (1, 0, 0, 1)})
    ref.draw(progs["dot"], LAYOUT, b, moderngl.TRIANGLES, uniforms={"u_tint": (0, 0, 1, 1)})
    progs["dot"]["u_tint"].value = (1.0, 1.0, 1.0, 1.0)
    assert_same(got, ref.image())


@pytest.mark.parametrize("ranges", [2, 40])  # the per-range and the vectorised index check
def test_a_restart_index_splits_merged_ranges(
    ctx: Any, fbo: Any, progs: dict[str, Any], ranges: int
) -> None:
    pos = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], np.float32) * 0.9
    v = np.zeros(4, LAYOUT.dtype)
    v["in_pos"] = pos
    v["in_color"] = (200, 100, 50, 255)
    patterns = ([0xFFFFFFFF, 0, 1, 2, 3, 3], [0, 1, 2, 1, 3, 2])
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            for k in range(ranges):
                verts, idx = frame.reserve_indexed(4, 6)
                verts[:] = v
                idx[:] = patterns[k % 2]
        got = staged(fbo, stager)
        assert stager.stats.draw_calls_last_render == ranges
    ref = Reference(ctx, fbo)
    for k in range(ranges):
        ref.draw(
            progs["tri"],
            LAYOUT,
            v,
            moderngl.TRIANGLES,
            indices=np.array(patterns[k % 2], np.uint32),
        )
    assert_same(got, ref.image())


FLOAT_COLORS = sb.VertexLayout(in_pos="2f", in_color="4f")  # nothing normalised


@pytest.mark.parametrize(
    ("layout", "gl"), [(LAYOUT, 450), (FLOAT_COLORS, 450), (FLOAT_COLORS, 330)]
)
def test_render_mode_override_draws_rebased_ranges_one_by_one(
    ctx: Any, fbo: Any, progs: dict[str, Any], layout: sb.VertexLayout, gl: int
) -> None:
    rng = np.random.default_rng(22)
    quads = [vertices(layout, 4, rng) for _ in range(5)]
    quad_idx = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    with sb.Stager(ctx, layout, progs["tri"], index_dtype="u2") as stager:
        # GL 3.3: no indirect draws, the vertex array is re-pointed (VertexArray.bind).
        old_gl(stager, base_vertex=gl >= 420, base_instance=gl >= 420)
        with stager.frame() as frame:
            frame.reserve(3)[:] = quads[0][:3]  # a plain range at the start
            frame.reserve(70_000)["in_pos"] = 5.0  # pushes the next ranges past 65535
            for q in quads:
                verts, idx = frame.reserve_indexed(4, 6)
                verts[:] = q
                idx[:] = quad_idx
            frame.reserve_indexed(4, 0)  # an empty indexed range: nothing drawn
        staged(fbo, stager)
        got = staged(fbo, stager, mode=moderngl.LINE_STRIP)
    ref = Reference(ctx, fbo)
    ref.draw(progs["tri"], layout, quads[0][:3], moderngl.LINE_STRIP)
    for q in quads:
        ref.draw(progs["tri"], layout, q, moderngl.LINE_STRIP, indices=quad_idx)
    assert_same(got, ref.image())


def test_old_gl_refuses_normalised_rebased_indices(ctx: Any, progs: dict[str, Any]) -> None:
    with sb.Stager(ctx, LAYOUT, progs["tri"], index_dtype="u2") as stager:
        old_gl(stager, base_vertex=False, base_instance=False)  # as on a GL 3.3 context
        with stager.frame() as frame:
            frame.reserve(70_000)["in_pos"] = 5.0
            with pytest.raises(sb.StagerError, match=r"base-vertex draw \(GL 4.0"):
                frame.reserve_indexed(4, 6)
            assert frame.vertex_count == 70_000 and frame.index_count == 0
            frame.reserve(3)["in_pos"] = 0.0


def test_a_per_instance_default_layout_is_refused_by_reserve(
    ctx: Any, progs: dict[str, Any]
) -> None:
    per_instance = sb.VertexLayout(in_pos="2f/i", in_color="4f1/i")
    with sb.Stager(ctx, per_instance, progs["tri"]) as stager, stager.frame() as frame:
        with pytest.raises(ValueError, match=r"per instance \(/i\).*reserve_instances"):
            frame.reserve(3)
        with pytest.raises(ValueError, match=r"per instance \(/i\).*reserve_instances"):
            frame.reserve_indexed(3, 3)
        assert frame.vertex_count == 0


def test_defaults_cannot_change_inside_a_frame(ctx: Any, progs: dict[str, Any]) -> None:
    with sb.Stager(ctx, LAYOUT, progs["tri"]) as stager:
        with stager.frame() as frame:
            frame.reserve(3)["in_pos"] = 0.0
            with pytest.raises(
                sb.StagerError, match=r"Stager.program cannot change inside an open"
            ):
                stager.program = progs["dot"]
            with pytest.raises(sb.StagerError, match=r"Stager.mode cannot change inside an open"):
                stager.mode = moderngl.POINTS
            frame.reserve(3, mode=moderngl.TRIANGLES)["in_pos"] = 0.0
        assert stager.program is progs["tri"] and stager.mode == moderngl.TRIANGLES
        assert stager.draw_list == [("plain", moderngl.TRIANGLES, 0, 6)]  # one state
        with pytest.raises(AttributeError):
            stager.layout = sb.VertexLayout(in_pos="2f")  # type: ignore[misc]


def test_objects_of_another_context_are_refused(ctx: Any, progs: dict[str, Any]) -> None:
    other = moderngl.create_context(standalone=True, backend="egl")
    try:
        verts = np.zeros(4, MESH_LAYOUT.dtype)
        verts["in_vert"] = QUAD_VERTS
        foreign = sb.Mesh(other, verts)
        tex = other.texture((1, 1), 4)
        mine = sb.Mesh(ctx, verts)  # made while `other` is current: still on ctx
        ctx.__enter__()
        assert np.frombuffer(mine.vertex_buffer.read(), np.float32).tolist() == [
            -1,
            -1,
            1,
            -1,
            -1,
            1,
            1,
            1,
        ]
        with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager:
            frame = stager.frame().__enter__()
            with pytest.raises(ValueError, match="mesh belongs to another moderngl context"):
                frame.reserve_instances(foreign, 2)
            with pytest.raises(ValueError, match="mesh belongs to another moderngl context"):
                frame.draw(foreign, program=progs["tri"])
            with pytest.raises(ValueError, match="texture for unit 0 belongs to another"):
                frame.reserve_instances(mine, 2, textures={0: tex})
            frame.reserve_instances(mine, 2)["in_offset"] = 0.0  # the frame goes on
            frame.__exit__(None, None, None)
            stager.render()
        mine.release()
        other.__enter__()
        foreign.release()
        tex.release()
    finally:
        other.release()
        ctx.__enter__()


@pytest.mark.parametrize(
    ("uniforms", "match"),
    [
        ({"u_size": "abc"}, r"uniform 'u_size' takes a number; got 'abc'"),
        ({"u_size": None}, r"uniform 'u_size' takes a number; got None"),
        ({"u_tint": (1, 2)}, r"uniform 'u_tint' takes 4 numbers; got \(1, 2\)"),
        ({"u_tint": [[1, 2], [3]]}, r"uniform 'u_tint' takes 4 numbers"),
    ],
)
def test_bad_uniform_values_are_refused_when_reserved(
    ctx: Any, progs: dict[str, Any], uniforms: dict[str, Any], match: str
) -> None:
    with sb.Stager(ctx, LAYOUT, progs["dot"]) as stager:
        with stager.frame() as frame:
            with pytest.raises(ValueError, match=match):
                frame.reserve(3, uniforms=uniforms)
            frame.reserve(3, uniforms={"u_size": np.float32(2.0)})["in_pos"] = 0.0
        stager.render()  # the frame draws


def test_texture_units_are_checked_against_the_context(
    ctx: Any, progs: dict[str, Any], texture: Any
) -> None:
    units = ctx.max_texture_units
    with sb.Stager(ctx, HUD, progs["hud"]) as stager:
        with stager.frame() as frame:
            with pytest.raises(ValueError, match=rf"texture unit {units} is not a unit number"):
                frame.reserve(3, textures={units: texture})
            frame.reserve(3, textures={np.int64(0): texture}, mode=np.int32(4))["in_pos"] = 0.0
        assert stager.draw_list == [("plain", moderngl.TRIANGLES, 0, 3)]


def test_mesh_converts_numbers_and_refuses_what_would_change(ctx: Any) -> None:
    mesh = sb.Mesh(ctx, [(-1, -1), (1, -1), (-1, 1), (1, 1)], layout=MESH_LAYOUT)  # int64
    assert np.frombuffer(mesh.vertex_buffer.read(), np.float32).tolist() == [
        -1,
        -1,
        1,
        -1,
        -1,
        1,
        1,
        1,
    ]
    mesh.release()
    with pytest.raises(ValueError, match=r"values of shape \(3,\) are not records of 2 comp"):
        sb.Mesh(ctx, [0, 1, 2], layout=MESH_LAYOUT)
    with pytest.raises(
        TypeError, match=r"values of float64 would be truncated into attribute 'in_color'"
    ):
        sb.Mesh(ctx, np.array([[0.0, 0.0, 0.5, 0.5, 0.5, 1.0]]), layout=LAYOUT)
    with pytest.raises(ValueError, match=r"value 256 does not fit attribute 'in_color' of uint8"):
        sb.Mesh(ctx, np.array([[0, 0, 256, 0, 0, 255]]), layout=LAYOUT)
    with pytest.raises(TypeError, match=r"fields \['x'\] are not the vertex array's \['in_vert'\]"):
        sb.Mesh(ctx, np.zeros(3, [("x", np.float32, 2)]), layout=MESH_LAYOUT)


def test_released_meshes_and_programs_do_not_pile_up(ctx: Any, progs: dict[str, Any]) -> None:
    verts = np.zeros(4, MESH_LAYOUT.dtype)
    verts["in_vert"] = QUAD_VERTS
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager:
        for _ in range(100):
            mesh = sb.Mesh(ctx, verts)
            program = ctx.program(vertex_shader=SPRITE_VS, fragment_shader=DOT_FS)
            alone = ctx.program(vertex_shader=MESH_VS, fragment_shader=DOT_FS)
            with stager.frame() as frame:
                frame.reserve_instances(mesh, 2, program=program)["in_offset"] = 0.0
                frame.draw(mesh, program=alone)
            stager.render()
            mesh.release()
            program.release()
            alone.release()
        assert max(len(slot.vaos) for slot in stager._uploader.slots) <= 33
        assert len(stager._renderer.mesh_vaos) <= 33
        assert len(stager._programs) <= 40


def test_old_gl_refuses_normalised_instances_past_the_start(
    ctx: Any, progs: dict[str, Any]
) -> None:
    mesh = quad_mesh(ctx)
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager:
        old_gl(stager, base_vertex=True, base_instance=False)  # as on a GL 4.1 context
        with stager.frame() as frame:
            frame.reserve_instances(mesh, 2)["in_offset"] = 0.0  # at the start: fine
            with pytest.raises(sb.StagerError, match=r"base-instance draw \(GL 4.2"):
                frame.reserve_instances(mesh, 2, uniforms={"u_scale": 0.5})
            assert frame.vertex_count == 2
        stager.render()
    mesh.release()


def test_draw_names_the_default_program_it_tried(ctx: Any, progs: dict[str, Any]) -> None:
    mesh = quad_mesh(ctx)
    with sb.Stager(ctx, INSTANCE, progs["sprite"]) as stager, stager.frame() as frame:
        with pytest.raises(
            sb.LayoutMismatchError,
            match=r"(?s)draw: the stager's default program does not read this mesh.*"
            r"frame.draw\(mesh, program=\.\.\.\).*in_offset",
        ):
            frame.draw(mesh)
        alone = ctx.program(vertex_shader=MESH_VS, fragment_shader=DOT_FS)
        frame.draw(mesh, program=alone)  # the program that draws it: fine
    mesh.release()
    alone.release()
