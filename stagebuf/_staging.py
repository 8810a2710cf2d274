"""The staging layer: per-frame vertex (and index) data packed on the second stack
and uploaded to reused moderngl buffers.

A :class:`Stager` owns a small ring of GL buffers and their vertex arrays.
``with stager.frame() as frame`` opens one arena slice for the frame;
``frame.reserve(n)`` bump-allocates ``n`` vertices in it and returns a
structured numpy view (one draw range per reserve). Leaving the frame uploads
what was reserved, in steady state with one ``Buffer.write`` per GL buffer, and
``stager.render()`` draws the ranges with explicit ``first=``/``vertices=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from ._arena import Stack, non_negative_int
from ._errors import StackOverflowError, StagerError, StagingLimitError
from ._layout import VertexLayout

__all__ = ["STRATEGIES", "Frame", "Stager", "StagerStats"]

STRATEGIES = ("ring", "orphan", "write")
"""Upload strategies: a ring of GL buffers rotated per frame (default), one buffer
orphaned at constant capacity before each write, or plain writes into one buffer."""

_INDEX_DTYPE = np.dtype(np.uint32)
HINT_WINDOW = 120
"""Frames after which the first arena slice of a frame shrinks to the recent peak."""
_MIN_BUFFER_BYTES = 4096

# Modes whose draws can be merged when ranges sit back to back: drawing
# [a, b) then [b, c) is the same as drawing [a, c) when each range holds
# whole primitives (points; line pairs; triangles).
_PRIMITIVE_SIZE = {
    moderngl.POINTS: 1,
    moderngl.LINES: 2,
    moderngl.TRIANGLES: 3,
}

NDArray = npt.NDArray[Any]

# GL scalar types of vertex attributes: GL_FLOAT, GL_INT, GL_UNSIGNED_INT, GL_DOUBLE.
_SCALAR_KINDS = {0x1406: "f", 0x1404: "i", 0x1405: "u", 0x140A: "d"}


@dataclass
class StagerStats:
    """Counters of a :class:`Stager` (the ``*_last_frame`` ones describe the last upload)."""

    frames: int = 0
    """Frames uploaded."""
    frames_discarded: int = 0
    """Frames whose ``with`` block raised: nothing of them was uploaded."""
    vertices_last_frame: int = 0
    indices_last_frame: int = 0
    bytes_uploaded_last_frame: int = 0
    writes_last_frame: int = 0
    """``Buffer.write`` calls of the last upload (1 per GL buffer in steady state)."""
    draw_calls_last_render: int = 0
    buffers_created: int = 0
    """GL buffers created since the stager was made (flat once warm)."""
    vertex_arrays_created: int = 0
    """Vertex arrays created since the stager was made (flat once warm)."""
    arena_high_water_bytes: int = 0
    """The most bytes the stager's arena held at once."""
    arena_growths: int = 0
    """Chunks the stager's arena allocated (flat once warm)."""


class _SizeHint:
    """How many items a frame's first arena slice holds: the biggest recent frame.

    It grows at once to fit a bigger frame (one slice once warm) and, at the end
    of every window of HINT_WINDOW frames, shrinks to that window's biggest
    frame, so one burst does not pin its size.
    """

    __slots__ = ("frames", "minimum", "peak", "size")

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.reset()

    def reset(self) -> None:
        """Forget the sizes seen so far."""
        self.size = self.minimum
        self.peak = 0  # the biggest frame of the current window
        self.frames = 0

    def note(self, n: int) -> None:
        if n > self.size:
            self.size = _pow2(n)
        self.peak = max(self.peak, n)
        self.frames += 1
        if self.frames >= HINT_WINDOW:
            self.size = max(self.minimum, _pow2(self.peak))
            self.peak = self.frames = 0


