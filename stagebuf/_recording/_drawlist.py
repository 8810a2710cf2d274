"""The draw list's data: one draw's state, one draw call, the order of layers, and
the undoing of merges that a restart index makes wrong. Plain data: no GL here."""

from __future__ import annotations

from typing import Any

from .._layout import VertexLayout
from ._indices import IndexedRange
from ._modes import MERGEABLE

__all__ = [
    "INDEXED",
    "INSTANCED",
    "KIND_NAMES",
    "MESH",
    "PLAIN",
    "STREAMED",
    "Draw",
    "State",
    "equal",
    "in_layer_order",
    "split_at_restarts",
]

# Draw kinds: plain vertex ranges, indexed ranges, instances of a mesh, a mesh, and
# a mesh drawn with per-vertex attributes streamed beside its own (reserve_attributes).
PLAIN, INDEXED, INSTANCED, MESH, STREAMED = range(5)
KIND_NAMES = ("plain", "indexed", "instanced", "mesh", "streamed")


class State:
    """One draw's state: mode, program, layout, uniform values and textures."""

    __slots__ = ("layout", "merge", "mode", "program", "textures", "uniforms")

    def __init__(
        self,
        mode: int,
        program: Any,
        layout: VertexLayout,
        uniforms: dict[str, Any] | None,
        textures: dict[int, Any] | None,
    ) -> None:
        self.mode = mode
        self.program = program
        self.layout = layout
        self.uniforms = uniforms
        self.textures = textures
        self.merge = MERGEABLE.get(mode, 0)  # vertices per primitive, if draws can merge

    def same(self, other: State) -> bool:
        """Equal state: a draw of one is a draw of the other."""
        return self is other or (
            self.mode == other.mode
            and self.program is other.program
            and (self.layout is other.layout or self.layout == other.layout)
            and equal(self.uniforms, other.uniforms)
            and equal(self.textures, other.textures)
        )


def equal(a: dict[Any, Any] | None, b: dict[Any, Any] | None) -> bool:
    """Equal uniform or texture maps (maps holding numpy arrays compare unequal)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except ValueError:  # numpy arrays as values: not comparable as one truth value
        return False


class Draw:
    """One draw call: ``first``/``count`` in vertices, indices or instances by kind.

    ``base`` is the base vertex of an indexed draw (its vertex array is bound
    there) or the mesh of an instanced, mesh or streamed draw (whose ``first``
    is its first streamed record). ``ranges`` counts the reserves merged into
    it, from ``range_start`` in the frame's range list. Draws run in ascending
    ``layer``, in reserve order within one.
    """

    __slots__ = (
        "base",
        "command",
        "count",
        "first",
        "kind",
        "layer",
        "range_start",
        "ranges",
        "state",
    )

    def __init__(
        self,
        kind: int,
        state: State,
        first: int,
        count: int,
        base: Any,
        range_start: int,
        layer: int = 0,
    ) -> None:
        self.kind = kind
        self.state = state
        self.first = first
        self.count = count
        self.base = base
        self.range_start = range_start
        self.layer = layer
        self.ranges = 1
        self.command = -1  # its indirect draw command in the index buffer, when it has one


def in_layer_order(draws: list[Draw]) -> list[Draw]:
    """``draws`` in ascending layer, reserve order kept within a layer (a stable sort)."""
    return sorted(draws, key=_layer)


def _layer(draw: Draw) -> int:
    return draw.layer


def split_at_restarts(
    draws: list[Draw], indexed: list[IndexedRange], ranges: list[tuple[int, int]]
) -> list[Draw]:
    """``draws`` with merged indexed ranges that hold the restart index drawn one by one.

    A restart resets primitive assembly, so indices left over before it would
    join the next range's primitives in a merged draw. Whether a range holds one
    is known only once its indices are written, so merging is undone here.
    """
    split = {id(r.draw) for r in indexed if r.restarts}
    if not split:
        return draws
    out: list[Draw] = []
    for draw in draws:
        if id(draw) not in split or draw.ranges == 1:
            out.append(draw)
            continue
        for j in range(draw.range_start, draw.range_start + draw.ranges):
            first, count = ranges[j]
            out.append(Draw(INDEXED, draw.state, first, count, draw.base, j, draw.layer))
    return out
