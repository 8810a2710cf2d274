"""Slice scopes: the life cycle every scope shares, and ``uninit_slice`` / ``uninit``.

A scope is a context manager and an :class:`~._chunks.Allocation` in one
object. Its life cycle: made (fresh), entered (live: it holds its slice),
ended (the slice goes back to the stack). Entering twice, ending twice, or
ending a scope that was never entered raises :class:`~stagebuf.ScopeError`,
as does any use of a copy (``copy.copy`` would otherwise give two owners of
one slice).

Faults. An exception at any point of entering or ending (KeyboardInterrupt,
RecursionError, a warning turned into an error) leaves the slice either held
by a live scope or given back, never lost: the inline fast path takes its
bump back, the other paths hand what they hold to the memory's deferred
releases. The handlers make no calls beyond one method of their own that
makes none (a call in a handler could fail again where the Python stack is
exhausted). tests/test_arena_faults.py injects an exception at every bytecode.

Two bytecodes of a scope no library can guard: the return of ``__enter__``
after the slice is made, and the first of ``__exit__``. An exception there
reaches the caller's ``with`` statement, which drops the scope without ending
it. A scope that dies live therefore hands its slice to the memory's deferred
releases (``Scope.__del__`` in pure Python; the compiled base type does the
same in C), which the next allocation, ``trim()`` or counter read completes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from threading import get_ident
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from .._errors import ScopeError
from ._backend import fast
from ._checked import EscapeWatch
from ._checks import MAX_DIMS, as_dtype, as_shape, check_dims
from ._chunks import ALIGNMENT, OBJECT_SLOT_BYTES, Allocation, Chunk
from ._memory import Memory

__all__ = [
    "NEVER_FITS",
    "PLAIN_DTYPES",
    "Scope",
    "ShapedSliceScope",
    "SliceScope",
    "empty_view",
    "slice_scope",
]

T = TypeVar("T")
NDArray = npt.NDArray[Any]

# Scope states. FRESH is 0 so that `if self._state:` is the enter check.
FRESH, LIVE, ENDED, ESCAPED, FILLING, COPY = range(6)

NEVER_FITS = 1 << 62  # a `_size` past every chunk's fast_limit: always the slow path

# dtype spec -> (dtype, bytes per element), for the specs the fast path may take:
# plain data with bytes in it. Not object slots, not zero-sized dtypes, not
# subarray dtypes such as (np.float32, 2), which change the shape as well.
PLAIN_DTYPES: dict[Any, tuple[np.dtype[Any], int]] = {}
_PLAIN_DTYPES_LIMIT = 1024  # bounded: specs built on the fly must not grow it forever

# Zero bytes at a 64-byte boundary, for slices of zero bytes: they touch no chunk.
_EMPTY = np.zeros(2 * ALIGNMENT, dtype=np.uint8)
_EMPTY_ALIGNED = _EMPTY[-_EMPTY.ctypes.data % ALIGNMENT :][:0]
_EMPTY_OBJ = np.empty(2 * ALIGNMENT // OBJECT_SLOT_BYTES, dtype=object)
_EMPTY_OBJ_ALIGNED = _EMPTY_OBJ[(-_EMPTY_OBJ.ctypes.data % ALIGNMENT) // OBJECT_SLOT_BYTES :][:0]


def empty_view(shape: tuple[int, ...], dt: np.dtype[Any]) -> NDArray:
    """A slice of zero bytes (no elements, or a zero-sized dtype): touches no chunk."""
    if dt.hasobject:  # no elements: nothing can be stored, so sharing the base is safe
        return _EMPTY_OBJ_ALIGNED.reshape(shape)
    view: NDArray = np.ndarray(shape, dtype=dt, buffer=_EMPTY_ALIGNED)
    return view


def _state_error(state: int, ending: bool) -> ScopeError:
    if state == COPY:
        return ScopeError(
            "this is a copy of a scope (copy.copy); a slice has one owner, so only the "
            "original scope can be entered or ended."
        )
    if state == FILLING:
        return ScopeError(
            "this buffer() scope is still being filled by its iterable; it can end only "
            "after its `with` block has started (the iterable must not end it)."
            if ending
            else "this scope was already entered; call buffer()/uninit_slice()/uninit() "
            "again for a new slice."
        )
    if not ending or state == LIVE:
        return ScopeError(
            "this scope was already entered; call buffer()/uninit_slice()/uninit() "
            "again for a new slice."
        )
    if state in (ENDED, ESCAPED):
        return ScopeError("this scope already ended; a scope can end only once.")
    return ScopeError("this scope was never entered; use it in a `with` statement.")


class Scope(Allocation):
    """What every scope kind shares: the life cycle, ending, copies, the closure form."""

    __slots__ = ()  # _memory and _state live in the base (see _fields)

    _memory: Memory
    _state: int

    def __enter__(self) -> NDArray:
        raise NotImplementedError

    def __exit__(self, et: object, ev: object, tb: object) -> None:
        try:
            self._end()
        except BaseException:
            self._end_interrupted()
            raise

    if fast is None:
        # The compiled base hands a dropped live slice on in C (release_dropped
        # in _fast.c), without a finalizer, which its scope type may not have.
        def __del__(self) -> None:
            """A scope dropped live (see the module docstring): its slice is released later."""
            try:
                live = self._state == LIVE
            except AttributeError:  # made, but interrupted before its fields were set
                return
            if live:
                self._end_interrupted()

    def _end_interrupted(self) -> None:
        """After an exception interrupted ending (outside the lock): finish it.

        A live scope whose allocation is still held (below the top, and no gap
        of its own) hands it to the deferred releases; one already released is
        left alone (a released allocation is only ever left LIVE inside the
        locked part of _end, whose own handler finishes it). Called from
        handlers, so it makes no calls (see the module docstring).
        """
        if self._state == LIVE:
            chunk = self.chunk
            if chunk is not None and chunk.top >= self.stop and self.stop not in chunk.gaps:
                self._memory.deferred += [self]
            self._state = ENDED

    def _entering_interrupted(self) -> None:
        """After an exception interrupted entering: give back what is held, without calls.

        Only a slice that was fully made (LIVE) is still held here: every step
        before that takes its own allocation back. Makes no calls.
        """
        if self._state == LIVE:
            chunk = self.chunk
            if chunk is not None:
                if chunk.bump_only and chunk.top == self.stop:
                    chunk.top = self.start
                else:
                    self._memory.deferred += [self]
            self._state = ENDED

    def _enter_check(self) -> None:
        if self._state != FRESH:
            raise _state_error(self._state, ending=False)

    def _end(self) -> None:
        """End the scope: its slice goes back to the stack (the state check under the lock)."""
        memory = self._memory
        # Before the lock: another thread must not wait on a thread-local stack's lock.
        if memory.owner_thread is not None and memory.owner_thread != get_ident():
            memory.check_thread()
        with memory.lock:
            try:
                state = self._state
                if state != LIVE:
                    raise _state_error(state, ending=True)
                chunk = self.chunk
                if chunk is not None and chunk.allocator is not None:
                    chunk.allocator.release(self)
                self._state = ENDED
            except BaseException:
                self._end_interrupted()  # under the lock: no other thread moves the chunk
                raise

    def call_with(self, fn: Callable[[NDArray], T]) -> T:
        """The closure form: enter, call ``fn`` with the slice, end, return fn's result."""
        view = self.__enter__()
        if self._memory.checked and self.chunk is not None:
            return self._run_watched(view, fn)
        try:
            result = fn(view)
        finally:
            del view
            self.__exit__(None, None, None)
        return result

    def _run_watched(self, view: NDArray, fn: Callable[[NDArray], T]) -> T:
        """Checked mode: quarantine the slice when a view of it outlives ``fn``."""
        try:
            watch = EscapeWatch(view)
            watch.arm(view)
            result = fn(view)
        except BaseException:
            del view
            self._end()
            raise
        if watch.escaped(view):
            self._state = ESCAPED
            watch.quarantine(self, self._memory.release_later, view, fn)
            return result
        del view, watch
        self._end()
        return result

    def __copy__(self) -> Scope:
        copy = type(self).__new__(type(self))
        copy._memory = self._memory
        copy._state = COPY
        return copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Scope:
        return self.__copy__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a stack scope cannot be pickled: its slice lives in this process.")


