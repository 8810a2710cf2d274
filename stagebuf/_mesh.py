"""Retained geometry: a mesh uploaded once and drawn many times, alone or instanced."""

from __future__ import annotations

from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from ._errors import StagerError
from ._glstate import check_gl, check_mode, is_released, make_current
from ._indices import INDEX_DTYPES
from ._layout import VertexLayout

__all__ = ["Mesh"]


class Mesh:
    """Vertices (and optional indices) uploaded once to GL buffers of their own.

    ``vertices`` is a structured ndarray, whose dtype gives the per-vertex layout
    (``VertexLayout.from_dtype``; a ``u1`` field feeds a float attribute only as
    an unnormalised integer, so pass ``layout=`` to get ``f1``), or any
    C-contiguous array whose bytes hold whole vertices of ``layout``.
    ``indices`` (optional) are integers below the vertex count, or the restart
    index of their type; ``uint16``/``uint32`` arrays are kept as they are, other
    integer arrays become ``uint32``. ``mode`` is the draw mode used when a
    draw does not name one.

    Draw it with ``frame.draw(mesh)`` or, once per instance, with
    ``frame.reserve_instances(mesh, count)``. ``release()`` frees the GL
    buffers; a released mesh raises :class:`StagerError` when drawn.
    """

    __slots__ = (
        "ctx",
        "index_buffer",
        "index_count",
        "index_dtype",
        "layout",
        "mode",
        "vertex_buffer",
        "vertex_count",
    )

    def __init__(
        self,
        ctx: Any,
        vertices: npt.ArrayLike,
        indices: npt.ArrayLike | None = None,
        *,
        mode: int = moderngl.TRIANGLES,
        layout: VertexLayout | None = None,
    ) -> None:
        if not isinstance(ctx, moderngl.Context):
            raise TypeError(
                f"Mesh: ctx must be a moderngl.Context; got {type(ctx).__name__} {ctx!r}."
            )
        self.mode = check_mode(mode, "Mesh")
        self.layout, data = _vertex_data(vertices, layout)
        self.vertex_count = len(data)
        index_data = None if indices is None else _index_data(indices, self.vertex_count)
        self.index_dtype = None if index_data is None else index_data.dtype
        self.index_count = 0 if index_data is None else len(index_data)
        self.ctx = ctx
        self.vertex_buffer: Any = None
        self.index_buffer: Any = None
        try:
            make_current(ctx)  # the mesh's buffers belong to its context, whatever is current
            # Empty data still makes a buffer: GL buffers of size 0 are not allowed.
            self.vertex_buffer = ctx.buffer(data.tobytes() or b"\0" * 4)
            if index_data is not None:
                self.index_buffer = ctx.buffer(index_data.tobytes() or b"\0" * 4)
            check_gl(
                ctx,
                "Mesh: uploading {} bytes",
                data.nbytes + (0 if index_data is None else index_data.nbytes),
            )
        except BaseException:
            self.release()
            raise

    @property
    def released(self) -> bool:
        """True once :meth:`release` freed the mesh's GL buffers."""
        return self.vertex_buffer is None

    @property
    def draw_count(self) -> int:
        """What one draw of the mesh covers: its indices when it has some, else its vertices."""
        return self.index_count if self.index_dtype is not None else self.vertex_count

    def check_usable(self, where: str) -> None:
        if self.vertex_buffer is None:
            raise StagerError(f"{where}: the mesh was released; make a new Mesh to draw it.")

    def release(self) -> None:
        """Free the GL buffers (on the mesh's context; stagers drop the vertex arrays
        they built over them when their caches next fill). Safe to call twice."""
        if self.vertex_buffer is not None and not is_released(self.ctx):
            make_current(self.ctx)
        for buffer in (self.vertex_buffer, self.index_buffer):
            if buffer is not None:
                buffer.release()
        self.vertex_buffer = self.index_buffer = None

    def __repr__(self) -> str:
        state = "released" if self.released else f"{self.vertex_count} vertices"
        if self.index_dtype is not None:
            state += f", {self.index_count} {self.index_dtype} indices"
        return f"Mesh({state}, layout={self.layout!r})"


