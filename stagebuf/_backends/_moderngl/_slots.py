"""The stager's GL buffers: one ring slot (a vertex buffer, an index buffer and the
vertex arrays over them) and how big a buffer grows."""

from __future__ import annotations

from typing import Any

__all__ = ["MIN_BUFFER_BYTES", "Slot", "grown", "shrinks"]

MIN_BUFFER_BYTES = 4096


class Slot:
    """One GL vertex buffer (plus optional index buffer) and the vertex arrays over it."""

    __slots__ = ("ibo", "ibo_bytes", "offsets", "shrink", "vaos", "vbo", "vbo_bytes")

    def __init__(self) -> None:
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
            if self.vbo is not None:
                self.vbo.release()
            self.vbo, self.vbo_bytes = vbo, vbo_bytes
        if ibo is not None and ibo is not self.ibo:
            self.drop_vaos()
            if self.ibo is not None:
                self.ibo.release()
            self.ibo, self.ibo_bytes = ibo, ibo_bytes

    def forget(self) -> None:
        """Drop the GL objects without a GL call (their context is gone with them)."""
        self.vaos.clear()
        self.offsets.clear()
        self.vbo = self.ibo = None
        self.vbo_bytes = self.ibo_bytes = 0
        self.shrink = False

    def release(self) -> None:
        self.drop_vaos()
        for obj in (self.vbo, self.ibo):
            if obj is not None:
                obj.release()
        self.vbo = self.ibo = None
        self.vbo_bytes = self.ibo_bytes = 0
        self.shrink = False


def shrinks(slot: Slot, capacity: int, needed: int) -> bool:
    """After trim(): re-make a buffer far bigger than what the frames now need."""
    return slot.shrink and capacity > 4 * grown(needed)


def grown(needed: int) -> int:
    """The capacity for ``needed`` bytes: a power of two, at least MIN_BUFFER_BYTES."""
    return max(MIN_BUFFER_BYTES, 1 << max(needed - 1, 0).bit_length())
