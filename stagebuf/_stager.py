"""The Stager: a whole frame's draw list, packed on the second stack and uploaded to
reused GPU buffers.

``with stager.frame() as frame`` (or ``frame = stager.begin()`` ...
``frame.end()``) opens one frame. Each ``frame.reserve(n)`` (or
``reserve_indexed``, ``reserve_instances``, ``reserve_attributes``, ``draw``)
is one draw command with its own state: mode, program, layout, uniforms,
textures and layer, the stager's own as defaults. Vertices of every layout go
to one byte stream in arena memory, indices to another, so ending the frame
uploads it with one write per GL buffer in steady state. ``stager.render()``
draws the commands in ascending layer, in reserve order within a layer.

The Stager is the facade over two halves: the recording
(:mod:`stagebuf._recording`, no GL) and a backend chosen by the context's type
(:mod:`stagebuf._backends`), which uploads and draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arena import Stack, non_negative_int
from ._backends import for_context
from ._errors import LayoutMismatchError, StackOverflowError, StagerError, StagingLimitError
from ._layout import VertexLayout
from ._mesh import Mesh
from ._recording._drawlist import KIND_NAMES, Draw, State
from ._recording._frame import Frame, RecordedFrame
from ._recording._indices import index_dtype
from ._recording._modes import TRIANGLES
from ._recording._programs import Binding, no_attributes_message
from ._recording._streams import HINT_WINDOW, SizeHint, Stream, forget_layouts

__all__ = ["HINT_WINDOW", "Stager", "StagerStats"]

_WATCHED_FRAMES = 3  # a new stager's frames that watch for uniforms set between reserves
_MAX_RING = 16  # GL buffers a ring may rotate: more frames in flight than any driver keeps


@dataclass
class StagerStats:
    """Counters of a :class:`Stager` (the ``*_last_frame`` ones describe the last upload)."""

    frames: int = 0
    """Frames uploaded."""
    frames_discarded: int = 0
    """Frames discarded, or whose ``with`` block or upload raised: nothing of them was
    uploaded."""
    vertices_last_frame: int = 0
    """Vertices and instance records of the last upload, all layouts together."""
    indices_last_frame: int = 0
    bytes_uploaded_last_frame: int = 0
    writes_last_frame: int = 0
    """``Buffer.write`` calls of the last upload (1 per GL buffer in steady state; 0
    under the "mapped" strategy, whose frames are written in place)."""
    fence_waits: int = 0
    """Frames that had to wait for the GPU to finish reading the ring slot they were
    about to write ("mapped" strategy; 0 under the others, where GL orders writes)."""
    draw_calls_last_render: int = 0
    buffers_created: int = 0
    """GL buffers created since the stager was made (flat once warm)."""
    vertex_arrays_created: int = 0
    """Vertex arrays created since the stager was made (flat once warm)."""
    arena_high_water_bytes: int = 0
    """The most bytes the stager's arena held at once."""
    arena_growths: int = 0
    """Chunks the stager's arena allocated (flat once warm)."""


