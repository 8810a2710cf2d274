"""The fields the scope fast path reads, as plain Python classes.

:class:`~._chunks.Chunk`, :class:`~._memory.Memory` and
:class:`~._chunks.Allocation` (and with it every scope) derive from these
three bases. When the compiled fast path is loaded (see :mod:`._backend`), its
C types of the same names and fields take their place, so the rest of the
arena reads and writes the same attributes whichever backend runs. Keep the
field names in step with ``_fast.c``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["AllocationBase", "ChunkBase", "MemoryBase"]


class ChunkBase:
    """A chunk's fields that the fast path reads and bumps."""

    __slots__ = ("array", "bump_only", "fast_limit", "top")

    array: npt.NDArray[Any]  # the chunk's 1-D array: uint8 bytes, or object slots
    top: int  # the bump pointer
    fast_limit: int  # the fast path's one bound check (-1: nothing fits)
    bump_only: bool  # releasing the top allocation only moves `top` back


class MemoryBase:
    """A stack's memory's field that the fast path reads."""

    __slots__ = ("fast_chunk",)

    fast_chunk: Any  # a Chunk: the one scopes may bump inline (NO_CHUNK: none)


class AllocationBase:
    """An allocation's fields (``chunk``, ``start``, ``stop``), and a slice scope's."""

    __slots__ = (
        "_count",
        "_dt",
        "_itemsize",
        "_memory",
        "_size",
        "_state",
        "chunk",
        "start",
        "stop",
    )

    chunk: Any  # a Chunk, or None: nothing held
    start: int  # units of the chunk where the allocation starts
    stop: int  # ... and where it stops
    # Scopes only: the stack's Memory and the scope's state (see _scopes).
    _memory: Any
    _state: int
    # Slice scopes only: the dtype, the element count, bytes per element, and
    # bytes rounded up to a cache line (or a size past every chunk: slow path).
    _dt: np.dtype[Any]
    _count: int
    _itemsize: int
    _size: int