class _Slot:
    """One GL vertex buffer (plus optional index buffer) and the vertex arrays over it."""

    __slots__ = ("ibo", "ibo_bytes", "vao_indexed", "vao_plain", "vbo", "vbo_bytes")

    def __init__(self) -> None:
        self.vbo: Any = None
        self.vbo_bytes = 0
        self.ibo: Any = None
        self.ibo_bytes = 0
        self.vao_plain: Any = None
        self.vao_indexed: Any = None

    def drop_vaos(self, *, plain: bool) -> None:
        """Release the vertex arrays over a re-made buffer (the indexed one always)."""
        if plain and self.vao_plain is not None:
            self.vao_plain.release()
            self.vao_plain = None
        if self.vao_indexed is not None:
            self.vao_indexed.release()
            self.vao_indexed = None

    def release(self) -> None:
        for obj in (self.vao_plain, self.vao_indexed, self.vbo, self.ibo):
            if obj is not None:
                obj.release()
        self.__init__()  # type: ignore[misc]


class _Segments:
    """Arena slices holding one frame's items; a new, bigger one opens when full."""

    __slots__ = ("count", "dtype", "filled", "scopes", "stack", "views")

    def __init__(self, stack: Stack, dtype: np.dtype[Any]) -> None:
        self.stack = stack
        self.dtype = dtype
        self.scopes: list[Any] = []
        self.views: list[NDArray] = []
        self.filled: list[int] = []  # items used in each slice
        self.count = 0  # items reserved across all slices

    def open(self, capacity: int) -> None:
        scope = self.stack.uninit_slice(capacity, self.dtype)
        self.views.append(scope.__enter__())
        self.scopes.append(scope)
        self.filled.append(0)

    def take(self, n: int) -> NDArray:
        """``n`` contiguous items in the last slice (opening a bigger one when full)."""
        view = self.views[-1]
        used = self.filled[-1]
        if used + n > len(view):
            # Views handed out earlier stay valid: their slice stays open until the
            # frame ends. The new slice is at least twice the total so far, and the
            # stager sizes the next frame's first slice to fit this whole frame.
            want = max(n, 2 * sum(len(v) for v in self.views))
            try:
                self.open(want)
            except StackOverflowError:
                if want == n:
                    raise
                self.open(n)  # no room to grow ahead: just what was asked for
            view = self.views[-1]
            used = 0
        self.filled[-1] = used + n
        self.count += n
        return view[used : used + n]

    def mark(self) -> tuple[int, int, int]:
        """Where the next item goes, for :meth:`rollback`."""
        return self.count, len(self.views), self.filled[-1]

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Forget the items taken since ``mark`` (slices opened since stay open, empty)."""
        count, n_views, filled = mark
        self.count = count
        self.filled[n_views - 1] = filled
        for i in range(n_views, len(self.filled)):
            self.filled[i] = 0

    def chunks(self) -> Iterator[NDArray]:
        """The used parts of the slices, in order (just one once warm)."""
        for view, used in zip(self.views, self.filled, strict=True):
            if used:
                yield view[:used]

    def release(self) -> None:
        while self.scopes:
            self.scopes.pop().__exit__(None, None, None)
        self.views.clear()
        self.filled.clear()
        self.count = 0


def _alive(ctx: Any) -> bool:
    """False once the moderngl context was released (its handle turns invalid)."""
    return type(getattr(ctx, "mglo", None)).__name__ != "InvalidObject"


def _program_attributes(program: Any) -> dict[str, tuple[str, int]]:
    """The active vertex attributes of a moderngl program: name -> (kind, components)."""
    out = {}
    for name in program:
        member = program[name]
        if isinstance(member, moderngl.Attribute) and not str(name).startswith("gl_"):
            # gl_VertexID / gl_InstanceID are inputs GL provides, not buffer attributes.
            # moderngl reports shape 'i' for uint attributes too: the GL scalar type
            # tells them apart. Arrays count all their components (as detect_format).
            scalar = int(getattr(member, "scalar_type", 0))  # missing from moderngl's stub
            kind = _SCALAR_KINDS.get(scalar, str(member.shape))
            out[str(name)] = (kind, int(member.dimension) * max(int(member.array_length), 1))
    return out


class Frame:
    """One frame being staged: ``reserve`` vertices (and indices) into arena memory.

    Views returned by :meth:`reserve` are valid until the frame ends (a later
    reserve that needs more room opens a new slice and leaves them in place).
    """

    __slots__ = ("_index_views", "_indices", "_open", "_ranges", "_stager", "_used", "_vertices")

    def __init__(self, stager: Stager) -> None:
        self._stager = stager
        self._vertices = _Segments(stager._stack, stager.layout.dtype)
        self._indices: _Segments | None = None
        # (first vertex, vertex count, first index, index count); index count -1: plain draw
        self._ranges: list[tuple[int, int, int, int]] = []
        self._index_views: list[NDArray] = []  # one per indexed range, in order
        self._open = False
        self._used = False

    @property
    def vertex_count(self) -> int:
        """Vertices reserved so far in this frame."""
        return self._vertices.count

    @property
    def index_count(self) -> int:
        """Indices reserved so far in this frame."""
        return 0 if self._indices is None else self._indices.count

    def reserve(self, count: int) -> NDArray:
        """Reserve ``count`` vertices; return a structured view of ``layout.dtype``.

        The vertices are drawn as one range by :meth:`Stager.render`. Raises
        :class:`StagingLimitError` past the stager's ``max_vertices`` (nothing
        already reserved is lost) and RuntimeError outside an open frame.
        """
        if not self._open:
            raise StagerError(
                "reserve() outside a frame: use it inside `with stager.frame() as frame:`."
            )
        n = (
            count
            if type(count) is int and count >= 0
            else non_negative_int(count, "reserve: count")
        )
        first = self._vertices.count
        self._stager._check_limit(first + n, n, "vertices", self._stager.max_vertices)
        view = self._vertices.take(n)
        self._ranges.append((first, n, 0, -1))
        return view

    def reserve_indexed(self, vertex_count: int, index_count: int) -> tuple[NDArray, NDArray]:
        """Reserve vertices and ``uint32`` indices for one indexed draw range.

        Write indices relative to this range's own vertices (0 is the first
        vertex returned here); the stager adds the range's offset when it
        uploads, since moderngl has no base-vertex draw. Indices must be below
        ``vertex_count``: the upload checks and raises ValueError otherwise.
        """
        if not self._open:
            raise StagerError(
                "reserve_indexed() outside a frame: use it inside `with stager.frame() as frame:`."
            )
        nv = non_negative_int(vertex_count, "reserve_indexed: vertex_count")
        ni = non_negative_int(index_count, "reserve_indexed: index_count")
        stager = self._stager
        first = self._vertices.count
        ifirst = self.index_count
        stager._check_limit(first + nv, nv, "vertices", stager.max_vertices)
        stager._check_limit(ifirst + ni, ni, "indices", stager.max_indices)
        if self._indices is None:
            indices = _Segments(stager._stack, _INDEX_DTYPE)
            indices.open(max(stager._index_hint.size, ni))  # may raise: nothing changed yet
            self._indices = indices
        mark = self._vertices.mark()
        verts = self._vertices.take(nv)
        try:
            idx = self._indices.take(ni)
        except BaseException:
            self._vertices.rollback(mark)  # no vertices without their range
            raise
        self._ranges.append((first, nv, ifirst, ni))
        self._index_views.append(idx)
        return verts, idx

    # -- life cycle (driven by Stager.frame) -------------------------------

    def __enter__(self) -> Frame:
        stager = self._stager
        stager._check_usable("frame()")
        if self._used:
            raise StagerError("a Frame is single-use: call stager.frame() for each frame.")
        if stager._in_frame:
            raise StagerError(
                "frames cannot nest: the previous `with stager.frame()` is still open."
            )
        self._vertices.open(stager._vertex_hint.size)
        self._used = True
        stager._in_frame = True
        self._open = True
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        stager = self._stager
        self._open = False
        try:
            if exc_type is not None:
                stager.stats.frames_discarded += 1
                return
            try:
                stager._upload(self)
            except BaseException:
                stager.stats.frames_discarded += 1
                raise
        finally:
            stager._in_frame = False
            if self._indices is not None:
                self._indices.release()
            self._vertices.release()
            stager._note_arena()


class Stager:
    """Stages per-frame vertices on a second stack and uploads them to moderngl buffers.

    ``ctx`` is a moderngl context, ``layout`` a :class:`VertexLayout` and
    ``program`` the moderngl program that draws it (its active attributes are
    checked against the layout: :class:`LayoutMismatchError` lists both sides).

    Options (keyword-only): ``strategy`` is one of ``"ring"`` (``ring_size`` GL
    buffers rotated per frame, default 3), ``"orphan"`` (one buffer orphaned at
    constant capacity each frame) or ``"write"`` (plain writes into one
    buffer); ``mode`` is the default draw mode; ``max_vertices`` /
    ``max_indices`` cap one frame (``None``: no cap); ``initial_vertices`` sizes
    the first arena slice; ``stack`` is the :class:`Stack` to stage on (by
    default the stager owns one).

    GL buffers grow only at frame boundaries, to the next power of two at least
    twice their size; vertex arrays are cached per GL buffer and rebuilt only
    when it is re-created.
    """

    def __init__(
        self,
        ctx: Any,
        layout: VertexLayout,
        program: Any,
        *,
        strategy: str = "ring",
        ring_size: int = 3,
        mode: int = moderngl.TRIANGLES,
        max_vertices: int | None = None,
        max_indices: int | None = None,
        initial_vertices: int = 1024,
        stack: Stack | None = None,
    ) -> None:
        if not isinstance(layout, VertexLayout):
            raise TypeError(
                f"Stager: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
            )
        if strategy not in STRATEGIES:
            raise ValueError(
                f"Stager: unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}."
            )
        ring_size = non_negative_int(ring_size, "Stager: ring_size")
        if ring_size < 1:
            raise ValueError(f"Stager: ring_size must be at least 1; got {ring_size}.")
        if max_vertices is not None:
            max_vertices = non_negative_int(max_vertices, "Stager: max_vertices")
        if max_indices is not None:
            max_indices = non_negative_int(max_indices, "Stager: max_indices")
        initial_vertices = max(1, non_negative_int(initial_vertices, "Stager: initial_vertices"))
        if not _alive(ctx):
            raise StagerError("Stager: the moderngl context was already released.")
        required = _program_attributes(program)
        unused = layout.check_attributes(required)
        self._format, self._names = layout.format_for(
            [name for name in layout.names if name not in set(unused)]
        )
        self.ctx = ctx
        self.layout = layout
        self.program = program
        self.strategy = strategy
        self.mode = mode
        self.max_vertices = max_vertices
        self.max_indices = max_indices
        self.stats = StagerStats()
        self._owns_stack = stack is None
        self._stack = stack if stack is not None else Stack(thread_safe=False)
        self._slots = [_Slot() for _ in range(ring_size if strategy == "ring" else 1)]
        self._next_slot = 0
        self._drawn: _Slot | None = None  # the slot holding the last uploaded frame
        self._draws: list[tuple[bool, int, int]] = []  # (indexed, first, count)
        self._vertex_hint = _SizeHint(initial_vertices)
        self._index_hint = _SizeHint(1)
        self._in_frame = False
        self._released = False

    def __repr__(self) -> str:
        return (
            f"Stager(layout={self.layout!r}, strategy={self.strategy!r}, "
            f"slots={len(self._slots)}, frames={self.stats.frames})"
        )

    def __enter__(self) -> Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- public API ----------------------------------------------------------

    def frame(self) -> Frame:
        """Open a frame: ``with stager.frame() as frame: frame.reserve(n) ...``.

        Leaving the block uploads what was reserved; if the block raised,
        nothing is uploaded and the previous frame stays drawable.
        """
        return Frame(self)

    def render(self, mode: int | None = None) -> None:
        """Draw the last uploaded frame's ranges into the bound framebuffer.

        ``mode`` defaults to the stager's ``mode`` (TRIANGLES). Back-to-back
        plain ranges holding whole primitives are merged into one draw call.
        """
        self._check_usable("render()")
        slot = self._drawn
        if slot is None:
            raise StagerError("render() before any frame was uploaded: stage a frame first.")
        mode = self.mode if mode is None else mode
        draws = self._merged(mode)
        for indexed, first, count in draws:
            vao = slot.vao_indexed if indexed else slot.vao_plain
            vao.render(mode, vertices=count, first=first)
        self.stats.draw_calls_last_render = len(draws)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The last uploaded frame's draw ranges, ``(first, count)`` each: vertices for
        plain ranges, indices (into the index buffer) for indexed ones."""
        return [(first, count) for _, first, count in self._draws]

    @property
    def vertex_buffer(self) -> Any:
        """The GL buffer holding the last uploaded frame's vertices (None before one)."""
        return None if self._drawn is None else self._drawn.vbo

    @property
    def index_buffer(self) -> Any:
        """The GL buffer holding the last uploaded frame's indices (None when unused)."""
        return None if self._drawn is None else self._drawn.ibo

    @property
    def stack(self) -> Stack:
        """The second stack this stager stages on."""
        return self._stack

    def release(self) -> None:
        """Release the GL buffers and vertex arrays; the stager is unusable afterwards."""
        if self._released:
            return
        if self._in_frame:
            raise StagerError("release() inside an open frame: leave the `with` block first.")
        if _alive(self.ctx):
            for slot in self._slots:
                slot.release()
        self._released = True
        self._drawn = None
        self._draws = []
        if self._owns_stack:  # a caller's stack keeps its memory: it is theirs to trim
            self._stack.trim()

    def trim(self) -> int:
        """Give idle memory back after a burst: forget the frame sizes seen so far and
        release the arena's idle chunk (when the stager owns its stack). Returns the
        bytes released.

        The next frames re-learn their size (a frame bigger than its first slice
        opens a second one, so nothing is lost, and the one after fits in one
        slice again). GL buffers keep their size: re-sizing them is what the
        growth policy avoids.
        """
        if self._in_frame:
            raise StagerError("trim() inside an open frame: leave the `with` block first.")
        self._vertex_hint.reset()
        self._index_hint.reset()
        return self._stack.trim() if self._owns_stack else 0

    # -- internals -----------------------------------------------------------

    def _check_usable(self, what: str) -> None:
        if self._released:
            raise StagerError(f"{what} on a released Stager: make a new one.")
        if not _alive(self.ctx):
            raise StagerError(f"{what}: the stager's moderngl context was released.")

    def _check_limit(self, total: int, n: int, what: str, limit: int | None) -> None:
        if limit is not None and total > limit:
            raise StagingLimitError(
                f"reserving {n} {what} would bring this frame to {total} {what}, past "
                f"max_{what}={limit}; the {total - n} {what} already staged are kept.",
                requested=total,
                limit=limit,
            )

    def _note_arena(self) -> None:
        self.stats.arena_high_water_bytes = self._stack.high_water_bytes
        self.stats.arena_growths = self._stack.growths

    def _merged(self, mode: int) -> list[tuple[bool, int, int]]:
        """Merge back-to-back plain ranges when that draws the same primitives."""
        size = _PRIMITIVE_SIZE.get(mode)
        if size is None or len(self._draws) < 2:
            return self._draws
        out: list[tuple[bool, int, int]] = []
        for draw in self._draws:
            indexed, first, count = draw
            if out and not indexed and count % size == 0:
                p_indexed, p_first, p_count = out[-1]
                if not p_indexed and p_first + p_count == first and p_count % size == 0:
                    out[-1] = (False, p_first, p_count + count)
                    continue
            out.append(draw)
        return out

    def _upload(self, frame: Frame) -> None:
        """Copy the frame's vertices (and indices) into the next GL buffer(s)."""
        self._check_usable("leaving a frame")
        verts = frame._vertices
        idx = frame._indices
        n_idx = 0 if idx is None else idx.count
        if idx is not None:
            self._offset_indices(frame)
        slot = self._slots[self._next_slot]
        stride = self.layout.stride
        vbytes = verts.count * stride
        ibytes = n_idx * _INDEX_DTYPE.itemsize
        self._ensure(slot, vbytes, ibytes)
        writes = self._write(slot.vbo, verts) if vbytes else 0
        if ibytes and idx is not None:
            writes += self._write(slot.ibo, idx)
        self._draws = [
            (True, ifirst, icount) if icount >= 0 else (False, first, count)
            for first, count, ifirst, icount in frame._ranges
        ]
        self._drawn = slot
        self._next_slot = (self._next_slot + 1) % len(self._slots)
        # Next frame's first slice fits this one's vertices: one slice once warm.
        self._vertex_hint.note(verts.count)
        self._index_hint.note(n_idx)
        stats = self.stats
        stats.frames += 1
        stats.vertices_last_frame = verts.count
        stats.indices_last_frame = n_idx
        stats.bytes_uploaded_last_frame = vbytes + ibytes
        stats.writes_last_frame = writes

    def _write(self, buffer: Any, segments: _Segments) -> int:
        """Copy the segments back to back into ``buffer``; return the writes made."""
        if self.strategy == "orphan":
            buffer.orphan()  # same size: the driver hands out fresh storage
        offset = writes = 0
        for chunk in segments.chunks():
            buffer.write(chunk, offset=offset)
            offset += chunk.nbytes
            writes += 1
        return writes

    def _offset_indices(self, frame: Frame) -> None:
        """Check each indexed range's indices, then add its first vertex to them."""
        views = iter(frame._index_views)
        for first, count, _ifirst, icount in frame._ranges:
            if icount < 0:
                continue
            block = next(views)
            if not icount:
                continue
            top = int(block.max())
            if top >= count:
                raise ValueError(
                    f"index {top} in the indexed range starting at vertex {first} is out "
                    f"of range: that range has {count} vertices (indices are relative to it)."
                )
            if first:
                block += np.uint32(first)

    def _ensure(self, slot: _Slot, vbytes: int, ibytes: int) -> None:
        """Make the slot's GL buffers big enough: grow geometrically, re-make vertex arrays."""
        if vbytes > slot.vbo_bytes or slot.vbo is None:
            slot.vbo, slot.vbo_bytes = self._regrow(slot.vbo, slot.vbo_bytes, vbytes)
            slot.drop_vaos(plain=True)
        if ibytes and (ibytes > slot.ibo_bytes or slot.ibo is None):
            slot.ibo, slot.ibo_bytes = self._regrow(slot.ibo, slot.ibo_bytes, ibytes)
            slot.drop_vaos(plain=False)
        content = [(slot.vbo, self._format, *self._names)]
        if slot.vao_plain is None:
            slot.vao_plain = self.ctx.vertex_array(self.program, content)
            self.stats.vertex_arrays_created += 1
        if slot.ibo is not None and slot.vao_indexed is None:
            slot.vao_indexed = self.ctx.vertex_array(
                self.program, content, index_buffer=slot.ibo, index_element_size=4
            )
            self.stats.vertex_arrays_created += 1

    def _regrow(self, old: Any, current: int, needed: int) -> tuple[Any, int]:
        """A new GL buffer of the next capacity in place of ``old``: (buffer, bytes)."""
        size = _grown(current, needed)
        if old is not None:
            old.release()
        self.stats.buffers_created += 1
        return self.ctx.buffer(reserve=size, dynamic=True), size


def _pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def _grown(current: int, needed: int) -> int:
    """The next capacity: a power of two, at least twice the current one."""
    size = max(_MIN_BUFFER_BYTES, 1 << max(needed - 1, 0).bit_length())
    if current:
        size = max(size, 2 * current)
    return size