class Stager:
    """Stages each frame's draw list on a second stack and uploads it to GPU buffers.

    ``ctx`` is a moderngl context; ``layout``, ``program`` and ``mode`` are the
    defaults of every draw (each reserve may name its own). A program is
    checked against each layout it draws once per pair:
    :class:`LayoutMismatchError` lists both sides.

    Options (keyword-only): ``strategy`` is one of ``"mapped"`` (``ring_size``
    GL buffers, at least 2, each mapped persistently: the frame's views point
    straight into GPU-visible memory and the upload copies nothing; GL 4.4 or
    ARB_buffer_storage), ``"ring"`` (``ring_size`` GL buffers rotated per
    frame, default 3), ``"orphan"`` (one buffer orphaned at
    constant capacity each frame, up to ``ORPHAN_LIMIT_BYTES``) or ``"write"``
    (plain writes into one buffer); by default (None) "mapped" where it works
    and "ring" elsewhere (``STAGEBUF_NO_MAPPED=1`` forces "ring"), and
    ``stager.strategy`` says which runs; ``index_dtype`` is ``"u4"`` (default) or
    ``"u2"``; ``max_vertices`` / ``max_indices`` cap one frame (``None``: no
    cap); ``initial_vertices`` sizes the first arena slice; ``stack`` is the
    :class:`Stack` to stage on (by default the stager owns one).

    GL buffers grow only at frame boundaries, to the next power of two at least
    twice their size; vertex arrays are cached per (GL buffer, program, layout),
    so a steady workload creates no GL object. Every GL call runs on the
    stager's own context, and what was current before is current again after.
    """

    def __init__(
        self,
        ctx: Any,
        layout: VertexLayout,
        program: Any,
        *,
        strategy: str | None = None,
        ring_size: int = 3,
        mode: int = TRIANGLES,
        index_dtype: Any = "u4",
        max_vertices: int | None = None,
        max_indices: int | None = None,
        initial_vertices: int = 1024,
        stack: Stack | None = None,
    ) -> None:
        backend = for_context(ctx, "Stager")
        if not isinstance(layout, VertexLayout):
            raise TypeError(
                f"Stager: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
            )
        ring_size = non_negative_int(ring_size, "Stager: ring_size")
        if not 1 <= ring_size <= _MAX_RING:
            raise ValueError(
                f"Stager: ring_size must be from 1 to {_MAX_RING} (frames in flight); got "
                f"{ring_size}."
            )
        if stack is not None and not isinstance(stack, Stack):
            raise TypeError(
                f"Stager: stack must be a stagebuf.Stack; got {type(stack).__name__} {stack!r}."
            )
        initial_vertices = max(1, non_negative_int(initial_vertices, "Stager: initial_vertices"))
        if backend.is_released():
            raise StagerError("Stager: the moderngl context was already released.")
        self.ctx = ctx
        self._backend = backend
        self._layout = layout
        self._mode = backend.check_mode(mode, "Stager")
        self._bindings: dict[tuple[Any, ...], Binding] = {}
        self._pairs: dict[tuple[State, Any], Binding] = {}  # (instanced state, mesh) checked
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
        initial_bytes = initial_vertices * layout.stride
        limit = self._stack.max_capacity
        if limit is not None and initial_bytes > limit:
            raise ValueError(
                f"Stager: initial_vertices={initial_vertices} needs {initial_bytes} bytes of "
                f"{layout!r}, past the stack's max_capacity of {limit} bytes."
            )
        self._vertex_stream = Stream(self._stack)
        self._index_stream = Stream(self._stack)
        self._vertex_hint = SizeHint(initial_bytes)
        self._index_hint = SizeHint(4096)
        self._frame: Frame | None = None  # the open frame
        # Frames whose reserves compare uniform values (UniformBetweenReservesWarning).
        self._watch_frames = _WATCHED_FRAMES
        self._released = False
        self._draws: list[Draw] = []  # the drawn frame's draws, in drawing order
        self._ranges: list[tuple[int, int]] = []
        self._uploader = uploader = backend.uploader(ring_size)
        # Memory the backend lends a frame to write into (a mapped GL buffer), where
        # its uploader has any: None for a backend without (then the arena's).
        self._window = getattr(uploader, "window", None)
        self._renderer = backend.renderer(
            self._binding, self._forget_released, index_dtype_.itemsize
        )
        self._new_default()
        if strategy is None:
            strategy = getattr(backend, "default_strategy", None) or backend.strategies[0]
        self.strategy = strategy

    def __repr__(self) -> str:
        return (
            f"Stager(layout={self.layout!r}, strategy={self.strategy!r}, "
            f"slots={len(self._uploader.slots)}, frames={self.stats.frames})"
        )

    def __enter__(self) -> Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()  # an open frame is discarded: the block's own exception goes on

    @property
    def open_frame(self) -> Frame | None:
        """The frame open now (from ``begin()`` or a ``with`` block), or None: a frame
        whose reference was lost can still be ended or discarded through it."""
        return self._frame

    # -- settings ------------------------------------------------------------

    @property
    def program(self) -> Any:
        """The default program. Assigning one checks it first (a moderngl Program of
        this context whose attributes the layout feeds) and takes effect from the
        next frame; a refused program changes nothing."""
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
        return int(self._mode)

    @mode.setter
    def mode(self, mode: int) -> None:
        self._refuse_in_frame("Stager.mode")
        self._mode = self._backend.check_mode(mode, "Stager.mode")
        self._states.clear()
        self._new_default()

    @property
    def layout(self) -> VertexLayout:
        """The default layout (fixed for the stager's life)."""
        return self._layout

    @property
    def max_vertices(self) -> int | None:
        """Most vertices (and instance records) one frame may hold (None: no cap);
        assigning checks the value and takes effect from the next frame."""
        return self._max_vertices

    @max_vertices.setter
    def max_vertices(self, value: int | None) -> None:
        self._max_vertices = _cap(value, "Stager: max_vertices")

    @property
    def max_indices(self) -> int | None:
        """Most indices one frame may hold (None: no cap); checked when assigned."""
        return self._max_indices

    @max_indices.setter
    def max_indices(self, value: int | None) -> None:
        self._max_indices = _cap(value, "Stager: max_indices")

    def _new_default(self) -> None:
        """The state of a range that names no option (checked at its first reserve)."""
        self._default_state = State(self._mode, self._program, self._layout, None, None)
        self._default_checked = False

    def _refuse_in_frame(self, what: str) -> None:
        if self._frame is not None:
            raise StagerError(
                f"{what} cannot change inside an open frame (nothing was changed, and the "
                f"frame is still open): end the frame first (a change in the middle would "
                f"apply to some ranges and not others)."
            )

    @property
    def strategy(self) -> str:
        """The upload strategy; assigning another (outside a frame) takes effect at
        the next upload and keeps the last frame drawable."""
        return str(self._uploader.strategy)

    @strategy.setter
    def strategy(self, strategy: str) -> None:
        strategies = self._backend.strategies
        if strategy not in strategies:
            raise ValueError(
                f"Stager: unknown strategy {strategy!r}; expected one of {', '.join(strategies)}."
            )
        self._refuse_in_frame("Stager.strategy")
        self._check_usable("Stager.strategy")
        self._uploader.set_strategy(strategy)

    # -- public API ----------------------------------------------------------

    def frame(self) -> Frame:
        """A frame to open with ``with stager.frame() as frame: frame.reserve(n) ...``.

        Leaving the block uploads what was reserved; if the block or the upload
        raised, nothing is uploaded and the previous frame stays drawable.
        """
        return Frame(self)

    def begin(self) -> Frame:
        """Open a frame without a ``with`` block; close it with ``frame.end()`` (upload)
        or ``frame.discard()``. Only one frame is open at a time."""
        return Frame(self).__enter__()

    def render(self, mode: int | None = None) -> None:
        """Draw the last uploaded frame's commands, each with its own state, into the
        bound framebuffer: in ascending layer, in reserve order within a layer.

        ``mode`` (optional) draws every range in that mode instead of its own,
        one draw call per range. A uniform value given to a range holds for that
        range's draw; the others see the program's own value, which is restored
        when the frame is drawn. Raises :class:`StagerError` while a frame is
        open (it would draw the previous frame, not the one being staged).
        """
        self._check_usable("render()")
        if self._frame is not None:
            raise StagerError(
                "render() while a frame is open would draw the previous frame: end the "
                "frame first (leave its `with` block, or call frame.end())."
            )
        if mode is not None:
            mode = self._backend.check_mode(mode, "render")
        uploader = self._uploader
        slot = uploader.drawn_slot("render()")
        calls = 0
        try:
            # On this stager's context, whatever is current; that is current again after.
            with self._backend.current():
                calls = self._renderer.render(
                    slot, self._draws, self._ranges, mode, uploader.fixed_restart, uploader.slots
                )
        except (TypeError, AttributeError) as err:
            self._released_since_named(err)
            raise
        finally:
            self.stats.draw_calls_last_render = calls
            self.stats.vertex_arrays_created = self._renderer.vertex_arrays_created

    def _released_since_named(self, err: BaseException) -> None:
        """Say which program or texture of the frame was released after a reserve named
        it (GL refuses it, in moderngl's words), when one was."""
        released = self._backend.released
        for draw in self._draws:
            state = draw.state
            gone = "program" if released(state.program) else None
            for unit, texture in (state.textures or {}).items():
                if gone is None and released(texture):
                    gone = f"texture for unit {unit}"
            if gone is not None:
                with self._backend.current():
                    self._forget_released()  # the next reserve naming it is refused there
                raise StagerError(
                    f"render(): the {gone} of a range was released after the frame named "
                    f"it; stage a new frame without it."
                ) from err

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The last uploaded frame's ranges, ``(first, count)`` each, in reserve order:
        vertices for plain ranges, instance records for instanced ones and streamed
        records for ``reserve_attributes`` ones (counted from the start of the
        frame's vertex buffer in units of the range's layout), indices (into the
        index buffer) for indexed ones, ``(0, n)`` for mesh draws."""
        return list(self._ranges)

    @property
    def draw_list(self) -> list[tuple[str, int, int, int]]:
        """The last uploaded frame's draw calls as ``(kind, mode, first, count)``, kind
        one of ``"plain"``, ``"indexed"``, ``"instanced"``, ``"mesh"``, ``"streamed"``,
        after merging, in drawing order (ascending layer)."""
        return [(KIND_NAMES[d.kind], d.state.mode, d.first, d.count) for d in self._draws]

    @property
    def vertex_buffer(self) -> Any:
        """The GL buffer holding the last uploaded frame's vertices (None before one)."""
        drawn = self._uploader.drawn
        return None if drawn is None else drawn.vbo

    @property
    def index_buffer(self) -> Any:
        """The GL buffer holding the last uploaded frame's indices (None when unused)."""
        drawn = self._uploader.drawn
        return None if drawn is None else drawn.ibo

    @property
    def stack(self) -> Stack:
        """The second stack this stager stages on."""
        return self._stack

    @property
    def gl_bytes(self) -> int:
        """Bytes of GL buffer memory the stager holds, all slots together."""
        return int(self._uploader.nbytes)

    def release(self) -> None:
        """Release the GL buffers and vertex arrays (an open frame is discarded first);
        the stager is unusable afterwards."""
        if self._released:
            return
        if self._frame is not None:
            self._frame.discard()  # released with the stager: nothing of it uploaded
        if self._backend.is_released():
            self._renderer.forget()  # the context took them with it
            self._uploader.release()
        else:
            with self._backend.current():
                self._renderer.release()
                self._uploader.release()
        forget_layouts(self._vertex_stream, self._index_stream)
        self._released = True
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
        if self._frame is not None:
            raise StagerError("trim() inside an open frame: end the frame first.")
        self._vertex_hint.reset()
        self._index_hint.reset()
        forget_layouts(self._vertex_stream, self._index_stream)
        released = self._stack.trim() if self._owns_stack else 0
        if not self._released:
            released += self._uploader.trim()
        return released

    # -- the frame's half (called by Frame) ---------------------------------

    def _open_frame(self, frame: Frame) -> None:
        self._check_usable("frame()")
        if self._frame is not None:
            raise StagerError(
                "frames cannot nest: the previous frame is still open (leave its `with` "
                "block, or call frame.end() or frame.discard(); stager.open_frame is it)."
            )
        hint = self._vertex_hint
        window = self._window
        # 0: the vertex stream (1: the index stream); checked mode poisons stale bytes.
        lent = window(0, hint.need, self._stack.checked) if window is not None else None
        try:
            if lent is not None:
                self._vertex_stream.open_window(*lent)  # the frame is written in place
            else:
                self._vertex_stream.open_first(hint.size, hint.minimum)
        except StackOverflowError as err:
            raise StackOverflowError(
                f"frame(): the frame's first arena slice of {hint.minimum} bytes "
                f"(initial_vertices of {self.layout!r}) does not fit the stack: {err}",
                requested_bytes=err.requested_bytes,
                limit_bytes=err.limit_bytes,
            ) from err
        self._frame = frame

    def _open_indices(self, nbytes: int, first: int) -> None:
        """Open the frame's index stream for ``nbytes`` (``first``: the first indexed
        reserve's bytes)."""
        window = self._window
        need = max(self._index_hint.need, first)
        lent = window(1, need, self._stack.checked) if window is not None else None
        if lent is not None:
            self._index_stream.open_window(*lent)
        else:
            self._index_stream.open_first(nbytes, 64)

    def _submit(self, recorded: RecordedFrame) -> None:
        """Upload an ended frame; it becomes the frame ``render()`` draws."""
        self._check_usable("leaving a frame")
        uploader = self._uploader
        writes = uploader.upload(recorded, self.index_dtype)
        self._draws = recorded.draws
        self._ranges = recorded.ranges
        vbytes = recorded.vertices.nbytes
        ibytes = 0 if recorded.indices is None else recorded.indices.nbytes
        # Next frame's first slice fits this one's bytes: one slice once warm.
        self._vertex_hint.note(vbytes)
        self._index_hint.note(ibytes)
        stats = self.stats
        stats.frames += 1
        stats.vertices_last_frame = recorded.vertex_count
        stats.indices_last_frame = recorded.index_count
        stats.bytes_uploaded_last_frame = vbytes + ibytes
        stats.writes_last_frame = writes
        stats.buffers_created = uploader.buffers_created
        stats.fence_waits = getattr(uploader, "fence_waits", 0)

    def _check_mesh(self, mesh: Any, where: str) -> None:
        if not isinstance(mesh, Mesh):
            raise TypeError(
                f"{where}: expected a stagebuf Mesh; got {type(mesh).__name__} {mesh!r}."
            )
        mesh.check_usable(where)
        if not self._backend.owns(mesh):
            raise ValueError(
                f"{where}: the mesh belongs to another moderngl context than the stager's."
            )

    def _own_program(self, program: Any, where: str) -> Any:
        """``program`` checked: a program of this context whose attributes that the
        stager's layout names match it (others may come from a mesh)."""
        if program in self._programs:
            return program
        backend = self._backend
        program = backend.check_program(program, where)
        required = backend.describe(program).required()
        if not required:
            raise LayoutMismatchError(f"{where}: {no_attributes_message(self.layout)}")
        self.layout.check_attributes({n: s for n, s in required.items() if n in self.layout.names})
        self._programs.add(program)
        return program

    def _binding(
        self,
        program: Any,
        layout: VertexLayout,
        second: VertexLayout | None,
        where: str,
        streamed: bool = False,
    ) -> Binding:
        """How ``program`` reads ``layout`` (and ``second``, per instance or streamed):
        checked once per set."""
        key = (program, layout, second, streamed)
        binding = self._bindings.get(key)
        if binding is None:
            binding = Binding(self._backend.describe(program), layout, second, streamed=streamed)
            check = getattr(self._backend, "check_binding", None)
            if check is not None:  # formats a backend cannot draw are refused at the reserve
                check(binding, where)
            self._bindings[key] = binding
        return binding

    def _normalised(self, state: State) -> bool:
        """Whether the draw's program reads a normalised attribute of its layout."""
        binding = self._binding(state.program, state.layout, None, "reserve_indexed")
        return any(bind[4] for bind in binding.vertex_binds)

    def _check_usable(self, what: str) -> None:
        if self._released:
            raise StagerError(f"{what} on a released Stager: make a new one.")
        if self._backend.is_released():
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

    def _forget_released(self) -> None:
        """Drop what the caches hold for released programs and meshes (vertex arrays,
        checked bindings and states), so that an application that makes and releases
        them as it goes (shader reloads, streamed meshes) does not pile them up."""
        released = self._backend.released
        self._renderer.forget_released(self._uploader.slots)
        for bkey in [k for k in self._bindings if released(k[0])]:
            del self._bindings[bkey]
        for skey in [k for k, state in self._states.items() if _holds_released(state, released)]:
            del self._states[skey]
        for pkey in [k for k in self._pairs if released(k[0].program) or released(k[1])]:
            del self._pairs[pkey]
        self._programs = {p for p in self._programs if not released(p)}
        self._backend.forget_released()


def _holds_released(state: State, released: Any) -> bool:
    """Whether a state names a released program or texture."""
    return bool(released(state.program)) or any(
        released(texture) for texture in (state.textures or {}).values()
    )


def _cap(value: object, what: str) -> int | None:
    return None if value is None else non_negative_int(value, what)


def _index_dtype(value: object) -> np.dtype[Any]:
    try:
        return index_dtype(value)
    except ValueError as err:
        raise ValueError(f"Stager: {err}") from None
