"""Layers: draws run in ascending layer, in reserve order within one, and merge only
within a layer; compared with plain moderngl drawing in that order."""

from __future__ import annotations

from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)


def quad(x0: float, y0: float, x1: float, y1: float, color: tuple[int, ...]) -> Any:
    """Two triangles covering [x0, x1] x [y0, y1] in clip space."""
    verts = np.zeros(6, LAYOUT.dtype)
    verts["in_pos"] = [(x0, y0), (x1, y0), (x0, y1), (x1, y0), (x1, y1), (x0, y1)]
    verts["in_color"] = color
    return verts


def grab(fbo: Any) -> Any:
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def reference(ctx: Any, fbo: Any, program: Any, quads: list[Any]) -> Any:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    for verts in quads:
        vbo = ctx.buffer(verts.tobytes())
        vao = ctx.vertex_array(program, [(vbo, LAYOUT.format, *LAYOUT.names)])
        vao.render(moderngl.TRIANGLES)
        vao.release()
        vbo.release()
    return grab(fbo)


def test_overlapping_ranges_draw_in_layer_order(ctx: Any, fbo: Any, program: Any) -> None:
    back = quad(-0.8, -0.8, 0.4, 0.4, RED)
    middle = quad(-0.4, -0.4, 0.6, 0.6, GREEN)
    front = quad(-0.2, -0.9, 0.9, 0.2, BLUE)
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:  # reserved front first, drawn back first
            frame.reserve(6, layer=10)[:] = front
            frame.reserve(6, layer=-3)[:] = back
            frame.reserve(6)[:] = middle
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        got = grab(fbo)
        assert [first for _, _, first, _ in stager.draw_list] == [6, 12, 0]
        # The ranges keep reserve order: (first, count) of each reserve.
        assert stager.ranges == [(0, 6), (6, 6), (12, 6)]
    want = reference(ctx, fbo, program, [back, middle, front])
    assert np.array_equal(got, want)
    in_reserve_order = reference(ctx, fbo, program, [front, back, middle])
    assert not np.array_equal(got, in_reserve_order)  # the order shows in the pixels


def test_ranges_merge_within_a_layer_only(ctx: Any, fbo: Any, program: Any) -> None:
    a, b, c = quad(-1, -1, 0, 0, RED), quad(0, 0, 1, 1, GREEN), quad(-1, 0, 0, 1, BLUE)
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            frame.reserve(6, layer=1)[:] = a
            frame.reserve(6, layer=1)[:] = b  # back to back, same layer: merged
            frame.reserve(6, layer=0)[:] = c  # same state, other layer: its own draw
        assert stager.draw_list == [
            ("plain", moderngl.TRIANGLES, 12, 6),
            ("plain", moderngl.TRIANGLES, 0, 12),
        ]
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        assert stager.stats.draw_calls_last_render == 2
        got = grab(fbo)
    assert np.array_equal(got, reference(ctx, fbo, program, [c, a, b]))


def test_a_layer_keeps_merging_after_another_layer_came_between(ctx: Any, program: Any) -> None:
    mesh = sb.Mesh(ctx, quad(-1, -1, 1, 1, RED), layout=LAYOUT)
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            frame.reserve(6, layer=0)[:] = 0
            frame.draw(mesh, layer=5)  # takes no vertices
            frame.reserve(6, layer=0)[:] = 0  # follows the first range: merges into it
        assert [(kind, count) for kind, _, _, count in stager.draw_list] == [
            ("plain", 12),
            ("mesh", 6),
        ]
    mesh.release()


def test_every_reserve_and_draw_takes_a_layer(ctx: Any, fbo: Any, program: Any) -> None:
    mesh = sb.Mesh(ctx, quad(-1, -1, 1, 1, RED), layout=LAYOUT)
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            verts, idx = frame.reserve_indexed(4, 6, layer=3)
            verts["in_pos"] = [(-1, -1), (1, -1), (-1, 1), (1, 1)]
            verts["in_color"] = GREEN
            idx[:] = [0, 1, 2, 1, 3, 2]
            frame.draw(mesh, layer=np.int64(1))  # numpy ints are ints
        assert [kind for kind, *_ in stager.draw_list] == ["mesh", "indexed"]
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        assert tuple(grab(fbo)[SIZE // 2, SIZE // 2]) == GREEN  # layer 3 on top
    mesh.release()


@pytest.mark.parametrize("layer", ["1", 1.0, True, None, [1]])
def test_a_layer_that_is_not_an_int_is_refused(ctx: Any, program: Any, layer: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            frame.reserve(3)[:] = 0
            with pytest.raises(TypeError, match=r"reserve: layer must be an int"):
                frame.reserve(3, layer=layer)
            with pytest.raises(TypeError, match=r"reserve_indexed: layer must be an int"):
                frame.reserve_indexed(3, 3, layer=layer)
            assert frame.vertex_count == 3 and frame.index_count == 0
        assert stager.draw_list == [("plain", moderngl.TRIANGLES, 0, 3)]
