"""Chunks and bump allocation: where a stack's slices live.

A :class:`ChunkAllocator` hands out :class:`Allocation` s from the top of its
current :class:`Chunk` (a bump pointer, rounded to cache lines). When the
current chunk is full it allocates a bigger one; an older chunk that still
holds live slices stays intact until its last slice is released, then it is
dropped, so the capacity converges to one chunk. Allocations released out of
order leave a gap that is reclaimed once everything above it is released.

Each stack has two allocators: raw bytes, and object slots (one pointer per
item, for ``dtype=object`` slices). The allocator knows nothing of scopes,
locks or counters across allocators (see :mod:`._memory`).

Faults. Every change of state here ends in one store that commits it (the
bump pointer, a gap entry, the current chunk), so an exception raised between
any two bytecodes (KeyboardInterrupt, RecursionError) leaves either the old
state or the new one, never a mix that loses or double-counts memory. Gaps
whose key lies at or above the bump pointer are left-overs of an interrupted
merge and are dropped before the chunk is used again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import StackOverflowError
from ._backend import AllocationBase, ChunkBase
from ._checked import POISON_BYTE, ObjectSlots

__all__ = ["ALIGNMENT", "NO_CHUNK", "OBJECT_SLOT_BYTES", "Allocation", "Chunk", "ChunkAllocator"]

NDArray = npt.NDArray[Any]

ALIGNMENT = 64
"""Every slice starts on a multiple of this many bytes (a cache line)."""

OBJECT_SLOT_BYTES = np.dtype(object).itemsize  # one pointer per object slot
_SLOTS_PER_LINE = ALIGNMENT // OBJECT_SLOT_BYTES
_PAGE = 4096  # bytes per memory page (the smallest on the platforms numpy runs on)


class Chunk(ChunkBase):
    """One aligned allocation: ``array`` is 1-D (uint8 bytes, or object slots).

    Positions (``top``, allocation starts and stops) count units of the
    allocator: bytes, or object slots. The fields the scope fast path reads
    (``array``, ``top``, ``fast_limit``, ``bump_only``) live in the base (see
    :mod:`._fields`).
    """

    __slots__ = ("allocator", "capacity", "data", "gaps", "high_water_top", "typed_views")

    def __init__(self, allocator: ChunkAllocator | None, array: NDArray, capacity: int) -> None:
        self.allocator = allocator
        self.array = array
        self.data: memoryview = array.data
        self.capacity = capacity
        self.top = 0  # the bump pointer: everything below it is live, padding or a gap
        # Allocations released out of order, {stop: start}: the bump pointer
        # skips back over them once the allocation above them is released.
        self.gaps: dict[int, int] = {}
        # Whether releasing the top allocation only has to move `top` back:
        # plain bytes, unchecked, unlocked, the current chunk, no gaps. The
        # scopes' inline fast path relies on it (see _scopes.SliceScope).
        self.bump_only = False
        # A top above this may be a new high-water mark (kept by the stack's memory).
        self.high_water_top = 0
        # min(capacity, high_water_top), or -1 while the chunk is not current or
        # has gaps: the inline fast path's single bound check.
        self.fast_limit = 0
        self.typed_views: dict[np.dtype[Any], NDArray | None] = {}

    def typed_view(self, dt: np.dtype[Any]) -> NDArray | None:
        """The whole chunk viewed as ``dt`` (cached), or None when 64 % itemsize != 0."""
        view = None
        if ALIGNMENT % dt.itemsize == 0 and not dt.hasobject:
            view = self.array.view(dt)
        self.typed_views[dt] = view
        return view

    def view(self, start: int, count: int, dt: np.dtype[Any]) -> NDArray:
        """``count`` items of ``dt`` from unit ``start``, as an array that is its own base.

        Views derived from it keep it alive (see :mod:`._checked`).
        """
        if dt.hasobject:
            slots = self.array[start : start + count]
            return slots if type(slots) is np.ndarray else slots.view(np.ndarray)
        return np.frombuffer(self.data, dt, count, start)


NO_CHUNK = Chunk(None, np.empty(0, dtype=np.uint8), 0)
NO_CHUNK.fast_limit = -1  # nothing fits: "no chunk for the fast path"


class Allocation(AllocationBase):
    """Where one allocation lives: ``chunk`` (None: nothing held) and its units
    ``start`` up to ``stop``. Scopes are allocations themselves (one object per scope).

    The fields live in the base (see :mod:`._fields`), with the slice scopes'
    own: one object layout for every allocation and scope, which the compiled
    fast path needs.
    """

    __slots__ = ()

    # No __init__: a Python one would cost ~60 ns per scope on the hot path.
    # Whoever makes one sets `chunk` before anything reads it.
    chunk: Chunk | None


class ChunkAllocator:
    """A bump allocator over chunks of one kind: raw bytes, or object slots."""

    __slots__ = (
        "align",
        "bump_only_ok",
        "chunks",
        "current",
        "growths",
        "initial",
        "objects",
        "poison",
        "unit",
    )

    def __init__(
        self, *, objects: bool, initial_bytes: int, poison: bool, bump_only_ok: bool
    ) -> None:
        self.objects = objects
        self.unit = OBJECT_SLOT_BYTES if objects else 1  # bytes per unit
        self.align = _SLOTS_PER_LINE if objects else ALIGNMENT  # units per cache line
        self.initial = max(self.align, initial_bytes // self.unit)
        self.poison = poison  # fill released bytes with POISON_BYTE (checked mode)
        self.bump_only_ok = bump_only_ok and not objects and not poison
        self.current: Chunk | None = None  # where new allocations go
        self.chunks: list[Chunk] = []  # every chunk held, the current one included
        self.growths = 0

    @property
    def in_use(self) -> int:
        """Units below the chunks' bump pointers (live allocations, padding, gaps)."""
        return sum(c.top for c in self.chunks)

    @property
    def capacity(self) -> int:
        """Units held in chunks."""
        return sum(c.capacity for c in self.chunks)

    def rounded(self, units: int) -> int:
        """``units`` rounded up to whole cache lines."""
        return -(-units // self.align) * self.align

    def allocate(
        self, rec: Allocation, units: int, max_capacity: int | None, other: ChunkAllocator
    ) -> Chunk:
        """Place ``rec`` on top of the stack with room for ``units``; may grow.

        ``max_capacity`` caps the bytes of this and the ``other`` allocator
        together (None: no cap). Raises :class:`StackOverflowError` with
        nothing changed.
        """
        align = self.align
        size = -(-units // align) * align
        chunk = self.current
        if chunk is None or chunk.top + size > chunk.capacity:
            chunk = self._grow(size, max_capacity, other)
        if chunk.gaps:
            _drop_stale_gaps(chunk)
        start = chunk.top
        rec.start = start
        rec.stop = start + size
        rec.chunk = chunk
        chunk.top = start + size  # commits
        return chunk

    def try_extend(self, rec: Allocation, units: int) -> bool:
        """Grow ``rec`` in place to ``units`` when it is on top and the chunk has room."""
        chunk = rec.chunk
        size = self.rounded(units)
        if chunk is None or chunk is not self.current or chunk.top != rec.stop:
            return False
        if rec.start + size > chunk.capacity:
            return False
        move_top(rec, chunk, rec.start + size)
        return True

    def shrink(self, rec: Allocation, units: int) -> None:
        """Hand back ``rec``'s tail beyond ``units`` when it is on top of its chunk."""
        chunk = rec.chunk
        stop = rec.start + self.rounded(units)
        if chunk is not None and chunk.top == rec.stop and stop < rec.stop:
            move_top(rec, chunk, stop)

    def release(self, rec: Allocation) -> None:
        """Give back ``rec``'s memory; reclaimed once every allocation above it is released."""
        chunk = rec.chunk
        if chunk is None:
            return
        start, stop = rec.start, rec.stop
        if start == stop:  # zero units: holds nothing
            return
        if self.objects:
            chunk.array[start:stop] = None  # drop the references now (Drop)
        elif self.poison:
            chunk.array[start:stop] = POISON_BYTE
        gaps = chunk.gaps
        if gaps:
            _drop_stale_gaps(chunk)
        if chunk.top != stop:  # out of order: reclaimed when the ones above are released
            # Before the gap exists: no inline fast path on a chunk with gaps (its
            # exit would not merge them, its entry would not drop stale ones).
            chunk.bump_only = False
            chunk.fast_limit = -1
            gaps[stop] = start  # commits
            return
        top = start
        while top in gaps:
            top = gaps[top]
        chunk.top = top  # commits; the merged gaps are now stale
        if gaps:
            _drop_stale_gaps(chunk)
        current = self.current
        if chunk is current and not gaps:
            chunk.bump_only = self.bump_only_ok
            limit = chunk.high_water_top
            chunk.fast_limit = limit if limit < chunk.capacity else chunk.capacity
        elif top == 0 and chunk is not current:
            self.chunks.remove(chunk)  # its last allocation ended: drop the chunk

    def trim(self) -> int:
        """Drop the current chunk if nothing lives in it; return the bytes released."""
        cur = self.current
        if cur is None or cur.top:
            return 0
        cur.fast_limit = -1
        self.current = None
        self.chunks.remove(cur)
        return cur.capacity * self.unit

    def drop_idle(self) -> int:
        """Drop every chunk that holds nothing (the current one too); return the units dropped.

        For a cap that the other allocator needs: an idle chunk of one kind
        must not make a capped stack refuse the other kind.
        """
        idle = [c for c in self.chunks if not c.top]
        if not idle:
            return 0
        cur = self.current
        if cur is not None and not cur.top:
            cur.fast_limit = -1  # before it goes: no fast path into a dropped chunk
            self.current = None
        self.chunks = [c for c in self.chunks if c.top]  # commits
        return sum(c.capacity for c in idle)

    def _grow(self, size: int, max_capacity: int | None, other: ChunkAllocator) -> Chunk:
        cur = self.current
        chunks = self.chunks
        # Chunks left empty by an interrupted switch or trim: drop them.
        if any(not c.top and c is not cur for c in chunks):
            self.chunks = chunks = [c for c in chunks if c.top or c is cur]
        kept = sum(c.capacity for c in chunks if c.top)
        # Room for everything live plus this request, so the same workload fits
        # in one chunk next time: that is what makes the capacity converge.
        need = self.in_use + size
        cap = max(self.initial, 1 << (need - 1).bit_length())
        if cur is not None:
            cap = max(cap, 2 * cur.capacity)
        cap = self.rounded(cap)
        if max_capacity is not None:
            room = (max_capacity - other.capacity * other.unit) // self.unit - kept
            if size > room and other.drop_idle():
                # The other kind's idle chunks held the cap: they go first.
                room = (max_capacity - other.capacity * other.unit) // self.unit - kept
            if size > room:
                raise StackOverflowError(
                    f"stack request of {size * self.unit} bytes exceeds max_capacity="
                    f"{max_capacity} bytes ({max(room, 0) * self.unit} bytes free for a new chunk, "
                    f"{self.in_use * self.unit} bytes in use).",
                    requested_bytes=size * self.unit,
                    limit_bytes=max_capacity,
                )
            cap = min(cap, room // self.align * self.align)
        chunk = Chunk(self, self._new_array(cap, size), cap)
        chunk.bump_only = self.bump_only_ok
        # The switch, in steps that each leave a consistent state.
        if cur is not None:
            cur.bump_only = False  # released through release(), which drops the chunk
            cur.fast_limit = -1  # the fast path allocates from the current chunk only
        chunks.append(chunk)
        self.current = chunk
        if cur is not None and not cur.top:
            chunks.remove(cur)
        self.growths += 1
        return chunk

    def _new_array(self, cap: int, size: int) -> NDArray:
        try:
            if self.objects:
                raw = np.empty(cap + _SLOTS_PER_LINE, dtype=object)
                skip = (-raw.ctypes.data % ALIGNMENT) // OBJECT_SLOT_BYTES
                array = raw[skip : skip + cap]
                # Checked: each slice its own numpy base (see _checked).
                return array.view(ObjectSlots) if self.poison else array
            raw = np.empty(cap + ALIGNMENT, dtype=np.uint8)
            skip = -raw.ctypes.data % ALIGNMENT
            # Fault every page in now, once: the chunk's memory is resident from
            # its first use, so resident memory stays flat while later frames
            # reach deeper into it, and no frame pays page faults.
            raw[::_PAGE] = 0
            array = raw[skip : skip + cap]
            if self.poison:
                array[:] = POISON_BYTE
            return array
        except (MemoryError, ValueError) as err:
            raise StackOverflowError(
                f"stack request of {size * self.unit} bytes failed: the system could not "
                f"provide a chunk of {cap * self.unit} bytes.",
                requested_bytes=size * self.unit,
                limit_bytes=None,
            ) from err


def move_top(rec: Allocation, chunk: Chunk, stop: int) -> None:
    """Move the top allocation's end (and its chunk's bump pointer) to ``stop``.

    Two stores that must agree: an exception between them puts both back.
    """
    old = rec.stop
    try:
        chunk.top = stop
        rec.stop = stop
    except BaseException:
        chunk.top = old
        rec.stop = old
        raise


def _drop_stale_gaps(chunk: Chunk) -> None:
    """Drop gap entries at or above the bump pointer (left by an interrupted merge)."""
    top = chunk.top
    for stop in [stop for stop in chunk.gaps if stop >= top]:
        del chunk.gaps[stop]
