"""Uploading a recorded frame into a stager's GL buffers, by strategy.

An :class:`Uploader` owns the ring slots (a vertex buffer, an index buffer and
the vertex arrays over them) and writes each ended frame into the next one:
``"ring"`` rotates ``ring_size`` slots, ``"orphan"`` orphans one buffer at
constant capacity before each write, ``"write"`` writes one buffer in place.
Buffers grow only at frame boundaries. Indirect draw commands (a base vertex
or a base instance) go to the end of the frame's vertex stream, so the upload
stays one write per GL buffer and a frame without indices writes one buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..._errors import StagerError
from ..._recording._drawlist import INDEXED, INSTANCED, MESH, PLAIN, STREAMED
from ..._recording._frame import RecordedFrame
from ..._recording._streams import Stream
from ._current import on
from ._gl import check_gl, is_released
from ._slots import Slot, grown, shrinks

if TYPE_CHECKING:
    from . import ModernglBackend

__all__ = ["ORPHAN_LIMIT_BYTES", "STRATEGIES", "Uploader"]

STRATEGIES = ("ring", "orphan", "write")
"""Upload strategies: a ring of GL buffers rotated per frame (default), one buffer
orphaned at constant capacity before each write, or plain writes into one buffer."""

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
        "fixed_restart",
        "lost",
        "next_slot",
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

    def set_strategy(self, strategy: str) -> None:
        """Switch strategy, keeping the slot that holds the last frame (render() still
        draws it); surplus slots' buffers are released on this stager's context."""
        want = self.ring_size if strategy == "ring" else 1
        slots = [s for s in self.slots if s is self.drawn] + [
            s for s in self.slots if s is not self.drawn
        ]
        surplus, slots = slots[want:], slots[:want]
        self._release(surplus)
        while len(slots) < want:
            slots.append(Slot())
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
            return self._upload(frame, fixed_restart)

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
            if slot.vbo is None or vbytes > slot.vbo_bytes or shrinks(slot, slot.vbo_bytes, vbytes):
                vbo, vsize = self._new_buffer(max(vbytes, 4))
            if ibytes and (
                slot.ibo is None or ibytes > slot.ibo_bytes or shrinks(slot, slot.ibo_bytes, ibytes)
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
        return released

    def release(self) -> None:
        self._release(self.slots)
        self.drawn = None

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
