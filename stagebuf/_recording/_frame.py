"""Recording one frame: each reserve is a draw command with its own state and layer.

A :class:`Frame` bump-allocates every range's vertices (all layouts) into one
byte stream in arena memory and its indices into another, checks each range's
options against what its program reads (as the backend describes it), merges
back-to-back ranges of equal state within a layer, and at :meth:`Frame.end`
hands the recorded frame to its stager's backend to upload. No GL here: every
question about the GPU goes through the stager's backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._arena import non_negative_int
from .._errors import LayoutMismatchError, StagerError
from .._layout import VertexLayout
from . import _backend
from ._drawlist import (
    INDEXED,
    INSTANCED,
    MESH,
    PLAIN,
    STREAMED,
    Draw,
    State,
    in_layer_order,
    split_at_restarts,
)
from ._indices import IndexedRange, offset_indices
from ._states import (
    INSTANCES,
    STATE_CACHE,
    STREAMED_VERTICES,
    VERTICES,
    check_layer,
    per_instance_message,
    state_for,
    watch_uniforms,
)
from ._streams import Stream

if TYPE_CHECKING:
    from .._stager import Stager

__all__ = ["BACKEND", "Frame", "RecordedFrame", "check_layer"]

NDArray = npt.NDArray[Any]


# A frame's phases: made by stager.frame() and not yet entered, open, ended.
_NEW, _OPEN, _ENDED = range(3)


class RecordedFrame:
    """One ended frame as a backend receives it: its byte streams and its draws.

    ``draws`` are in drawing order (ascending layer, reserve order within one),
    merged and split at restarts; ``ranges`` holds every reserve's ``(first,
    count)`` in reserve order.
    """

    __slots__ = (
        "based",
        "draws",
        "index_count",
        "indices",
        "ranges",
        "u2",
        "vertex_count",
        "vertices",
    )

    def __init__(
        self,
        vertices: Stream,
        indices: Stream | None,
        draws: list[Draw],
        ranges: list[tuple[int, int]],
        vertex_count: int,
        index_count: int,
        *,
        based: bool,
        u2: bool,
    ) -> None:
        self.vertices = vertices
        self.indices = indices
        self.draws = draws
        self.ranges = ranges
        self.vertex_count = vertex_count
        self.index_count = index_count
        self.based = based  # a draw starts past its buffer's start (a base vertex or instance)
        self.u2 = u2  # a draw reads uint16 indices (its restart index is 0xFFFF)


class Frame:
    """One frame being staged: each reserve is a draw command with its own state.

    Open one with ``with stager.frame() as frame:`` (leaving the block uploads
    it) or ``frame = stager.begin()`` and then ``frame.end()`` (upload) or
    ``frame.discard()`` (drop it; the previous frame stays drawable). Views
    returned by the reserve calls are valid until the frame ends (a later
    reserve that needs more room opens a new arena slice and leaves them in
    place). Options left out take the stager's defaults.
    """

    __slots__ = (
        "_based",
        "_default",
        "_default_checked",
        "_draws",
        "_index_total",
        "_indexed",
        "_indices",
        "_last",
        "_last_layer",
        "_lasts",
        "_layered",
        "_max_vertices",
        "_meshes",
        "_phase",
        "_ranges",
        "_stager",
        "_states",
        "_u2",
        "_vertex_total",
        "_vertices",
        "_watch",
    )

    def __init__(self, stager: Stager) -> None:
        self._stager = stager
        self._vertices = stager._vertex_stream  # frames never overlap: one pair per stager
        self._indices: Stream | None = None
        self._draws: list[Draw] = []
        self._last: Draw | None = None  # the last draw of layer _last_layer
        self._last_layer = 0
        self._lasts: dict[int, Draw] = {}  # the last draw of each layer, for merging
        self._layered = False  # a draw left layer 0: sort by layer at the end
        self._ranges: list[tuple[int, int]] = []  # (first, count) of each reserve
        self._indexed: list[IndexedRange] = []
        self._vertex_total = 0  # vertices and instance records reserved
        self._index_total = 0
        self._max_vertices = stager.max_vertices
        self._meshes: dict[int, Any] = {}  # meshes checked in this frame, by id
        self._based = False  # a draw starts past its buffer's start: see RecordedFrame
        self._u2 = False  # a draw reads uint16 indices
        # During a stager's first frames: each program's uniform values at its last
        # reserve, to catch values set between reserves (see _watch_uniforms).
        self._watch: dict[Any, dict[str, Any]] | None = {} if stager._watch_frames else None
        self._default = stager._default_state
        # The default program was checked against the layout (once per stager).
        self._default_checked = stager._default_checked
        self._states = (
            stager._states
        )  # checked states by options (the stager clears, never rebinds)
        self._phase = _NEW

    @property
    def vertex_count(self) -> int:
        """Vertices (and instance records) reserved so far in this frame, all layouts."""
        return self._vertex_total

    @property
    def index_count(self) -> int:
        """Indices reserved so far in this frame."""
        return self._index_total

    def reserve(
        self,
        count: int,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
        layer: int = 0,
    ) -> NDArray:
        """Reserve ``count`` vertices drawn as one range; return a structured view of
        the range's ``layout.dtype``.

        The keyword options are this draw's state (the stager's by default):
        ``mode`` (a GL draw mode), ``program``, ``layout`` (per-vertex: a ``/i``
        layout belongs to :meth:`reserve_instances`), ``uniforms`` (name ->
        value, set on the program right before the draw), ``textures`` (unit
        -> texture, bound right before the draw) and ``layer`` (an int: draws
        run in ascending layer, in reserve order within one). Raises
        :class:`StagingLimitError` past ``max_vertices`` (nothing already
        reserved is lost), :class:`LayoutMismatchError` when the program reads an
        attribute the layout lacks, and :class:`StagerError` outside an open frame.
        """
        # The reference: where the compiled recording runs (see _backend), its
        # Frame.reserve does the common case of this method in C and calls this one,
        # as _reserve_slow, for everything else. Keep the two in step (_fast.c).
        if self._phase != _OPEN:
            self._refuse("reserve()")
        n = (
            count
            if type(count) is int and count >= 0
            else non_negative_int(count, "reserve: count")
        )
        state, layer = self._range_state(
            "reserve", mode, program, layout, uniforms, textures, layer
        )
        total = self._vertex_total + n
        if self._max_vertices is not None and total > self._max_vertices:
            self._stager._check_limit(total, n, "vertices", self._max_vertices)
        layout = state.layout
        view, first = self._vertices.take(n, layout, layout.stride, layout.dtype)
        # Added, not set to `total`: the take's allocations may set off a collection
        # whose finalizers reserve too (their vertices are counted already).
        self._vertex_total += n
        ranges = self._ranges
        ranges.append((first, n))
        last = self._last if layer == self._last_layer else self._lasts.get(layer)
        if (
            last is not None
            and last.kind == PLAIN
            and last.first + last.count == first
            and (last.state is state or last.state.same(state))
        ):
            size = state.merge
            if size and not n % size and not last.count % size:
                last.count += n
                last.ranges += 1
                return view
        self._push(Draw(PLAIN, state, first, n, None, len(ranges) - 1, layer))
        return view

    _reserve_slow = reserve

    def reserve_indexed(
        self,
        vertex_count: int,
        index_count: int,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
        layer: int = 0,
    ) -> tuple[NDArray, NDArray]:
        """Reserve vertices and indices (the stager's ``index_dtype``) for one indexed
        range; return ``(vertices, indices)``. Options as for :meth:`reserve`.

        Write indices relative to this range's own vertices (0 is the first vertex
        returned here), or the restart index (all bits set) to restart a strip.
        The upload checks them: any other index at or past ``vertex_count``
        raises ValueError naming it, and nothing of the frame is uploaded.
        """
        if self._phase != _OPEN:
            self._refuse("reserve_indexed()")
        nv = (
            vertex_count
            if type(vertex_count) is int and vertex_count >= 0
            else non_negative_int(vertex_count, "reserve_indexed: vertex_count")
        )
        ni = (
            index_count
            if type(index_count) is int and index_count >= 0
            else non_negative_int(index_count, "reserve_indexed: index_count")
        )
        state, layer = self._range_state(
            "reserve_indexed", mode, program, layout, uniforms, textures, layer
        )
        stager = self._stager
        if self._max_vertices is not None:
            stager._check_limit(self._vertex_total + nv, nv, "vertices", self._max_vertices)
        if stager.max_indices is not None:
            stager._check_limit(self._index_total + ni, ni, "indices", stager.max_indices)
        dtype = stager.index_dtype
        indices = self._indices
        if indices is None:
            indices = stager._index_stream
            need = ni * dtype.itemsize
            stager._open_indices(max(stager._index_hint.size, need), need)
            self._indices = indices
        layout = state.layout
        vertices = self._vertices
        mark, index_mark = vertices.mark(), indices.mark()
        verts, first = vertices.take(nv, layout, layout.stride, layout.dtype)
        try:
            idx, ifirst = indices.take(ni, dtype, dtype.itemsize, dtype)
        except BaseException:
            vertices.rollback(mark)  # no vertices without their range
            raise
        restart = stager._restart
        last = self._last if layer == self._last_layer else self._lasts.get(layer)
        size = state.merge
        merges = (
            size
            and last is not None
            and last.kind == INDEXED
            and last.first + last.count == ifirst
            and not ni % size
            and not last.count % size
            and first - last.base + nv < restart  # the offset indices fit the type
            and (last.state is state or last.state.same(state))
        )
        # Indices are offset to count from the draw's base vertex: the buffer's start
        # while they fit the index type, else the range's first vertex.
        base = 0 if merges or first + nv < restart else first
        if base and not stager._backend.caps.base_vertex and stager._normalised(state):
            vertices.rollback(mark)
            indices.rollback(index_mark)
            raise StagerError(
                f"reserve_indexed: this range starts at vertex {first}, past what "
                f"{dtype} indices reach, which needs a base-vertex draw "
                f"({stager._backend.caps.base_vertex_needs}), and the backend cannot re-point "
                f"the normalised attributes of {layout!r}. Use index_dtype='u4', or "
                f"unnormalised formats."
            )
        self._vertex_total += nv
        self._index_total += ni
        self._ranges.append((ifirst, ni))
        if merges:
            assert last is not None
            draw = last
            draw.count += ni
            draw.ranges += 1
        else:
            draw = Draw(INDEXED, state, ifirst, ni, base, len(self._ranges) - 1, layer)
            self._push(draw)
            self._based = self._based or base > 0
            self._u2 = self._u2 or restart == 0xFFFF
        segment, origin = indices.typed[dtype]
        local = ifirst - origin // dtype.itemsize
        self._indexed.append(
            IndexedRange(
                idx, segment, local, first - draw.base, nv, first, draw, len(self._indexed) + 1
            )
        )
        return verts, idx

    def reserve_instances(
        self,
        mesh: Any,
        count: int,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
        layer: int = 0,
    ) -> NDArray:
        """Reserve ``count`` per-instance records of ``layout`` (the stager's by
        default); the mesh is drawn once per record, in order with the other ranges.

        The program reads per-vertex attributes from the mesh's layout and
        per-instance ones from ``layout`` (a name in both is per instance);
        :class:`LayoutMismatchError` lists all three when one is missing. ``mode``
        defaults to the mesh's. Back-to-back instanced ranges of one mesh with
        equal state (and layer) are one draw.
        """
        if self._phase != _OPEN:
            self._refuse("reserve_instances()")
        stager = self._stager
        if self._meshes.get(id(mesh)) is not mesh:
            self._check_mesh(mesh, "reserve_instances")
        n = (
            count
            if type(count) is int and count >= 0
            else non_negative_int(count, "reserve_instances: count")
        )
        state = state_for(
            self,
            "reserve_instances",
            mesh.mode if mode is None else mode,
            program,
            layout,
            uniforms,
            textures,
            reads=INSTANCES,
        )
        if type(layer) is not int:
            layer = check_layer(layer, "reserve_instances")
        if self._watch is not None:
            watch_uniforms(self, state)
        binding = stager._pairs.get((state, mesh))
        if binding is None:  # checked once per (state, mesh): the program reads both layouts
            binding = stager._binding(state.program, mesh.layout, state.layout, "reserve_instances")
            if len(stager._pairs) >= STATE_CACHE:
                stager._pairs.clear()  # states made per reserve (array uniforms): bounded
            stager._pairs[state, mesh] = binding
        if self._max_vertices is not None:
            stager._check_limit(self._vertex_total + n, n, "vertices", self._max_vertices)
        layout = state.layout
        mark = self._vertices.mark()
        view, first = self._vertices.take(n, layout, layout.stride, layout.dtype)
        caps = stager._backend.caps
        if (
            first
            and not caps.base_instance
            and not caps.repoints_normalized
            and any(b[4] for b in binding.instance_binds)
        ):
            self._vertices.rollback(mark)
            raise StagerError(
                f"reserve_instances: these records start past the frame buffer's start, which "
                f"needs a base-instance draw ({caps.base_instance_needs}), and the backend "
                f"cannot re-point the normalised per-instance attributes of {layout!r}. Stage "
                f"these instances first in the frame, or use unnormalised formats."
            )
        self._vertex_total += n
        self._ranges.append((first, n))
        last = self._last if layer == self._last_layer else self._lasts.get(layer)
        if (
            last is not None
            and last.kind == INSTANCED
            and last.base is mesh
            and last.first + last.count == first
            and last.state.same(state)
        ):
            last.count += n
            last.ranges += 1
        else:
            self._push(Draw(INSTANCED, state, first, n, mesh, len(self._ranges) - 1, layer))
            self._based = self._based or first > 0
            self._u2 = self._u2 or mesh.index_dtype == np.uint16
        return view

    def reserve_attributes(
        self,
        mesh: Any,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
        layer: int = 0,
    ) -> NDArray:
        """Reserve one record of ``layout`` (the stager's by default) per vertex of
        ``mesh``, streamed this frame beside the mesh's own attributes; return the
        structured view to fill.

        The draw is the mesh's geometry (its indices and, unless ``mode`` says
        otherwise, its mode): vertex i reads the mesh's vertex i and streamed
        record i. The program finds its attributes in the two layouts
        (:class:`LayoutMismatchError` names the missing one); a streamed layout
        may not repeat an attribute of the mesh's (ValueError). Options as for
        :meth:`reserve`. Static attributes stay in the mesh's GL buffer: only the
        streamed bytes are uploaded each frame.
        """
        if self._phase != _OPEN:
            self._refuse("reserve_attributes()")
        stager = self._stager
        if self._meshes.get(id(mesh)) is not mesh:
            self._check_mesh(mesh, "reserve_attributes")
        state = state_for(
            self,
            "reserve_attributes",
            mesh.mode if mode is None else mode,
            program,
            layout,
            uniforms,
            textures,
            reads=STREAMED_VERTICES,
        )
        layer = check_layer(layer, "reserve_attributes")
        if self._watch is not None:
            watch_uniforms(self, state)
        layout = state.layout
        if layout.usage != "v":
            raise ValueError(
                f"reserve_attributes: the layout {layout!r} is per instance (/i); streamed "
                f"attributes are per vertex. Per-instance records go to "
                f"frame.reserve_instances(mesh, count, layout=...)."
            )
        both = [name for name in layout.names if name in mesh.layout.names]
        if both:
            raise ValueError(
                f"reserve_attributes: the streamed layout {layout!r} repeats the mesh's "
                f"attribute{'s' if len(both) > 1 else ''} {', '.join(map(repr, both))}; an "
                f"attribute is either the mesh's (static) or streamed, not both."
            )
        binding = stager._binding(
            state.program, mesh.layout, layout, "reserve_attributes", streamed=True
        )
        n = mesh.vertex_count
        if self._max_vertices is not None:
            stager._check_limit(self._vertex_total + n, n, "vertices", self._max_vertices)
        mark = self._vertices.mark()
        view, first = self._vertices.take(n, layout, layout.stride, layout.dtype)
        if (
            first
            and not stager._backend.caps.repoints_normalized
            and any(b[4] for b in binding.instance_binds)
        ):
            self._vertices.rollback(mark)
            raise StagerError(
                f"reserve_attributes: these records start past the frame buffer's start, and "
                f"the backend cannot point the normalised attributes of {layout!r} there "
                f"(moderngl's VertexArray.bind refuses `normalize` for float attributes). "
                f"Reserve these attributes first in the frame, or use unnormalised formats "
                f"(such as '4f', or '4u1' read as a uvec4)."
            )
        self._vertex_total += n
        self._ranges.append((first, n))
        # Each streamed draw reads its own records: it never merges with another.
        self._push(
            Draw(STREAMED, state, first, mesh.draw_count, mesh, len(self._ranges) - 1, layer)
        )
        self._u2 = self._u2 or mesh.index_dtype == np.uint16
        return view

    def draw(
        self,
        mesh: Any,
        *,
        mode: int | None = None,
        program: Any = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
        layer: int = 0,
    ) -> None:
        """Draw retained geometry in order among this frame's ranges (``mode``: the
        mesh's by default; the program reads the mesh's attributes; ``layer`` as
        for :meth:`reserve`)."""
        if self._phase != _OPEN:
            self._refuse("draw()")
        if self._meshes.get(id(mesh)) is not mesh:
            self._check_mesh(mesh, "draw")
        try:
            state = state_for(
                self,
                "draw",
                mesh.mode if mode is None else mode,
                program,
                mesh.layout,
                uniforms,
                textures,
            )
        except LayoutMismatchError as err:
            if program is not None:
                raise
            raise LayoutMismatchError(
                f"draw: the stager's default program does not read this mesh (a sprite "
                f"stager's program reads per-instance attributes too); pass the program "
                f"that draws it: frame.draw(mesh, program=...).\n{err}"
            ) from None
        if type(layer) is not int:
            layer = check_layer(layer, "draw")
        if self._watch is not None:
            watch_uniforms(self, state)
        self._ranges.append((0, mesh.draw_count))
        self._push(Draw(MESH, state, 0, mesh.draw_count, mesh, len(self._ranges) - 1, layer))
        self._u2 = self._u2 or mesh.index_dtype == np.uint16

    # -- life cycle ---------------------------------------------------------

    def end(self) -> None:
        """Upload the frame (one write per GL buffer once warm) and close it.

        When the upload raises, nothing of this frame is uploaded and the
        previous frame stays drawable; the frame is closed either way.
        """
        if self._phase != _OPEN:
            self._refuse("end()")
        stager = self._stager
        try:
            stager._submit(self._recorded())
        except BaseException:
            stager.stats.frames_discarded += 1
            raise
        finally:
            self._close()

    def discard(self) -> None:
        """Close the frame without uploading it: the previous frame stays drawable."""
        if self._phase != _OPEN:
            self._refuse("discard()")
        self._stager.stats.frames_discarded += 1
        self._close()

    def __enter__(self) -> Frame:
        if self._phase != _NEW:
            raise StagerError(
                "a Frame is single-use: call stager.frame() (or stager.begin()) for each frame."
            )
        self._stager._open_frame(self)
        self._phase = _OPEN
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._phase != _OPEN:  # end() or discard() was called inside the block
            return
        if exc_type is not None:
            self.discard()
        else:
            self.end()

    # -- helpers -----------------------------------------------------------

    def _refuse(self, what: str) -> None:
        if self._phase == _NEW:
            raise StagerError(
                f"{what} outside a frame: this frame was never opened; use `with "
                f"stager.frame() as frame:` or `frame = stager.begin()`."
            )
        raise StagerError(
            f"{what} outside a frame: this frame has ended (end() or discard() was called, "
            f"or its `with` block was left); open a new one with stager.begin() or "
            f"stager.frame()."
        )

    def _recorded(self) -> RecordedFrame:
        """The frame finished for a backend: indices checked and offset, merges that a
        restart makes wrong undone, draws in layer order."""
        stager = self._stager
        draws = self._draws
        if self._indexed:
            offset_indices(self._indexed, stager._restart)
            draws = split_at_restarts(draws, self._indexed, self._ranges)
        if self._layered:
            draws = in_layer_order(draws)
        return RecordedFrame(
            self._vertices,
            self._indices,
            draws,
            self._ranges,
            self._vertex_total,
            self._index_total,
            based=self._based,
            u2=self._u2,
        )

    def _close(self) -> None:
        self._phase = _ENDED
        stager = self._stager
        stager._frame = None
        if stager._watch_frames:
            stager._watch_frames -= 1
        if self._indices is not None:
            self._indices.release()
        self._vertices.release()
        stager._note_arena()

    def _check_mesh(self, mesh: Any, where: str) -> None:
        """Check a mesh once per frame (a mesh released later in the frame is refused
        when the frame is drawn)."""
        self._stager._check_mesh(mesh, where)
        self._meshes[id(mesh)] = mesh  # kept alive for the frame: its id stays its own

    def _range_state(
        self,
        where: str,
        mode: int | None,
        program: Any,
        layout: VertexLayout | None,
        uniforms: Any,
        textures: Any,
        layer: object,
    ) -> tuple[State, int]:
        """A vertex range's checked state (the stager's default when no option is
        given) and its layer: the part of reserve and reserve_indexed they share."""
        if mode is None and program is None and layout is None and not uniforms and not textures:
            state = self._default
            if not self._default_checked:
                self._check_default(where)
        else:
            state = state_for(self, where, mode, program, layout, uniforms, textures)
            if self._phase != _OPEN:  # the options' __eq__ or __hash__ ended the frame
                self._refuse(f"{where}()")
        if type(layer) is not int:
            layer = check_layer(layer, where)
        if self._watch is not None:
            watch_uniforms(self, state, stacklevel=4)  # the caller of reserve*, not this
        return state, layer

    def _check_default(self, where: str) -> None:
        layout = self._default.layout
        if layout.usage == "i":
            raise ValueError(per_instance_message(where, layout))
        self._stager._binding(self._default.program, layout, None, where)
        self._default_checked = self._stager._default_checked = True

    def _push(self, draw: Draw) -> None:
        self._draws.append(draw)
        layer = draw.layer
        if layer != self._last_layer:
            self._lasts[self._last_layer] = self._last  # type: ignore[assignment]
            self._last_layer = layer
            self._layered = True
        self._last = draw


# The compiled Frame.reserve, where it runs (BACKEND "c"); the constants are the
# phase of an open frame, the plain draw kind and what a vertex range's layout feeds.
BACKEND = _backend.install(Frame, Draw, State, Stream, VertexLayout, _OPEN, PLAIN, VERTICES)
"""``"c"`` or ``"python"``: which Frame.reserve this process runs."""
