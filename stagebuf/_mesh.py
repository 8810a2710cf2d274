"""Retained geometry: a mesh uploaded once (or read from a GL buffer the caller
owns) and drawn many times, alone or instanced."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ._backends import mesh_gl
from ._errors import StagerError
from ._layout import VertexLayout
from ._pack import copy_records, record_count
from ._recording._indices import INDEX_DTYPES, index_dtype
from ._recording._modes import TRIANGLES

__all__ = ["Mesh"]

_BYTES_LIKE = (bytes, bytearray, memoryview)


class Mesh:
    """Vertices (and optional indices) on GL buffers, drawn with ``frame.draw(mesh)``
    or, once per instance, with ``frame.reserve_instances(mesh, count)``.

    ``vertices`` takes one of these forms:

    - a structured ndarray: its dtype gives the per-vertex layout
      (``VertexLayout.from_dtype``; a ``u1`` field feeds a float attribute only
      as an unnormalised integer, so pass ``layout=`` to get ``f1``). With
      ``layout=``, its fields must carry the layout's names; each is converted.
    - numbers with ``layout=``: an array (or nested lists) of shape ``(n, C)``
      (``(..., C)`` too) or a flat ``(n * C,)``, where ``C`` counts the
      components of all attributes of one vertex in the layout's order. They are
      converted to the layout's types; a cast that would change a value (a
      fraction into an integer, a value out of an integer's range) raises.
    - raw bytes with ``layout=``: ``bytes``, ``bytearray``, a ``memoryview``
      (its bytes, whatever its format) or a 1-D ``uint8`` array, holding whole
      vertices of the layout. Copied as they are.
    - a ``moderngl.Buffer`` of ``ctx`` (a ``web.Buffer`` of a ``web.Context``), with
      ``layout=``: used as it is, not read
      back and not copied; the mesh draws ``buffer.size // layout.stride``
      vertices, and the size must be a whole number of vertices unless
      ``vertex_count=`` says how many of the buffer's first vertices to draw (a
      loader's buffer may be padded). ``mesh.release()`` leaves the Buffer alone:
      it stays the caller's, and must outlive the mesh's draws.

    ``indices`` (optional) are stored as ``uint16`` or ``uint32``
    (``index_dtype=`` ``"u2"``/``"u4"`` chooses; by default ``uint16`` and
    ``uint32`` arrays are kept as they are and other integer arrays become
    ``uint32``). Each index is below the vertex count, or the restart index: all
    bits set in a ``uint16``/``uint32`` array, ``-1`` in a signed one (numpy's
    way to write it; stored as all bits set of the stored type). Other negative
    indices raise. Raw bytes (as above) and a ``moderngl.Buffer`` of ``ctx`` need
    ``index_dtype=``. An index Buffer is used as it is, like a vertex Buffer:
    its indices are not read back, so not checked (one past the vertices draws
    undefined vertices); ``index_count=`` draws its first indices when it is
    padded.

    ``mode`` is the draw mode used when a draw does not name one.
    ``release()`` frees the GL buffers the mesh made; a released mesh, or one
    whose borrowed Buffer was released, raises :class:`StagerError` when drawn.
    Bad arguments raise ``TypeError`` (a wrong kind of value) or ``ValueError``
    (a wrong value) naming it, before any GL call.
    """

    __slots__ = (
        "_borrowed",
        "_gl",
        "_owned",
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
        vertices: Any,
        indices: Any = None,
        *,
        mode: int = TRIANGLES,
        layout: VertexLayout | None = None,
        index_dtype: Any = None,
        vertex_count: int | None = None,
        index_count: int | None = None,
    ) -> None:
        self._gl = gl = mesh_gl(ctx, "Mesh")  # the context's backend, as a mesh uses it
        if gl.is_released():
            raise ValueError("Mesh: ctx was released; make the mesh on a live context.")
        self.mode = gl.check_mode(mode, "Mesh")
        self._owned: tuple[Any, ...] = ()  # buffers the mesh made (and frees)
        self._borrowed: tuple[Any, ...] = ()  # Buffers the caller gave (never freed here)
        self.ctx = ctx
        self.vertex_buffer: Any = None
        self.index_buffer: Any = None

        # Check everything before the first GL call: bad input leaves nothing behind.
        data: Any = None
        if isinstance(vertices, gl.buffer_type):
            self.layout = _layout_for(layout, "a moderngl Buffer")
            self.vertex_count = _buffer_count(
                gl, vertices, ctx, self.layout.stride, vertex_count, "vertex", "vertices"
            )
        else:
            _only_for_buffers(vertex_count, "vertex_count")
            self.layout, data = _vertex_data(vertices, layout)
            self.vertex_count = len(data)

        index_data: Any = None
        if indices is None:
            if index_dtype is not None or index_count is not None:
                raise TypeError(
                    f"Mesh: index_dtype={index_dtype!r} / index_count={index_count!r} "
                    f"given without indices; pass indices= too, or neither."
                )
            self.index_dtype: np.dtype[Any] | None = None
            self.index_count = 0
        elif isinstance(indices, gl.buffer_type):
            if index_dtype is None:
                raise TypeError(
                    "Mesh: an index Buffer carries no index type; pass index_dtype='u2' "
                    "(np.uint16) or 'u4' (np.uint32)."
                )
            self.index_dtype = _index_type(index_dtype)
            self.index_count = _buffer_count(
                gl, indices, ctx, self.index_dtype.itemsize, index_count, "index", "indices"
            )
        else:
            _only_for_buffers(index_count, "index_count")
            index_data = _index_data(indices, self.vertex_count, index_dtype)
            self.index_dtype = index_data.dtype
            self.index_count = len(index_data)

        borrowed = []
        if data is None:
            self.vertex_buffer = vertices
            borrowed.append(vertices)
        if indices is not None and index_data is None:
            self.index_buffer = indices
            borrowed.append(indices)
        self._borrowed = tuple(borrowed)
        if data is None and index_data is None:
            return  # nothing to upload: no GL call, the current context stays as it was
        try:
            # The mesh's buffers belong to its context, whatever is current (and that
            # is current again afterwards).
            with gl.current():
                # Empty data still makes a buffer: GL buffers of size 0 are not allowed.
                if data is not None:
                    self.vertex_buffer = ctx.buffer(data.tobytes() or b"\0" * 4)
                    self._owned += (self.vertex_buffer,)
                if index_data is not None:
                    self.index_buffer = ctx.buffer(index_data.tobytes() or b"\0" * 4)
                    self._owned += (self.index_buffer,)
                gl.check_gl(
                    "Mesh: uploading {} bytes",
                    (0 if data is None else data.nbytes)
                    + (0 if index_data is None else index_data.nbytes),
                )
        except BaseException:
            self.release()
            raise

    @property
    def released(self) -> bool:
        """True once :meth:`release` ran, or once a Buffer the mesh borrows was
        released: either way it cannot draw."""
        return self.vertex_buffer is None or any(map(self._gl.released, self._borrowed))

    @property
    def draw_count(self) -> int:
        """What one draw of the mesh covers: its indices when it has some, else its vertices."""
        return self.index_count if self.index_dtype is not None else self.vertex_count

    def check_usable(self, where: str) -> None:
        """Raise :class:`StagerError` (prefixed with ``where``) if the mesh cannot draw."""
        if self.vertex_buffer is None:
            raise StagerError(f"{where}: the mesh was released; make a new Mesh to draw it.")
        for buffer in self._borrowed:
            if self._gl.released(buffer):
                which = "vertex" if buffer is self.vertex_buffer else "index"
                raise StagerError(
                    f"{where}: the mesh's {which} Buffer was released; a Mesh draws from "
                    f"the Buffer it was given without owning it, so keep the Buffer until "
                    f"the mesh is released."
                )

    def release(self) -> None:
        """Free the GL buffers the mesh made, on the mesh's context (stagers drop the
        vertex arrays they built over them when their caches next fill). A Buffer
        the mesh was given is left alone. Safe to call twice.

        Once the mesh's context was released, its buffers went with it: then no GL
        call is made (GL names are small integers reused by other contexts, so a
        deletion now would free another context's buffer of the same name); the
        mesh only drops its references. The current context afterwards is the
        mesh's when it had buffers to free, else unchanged."""
        owned, self._owned = self._owned, ()
        self.vertex_buffer = self.index_buffer = None
        self._borrowed = ()
        if not owned:
            return
        if self._gl.is_released():
            for buffer in owned:
                self._gl.abandon(buffer)  # no GL call: the name may be another context's now
            return
        with self._gl.current():
            for buffer in owned:
                buffer.release()

    def __repr__(self) -> str:
        state = "released" if self.released else f"{self.vertex_count} vertices"
        if self.index_dtype is not None:
            state += f", {self.index_count} {self.index_dtype} indices"
        return f"Mesh({state}, layout={self.layout!r})"


def _layout_for(layout: object, what: str) -> VertexLayout:
    """``layout``, checked, for data that carries no attribute names of its own."""
    if layout is None:
        raise TypeError(
            f"Mesh: {what} carries no attribute layout; pass layout=VertexLayout(...) "
            f"describing one vertex."
        )
    return _checked_layout(layout)


def _checked_layout(layout: object) -> VertexLayout:
    if not isinstance(layout, VertexLayout):
        raise TypeError(
            f"Mesh: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
        )
    if layout.usage != "v":
        raise ValueError(
            f"Mesh: the layout's usage is {layout.usage!r}; a mesh holds per-vertex data "
            f"(usage 'v'). Per-instance data goes to frame.reserve_instances(mesh, count)."
        )
    return layout


def _only_for_buffers(count: object, name: str) -> None:
    if count is not None:
        raise TypeError(
            f"Mesh: {name}={count!r} applies to a moderngl Buffer (whose size may include "
            f"padding); arrays and bytes are drawn whole, so slice them instead."
        )


def _buffer_count(
    gl: Any, buffer: Any, ctx: Any, itemsize: int, count: object, what: str, plural: str
) -> int:
    """How many ``itemsize``-byte items of a caller's Buffer the mesh draws, checked."""
    glo = getattr(buffer, "glo", getattr(buffer, "id", "?"))
    if gl.released(buffer):
        raise ValueError(f"Mesh: the {what} Buffer (glo {glo}) was released.")
    if buffer.ctx is not ctx:
        raise ValueError(
            f"Mesh: the {what} Buffer (glo {glo}) belongs to another moderngl context "
            f"than the mesh's ctx."
        )
    size = int(buffer.size)
    unit = f"{itemsize}-byte {'vertices' if what == 'vertex' else 'indices'}"
    if count is None:
        if size % itemsize:
            raise ValueError(
                f"Mesh: the {what} Buffer (glo {glo}) holds {size} bytes, not a whole "
                f"number of {unit}; pass {what}_count= to draw its first {plural} (a "
                f"padded buffer) or check the layout."
            )
        return size // itemsize
    number = _count(count, f"{what}_count")
    if number * itemsize > size:
        raise ValueError(
            f"Mesh: {what}_count={number} needs {number * itemsize} bytes of {unit}; "
            f"the {what} Buffer (glo {glo}) holds {size}."
        )
    return number


def _count(value: object, name: str) -> int:
    try:
        number = -1 if isinstance(value, bool) else operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = -1
    if number < 0:
        raise ValueError(f"Mesh: {name} must be an int >= 0; got {value!r}.")
    return number


def _raw_bytes(data: Any, what: str) -> Any:
    """A bytes-like object as a 1-D uint8 array (a view, not a copy)."""
    view = memoryview(data)
    if not view.c_contiguous:
        raise ValueError(f"Mesh: the {what} memoryview is not C-contiguous; pass contiguous bytes.")
    return np.frombuffer(view, np.uint8)  # its bytes, whatever the view's format


def _vertex_data(vertices: Any, layout: VertexLayout | None) -> tuple[VertexLayout, Any]:
    """The vertices as a structured array of the layout's dtype, checked."""
    if isinstance(vertices, _BYTES_LIKE):
        layout = _layout_for(layout, f"raw {type(vertices).__name__}")
        return layout, _whole_records(_raw_bytes(vertices, "vertex"), layout)
    try:
        array = np.asarray(vertices)
    except (TypeError, ValueError) as err:  # ragged nesting, objects numpy refuses
        raise TypeError(
            f"Mesh: vertices of {type(vertices).__name__} are not an array ({err})."
        ) from err
    if layout is None:
        if array.dtype.fields is None:
            raise TypeError(
                f"Mesh: vertices of dtype {array.dtype} carry no attribute names; pass a "
                f"structured array or layout=VertexLayout(...)."
            )
        layout = VertexLayout.from_dtype(array.dtype)
    layout = _checked_layout(layout)
    if array.dtype == layout.dtype or (array.dtype == np.uint8 and array.ndim == 1):
        # Records of the layout itself, or raw bytes of whole vertices.
        return layout, _whole_records(array, layout)
    # Other records or plain numbers: converted attribute by attribute, by the one
    # lossless rule write_records applies (a fraction or a value out of range raises).
    out = np.zeros(record_count(array, layout.dtype, where="Mesh"), layout.dtype)
    copy_records(out, array, where="Mesh")
    return layout, out


def _whole_records(array: Any, layout: VertexLayout) -> Any:
    if array.nbytes % layout.stride:
        raise ValueError(
            f"Mesh: the vertices hold {array.nbytes} bytes, not a whole number of "
            f"{layout.stride}-byte vertices of {layout!r}."
        )
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return flat.view(layout.dtype)


def _index_type(value: object) -> np.dtype[Any]:
    try:
        return index_dtype(value)
    except ValueError as err:
        raise ValueError(f"Mesh: {err}") from None


def _index_data(indices: Any, vertex_count: int, wanted: object) -> Any:
    """The indices as a contiguous uint16/uint32 array, checked against the vertex
    count, with every restart index (see :class:`Mesh`) turned into the stored
    type's."""
    target = None if wanted is None else _index_type(wanted)
    if isinstance(indices, _BYTES_LIKE):
        if target is None:
            raise TypeError(
                f"Mesh: raw {type(indices).__name__} indices carry no index type; pass "
                f"index_dtype='u2' (np.uint16) or 'u4' (np.uint32)."
            )
        raw = _raw_bytes(indices, "index")
        if raw.nbytes % target.itemsize:
            raise ValueError(
                f"Mesh: the indices hold {raw.nbytes} bytes, not a whole number of "
                f"{target.itemsize}-byte {target} indices."
            )
        array = raw.view(target)
    else:
        try:
            array = np.asarray(indices)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"Mesh: indices of {type(indices).__name__} are not an array ({err})."
            ) from err
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.uint32)  # `[]`: no indices (numpy makes it float64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"Mesh: indices must be integers; got an array of {array.dtype}.")
    array = array.reshape(-1)
    source = array.dtype
    if target is None:
        target = source if source in INDEX_DTYPES else np.dtype(np.uint32)
    restart = np.iinfo(target).max
    if source in INDEX_DTYPES:
        given = np.iinfo(source).max  # all bits set: the restart index of its type
        named = f"the restart index {given} is the only other value allowed"
    elif source.kind == "i":
        given = -1  # numpy's way to write the restart index in a signed array
        named = "-1, the restart index, is the only other value allowed"
    else:  # uint8, uint64: no value of theirs is the restart index
        given = None
        named = "a uint16 or uint32 array (all bits set), or -1 in a signed one, restarts"
    is_restart = array == given if given is not None else np.zeros(array.shape, bool)
    # A real index must name a vertex and differ from the stored restart index.
    limit = min(vertex_count, restart)
    bad = array[((array < 0) | (array >= limit)) & ~is_restart]
    if bad.size:
        value = bad[0]
        if 0 <= value < vertex_count:
            raise ValueError(
                f"Mesh: index {value} does not fit index_dtype {target} (indices 0..{restart - 1}; "
                f"{restart} is the restart index)."
            )
        raise ValueError(
            f"Mesh: index {value} is out of range for {vertex_count} vertices ({named})."
        )
    if source == target:
        return np.ascontiguousarray(array)
    out = np.where(is_restart, 0, array).astype(target)
    out[is_restart] = restart
    return out