class SliceScope(Scope):
    """``uninit_slice`` of a count: a 1-D slice of a fixed length and dtype.

    Made by :func:`slice_scope` (or by the thread-local ``uninit_slice``), which
    set the slots directly: a Python ``__init__`` would cost ~60 ns a scope.
    :class:`ShapedSliceScope` adds a shape.
    """

    # The spec, in the base (see _fields): dtype; element count; bytes rounded
    # up to a cache line (or NEVER_FITS: not for the fast path); bytes per
    # element (8 for object slots).
    __slots__ = ()

    def __enter__(self) -> NDArray:
        if self._state:
            self._enter_check()
        # FAST PATH, part 2 of 3 (part 1: the thread-local uninit_slice; part 3:
        # __exit__; the compiled backend replaces all three with the same steps
        # in C, see the end of this module and _fast.c):
        # ChunkAllocator.allocate and Chunk.view written out for plain
        # data on an unlocked, unchecked stack, fitting in the current chunk
        # below its high-water mark (other stacks have NO_CHUNK here, under
        # whose limit nothing fits). Measured by `python -m stagebuf.bench
        # arena` ("via the slow path" row): a scope without parts 2 and 3 costs
        # ~2.5x as much. Everything else goes through _enter_slow.
        memory = self._memory
        chunk = memory.fast_chunk
        start = chunk.top
        stop = start + self._size
        if stop <= chunk.fast_limit:
            dt = self._dt
            # Slicing a cached whole-chunk view is ~3x cheaper than frombuffer.
            # (Fast-path dtypes divide a cache line: the view always exists.)
            try:
                whole = chunk.typed_views[dt]
            except KeyError:
                whole = chunk.typed_view(dt)
            try:
                self.start = start
                self.stop = stop
                self.chunk = chunk
                chunk.top = stop  # commits
                first = start // self._itemsize
                view = whole[first : first + self._count]  # type: ignore[index]
                self._state = LIVE
                return view
            except BaseException:
                if chunk.top == stop:  # take the bump back (no other scope moved it)
                    chunk.top = start
                self._state = ENDED
                raise
        try:
            return self._enter_slow()
        except BaseException:
            self._entering_interrupted()
            raise

    def _view_shape(self) -> tuple[int, ...]:
        return (self._count,)

    def _enter_slow(self) -> NDArray:
        memory = self._memory
        dt = self._dt
        count = self._count
        self.chunk = None
        try:
            if not count or not dt.itemsize:
                view = empty_view(self._view_shape(), dt)
            elif dt.hasobject:
                memory.allocate(self, count, objects=True)
                view = cast(Chunk, self.chunk).view(self.start, count, dt)
            else:
                memory.allocate(self, count * dt.itemsize, objects=False)
                view = np.frombuffer(cast(Chunk, self.chunk).data, dt, count, self.start)
            self._state = LIVE
            return view
        except BaseException:
            if self.chunk is not None:  # no calls here (see the module docstring)
                memory.deferred += [self]
            self._state = ENDED
            raise

    def __exit__(self, et: object, ev: object, tb: object) -> None:
        try:
            if self._state == LIVE:
                chunk = self.chunk
                # FAST PATH, part 3 of 3: ChunkAllocator.release written out for
                # the top allocation of a bump-only chunk.
                if chunk is not None and chunk.bump_only and chunk.top == self.stop:
                    chunk.top = self.start  # commits
                    self._state = ENDED
                    return
            self._end()  # the general case, or the clear error
        except BaseException:
            self._end_interrupted()
            raise


