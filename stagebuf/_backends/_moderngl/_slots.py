"""The stager's GL buffers: one ring slot (a vertex buffer, an index buffer and the
vertex arrays over them) and how big a buffer grows.

Under the ``"mapped"`` strategy a slot's buffers are mapped (:class:`MappedBuffer`)
and the slot holds the fence placed after the GPU work that reads them; a
mapped buffer the slot lets go of is retired (unmapped once no view reads it,
see :mod:`._mapping`), never released under a view.
"""

from __future__ import annotations

from typing import Any

from ._glfuncs import GlFuncs
from ._mapping import MappedBuffer

__all__ = ["MIN_BUFFER_BYTES", "Slot", "grown", "shrinks"]

MIN_BUFFER_BYTES = 4096


class Slot:
    """One GL vertex buffer (plus optional index buffer) and the vertex arrays over it."""

    __slots__ = (
        "fence",
        "gl",
        "ibo",
        "ibo_bytes",
        "imap",
        "offsets",
        "retired",
        "shrink",
        "vaos",
        "vbo",
        "vbo_bytes",
        "vmap",
    )

    def __init__(self, retired: list[MappedBuffer] | None = None) -> None:
        # Mapped buffers this slot lets go of, for the uploader to unmap when unused.
        self.retired: list[MappedBuffer] = [] if retired is None else retired
        self.vmap: MappedBuffer | None = None  # vbo's mapping ("mapped" strategy)
        self.imap: MappedBuffer | None = None
        self.gl: GlFuncs | None = None  # set while a buffer is mapped: for the fences
        self.fence = 0  # after the last GPU work reading the mapped buffers (0: none)
        self.vbo: Any = None
        self.vbo_bytes = 0
        self.ibo: Any = None
        self.ibo_bytes = 0
        self.vaos: dict[tuple[Any, ...], Any] = {}
        self.offsets: dict[tuple[Any, ...], int] = {}  # byte offset each rebindable VAO is at
        self.shrink = False  # trim() asked for smaller buffers at the next upload

    def nbytes(self) -> int:
        return self.vbo_bytes + self.ibo_bytes

    def drop_vaos(self) -> None:
        for vao in self.vaos.values():
            vao.release()
        self.vaos.clear()
        self.offsets.clear()

    def replace(self, vbo: Any, vbo_bytes: int, ibo: Any, ibo_bytes: int) -> None:
        """Put new buffers in place of the old ones, releasing those and their vertex arrays."""
        if vbo is not None and vbo is not self.vbo:
            self.drop_vaos()
            self._free(self.vbo, self.vmap)
            self.vbo, self.vbo_bytes, self.vmap = vbo, vbo_bytes, None
        if ibo is not None and ibo is not self.ibo:
            self.drop_vaos()
            self._free(self.ibo, self.imap)
            self.ibo, self.ibo_bytes, self.imap = ibo, ibo_bytes, None

    def replace_mapped(
        self, vmap: MappedBuffer | None, imap: MappedBuffer | None, gl: GlFuncs
    ) -> None:
        """Put new mapped buffers in place of the old ones (retired or released)."""
        if vmap is not None:
            self.replace(vmap.buffer, vmap.size, None, 0)
            self.vmap = vmap
        if imap is not None:
            self.replace(None, 0, imap.buffer, imap.size)
            self.imap = imap
        self.gl = gl

    def refence(self) -> None:
        """A new fence after the GPU work issued so far on the mapped buffers (the
        context current); the one it replaces is deleted."""
        gl = self.gl
        if gl is None or (self.vmap is None and self.imap is None):
            return
        old, self.fence = self.fence, gl.fence()
        if old:
            gl.delete_fence(old)

    def _free(self, buffer: Any, mapped: MappedBuffer | None) -> None:
        if mapped is not None:
            mapped.retire()
            self.retired.append(mapped)
        elif buffer is not None:
            buffer.release()

    def forget(self) -> None:
        """Drop the GL objects without a GL call (their context is gone with them)."""
        self.vaos.clear()
        self.offsets.clear()
        for mapped in (self.vmap, self.imap):
            if mapped is not None:
                mapped.forget()
        self.vmap = self.imap = None
        self.fence = 0
        self.vbo = self.ibo = None
        self.vbo_bytes = self.ibo_bytes = 0
        self.shrink = False

    def release(self) -> None:
        """Release the GL objects (the context current); mapped buffers are retired."""
        self.drop_vaos()
        if self.fence and self.gl is not None:
            self.gl.delete_fence(self.fence)
        self.fence = 0
        self._free(self.vbo, self.vmap)
        self._free(self.ibo, self.imap)
        self.vmap = self.imap = None
        self.vbo = self.ibo = None
        self.vbo_bytes = self.ibo_bytes = 0
        self.shrink = False


def shrinks(slot: Slot, capacity: int, needed: int) -> bool:
    """After trim(): re-make a buffer far bigger than what the frames now need."""
    return slot.shrink and capacity > 4 * grown(needed)


def grown(needed: int) -> int:
    """The capacity for ``needed`` bytes: a power of two, at least MIN_BUFFER_BYTES."""
    return max(MIN_BUFFER_BYTES, 1 << max(needed - 1, 0).bit_length())
