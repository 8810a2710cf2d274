"""The staging layer: a whole frame's draw list, packed on the second stack and
uploaded to reused moderngl buffers.

``with stager.frame() as frame`` opens one frame. Each ``frame.reserve(n)``
(or ``reserve_indexed``, ``reserve_instances``, ``draw``) is one draw command
with its own state: mode, program, layout, uniforms and textures, the
stager's own as defaults. Vertices of every layout go to one byte stream in
arena memory, indices to another, so leaving the frame uploads the whole frame
with one ``Buffer.write`` per GL buffer in steady state. ``stager.render()``
draws the commands in reserve order; back-to-back commands with equal state
whose primitives stand alone were merged into one draw call as they were
reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from ._arena import Stack, non_negative_int
from ._drawlist import INDEXED, INSTANCED, MESH, PLAIN, Draw, State, equal, split_at_restarts
from ._errors import LayoutMismatchError, StagerError, StagingLimitError
from ._glstate import (
    Binding,
    DrawState,
    check_gl,
    check_mode,
    check_program,
    check_textures,
    check_uniforms,
    is_released,
    make_current,
    program_attributes,
)
from ._indices import IndexedRange, index_dtype, offset_indices
from ._layout import VertexLayout
from ._mesh import Mesh
from ._slots import Slot, grown, shrinks
from ._streams import HINT_WINDOW, SizeHint, Stream, forget_layouts

__all__ = ["HINT_WINDOW", "ORPHAN_LIMIT_BYTES", "STRATEGIES", "Frame", "Stager", "StagerStats"]

STRATEGIES = ("ring", "orphan", "write")
"""Upload strategies: a ring of GL buffers rotated per frame (default), one buffer
orphaned at constant capacity before each write, or plain writes into one buffer."""

ORPHAN_LIMIT_BYTES = 16 << 20
"""The "orphan" strategy orphans buffers up to this size and writes bigger ones in
place: orphaning a big buffer makes some drivers (llvmpipe) allocate and
page-fault fresh storage every frame, which costs more than the stall it avoids."""

# GL_PRIMITIVE_RESTART_FIXED_INDEX: restart at the all-ones value of the index
# type. moderngl enables restart at 0xFFFFFFFF only, which a uint16 never holds.
_FIXED_RESTART = 0x8D69

NDArray = npt.NDArray[Any]

# One indirect draw command as moderngl reads them (20 bytes apart, arrays too).
_COMMAND = np.dtype([("words", np.uint32, 5)])

_STATE_CACHE = 256  # checked draw states kept per stager
_PRUNE_AT = 32  # vertex arrays cached per slot (or for meshes) before released ones are dropped


@dataclass
class StagerStats:
    """Counters of a :class:`Stager` (the ``*_last_frame`` ones describe the last upload)."""

    frames: int = 0
    """Frames uploaded."""
    frames_discarded: int = 0
    """Frames whose ``with`` block or upload raised: nothing of them was uploaded."""
    vertices_last_frame: int = 0
    """Vertices and instance records of the last upload, all layouts together."""
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


class Frame:
    """One frame being staged: each reserve is a draw command with its own state.

    Views returned by the reserve calls are valid until the frame ends (a later
    reserve that needs more room opens a new arena slice and leaves them in
    place). Options left out take the stager's defaults.
    """

    __slots__ = (
        "_default",
        "_default_checked",
        "_draws",
        "_fixed_restart",
        "_has_commands",
        "_index_total",
        "_indexed",
        "_indices",
        "_last",
        "_max_vertices",
        "_open",
        "_ranges",
        "_stager",
        "_used",
        "_vertex_total",
        "_vertices",
    )

    def __init__(self, stager: Stager) -> None:
        self._stager = stager
        self._vertices = stager._vertex_stream  # frames never overlap: one pair per stager
        self._indices: Stream | None = None
        self._draws: list[Draw] = []
        self._last: Draw | None = None
        self._ranges: list[tuple[int, int]] = []  # (first, count) of each reserve
        self._indexed: list[IndexedRange] = []
        self._vertex_total = 0  # vertices and instance records reserved
        self._index_total = 0
        self._max_vertices = stager.max_vertices
        self._has_commands = False  # a draw needs an indirect command (base instance/vertex)
        self._fixed_restart = False  # a draw reads uint16 indices
        self._default = stager._default_state
        # The default program was checked against the layout (once per stager).
        self._default_checked = stager._default_checked
        self._open = False
        self._used = False

    @property
    def vertex_count(self) -> int:
        """Vertices (and instance records) reserved so far in this frame, all layouts."""
        return self._vertex_total

    @property
    def index_count(self) -> int:
        """Indices reserved so far in this frame."""
        return (
            0
            if self._indices is None
            else self._indices.nbytes // self._stager.index_dtype.itemsize
        )

    def reserve(
        self,
        count: int,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
    ) -> NDArray:
        """Reserve ``count`` vertices drawn as one range; return a structured view of
        the range's ``layout.dtype``.

        The keyword options are this draw's state (the stager's by default):
        ``mode`` (a GL draw mode), ``program``, ``layout`` (per-vertex: a ``/i``
        layout belongs to :meth:`reserve_instances`), ``uniforms`` (name ->
        value, set on the program right before the draw) and ``textures`` (unit
        -> texture, bound right before the draw). Raises
        :class:`StagingLimitError` past ``max_vertices`` (nothing already
        reserved is lost), :class:`LayoutMismatchError` when the program reads an
        attribute the layout lacks, and :class:`StagerError` outside an open frame.
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
        if mode is None and program is None and layout is None and not uniforms and not textures:
            state = self._default
            if not self._default_checked:
                self._check_default("reserve")
        else:
            state = self._state("reserve", mode, program, layout, uniforms, textures)
        if self._max_vertices is not None:
            self._stager._check_limit(self._vertex_total + n, n, "vertices", self._max_vertices)
        layout = state.layout
        view, first = self._vertices.take(n, layout, layout.stride, layout.dtype)
        self._vertex_total += n
        self._ranges.append((first, n))
        last = self._last
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
        self._push(Draw(PLAIN, state, first, n, None, len(self._ranges) - 1))
        return view

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
    ) -> tuple[NDArray, NDArray]:
        """Reserve vertices and indices (the stager's ``index_dtype``) for one indexed
        range; return ``(vertices, indices)``. Options as for :meth:`reserve`.

        Write indices relative to this range's own vertices (0 is the first vertex
        returned here), or the restart index (all bits set) to restart a strip.
        The upload checks them: any other index at or past ``vertex_count``
        raises ValueError naming it, and nothing of the frame is uploaded.
        """
        if not self._open:
            raise StagerError(
                "reserve_indexed() outside a frame: use it inside `with stager.frame() as frame:`."
            )
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
        if mode is None and program is None and layout is None and not uniforms and not textures:
            state = self._default
            if not self._default_checked:
                self._check_default("reserve_indexed")
        else:
            state = self._state("reserve_indexed", mode, program, layout, uniforms, textures)
        stager = self._stager
        if self._max_vertices is not None:
            stager._check_limit(self._vertex_total + nv, nv, "vertices", self._max_vertices)
        if stager.max_indices is not None:
            stager._check_limit(self._index_total + ni, ni, "indices", stager.max_indices)
        dtype = stager.index_dtype
        indices = self._indices
        if indices is None:
            indices = stager._index_stream
            indices.open_first(max(stager._index_hint.size, ni * dtype.itemsize), 64)
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
        last = self._last
        size = state.merge
        merges = (
            size
            and last is not None
            and last.kind == INDEXED
            and last.first + last.count == ifirst
            and not ni % size
            and not last.count % size
            and first - last.base + nv < stager._restart  # the offset indices fit the type
            and (last.state is state or last.state.same(state))
        )
        # Indices are offset to count from the draw's base vertex: the buffer's start
        # while they fit the index type, else the range's first vertex.
        base = 0 if merges or first + nv < stager._restart else first
        if base and not stager._indirect_vertex and stager._normalised(state):
            vertices.rollback(mark)
            indices.rollback(index_mark)
            raise StagerError(
                f"reserve_indexed: this range starts at vertex {first}, past what "
                f"{dtype} indices reach, which needs a base-vertex draw (GL 4.0; this "
                f"context is {stager.ctx.version_code}), and moderngl's VertexArray.bind "
                f"cannot re-point the normalised attributes of {layout!r}. Use "
                f"index_dtype='u4', or unnormalised formats."
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
            draw = Draw(INDEXED, state, ifirst, ni, base, len(self._ranges) - 1)
            self._push(draw)
            if base:
                self._has_commands = True
            if stager._restart == 0xFFFF:
                self._fixed_restart = True
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
        mesh: Mesh,
        count: int,
        *,
        mode: int | None = None,
        program: Any = None,
        layout: VertexLayout | None = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
    ) -> NDArray:
        """Reserve ``count`` per-instance records of ``layout`` (the stager's by
        default); the mesh is drawn once per record, in order with the other ranges.

        The program reads per-vertex attributes from the mesh's layout and
        per-instance ones from ``layout`` (a name in both is per instance);
        :class:`LayoutMismatchError` lists all three when one is missing. ``mode``
        defaults to the mesh's. Back-to-back instanced ranges of one mesh with
        equal state are one draw.
        """
        if not self._open:
            raise StagerError(
                "reserve_instances() outside a frame: use it inside "
                "`with stager.frame() as frame:`."
            )
        stager = self._stager
        _check_mesh(mesh, stager.ctx, "reserve_instances")
        n = non_negative_int(count, "reserve_instances: count")
        state = self._state(
            "reserve_instances",
            mesh.mode if mode is None else mode,
            program,
            layout,
            uniforms,
            textures,
            instanced=True,
        )
        binding = stager._binding(state.program, mesh.layout, state.layout, "reserve_instances")
        if self._max_vertices is not None:
            stager._check_limit(self._vertex_total + n, n, "vertices", self._max_vertices)
        layout = state.layout
        mark = self._vertices.mark()
        view, first = self._vertices.take(n, layout, layout.stride, layout.dtype)
        if first and not stager._indirect and any(b[4] for b in binding.instance_binds):
            self._vertices.rollback(mark)
            raise StagerError(
                f"reserve_instances: these records start past the frame buffer's start, which "
                f"needs a base-instance draw (GL 4.2; this context is "
                f"{stager.ctx.version_code}), and moderngl's VertexArray.bind cannot re-point "
                f"the normalised per-instance attributes of {layout!r}. Stage these instances "
                f"first in the frame, or use unnormalised formats."
            )
        self._vertex_total += n
        self._ranges.append((first, n))
        last = self._last
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
            self._push(Draw(INSTANCED, state, first, n, mesh, len(self._ranges) - 1))
            if first:  # records past the buffer's start: a base instance is needed
                self._has_commands = True
            if mesh.index_dtype == np.uint16:
                self._fixed_restart = True
        return view

    def draw(
        self,
        mesh: Mesh,
        *,
        mode: int | None = None,
        program: Any = None,
        uniforms: dict[str, Any] | None = None,
        textures: dict[int, Any] | None = None,
    ) -> None:
        """Draw retained geometry in order among this frame's ranges (``mode``: the
        mesh's by default; the program reads the mesh's attributes)."""
        if not self._open:
            raise StagerError(
                "draw() outside a frame: use it inside `with stager.frame() as frame:`."
            )
        _check_mesh(mesh, self._stager.ctx, "draw")
        try:
            state = self._state(
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
        self._ranges.append((0, mesh.draw_count))
        self._push(Draw(MESH, state, 0, mesh.draw_count, mesh, len(self._ranges) - 1))
        if mesh.index_dtype == np.uint16:
            self._fixed_restart = True

    # -- helpers -----------------------------------------------------------

    def _check_default(self, where: str) -> None:
        layout = self._default.layout
        if layout.usage == "i":
            raise ValueError(_per_instance_message(where, layout))
        self._stager._binding(self._default.program, layout, None, where)
        self._default_checked = self._stager._default_checked = True

    def _push(self, draw: Draw) -> None:
        self._draws.append(draw)
        self._last = draw

    def _state(
        self,
        where: str,
        mode: int | None,
        program: Any,
        layout: VertexLayout | None,
        uniforms: Any,
        textures: Any,
        *,
        instanced: bool = False,
    ) -> State:
        """Check one draw's options and fill in the stager's defaults.

        Checked states are cached on the stager by their options (when those are
        hashable: numbers, tuples, textures), and a draw whose uniforms and
        textures equal the last draw's reuses its state, so reserves that repeat
        their options, in a loop or frame after frame, check them once.
        """
        stager = self._stager
        states = stager._states
        try:
            key: Any = (mode, program, layout, instanced)
            if uniforms or textures:
                key += (
                    tuple(uniforms.items()) if uniforms else None,
                    tuple(textures.items()) if textures else None,
                )
            state = states.get(key)
        except (TypeError, AttributeError):  # unhashable, or not mappings: checked below
            state = key = None
        if state is not None:
            return state
        base = states.get((mode, program, layout, instanced)) if key is not None else None
        if base is None:
            base = self._checked_state(where, mode, program, layout, instanced=instanced)
        if not uniforms and not textures:
            return base
        last = self._last
        if last is not None:
            state = last.state
            if (
                state.mode == base.mode
                and state.program is base.program
                and state.layout is base.layout
                and equal(state.uniforms, uniforms or None)
                and equal(state.textures, textures or None)
            ):
                return state
        uniforms = check_uniforms(base.program, uniforms, where) if uniforms else None
        textures = (
            check_textures(textures, where, stager.ctx, stager._texture_units) if textures else None
        )
        state = State(base.mode, base.program, base.layout, uniforms, textures)
        if key is not None:  # hashable options hold no mutable values: safe to keep
            if len(states) >= _STATE_CACHE:
                states.clear()
            states[key] = state
        return state

    def _checked_state(
        self,
        where: str,
        mode: int | None,
        program: Any,
        layout: VertexLayout | None,
        *,
        instanced: bool,
    ) -> State:
        stager = self._stager
        key = (mode, program, layout, instanced)
        mode = stager._mode if mode is None else check_mode(mode, where)
        program = stager._program if program is None else stager._own_program(program, where)
        if layout is None:
            layout = stager.layout
        elif not isinstance(layout, VertexLayout):
            raise TypeError(
                f"{where}: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
            )
        if not instanced:
            if layout.usage == "i":
                raise ValueError(_per_instance_message(where, layout))
            stager._binding(program, layout, None, where)
        state = State(mode, program, layout, None, None)
        if len(stager._states) >= _STATE_CACHE:
            stager._states.clear()  # programs made and dropped per frame: keep it bounded
        stager._states[key] = state
        return state

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
        self._vertices.open_first(stager._vertex_hint.size, stager._vertex_hint.minimum)
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


def _check_mesh(mesh: object, ctx: Any, where: str) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{where}: expected a stagebuf Mesh; got {type(mesh).__name__} {mesh!r}.")
    mesh.check_usable(where)
    if mesh.ctx is not ctx:
        raise ValueError(
            f"{where}: the mesh belongs to another moderngl context than the stager's."
        )
    return mesh


def _per_instance_message(where: str, layout: VertexLayout) -> str:
    return (
        f"{where}: the layout {layout!r} is per instance (/i); per-instance records go to "
        f"frame.reserve_instances(mesh, count, layout=...)."
    )


class Stager:
    """Stages each frame's draw list on a second stack and uploads it to moderngl buffers.

    ``ctx`` is a moderngl context; ``layout``, ``program`` and ``mode`` are the
    defaults of every draw (each reserve may name its own). A program is
    checked against each layout it draws once per pair:
    :class:`LayoutMismatchError` lists both sides.

    Options (keyword-only): ``strategy`` is one of ``"ring"`` (``ring_size`` GL
    buffers rotated per frame, default 3), ``"orphan"`` (one buffer orphaned at
    constant capacity each frame, up to ``ORPHAN_LIMIT_BYTES``) or ``"write"``
    (plain writes into one buffer); ``index_dtype`` is ``"u4"`` (default) or
    ``"u2"``; ``max_vertices`` / ``max_indices`` cap one frame (``None``: no
    cap); ``initial_vertices`` sizes the first arena slice; ``stack`` is the
    :class:`Stack` to stage on (by default the stager owns one).

    GL buffers grow only at frame boundaries, to the next power of two at least
    twice their size; vertex arrays are cached per (GL buffer, program, layout),
    so a steady workload creates no GL object. ``frame()``'s upload and
    ``render()`` make the stager's context current and leave it current.
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
        index_dtype: Any = "u4",
        max_vertices: int | None = None,
        max_indices: int | None = None,
        initial_vertices: int = 1024,
        stack: Stack | None = None,
    ) -> None:
        if not isinstance(ctx, moderngl.Context):
            raise TypeError(
                f"Stager: ctx must be a moderngl.Context; got {type(ctx).__name__} {ctx!r}."
            )
        if not isinstance(layout, VertexLayout):
            raise TypeError(
                f"Stager: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
            )
        ring_size = non_negative_int(ring_size, "Stager: ring_size")
        if ring_size < 1:
            raise ValueError(f"Stager: ring_size must be at least 1; got {ring_size}.")
        if max_vertices is not None:
            max_vertices = non_negative_int(max_vertices, "Stager: max_vertices")
        if max_indices is not None:
            max_indices = non_negative_int(max_indices, "Stager: max_indices")
        initial_vertices = max(1, non_negative_int(initial_vertices, "Stager: initial_vertices"))
        if is_released(ctx):
            raise StagerError("Stager: the moderngl context was already released.")
        self.ctx = ctx
        self._layout = layout
        self._texture_units = int(ctx.max_texture_units)
        self._mode = check_mode(mode, "Stager")
        self._bindings: dict[tuple[Any, ...], Binding] = {}
        self._programs: set[Any] = set()  # programs checked against the layout
        self._states: dict[tuple[Any, ...], State] = {}  # checked draw states
        self._program = self._own_program(program, "Stager")
        self.index_dtype = index_dtype_ = _index_dtype(index_dtype)
        self._restart = int(np.iinfo(index_dtype_).max)
        self.max_vertices = max_vertices
        self.max_indices = max_indices
        self.stats = StagerStats()
        self._owns_stack = stack is None
        self._stack = stack if stack is not None else Stack(thread_safe=False)
        self._ring_size = ring_size
        self._strategy = ""
        self._slots: list[Slot] = []
        self._next_slot = 0
        self._drawn: Slot | None = None  # the slot holding the last uploaded frame
        self._draws: list[Draw] = []
        self._ranges: list[tuple[int, int]] = []
        self._mesh_vaos: dict[tuple[Any, Mesh], Any] = {}
        self._fixed_restart = False  # the last frame draws uint16 indices
        # Indirect draws carry a base vertex from GL 4.0 on, a base instance from 4.2.
        self._indirect_vertex = int(ctx.version_code) >= 400
        self._indirect = int(ctx.version_code) >= 420
        self._vertex_stream = Stream(self._stack)
        self._index_stream = Stream(self._stack)
        self._vertex_hint = SizeHint(initial_vertices * layout.stride)
        self._index_hint = SizeHint(4096)
        self._in_frame = False
        self._released = False
        self._new_default()
        self.strategy = strategy

    def __repr__(self) -> str:
        return (
            f"Stager(layout={self.layout!r}, strategy={self._strategy!r}, "
            f"slots={len(self._slots)}, frames={self.stats.frames})"
        )

    def __enter__(self) -> Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- settings ------------------------------------------------------------

    @property
    def program(self) -> Any:
        """The default program. Assigning one checks it first (a moderngl Program of
        this context whose attributes the layout feeds) and takes effect from the
        next ``frame()``; a refused program changes nothing."""
        return self._program

    @program.setter
    def program(self, program: Any) -> None:
        self._refuse_in_frame("Stager.program")
        self._program = self._own_program(program, "Stager.program")
        self._states.clear()  # cached states filled in the old default
        self._new_default()

    @property
    def mode(self) -> int:
        """The default draw mode (TRIANGLES unless given); assigning one checks it."""
        return self._mode

    @mode.setter
    def mode(self, mode: int) -> None:
        self._refuse_in_frame("Stager.mode")
        self._mode = check_mode(mode, "Stager.mode")
        self._states.clear()
        self._new_default()

    @property
    def layout(self) -> VertexLayout:
        """The default layout (fixed for the stager's life)."""
        return self._layout

    def _new_default(self) -> None:
        """The state of a range that names no option (checked at its first reserve)."""
        self._default_state = State(self._mode, self._program, self._layout, None, None)
        self._default_checked = False

    def _refuse_in_frame(self, what: str) -> None:
        if self._in_frame:
            raise StagerError(
                f"{what} changed inside an open frame: leave the `with` block first (a "
                f"change in the middle would apply to some ranges and not others)."
            )

    @property
    def strategy(self) -> str:
        """The upload strategy; assigning another (outside a frame) takes effect at
        the next upload and keeps the last frame drawable."""
        return self._strategy

    @strategy.setter
    def strategy(self, strategy: str) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"Stager: unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}."
            )
        self._refuse_in_frame("Stager.strategy")
        want = self._ring_size if strategy == "ring" else 1
        # Keep the slot holding the last frame, so render() still draws it.
        slots = [s for s in self._slots if s is self._drawn] + [
            s for s in self._slots if s is not self._drawn
        ]
        for slot in slots[want:]:
            slot.release()
        slots = slots[:want]
        while len(slots) < want:
            slots.append(Slot())
        self._slots = slots
        self._next_slot = 1 % want if self._drawn is not None else 0
        self._strategy = strategy

    # -- public API ----------------------------------------------------------

    def frame(self) -> Frame:
        """Open a frame: ``with stager.frame() as frame: frame.reserve(n) ...``.

        Leaving the block uploads what was reserved; if the block or the upload
        raised, nothing is uploaded and the previous frame stays drawable.
        """
        return Frame(self)

    def render(self, mode: int | None = None) -> None:
        """Draw the last uploaded frame's commands in order, each with its own state,
        into the bound framebuffer.

        ``mode`` (optional) draws every range in that mode instead of its own,
        one draw call per range. A uniform value given to a range holds for that
        range's draw; the others see the program's own value, which is restored
        when the frame is drawn.
        """
        self._check_usable("render()")
        if mode is not None:
            mode = check_mode(mode, "render")
        slot = self._drawn
        if slot is None:
            raise StagerError("render() before any frame was uploaded: stage a frame first.")
        make_current(self.ctx)  # draw on this stager's context, whatever is current
        calls = 0
        uniforms = DrawState()
        if self._fixed_restart:
            self.ctx.enable_direct(_FIXED_RESTART)
        try:
            for draw in self._draws:
                if not draw.count:
                    continue
                state = draw.state
                uniforms.apply(state.program, state.uniforms, state.textures)
                vao = self._vao(slot, draw)
                if mode is None or draw.kind >= INSTANCED:
                    calls += self._draw(vao, draw, state.mode if mode is None else mode)
                    continue
                calls += self._draw_ranges(vao, draw, mode)
        finally:
            uniforms.restore()
            if self._fixed_restart:
                self.ctx.disable_direct(_FIXED_RESTART)
            self.stats.draw_calls_last_render = calls

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The last uploaded frame's ranges, ``(first, count)`` each, in reserve order:
        vertices for plain ranges and instance records for instanced ones (counted
        from the start of the frame's vertex buffer in units of the range's layout),
        indices (into the index buffer) for indexed ones, ``(0, n)`` for mesh draws."""
        return list(self._ranges)

    @property
    def draw_list(self) -> list[tuple[str, int, int, int]]:
        """The last uploaded frame's draw calls as ``(kind, mode, first, count)``, kind
        one of ``"plain"``, ``"indexed"``, ``"instanced"``, ``"mesh"``, after merging."""
        kinds = ("plain", "indexed", "instanced", "mesh")
        return [(kinds[d.kind], d.state.mode, d.first, d.count) for d in self._draws]

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

    @property
    def gl_bytes(self) -> int:
        """Bytes of GL buffer memory the stager holds, all slots together."""
        return sum(slot.nbytes() for slot in self._slots)

    def release(self) -> None:
        """Release the GL buffers and vertex arrays; the stager is unusable afterwards."""
        if self._released:
            return
        if self._in_frame:
            raise StagerError("release() inside an open frame: leave the `with` block first.")
        if not is_released(self.ctx):
            make_current(self.ctx)
            for slot in self._slots:
                slot.release()
            for vao in self._mesh_vaos.values():
                vao.release()
        self._mesh_vaos.clear()
        forget_layouts(self._vertex_stream, self._index_stream)
        self._released = True
        self._drawn = None
        self._draws = []
        self._ranges = []
        if self._owns_stack:  # a caller's stack keeps its memory: it is theirs to trim
            self._stack.trim()

    def trim(self) -> int:
        """Give idle memory back after a burst; return the bytes released.

        Forgets the frame sizes seen so far, releases the arena's idle chunk (when
        the stager owns its stack) and the GL buffers of ring slots that do not
        hold the last frame; that one is re-made at the size the frames need when
        it is next written. The next frames re-learn their size (a frame bigger
        than its first slice opens a second one, so nothing is lost).
        """
        if self._in_frame:
            raise StagerError("trim() inside an open frame: leave the `with` block first.")
        self._vertex_hint.reset()
        self._index_hint.reset()
        forget_layouts(self._vertex_stream, self._index_stream)
        released = self._stack.trim() if self._owns_stack else 0
        if not self._released and not is_released(self.ctx):
            make_current(self.ctx)
            for slot in self._slots:
                if slot is self._drawn:
                    slot.shrink = True
                else:
                    released += slot.nbytes()
                    slot.release()
        return released

    # -- internals -----------------------------------------------------------

    def _own_program(self, program: Any, where: str) -> Any:
        """``program`` checked: a Program of this context whose attributes that the
        stager's layout names match it (others may come from a mesh)."""
        if program in self._programs:
            return program
        program = check_program(program, where)
        if program.ctx is not self.ctx:
            raise ValueError(
                f"{where}: the program belongs to another moderngl context than the stager's."
            )
        required = program_attributes(program)
        self.layout.check_attributes({n: s for n, s in required.items() if n in self.layout.names})
        self._programs.add(program)
        return program

    def _binding(
        self, program: Any, layout: VertexLayout, instance_layout: VertexLayout | None, where: str
    ) -> Binding:
        """How ``program`` reads ``layout`` (and ``instance_layout``): checked once per set."""
        key = (program, layout, instance_layout)
        binding = self._bindings.get(key)
        if binding is None:
            binding = Binding(program, layout, instance_layout)
            self._bindings[key] = binding
        return binding

    def _check_usable(self, what: str) -> None:
        if self._released:
            raise StagerError(f"{what} on a released Stager: make a new one.")
        if is_released(self.ctx):
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

    def _vao(self, slot: Slot, draw: Draw) -> Any:
        """The cached vertex array for a draw (made on first use)."""
        state = draw.state
        if draw.kind == MESH:
            mesh = draw.base
            mesh.check_usable("render()")
            key: tuple[Any, ...] = (state.program, mesh)
            vao = self._mesh_vaos.get(key)
            if vao is None:
                if len(self._mesh_vaos) >= _PRUNE_AT:
                    self._forget_released()
                binding = self._binding(state.program, mesh.layout, None, "render()")
                vao = self._make_vao(state.program, mesh.vertex_buffer, binding, mesh=mesh)
                self._mesh_vaos[key] = vao
            return vao
        if draw.kind == INSTANCED:
            draw.base.check_usable("render()")
            key = (state.program, state.layout, draw.base)
        else:
            key = (state.program, state.layout, draw.kind == INDEXED)
        vao = slot.vaos.get(key)
        if vao is None:
            if len(slot.vaos) >= _PRUNE_AT:
                self._forget_released()
            if draw.kind == INSTANCED:
                mesh = draw.base
                binding = self._binding(state.program, mesh.layout, state.layout, "render()")
                vao = self._make_vao(
                    state.program, mesh.vertex_buffer, binding, mesh=mesh, instances=slot.vbo
                )
            else:
                binding = self._binding(state.program, state.layout, None, "render()")
                ibo = slot.ibo if draw.kind == INDEXED else None
                vao = self._make_vao(state.program, slot.vbo, binding, ibo=ibo)
            slot.vaos[key] = vao
        return vao

    def _normalised(self, state: State) -> bool:
        """Whether the draw's program reads a normalised attribute of its layout."""
        binding = self._binding(state.program, state.layout, None, "reserve_indexed")
        return any(bind[4] for bind in binding.vertex_binds)

    def _forget_released(self) -> None:
        """Drop what the caches hold for released programs and meshes (vertex arrays,
        checked bindings and states), so that an application that makes and releases
        them as it goes (shader reloads, streamed meshes) does not pile them up."""
        for slot in self._slots:
            for key in [k for k in slot.vaos if any(map(_released, k))]:
                slot.vaos.pop(key).release()
                slot.offsets.pop(key, None)
        for key in [k for k in self._mesh_vaos if any(map(_released, k))]:
            self._mesh_vaos.pop(key).release()
        for bkey in [k for k in self._bindings if _released(k[0])]:
            del self._bindings[bkey]
        for skey in [k for k, state in self._states.items() if _released(state.program)]:
            del self._states[skey]
        self._programs = {p for p in self._programs if not _released(p)}

    def _make_vao(
        self,
        program: Any,
        vbo: Any,
        binding: Binding,
        *,
        ibo: Any = None,
        mesh: Mesh | None = None,
        instances: Any = None,
    ) -> Any:
        content = []
        if binding.vertex_names:
            content.append((vbo, binding.vertex_format, *binding.vertex_names))
        if instances is not None and binding.instance_names:
            content.append((instances, binding.instance_format, *binding.instance_names))
        size = self.index_dtype.itemsize
        if mesh is not None and mesh.index_dtype is not None:
            ibo, size = mesh.index_buffer, mesh.index_dtype.itemsize
        vao = self.ctx.vertex_array(
            program, content, index_buffer=ibo, index_element_size=size if ibo is not None else 4
        )
        self.stats.vertex_arrays_created += 1
        return vao

    def _draw(self, vao: Any, draw: Draw, mode: int) -> int:
        """Issue one draw call; return 1."""
        kind = draw.kind
        if draw.command >= 0:
            assert self._drawn is not None
            vao.render_indirect(self._drawn.ibo, mode, count=1, first=draw.command)
        elif kind == PLAIN:
            vao.render(mode, vertices=draw.count, first=draw.first)
        elif kind == INDEXED:
            self._point(vao, draw, draw.base * draw.state.layout.stride)
            vao.render(mode, vertices=draw.count, first=draw.first)
        elif kind == INSTANCED:
            self._point(vao, draw, draw.first * draw.state.layout.stride)
            vao.render(mode, vertices=draw.base.draw_count, instances=draw.count)
        else:
            vao.render(mode, vertices=draw.count)
        return 1

    def _draw_ranges(self, vao: Any, draw: Draw, mode: int) -> int:
        """Draw a plain or indexed draw's ranges one by one in ``mode``; return the calls."""
        ranges = self._ranges[draw.range_start : draw.range_start + draw.ranges]
        if draw.command >= 0:  # rebased: each range has its own indirect command
            assert self._drawn is not None
            commands = (
                [draw.command]
                if draw.ranges == 1
                else range(draw.command + 1, draw.command + 1 + draw.ranges)
            )
            for command, (_, count) in zip(commands, ranges, strict=True):
                if count:
                    vao.render_indirect(self._drawn.ibo, mode, count=1, first=command)
            return sum(1 for _, count in ranges if count)
        if draw.kind == INDEXED:
            self._point(vao, draw, draw.base * draw.state.layout.stride)
        calls = 0
        for first, count in ranges:
            if count:
                vao.render(mode, vertices=count, first=first)
                calls += 1
        return calls

    def _point(self, vao: Any, draw: Draw, offset: int) -> None:
        """Bind the draw's per-vertex (indexed) or per-instance attributes at ``offset``
        bytes into the frame's buffer: moderngl has no base-vertex or base-instance draw
        call, and contexts before GL 4.2 no indirect one with a base instance."""
        slot = self._drawn
        assert slot is not None
        state = draw.state
        if draw.kind == INSTANCED:
            key: tuple[Any, ...] = (state.program, state.layout, draw.base)
            binding = self._binding(state.program, draw.base.layout, state.layout, "render()")
            binds = binding.instance_binds
            divisor = 1
        else:
            key = (state.program, state.layout, True)
            binding = self._binding(state.program, state.layout, None, "render()")
            binds = binding.vertex_binds
            divisor = 0
        if slot.offsets.get(key, 0) == offset:
            return
        stride = state.layout.stride
        for location, cls, token, attr_offset, normalized in binds:
            if normalized:
                raise StagerError(
                    f"drawing at an offset on GL {self.ctx.version_code}: moderngl's "
                    f"VertexArray.bind cannot re-point the normalised attribute '{token}' "
                    f"(it drops the normalisation), and base-instance draws need GL 4.2. Use "
                    f"an unnormalised format, or a context of GL 4.2 or later."
                )
            vao.bind(
                location,
                cls,
                slot.vbo,
                token,
                offset=offset + attr_offset,
                stride=stride,
                divisor=divisor,
            )
        slot.offsets[key] = offset

    def _upload(self, frame: Frame) -> None:
        """Copy the frame's vertices (and indices) into the next GL buffer(s).

        New buffers are made and written first and put in place only once all
        went well, so a failure leaves the previous frame drawable.
        """
        self._check_usable("leaving a frame")
        verts = frame._vertices
        idx = frame._indices
        if frame._indexed:
            offset_indices(frame._indexed, self._restart)
            frame._draws = split_at_restarts(frame._draws, frame._indexed, frame._ranges)
        n_indices = 0 if idx is None else idx.nbytes // self.index_dtype.itemsize
        idx = self._commands(frame)
        vbytes = verts.nbytes
        ibytes = 0 if idx is None else idx.nbytes
        ctx = self.ctx
        make_current(ctx)  # upload into this stager's buffers, whatever context is current
        slot = self._slots[self._next_slot]
        vbo = ibo = None
        try:
            if slot.vbo is None or vbytes > slot.vbo_bytes or shrinks(slot, slot.vbo_bytes, vbytes):
                vbo, vsize = self._new_buffer(max(vbytes, 4))
            if ibytes and (
                slot.ibo is None or ibytes > slot.ibo_bytes or shrinks(slot, slot.ibo_bytes, ibytes)
            ):
                ibo, isize = self._new_buffer(ibytes)
            writes = self._write(vbo or slot.vbo, verts) if vbytes else 0
            if idx is not None and ibytes:
                writes += self._write(ibo or slot.ibo, idx)
            check_gl(ctx, "uploading a frame of {} bytes", vbytes + ibytes)
        except BaseException:
            for new in (vbo, ibo):
                if new is not None:
                    new.release()
            raise
        slot.replace(vbo, vsize if vbo is not None else 0, ibo, isize if ibo is not None else 0)
        slot.shrink = False
        self._drawn = slot
        self._draws = frame._draws
        self._ranges = frame._ranges
        # GL's fixed restart index is all ones for each index type: 0xFFFF for uint16
        # (moderngl's own restart index, 0xFFFFFFFF, only matches uint32).
        self._fixed_restart = frame._fixed_restart
        self._next_slot = (self._next_slot + 1) % len(self._slots)
        # Next frame's first slice fits this one's bytes: one slice once warm.
        self._vertex_hint.note(vbytes)
        self._index_hint.note(ibytes)
        stats = self.stats
        stats.frames += 1
        stats.vertices_last_frame = frame._vertex_total
        stats.indices_last_frame = n_indices
        stats.bytes_uploaded_last_frame = vbytes + ibytes
        stats.writes_last_frame = writes

    def _commands(self, frame: Frame) -> Stream | None:
        """Write an indirect draw command (GL 4.2) for each draw that starts past the
        buffer's start: instanced draws (base instance) and rebased indexed ones (base
        vertex). They go to the index stream, so the upload stays one write per buffer.
        Returns the index stream (made here when the frame had no indices)."""
        idx = frame._indices
        if not self._indirect_vertex or not frame._has_commands:
            return idx
        for draw in frame._draws:
            kind = draw.kind
            if not draw.count or not draw.base or kind in (PLAIN, MESH):
                continue  # drawn from the start of the buffer: no base to carry
            if kind == INSTANCED and (not draw.first or not self._indirect):
                continue
            if idx is None:
                idx = frame._indices = self._index_stream
                idx.open_first(_COMMAND.itemsize * 16, _COMMAND.itemsize)
            # A merged rebased draw also gets one command per range, for render(mode=).
            extra = draw.ranges if kind == INDEXED and draw.ranges > 1 else 0
            command, draw.command = idx.take(1 + extra, _COMMAND, _COMMAND.itemsize, _COMMAND)
            words = command["words"]
            if kind == INDEXED:  # count, instances, first index, base vertex, base instance
                words[0] = (draw.count, 1, draw.first, draw.base, 0)
                for j in range(extra):
                    first, count = frame._ranges[draw.range_start + j]
                    words[1 + j] = (count, 1, first, draw.base, 0)
            elif draw.base.index_dtype is not None:
                words[0] = (draw.base.index_count, draw.count, 0, 0, draw.first)
            else:  # count, instances, first vertex, base instance (and a spare word)
                words[0] = (draw.base.vertex_count, draw.count, 0, draw.first, 0)
        return idx

    def _new_buffer(self, needed: int) -> tuple[Any, int]:
        """A new GL buffer of the next capacity for ``needed`` bytes, checked: (buffer, bytes)."""
        size = grown(needed)
        buffer = self.ctx.buffer(reserve=size, dynamic=True)
        self.stats.buffers_created += 1
        try:
            check_gl(self.ctx, "creating a GL buffer of {} bytes", size)
        except BaseException:
            buffer.release()
            raise
        return buffer, size

    def _write(self, buffer: Any, stream: Stream) -> int:
        """Copy the stream's slices into ``buffer`` at their stream offsets; return the writes."""
        if self._strategy == "orphan" and buffer.size <= ORPHAN_LIMIT_BYTES:
            buffer.orphan()  # same size: the driver hands out fresh storage
        if len(stream.views) == 1:  # once warm: one slice, one write
            buffer.write(stream.views[0][: stream.used])
            return 1
        writes = 0
        for offset, chunk in stream.chunks():
            buffer.write(chunk, offset=offset)
            writes += 1
        return writes


def _index_dtype(value: object) -> np.dtype[Any]:
    try:
        return index_dtype(value)
    except ValueError as err:
        raise ValueError(f"Stager: {err}") from None


def _released(obj: object) -> bool:
    """A released moderngl object or Mesh (other cache-key parts are never released)."""
    return obj.released if isinstance(obj, Mesh) else is_released(obj)