if fast is not None:
    # The compiled backend: FAST PATH parts 2 and 3 in C (_fast.c), the same
    # steps on the same fields; everything off the fast path calls back into
    # the methods above (_enter_check, _enter_slow, _end, and the handlers).
    SliceScope.__enter__ = fast.AllocationBase.slice_enter  # type: ignore[method-assign]
    SliceScope.__exit__ = fast.AllocationBase.slice_exit  # type: ignore[method-assign]


class ShapedSliceScope(SliceScope):
    """``uninit_slice`` of a shape other than ``(n,)``, and ``uninit`` (shape ``()``)."""

    __slots__ = ("_shape",)

    _shape: tuple[int, ...]

    def __enter__(self) -> NDArray:
        if self._state:
            self._enter_check()
        try:
            view = SliceScope.__enter__(self)  # 1-D, or already shaped (zero bytes)
            shape = self._shape
            return view if view.shape == shape else view.reshape(shape)
        except BaseException:
            self._entering_interrupted()
            raise

    def _view_shape(self) -> tuple[int, ...]:
        return self._shape


def slice_scope(memory: Memory, shape: Any, dtype: Any, what: str) -> SliceScope:
    """A fresh slice scope of ``shape`` and ``dtype`` on ``memory``.

    ``what`` names the entry point in error messages. (The thread-local
    ``uninit_slice`` makes its common case itself: see FAST PATH, part 1.)
    """
    try:
        dt, itemsize = PLAIN_DTYPES[dtype]
    except (KeyError, TypeError):
        return _checked_slice_scope(memory, shape, dtype, what)
    # A plain dtype seen before, and a shape of positive ints: nothing to check.
    if type(shape) is int and shape > 0:
        scope = SliceScope()
        count = shape
    elif type(shape) is tuple and len(shape) <= MAX_DIMS:
        count = 1
        for d in shape:
            if type(d) is not int or d <= 0:
                return _checked_slice_scope(memory, shape, dtype, what)
            count *= d
        if len(shape) == 1:
            scope = SliceScope()
        else:
            scope = ShapedSliceScope()
            scope._shape = shape
    else:
        return _checked_slice_scope(memory, shape, dtype, what)
    scope._memory = memory
    scope._state = FRESH
    scope._dt = dt
    scope._count = count
    scope._itemsize = itemsize
    size = (count * itemsize + 63) & -64
    scope._size = size if size < NEVER_FITS else NEVER_FITS  # a C ssize_t field
    return scope


