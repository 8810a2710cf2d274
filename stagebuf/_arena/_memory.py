"""A stack's memory: its two allocators under one lock, one cap and one set of counters.

:class:`Memory` is what a :class:`~stagebuf.Stack` owns and what its scopes
allocate from: the byte and object-slot :class:`~._chunks.ChunkAllocator` s,
``max_capacity`` across both, the high-water mark, the lock, the thread that a
thread-local stack belongs to, the chunk the scopes' inline fast path bumps
into, and the allocations whose release was put off (checked mode's
quarantine, or an exception that interrupted a release).

Every change of state goes through the lock, also on a stack made with
``thread_safe=False``, where it is never contended and costs less than the
Python call that would choose between a locked and an unlocked path. What
``thread_safe=False`` gives up is the lock around the inline fast path: such
a stack's scopes bump the current chunk without it.

A thread-local stack refuses other threads before its lock: a RecursionError
raised by the lock's own ``__exit__`` (a C call that checks the recursion
limit) can leave it acquired, and only the owning thread, for which it is
re-entrant, may then meet it.
"""

from __future__ import annotations

import threading
from threading import get_ident

from .._errors import ScopeError
from ._backend import MemoryBase
from ._chunks import NO_CHUNK, OBJECT_SLOT_BYTES, Allocation, Chunk, ChunkAllocator

__all__ = ["Memory"]


