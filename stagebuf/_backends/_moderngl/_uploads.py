"""Uploading a recorded frame into a stager's GL buffers, by strategy.

An :class:`Uploader` owns the ring slots (a vertex buffer, an index buffer and
the vertex arrays over them) and writes each ended frame into the next one:
``"ring"`` rotates ``ring_size`` slots, ``"orphan"`` orphans one buffer at
constant capacity before each write, ``"write"`` writes one buffer in place.
``"mapped"`` rotates ``max(ring_size, 2)`` slots whose buffers stay mapped:
:meth:`Uploader.window` hands the next slot's mapping to the frame being
opened (after waiting on that slot's fence), the frame's items are views into
it, and the upload copies nothing; a frame that outgrew the mapping (or opened
in arena memory) is written into a bigger mapped buffer at its end. Buffers
grow only at frame boundaries. Indirect draw commands (a base vertex
or a base instance) go to the end of the frame's vertex stream, so the upload
stays one write per GL buffer and a frame without indices writes one buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..._arena._checked import POISON_BYTE
from ..._errors import StagerError
from ..._recording._drawlist import INDEXED, INSTANCED, MESH, PLAIN, STREAMED
from ..._recording._frame import RecordedFrame
from ..._recording._streams import Stream
from ._current import on
from ._gl import check_gl, is_released
from ._glfuncs import GlFuncs
from ._mapping import MappedBuffer, has_left, leave, sweep
from ._slots import Slot, grown, shrinks

if TYPE_CHECKING:
    from . import ModernglBackend

__all__ = ["ORPHAN_LIMIT_BYTES", "STRATEGIES", "Uploader"]

STRATEGIES = ("ring", "orphan", "write", "mapped")
"""Upload strategies: a ring of GL buffers rotated per frame, one buffer orphaned at
constant capacity before each write, plain writes into one buffer, or a ring of
persistently mapped buffers the frame is written into (no copy; GL 4.4 or
ARB_buffer_storage). The default is "mapped" where it works, else "ring"."""

VERTICES, INDICES = 0, 1
"""Which stream :meth:`Uploader.window` is asked for."""

ORPHAN_LIMIT_BYTES = 16 << 20
"""The "orphan" strategy orphans buffers up to this size and writes bigger ones in
place: orphaning a big buffer makes some drivers (llvmpipe) allocate and
page-fault fresh storage every frame, which costs more than the stall it avoids."""

# One indirect draw command as moderngl reads them (20 bytes apart, arrays too).
_COMMAND = np.dtype([("words", np.uint32, 5)])


class Uploader:
    """A stager's GL buffers and the upload of each frame into them."""

    __slots__ = (
        "backend",
        "buffers_created",
        "ctx",
        "drawn",
        "fence_waits",
        "fixed_restart",
        "lost",
        "next_slot",
        "retired",
        "ring_size",
        "slots",
        "strategy",
    )

    def __init__(self, backend: ModernglBackend, ring_size: int) -> None:
        self.backend = backend
        self.ctx = backend.ctx
        self.ring_size = ring_size
        self.strategy = ""
        self.slots: list[Slot] = []
        self.next_slot = 0
        self.drawn: Slot | None = None  # the slot holding the last uploaded frame
        # Why the frame on screen can no longer be drawn: a failed upload had begun
        # overwriting the buffer it shares with it (one-slot strategies).
        self.lost: str | None = None
        self.fixed_restart = False  # the drawn frame reads uint16 indices
        self.buffers_created = 0
        self.fence_waits = 0  # frames that waited for the GPU to finish with their slot
        self.retired: list[MappedBuffer] = []  # mapped buffers let go of, views alive

    def set_strategy(self, strategy: str) -> None:
        """Switch strategy, keeping the slot that holds the last frame (render() still
        draws it); surplus slots' buffers are released on this stager's context.
        StagerError names what is missing when ``"mapped"`` cannot run here."""
        if strategy == "mapped":
            problem = self.backend.gl().problem
            if problem is not None:
                raise StagerError(
                    f"Stager: strategy 'mapped' cannot run on this context: {problem}. "
                    f"Use 'ring' (the default where mapping does not work)."
                )
        if strategy == "ring":
            want = self.ring_size
        elif strategy == "mapped":
            # Two slots at least: the frame being written is never the one on screen,
            # so a discarded or failed frame leaves that one drawable.
            want = max(self.ring_size, 2)
        else:
            want = 1
        slots = [s for s in self.slots if s is self.drawn] + [
            s for s in self.slots if s is not self.drawn
        ]
        surplus, slots = slots[want:], slots[:want]
        self._release(surplus)
        while len(slots) < want:
            slots.append(Slot(self.retired))
        self.slots = slots
        self.next_slot = 1 % want if self.drawn is not None else 0
        self.strategy = strategy

    @property
    def nbytes(self) -> int:
        """Bytes of GL buffer memory held, all slots together."""
        return sum(slot.nbytes() for slot in self.slots)

    def upload(self, frame: RecordedFrame, index_dtype: np.dtype[Any]) -> int:
        """Write the frame into the next slot; return the ``Buffer.write`` calls.

        New buffers are made and written first and put in place only once all
        went well, so a failure leaves the previous frame drawable, unless the
        write had begun into the very buffer that frame is drawn from (one slot):
        then render() refuses to draw it (see ``lost``).
        """
        fixed_restart = self._commands(frame, index_dtype)
        # Upload into this stager's buffers, whatever context is current, and put that back.
        with on(self.ctx):
            if self.strategy == "mapped":
                writes = self._upload_mapped(frame, fixed_restart)
            else:
                writes = self._upload(frame, fixed_restart)
            self._sweep()  # mapped buffers retired earlier, once no view reads them
            return writes

    # -- "mapped" --------------------------------------------------------------

    def window(self, which: int, nbytes: int, poison: bool) -> tuple[Any, dict[object, Any]] | None:
        """The next slot's mapping for the frame being opened (``which``: VERTICES or
        INDICES), as ``(uint8 view, its typed-view cache)``, when the strategy is
        "mapped" and the mapping holds ``nbytes``; else None (the frame stages in
        arena memory and the upload copies it). Waits for the GPU to finish with the
        slot first; never hands out memory a draw may still read. ``poison`` (checked
        mode) fills the mapping with POISON_BYTE first: views kept from an earlier
        frame of this slot then read poison, as stale arena views do."""
        if self.strategy != "mapped":
            return None
        slot = self.slots[self.next_slot]
        mapped = slot.vmap if which == VERTICES else slot.imap
        if mapped is None or mapped.window is None or nbytes > mapped.size:
            return None
        if shrinks(slot, mapped.size, nbytes):
            return None  # after trim(): the upload re-makes it smaller
        if slot.fence:
            with on(self.ctx):
                self._wait(slot)
        if poison:
            mapped.window.fill(POISON_BYTE)  # stale views of this slot read poison
        return mapped.window, mapped.typed

    def _wait(self, slot: Slot) -> None:
        """Wait until the GPU is done with ``slot`` (counted when it was not yet)."""
        gl, fence = slot.gl, slot.fence
        if gl is not None and fence:
            # An interrupted wait keeps the fence: the next frame there waits again.
            if gl.wait(fence):
                self.fence_waits += 1
            gl.delete_fence(fence)
        slot.fence = 0

    def _upload_mapped(self, frame: RecordedFrame, fixed_restart: bool) -> int:
        """The frame is in the slot's mappings already (nothing to do) or not (it
        opened in arena memory, or outgrew the mapping): then it is written into
        the slot's mapped buffer, a bigger new one when needed, and a fence orders
        the next CPU write of the slot after that GPU-side copy."""
        gl = self.backend.gl()
        # A frame in arena memory is written with Buffer.write, which GL orders after
        # the draws still reading the slot: no wait for the fence here.
        slot = self.slots[self.next_slot]
        verts, idx = frame.vertices, frame.indices
        vmap = imap = None
        writes = 0
        try:
            vmap, w = self._into_mapping(slot, slot.vmap, verts, gl)
            writes += w
            if idx is not None and idx.nbytes:
                imap, w = self._into_mapping(slot, slot.imap, idx, gl)
                writes += w
            check_gl(self.ctx, "uploading a frame of {} bytes", verts.nbytes)
        except BaseException:
            for new in (vmap, imap):
                if new is not None:
                    new.close(gl)  # never handed out: no view of it exists
            raise
        if vmap is not None or imap is not None:
            slot.replace_mapped(vmap, imap, gl)
        slot.shrink = False
        if writes:
            slot.refence()
        self.drawn = slot
        self.lost = None
        self.fixed_restart = fixed_restart
        self.next_slot = (self.next_slot + 1) % len(self.slots)
        return writes

    def _into_mapping(
        self, slot: Slot, mapped: MappedBuffer | None, stream: Stream, gl: GlFuncs
    ) -> tuple[MappedBuffer | None, int]:
        """Get ``stream`` into the slot's mapped buffer: ``(a new buffer or None, writes)``."""
        views = stream.views
        nbytes = stream.nbytes
        inside = mapped is not None and bool(views) and views[0] is mapped.window
        if inside and len(views) == 1:
            return None, 0  # written in place: the zero-copy frame
        new = None
        if (
            mapped is None
            or inside  # outgrew it: copying its own bytes onto themselves is not allowed
            or nbytes > mapped.size
            or shrinks(slot, mapped.size, nbytes)
            or slot.gl is None
        ):
            new = self._new_mapped(max(nbytes, 4), gl)
        target = new if new is not None else mapped
        assert target is not None
        return new, self._write(target.buffer, stream) if nbytes else 0

    def _new_mapped(self, needed: int, gl: GlFuncs) -> MappedBuffer:
        """A new GL buffer for ``needed`` bytes with immutable storage, mapped."""
        buffer, size = self._new_buffer(needed)
        try:
            address = gl.storage(buffer.glo, size)
            check_gl(self.ctx, "creating a GL buffer of {} bytes", size)
            if not address:
                raise StagerError(
                    f"mapping a GL buffer of {size} bytes failed: glMapBufferRange returned "
                    f"NULL (GL error {self.ctx.error})."
                )
        except BaseException:
            buffer.release()
            raise
        return MappedBuffer(buffer, size, address)

    def _upload(self, frame: RecordedFrame, fixed_restart: bool) -> int:
        ctx = self.ctx
        verts = frame.vertices
        idx = frame.indices
        vbytes = verts.nbytes
        ibytes = 0 if idx is None else idx.nbytes
        slot = self.slots[self.next_slot]
        shared = slot is self.drawn  # one slot: the frame on screen lives in it
        vbo = ibo = None
        vsize = isize = 0
        touched = False
        try:
            # A mapped buffer (left by a switch from "mapped") is replaced, not written.
            if (
                slot.vbo is None
                or slot.vmap is not None
                or vbytes > slot.vbo_bytes
                or shrinks(slot, slot.vbo_bytes, vbytes)
            ):
                vbo, vsize = self._new_buffer(max(vbytes, 4))
            if ibytes and (
                slot.ibo is None
                or slot.imap is not None
                or ibytes > slot.ibo_bytes
                or shrinks(slot, slot.ibo_bytes, ibytes)
            ):
                ibo, isize = self._new_buffer(ibytes)
            writes = 0
            if vbytes:
                touched = vbo is None
                writes += self._write(vbo or slot.vbo, verts)
            if idx is not None and ibytes:
                touched = touched or ibo is None
                writes += self._write(ibo or slot.ibo, idx)
            check_gl(ctx, "uploading a frame of {} bytes", vbytes + ibytes)
        except BaseException as err:
            for new in (vbo, ibo):
                if new is not None:
                    new.release()
            if shared and touched:
                self.lost = (
                    f"the upload of a later frame failed ({type(err).__name__}: {err}) after it "
                    f"had begun overwriting the GL buffer this frame is drawn from (strategy "
                    f"{self.strategy!r} with one buffer)"
                )
            raise
        slot.replace(vbo, vsize, ibo, isize)
        slot.shrink = False
        self.drawn = slot
        self.lost = None
        self.fixed_restart = fixed_restart
        self.next_slot = (self.next_slot + 1) % len(self.slots)
        return writes

    def drawn_slot(self, what: str) -> Slot:
        """The slot holding the frame to draw; StagerError when there is none."""
        if self.lost is not None:
            raise StagerError(
                f"{what}: the frame on screen is gone: {self.lost}. Stage a new frame; the "
                f"'ring' strategy with ring_size >= 2 keeps the previous frame drawable "
                f"through a failed upload."
            )
        if self.drawn is None:
            raise StagerError(f"{what} before any frame was uploaded: stage a frame first.")
        return self.drawn

    def trim(self) -> int:
        """Release the buffers of slots that do not hold the last frame (that one is
        re-made at the size the frames need when next written); return the bytes."""
        released = 0
        if is_released(self.ctx):
            return released
        with on(self.ctx):
            for slot in self.slots:
                if slot is self.drawn:
                    slot.shrink = True
                else:
                    released += slot.nbytes()
                    slot.release()
            self._sweep()
        return released

    def release(self) -> None:
        self._release(self.slots)
        self.drawn = None
        if self.retired:  # still read by kept views: freed by a later sweep on ctx
            if is_released(self.ctx):
                for mapped in self.retired:
                    mapped.forget()
                self.retired.clear()
            else:
                leave(self.ctx, self.retired)

    def _sweep(self) -> None:
        """Unmap and delete retired buffers that no view reads, this stager's and those
        released stagers of the context left (context current)."""
        if self.retired or has_left():
            sweep(self.ctx, self.retired, self.backend.gl())

    def _release(self, slots: list[Slot]) -> None:
        """Release ``slots``' GL objects on their own context, or forget them when that
        context is gone (GL names are reused: deleting them elsewhere hits another
        context's objects)."""
        if not slots:
            return
        if is_released(self.ctx):
            for slot in slots:
                slot.forget()
            return
        with on(self.ctx):
            for slot in slots:
                slot.release()
            self._sweep()

    def _commands(self, frame: RecordedFrame, index_dtype: np.dtype[Any]) -> bool:
        """Write an indirect draw command for each draw that starts past the buffer's
        start: instanced draws (base instance, GL 4.2) and rebased indexed ones (base
        vertex, GL 4.0), after the frame's vertices (a multiple of the command's size
        into the buffer, as render_indirect counts them). Returns whether a draw
        reads uint16 indices (GL's fixed restart index then)."""
        if not frame.based:
            return frame.u2
        caps = self.backend.caps
        for draw in frame.draws:
            kind = draw.kind
            if not draw.count or not draw.base or kind in (PLAIN, MESH, STREAMED):
                continue  # drawn from the start of the buffer: no base to carry
            if kind == INDEXED and not caps.base_vertex:
                continue  # re-pointed instead
            if kind == INSTANCED and (not draw.first or not caps.base_instance):
                continue
            # A merged rebased draw also gets one command per range, for render(mode=).
            extra = draw.ranges if kind == INDEXED and draw.ranges > 1 else 0
            command, draw.command = frame.vertices.take(
                1 + extra, _COMMAND, _COMMAND.itemsize, _COMMAND
            )
            words = command["words"]
            if kind == INDEXED:  # count, instances, first index, base vertex, base instance
                words[0] = (draw.count, 1, draw.first, draw.base, 0)
                for j in range(extra):
                    first, count = frame.ranges[draw.range_start + j]
                    words[1 + j] = (count, 1, first, draw.base, 0)
            elif draw.base.index_dtype is not None:
                words[0] = (draw.base.index_count, draw.count, 0, 0, draw.first)
            else:  # count, instances, first vertex, base instance (and a spare word)
                words[0] = (draw.base.vertex_count, draw.count, 0, draw.first, 0)
        return frame.u2

    def _new_buffer(self, needed: int) -> tuple[Any, int]:
        """A new GL buffer of the next capacity for ``needed`` bytes, checked: (buffer, bytes)."""
        size = grown(needed)
        buffer = self.ctx.buffer(reserve=size, dynamic=True)
        self.buffers_created += 1
        try:
            check_gl(self.ctx, "creating a GL buffer of {} bytes", size)
        except BaseException:
            buffer.release()
            raise
        return buffer, size

    def _write(self, buffer: Any, stream: Stream) -> int:
        """Copy the stream's slices into ``buffer`` at their stream offsets; return the writes."""
        if self.strategy == "orphan" and buffer.size <= ORPHAN_LIMIT_BYTES:
            buffer.orphan()  # same size: the driver hands out fresh storage
        if len(stream.views) == 1:  # once warm: one slice, one write
            buffer.write(stream.views[0][: stream.used])
            return 1
        writes = 0
        for offset, chunk in stream.chunks():
            buffer.write(chunk, offset=offset)
            writes += 1
        return writes