def _checked_slice_scope(memory: Memory, shape: Any, dtype: Any, what: str) -> SliceScope:
    """The general case of :func:`slice_scope`: any shape, any dtype, checked."""
    dt = as_dtype(dtype, what)
    dims, count = as_shape(shape, what)
    if dt.shape:  # a subarray dtype such as (np.float32, 2): numpy appends its shape
        sub = dt.shape
        dims += sub
        for d in sub:
            count *= d
        dt = dt.base
        check_dims(len(dims), what, shape)
    elif (
        dt.itemsize
        and not dt.hasobject
        and ALIGNMENT % dt.itemsize == 0  # a typed view of the whole chunk exists
        and len(PLAIN_DTYPES) < _PLAIN_DTYPES_LIMIT
    ):
        with contextlib.suppress(TypeError):  # an unhashable spec
            PLAIN_DTYPES[dtype] = (dt, dt.itemsize)
    itemsize = OBJECT_SLOT_BYTES if dt.hasobject else dt.itemsize
    if not count or not itemsize:
        # Zero bytes never reach an allocation (which would refuse a huge
        # shape with StackOverflowError): check that numpy can make it at all.
        try:
            empty_view(dims, dt)
        except ValueError as err:
            raise ValueError(
                f"{what}: shape {shape!r} of dtype {dt} holds no bytes, but numpy "
                f"cannot make an array of that shape ({err})."
            ) from err
    scope = SliceScope() if len(dims) == 1 else ShapedSliceScope()
    scope._memory = memory
    scope._state = FRESH
    scope._dt = dt
    scope._count = count
    scope._itemsize = itemsize
    # Object slots, zero-sized dtypes and dtypes that do not divide a cache
    # line never take the fast path: a size past every limit sends them to
    # _enter_slow.
    plain = itemsize and not dt.hasobject and ALIGNMENT % itemsize == 0
    size = (count * itemsize + 63) & -64 if plain else NEVER_FITS
    scope._size = size if size < NEVER_FITS else NEVER_FITS  # a C ssize_t field
    if isinstance(scope, ShapedSliceScope):
        scope._shape = dims
    return scope