class Memory(MemoryBase):
    """The allocators, lock and counters behind one stack (see the module docstring)."""

    __slots__ = (
        "bytes",
        "checked",
        "deferred",
        "high_water",
        "lock",
        "max_capacity",
        "objects",
        "owner_thread",
    )

    # In the base (see _fields): the field the scope fast path reads.
    fast_chunk: Chunk

    def __init__(
        self,
        *,
        initial_capacity: int,
        max_capacity: int | None,
        checked: bool,
        thread_safe: bool,
    ) -> None:
        self.max_capacity = max_capacity
        self.checked = checked
        self.lock = threading.RLock()
        # Thread-local stacks only: the thread they belong to (checked off the fast path).
        self.owner_thread: int | None = None
        self.bytes = ChunkAllocator(
            objects=False,
            initial_bytes=initial_capacity,
            poison=checked,
            bump_only_ok=not thread_safe,  # no inline fast path where the lock is needed
        )
        self.objects = ChunkAllocator(
            objects=True,
            initial_bytes=min(initial_capacity, 4096),
            poison=checked,
            bump_only_ok=False,
        )
        # The current byte chunk when scopes may bump into it inline (unlocked,
        # unchecked), else NO_CHUNK, whose fast_limit nothing fits under.
        self.fast_chunk = NO_CHUNK
        self.high_water = 0
        # Allocations to release at the next allocation, trim or counter read:
        # quarantined views that died, releases an exception interrupted, and
        # scopes that died holding their slice (see _scopes.Scope.__del__).
        # Appended to without the lock (a finalizer may run anywhere).
        self.deferred: list[Allocation] = []

    def check_thread(self) -> None:
        """Refuse use of a thread-local stack from a thread other than its own."""
        owner = self.owner_thread
        here = get_ident()
        if owner is not None and here != owner:
            raise ScopeError(
                f"this is the default stack of thread {owner} (sb.thread_stack()), used from "
                f"thread {here}; each thread has its own: call sb.thread_stack() (or the "
                f"module-level functions) in this thread, or share an owned sb.Stack()."
            )

    # -- allocation ------------------------------------------------------------

    def allocate(self, rec: Allocation, units: int, *, objects: bool) -> None:
        """Place ``rec`` on top with room for ``units`` (bytes or object slots).

        On any exception nothing stays allocated and ``rec.chunk`` is None.
        """
        rec.chunk = None
        # Before the lock: another thread must not wait on a thread-local stack's lock.
        if self.owner_thread is not None and self.owner_thread != get_ident():
            self.check_thread()
        if not objects and self._bump(rec, units):
            return
        with self.lock:
            try:
                if self.deferred:
                    self._release_deferred()
                if objects:
                    chunk = self.objects.allocate(rec, units, self.max_capacity, self.bytes)
                else:
                    chunk = self.bytes.allocate(rec, units, self.max_capacity, self.objects)
                    if self.fast_chunk is not chunk and chunk.bump_only:
                        self.fast_chunk = chunk
                # Object slots always re-count: the byte chunk's cheap high_water_top
                # test assumes the other allocator's usage has not grown since it was armed.
                if chunk.top > chunk.high_water_top or objects:
                    self._note_high_water()
            except BaseException:
                held = rec.chunk
                if held is not None:  # an exception after the commit: take it back
                    if held.top == rec.stop:
                        held.top = rec.start
                    rec.chunk = None
                raise

    def _bump(self, rec: Allocation, nbytes: int) -> bool:
        """Place ``rec`` on the fast chunk without the lock, when ``nbytes`` fit below
        its high-water mark; False otherwise (nothing changed).

        The steps of the scopes' inline fast path (see _scopes), for every other
        caller: only an unlocked, unchecked stack has a fast chunk, and below the
        high-water mark there is no new high-water mark to note. The lock and the
        calls of the general case cost ~0.7 us, a quarter of ``with buffer([1.0])``.
        """
        chunk = self.fast_chunk
        start = chunk.top
        stop = start + ((nbytes + 63) & -64)  # rounded up to a cache line
        # (fast_limit <= capacity always; checked too, as the compiled path checks
        # it, so that no value of that private field places a slice past the chunk)
        if stop > chunk.fast_limit or stop > chunk.capacity:
            return False
        try:
            rec.start = start
            rec.stop = stop
            rec.chunk = chunk
            chunk.top = stop  # commits
        except BaseException:
            if chunk.top == stop:  # take the bump back (no other scope moved it)
                chunk.top = start
            rec.chunk = None
            raise
        return True

    def try_extend(self, rec: Allocation, units: int) -> bool:
        """Grow ``rec`` in place to ``units`` when it is on top of the current chunk."""
        with self.lock:
            chunk = rec.chunk
            if chunk is None or chunk.allocator is None:
                return False
            if not chunk.allocator.try_extend(rec, units):
                return False
            if chunk.top > chunk.high_water_top:
                self._note_high_water()
            return True

    def shrink(self, rec: Allocation, units: int) -> None:
        """Hand back the tail of ``rec`` beyond ``units`` when it is on top."""
        with self.lock:
            chunk = rec.chunk
            if chunk is not None and chunk.allocator is not None:
                chunk.allocator.shrink(rec, units)

    def release(self, rec: Allocation) -> None:
        """Give back ``rec``'s memory (the caller makes sure it is released once)."""
        with self.lock:
            chunk = rec.chunk
            if chunk is not None and chunk.allocator is not None:
                chunk.allocator.release(rec)

    def release_later(self, rec: Allocation) -> None:
        """Release ``rec`` at the next allocation, trim or counter read (any thread)."""
        self.deferred.append(rec)

    def _release_deferred(self) -> None:
        deferred = self.deferred
        while deferred:
            rec = deferred.pop()
            chunk = rec.chunk
            # Still held: below the top and not already a gap (released once only).
            if (
                chunk is not None
                and chunk.allocator is not None
                and chunk.top >= rec.stop
                and rec.stop not in chunk.gaps
            ):
                chunk.allocator.release(rec)

    def trim(self) -> int:
        """Drop each allocator's current chunk when nothing lives in it; bytes released."""
        with self.lock:
            self._release_deferred()
            released = self.bytes.trim() + self.objects.trim()
            self.fast_chunk = NO_CHUNK
            return released

    # -- counters --------------------------------------------------------------

    @property
    def in_use_bytes(self) -> int:
        """Bytes below the bump pointers (after releasing what was put off)."""
        with self.lock:
            self._release_deferred()
            return self.bytes.in_use + self.objects.in_use * OBJECT_SLOT_BYTES

    @property
    def capacity_bytes(self) -> int:
        return self.bytes.capacity + self.objects.capacity * OBJECT_SLOT_BYTES

    @property
    def growths(self) -> int:
        return self.bytes.growths + self.objects.growths

    @property
    def chunk_count(self) -> int:
        return len(self.bytes.chunks) + len(self.objects.chunks)

    def reset_high_water(self) -> None:
        with self.lock:
            self.high_water = 0
            self._note_high_water()

    def _note_high_water(self) -> None:
        """Update the high-water mark; re-arm each current chunk's cheap test."""
        used = self.bytes.in_use + self.objects.in_use * OBJECT_SLOT_BYTES
        if used > self.high_water:
            self.high_water = used
        for allocator in (self.bytes, self.objects):
            chunk = allocator.current
            if chunk is not None:
                others = used - chunk.top * allocator.unit
                chunk.high_water_top = (self.high_water - others) // allocator.unit
                limit = min(chunk.high_water_top, chunk.capacity)
                chunk.fast_limit = -1 if chunk.gaps else limit
