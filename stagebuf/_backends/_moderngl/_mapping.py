"""A GL buffer mapped once, persistently, and the numpy memory over its mapping.

A frame's items are numpy views straight into a :class:`MappedBuffer`'s
mapping. Every such view's ``base`` is the buffer's ``window`` (numpy collapses
a view's base chain to the first array over the exporting :class:`Memory`), so
``sys.getrefcount`` on the window tells whether any view is still alive. A buffer is
unmapped and deleted only when none is: until then a retired buffer waits in
its uploader's ``retired`` list (a released stager's in a module list, see
:func:`leave`), and :func:`sweep` frees what it can. So a view
kept past ``trim()``, ``release()`` or a growth reads stale bytes, never freed
memory. What remains: a moderngl context released while such a view is alive
takes the mapping with it (GL frees it; nothing in Python can keep it).
"""

from __future__ import annotations

import sys
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from ._gl import is_released
from ._glfuncs import GlFuncs

__all__ = ["MappedBuffer", "MappedGLBuffer", "Memory", "has_left", "leave", "sweep"]

NDArray = npt.NDArray[Any]

_BYTE = np.dtype(np.uint8).str


class Memory:
    """Exports a mapping's bytes to numpy (``__array_interface__``): the base of every view."""

    __slots__ = ("__array_interface__",)

    def __init__(self, address: int, size: int) -> None:
        self.__array_interface__ = {
            "shape": (size,),
            "typestr": _BYTE,
            "data": (address, False),
            "version": 3,
        }


class MappedGLBuffer(moderngl.Buffer):
    """moderngl's Buffer over a persistently mapped buffer (``stager.vertex_buffer``
    under "mapped"). moderngl reads a buffer by mapping it, which GL refuses for a
    buffer mapped already, so reading copies into a temporary buffer and reads that
    (``glCopyBufferSubData`` is allowed on persistent mappings). ``write`` works as
    for any buffer; ``orphan`` does not (the storage is immutable)."""

    def read(self, size: int = -1, offset: int = 0) -> bytes:
        size = self.size - offset if size < 0 else size
        tmp = self.ctx.buffer(reserve=max(size, 1))
        try:
            self.ctx.copy_buffer(tmp, self, size, read_offset=offset)
            return bytes(tmp.read(size))
        finally:
            tmp.release()

    def read_into(
        self, buffer: Any, size: int = -1, offset: int = 0, write_offset: int = 0
    ) -> None:
        data = self.read(size, offset)
        memoryview(buffer).cast("B")[write_offset : write_offset + len(data)] = data


class MappedBuffer:
    """A moderngl Buffer whose storage is immutable and mapped for writing.

    ``window`` is the whole mapping as uint8; ``typed`` the typed views a
    :class:`~stagebuf._recording._streams.Stream` made of it (kept from frame to
    frame: the same layouts land on the same bytes).
    """

    __slots__ = ("buffer", "memory", "size", "typed", "window")

    def __init__(self, buffer: Any, size: int, address: int) -> None:
        buffer.__class__ = MappedGLBuffer  # reads that work on a mapped buffer
        self.buffer = buffer
        self.size = size
        self.memory: Memory | None = Memory(address, size)
        self.window: NDArray | None = np.asarray(self.memory)
        self.typed: dict[object, tuple[NDArray, int]] = {}

    def retire(self) -> None:
        """Drop the typed views this object keeps (the buffer is no longer used)."""
        self.typed = {}

    def in_use(self) -> bool:
        """Whether a view of the mapping is alive anywhere but here (a kept view, a
        stream's), the typed views dropped by :meth:`retire` first."""
        # Two references are this object's slot and getrefcount's own argument.
        return self.window is not None and sys.getrefcount(self.window) > 2 + len(self.typed)

    def close(self, gl: GlFuncs) -> None:
        """Unmap and delete the buffer (its context current; no view alive)."""
        self.forget()
        gl.unmap(self.buffer.glo)
        self.buffer.release()

    def forget(self) -> None:
        """Drop the views and the memory without a GL call (also: the context is gone,
        and the mapping with it)."""
        self.typed = {}
        self.window = None
        self.memory = None


# Buffers of released stagers that a kept view still reads: (context, buffer), freed
# by a later sweep on the same context, forgotten once that context is released.
_LEFT: list[tuple[Any, MappedBuffer]] = []


def sweep(ctx: Any, retired: list[MappedBuffer], gl: GlFuncs) -> None:
    """Unmap and delete the retired buffers no view reads any more, and those that
    released stagers of ``ctx`` left behind (``ctx`` current)."""
    keep = []
    for mapped in retired:
        if mapped.in_use():
            keep.append(mapped)
        else:
            mapped.close(gl)
    retired[:] = keep
    if _LEFT:
        left = []
        for owner, mapped in _LEFT:
            if is_released(owner):
                mapped.forget()  # GL freed it with the context
            elif owner is not ctx or mapped.in_use():
                left.append((owner, mapped))
            else:
                mapped.close(gl)
        _LEFT[:] = left


def has_left() -> bool:
    """Whether released stagers left buffers for a later sweep."""
    return bool(_LEFT)


def leave(ctx: Any, retired: list[MappedBuffer]) -> None:
    """Hand buffers still read by kept views over to later sweeps on ``ctx``."""
    _LEFT.extend((ctx, mapped) for mapped in retired)
    retired.clear()