def _vertex_data(vertices: npt.ArrayLike, layout: VertexLayout | None) -> tuple[VertexLayout, Any]:
    """The vertices as a structured array of the layout's dtype, checked."""
    array = np.asarray(vertices)
    if layout is None:
        if array.dtype.fields is None:
            raise TypeError(
                f"Mesh: vertices of dtype {array.dtype} carry no attribute names; pass a "
                f"structured array or layout=VertexLayout(...)."
            )
        layout = VertexLayout.from_dtype(array.dtype)
    elif not isinstance(layout, VertexLayout):
        raise TypeError(
            f"Mesh: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
        )
    if layout.usage != "v":
        raise ValueError(
            f"Mesh: the layout's usage is {layout.usage!r}; a mesh holds per-vertex data "
            f"(usage 'v'). Per-instance data goes to frame.reserve_instances(mesh, count)."
        )
    if array.dtype == layout.dtype or (array.dtype == np.uint8 and array.ndim == 1):
        # Records of the layout itself, or raw bytes of whole vertices.
        if array.nbytes % layout.stride:
            raise ValueError(
                f"Mesh: the vertices hold {array.nbytes} bytes, not a whole number of "
                f"{layout.stride}-byte vertices of {layout!r}."
            )
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return layout, flat.view(layout.dtype)
    out = (
        _from_fields(array, layout)
        if array.dtype.fields is not None
        else _from_columns(array, layout)
    )
    return layout, out


def _from_fields(array: Any, layout: VertexLayout) -> Any:
    """Records with the layout's field names (other types or offsets): copied field by field."""
    names = set(array.dtype.names)
    if names != set(layout.names):
        raise TypeError(
            f"Mesh: the vertices' fields {sorted(names)} are not the layout's "
            f"{sorted(layout.names)}."
        )
    out = np.zeros(array.size, layout.dtype)
    for name in layout.names:
        _copy_checked(array[name].reshape(array.size, -1), out, name, layout)
    return out


def _from_columns(array: Any, layout: VertexLayout) -> Any:
    """A plain numeric array of all components per vertex, in the layout's order."""
    width = sum(a.components for a in layout.attributes)
    if array.ndim == 0 or array.dtype.kind not in "biuf" or array.shape[-1] != width:
        raise TypeError(
            f"Mesh: vertices of dtype {array.dtype} and shape {array.shape} do not fit "
            f"{layout!r}: pass a structured array of its dtype, raw uint8 bytes, or numbers "
            f"with {width} components per vertex (the last axis)."
        )
    rows = array.reshape(-1, width)
    out = np.zeros(len(rows), layout.dtype)
    column = 0
    for attr in layout.attributes:
        _copy_checked(rows[:, column : column + attr.components], out, attr.name, layout)
        column += attr.components
    return out


def _copy_checked(values: Any, out: Any, name: str, layout: VertexLayout) -> None:
    """Copy one attribute's values, refusing a cast that would change them."""
    target = out.dtype.fields[name][0].base
    integers = values.dtype.kind in "biu" and target.kind in "iu"  # the range check decides
    if not integers and not np.can_cast(values.dtype, target, "same_kind"):
        raise TypeError(
            f"Mesh: attribute {name!r} of {layout!r} holds {target}; values of "
            f"{values.dtype} would lose their fraction or sign."
        )
    if target.kind in "iu" and values.size:
        info = np.iinfo(target)
        low, high = values.min(), values.max()
        if low < info.min or high > info.max:
            raise ValueError(
                f"Mesh: attribute {name!r} holds {target} ({info.min}..{info.max}); got "
                f"values from {low} to {high}."
            )
    out[name] = values.reshape(out[name].shape)


def _index_data(indices: npt.ArrayLike, vertex_count: int) -> Any:
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"Mesh: indices must be integers; got an array of {array.dtype}.")
    array = array.reshape(-1)
    if array.dtype not in INDEX_DTYPES:
        if array.size and (array.min() < 0 or array.max() >= vertex_count):
            bad = array[(array < 0) | (array >= vertex_count)][0]
            raise ValueError(f"Mesh: index {bad} is out of range for {vertex_count} vertices.")
        return array.astype(np.uint32)
    restart = np.iinfo(array.dtype).max
    bad = array[(array >= vertex_count) & (array != restart)]
    if bad.size:
        raise ValueError(
            f"Mesh: index {bad[0]} is out of range for {vertex_count} vertices (the "
            f"restart index {restart} is the only other value allowed)."
        )
    return np.ascontiguousarray(array)
