"""The second stack: an arena of short-lived, 64-byte aligned numpy slices.

A :class:`Stack` hands out slices in (mostly) LIFO order from a bump pointer in
one large chunk. When the chunk is full a bigger one is allocated; a chunk that
still holds live slices stays intact until its last slice ends, then it is
dropped, so the capacity converges to one chunk and a steady workload stops
allocating. Each thread has its own default stack behind the module-level
:func:`buffer`, :func:`uninit_slice` and :func:`uninit`.

This module knows nothing about GL: numpy only.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ._errors import EscapedViewWarning, ScopeError, StackOverflowError

__all__ = [
    "ALIGNMENT",
    "CHECKED_ENV",
    "Stack",
    "buffer",
    "thread_stack",
    "uninit",
    "uninit_slice",
]

ALIGNMENT = 64
"""Every slice starts on a multiple of this many bytes (a cache line)."""

CHECKED_ENV = "STAGEBUF_CHECKED"
"""Set to 1 to make the thread-local default stacks run in checked mode."""

_PAGE = 4096  # bytes per memory page (the smallest on the platforms numpy runs on)
_POISON = 0xFF  # floats read back as NaN, signed ints as -1: stale reads stand out
_OBJ_SIZE = np.dtype(object).itemsize  # one pointer per object slot
_OBJ_ALIGN = ALIGNMENT // _OBJ_SIZE  # object slots per cache line
_DEFAULT_INITIAL = 64 * 1024
_FIRST_CHUNK_ITEMS = 256  # items per bulk conversion step of an iterator; doubles
_MAX_CHUNK_ITEMS = 65536  # bounds the temporary list of one conversion step
_OBJECT = np.dtype(object)

# Scope states.
_FRESH, _LIVE, _ENDED, _ESCAPED = 0, 1, 2, 3

T = TypeVar("T")
NDArray = npt.NDArray[Any]
DTypeLike = npt.DTypeLike
ShapeLike = int | tuple[int, ...]


# --------------------------------------------------------------------------
# Validation helpers: one message per rule, naming the bad value.


_DTYPE_CACHE: dict[Any, np.dtype[Any]] = {}


def _as_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """Normalise ``dtype`` (cached, since the hot path sees the same few)."""
    try:
        return _DTYPE_CACHE[dtype]
    except (KeyError, TypeError):
        pass
    if dtype is None:
        raise TypeError(f"{what}: dtype is required; got None (e.g. np.float32, 'f4').")
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except Exception as err:  # np.dtype(",") raises SyntaxError, others KeyError...
        # ...any of them means the same to the caller: not a dtype.
        raise TypeError(
            f"{what}: {dtype!r} is not a valid dtype; expected something np.dtype() "
            f"accepts, such as np.float32, 'f4', (np.float32, 2) or a structured dtype."
        ) from err
    if dt.hasobject and dt != _OBJECT:
        raise TypeError(
            f"{what}: dtype {dt} mixes Python objects with other fields; the stack holds "
            f"either plain data or dtype=object slices, not both in one dtype."
        )
    try:
        if len(_DTYPE_CACHE) < 1024:
            _DTYPE_CACHE[dtype] = dt
    except TypeError:  # unhashable spec (a list of fields): normalise every time
        pass
    return dt


# dtype spec -> (dtype, bytes per element), for the specs the inline fast paths
# may take: plain data with bytes in it. Not object slots, not zero-sized dtypes,
# not subarray dtypes such as (np.float32, 2), which change the shape as well.
_DTYPE_INFO: dict[Any, tuple[np.dtype[Any], int]] = {}


def _itemsize(dt: np.dtype[Any]) -> int:
    return -1 if dt.hasobject else dt.itemsize


def _as_shape(shape: Any, what: str) -> tuple[tuple[int, ...], int]:
    """Return ``(shape tuple, element count)``; Python ints, so no overflow."""
    if type(shape) is int and shape >= 0:
        return (shape,), shape
    dims = shape if isinstance(shape, tuple | list) else (shape,)
    out = []
    for d in dims:
        if isinstance(d, bool):
            raise TypeError(
                f"{what}: shape {shape!r} holds a bool; expected a non-negative int or a "
                f"tuple of them."
            )
        try:
            n = operator.index(d)
        except TypeError as err:
            raise TypeError(
                f"{what}: shape {shape!r} holds {d!r} ({type(d).__name__}); expected "
                f"a non-negative int or a tuple of them."
            ) from err
        if n < 0:
            raise ValueError(f"{what}: shape {shape!r} has negative length {n}; expected >= 0.")
        out.append(n)
    count = 1
    for n in out:
        count *= n
    return tuple(out), count


def _anchor(view: NDArray) -> NDArray:
    """The per-slice array that every view derived from ``view`` keeps alive.

    Checked-mode slices are made by ``np.frombuffer``, whose array has a
    memoryview (not an ndarray) as its base, so numpy stops collapsing view
    chains there: ``v[2:]``, ``v.reshape(...)`` all reference that array.
    Object slices are views of the shared chunk; for them the view itself is
    the best anchor there is.
    """
    base = view
    while isinstance(base.base, np.ndarray) and base.base.dtype != _OBJECT:
        base = base.base
    if isinstance(base.base, np.ndarray):  # an object slot slice: the chunk is shared
        return view
    return base


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == _THIS_FILE:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _clear_own_frames(tb: TracebackType | None) -> None:
    """Drop the locals of this module's finished frames in ``tb``.

    They may hold the items of a failed :func:`buffer` (the list being converted);
    the exception travelling up must not keep those objects alive.
    """
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename == _THIS_FILE:
            with contextlib.suppress(RuntimeError):  # still executing: the handler's own
                frame.clear()
        tb = tb.tb_next


# --------------------------------------------------------------------------
# Chunks and regions (bump allocators).


class _Chunk:
    """One allocation: ``array`` is 1-D (uint8 bytes or object slots), aligned."""

    __slots__ = (
        "array",
        "capacity",
        "fast",
        "holes",
        "limit",
        "mark",
        "mv",
        "region",
        "top",
        "views",
    )

    def __init__(self, region: _Region, array: NDArray, capacity: int) -> None:
        self.region = region
        # Plain bytes on an unlocked, unchecked stack, the current chunk, no holes
        # (see `_Region.release`): scopes may take the inline fast paths in
        # _SliceScope (no poisoning, no references to drop, no chunk to drop).
        self.fast = region.fast
        self.array = array
        self.mv: memoryview = array.data
        self.capacity = capacity  # in units of the region (bytes or object slots)
        self.top = 0  # bump pointer, in units
        # A top above `mark` may be a new high-water mark (see Stack._note_high).
        self.mark = 0
        self.limit = 0  # min(capacity, mark): the fast path's single bound check
        # Slices that ended out of order, {end: start}: the bump pointer skips back
        # over them once the slice above them ends. Slices are contiguous, so a
        # chunk is empty exactly when top == 0.
        self.holes: dict[int, int] = {}
        self.views: dict[np.dtype[Any], NDArray | None] = {}

    def typed(self, dt: np.dtype[Any]) -> NDArray | None:
        """The whole chunk viewed as ``dt`` (cached), or None when 64 % itemsize != 0."""
        view = None
        if ALIGNMENT % dt.itemsize == 0 and not dt.hasobject:
            view = self.array.view(dt)
        self.views[dt] = view
        return view


class _Record:
    """Where one allocation lives; scopes are records themselves (one object per scope)."""

    __slots__ = ("_chunk", "_end", "_start", "_state")

    # No __init__: a Python one would cost ~60 ns per scope on the hot path;
    # whoever makes a record sets `_state` (and `_chunk` before it is read).
    _chunk: _Chunk | None  # None: nothing allocated (zero bytes, or not entered)
    _start: int  # in units of the chunk's region
    _end: int
    _state: int


def _chunk_of(rec: _Record) -> _Chunk:
    chunk = rec._chunk
    if chunk is None:
        raise AssertionError("this record holds no allocation")
    return chunk


class _Region:
    """A bump allocator over chunks of one kind: raw bytes, or object slots."""

    __slots__ = ("align", "current", "fast", "initial", "objects", "retired", "stack", "unit")

    def __init__(self, stack: Stack, *, objects: bool, initial_bytes: int) -> None:
        self.stack = stack
        self.objects = objects
        self.unit = _OBJ_SIZE if objects else 1  # bytes per unit
        self.align = _OBJ_ALIGN if objects else ALIGNMENT  # units
        self.initial = max(self.align, initial_bytes // self.unit)
        self.current: _Chunk | None = None
        self.fast = not objects and stack._fast
        self.retired: list[_Chunk] = []  # older chunks that still hold live slices

    @property
    def in_use(self) -> int:
        """Units below the chunks' bump pointers (live slices, padding, holes)."""
        used = sum(c.top for c in self.retired)
        return used + (self.current.top if self.current is not None else 0)

    @property
    def capacity_units(self) -> int:
        cap = sum(c.capacity for c in self.retired)
        return cap + (self.current.capacity if self.current is not None else 0)

    def alloc(self, rec: _Record, units: int) -> None:
        """Place ``rec`` on top of the stack with room for ``units``; may grow."""
        size = -(-units // self.align) * self.align  # round up to the alignment
        chunk = self.current
        if chunk is None or chunk.top + size > chunk.capacity:
            chunk = self._grow(size)
        start = chunk.top
        chunk.top = start + size
        rec._chunk = chunk
        rec._start = start
        rec._end = start + size
        # Object slots always re-count: the byte chunk's cheap `mark` test assumes
        # the other region's usage has not grown since it was armed.
        if chunk.top > chunk.mark or self.objects:
            self.stack._note_high()

    def try_extend(self, rec: _Record, units: int) -> bool:
        """Grow ``rec`` in place to ``units`` when it is on top and the chunk has room."""
        size = -(-units // self.align) * self.align
        chunk = rec._chunk
        if chunk is None or chunk is not self.current or chunk.top != rec._end:
            return False
        if rec._start + size > chunk.capacity:
            return False
        self._resize(rec, size)
        return True

    def _resize(self, rec: _Record, size: int) -> None:
        """Move the top record's end (its chunk's bump pointer) to ``start + size``."""
        chunk = _chunk_of(rec)
        rec._end = chunk.top = rec._start + size
        if chunk.top > chunk.mark or self.objects:
            self.stack._note_high()

    def release(self, rec: _Record) -> None:
        """Give back ``rec``'s memory; reclaimed once every allocation above it ended."""
        chunk = _chunk_of(rec)
        if rec._start == rec._end:  # a zero-length slice (fast path): holds nothing
            return
        if self.objects:
            chunk.array[rec._start : rec._end] = None  # drop references now (Drop)
        elif self.stack._checked:
            chunk.array[rec._start : rec._end] = _POISON
        if chunk.top != rec._end:  # out of order: reclaimed when the ones above end
            chunk.holes[rec._end] = rec._start
            chunk.fast = False
            return
        top = rec._start
        holes = chunk.holes
        if holes:
            while top in holes:
                top = holes.pop(top)
            chunk.fast = self.fast and not holes and chunk is self.current
        chunk.top = top
        if top == 0 and chunk is not self.current:
            self.retired.remove(chunk)  # its last slice ended: drop the chunk

    @staticmethod
    def swap(a: _Record, b: _Record) -> None:
        """Exchange two records' places (used to move a growing buffer)."""
        a._chunk, b._chunk = b._chunk, a._chunk
        a._start, b._start = b._start, a._start
        a._end, b._end = b._end, a._end

    def _grow(self, size: int) -> _Chunk:
        stack = self.stack
        cur = self.current
        kept = sum(c.capacity for c in self.retired)
        if cur is not None and cur.top:
            kept += cur.capacity
        # Room for everything live plus this request, so the same workload fits
        # in one chunk next time: that is what makes the capacity converge.
        need = self.in_use + size
        cap = max(self.initial, 1 << (need - 1).bit_length())
        if cur is not None:
            cap = max(cap, 2 * cur.capacity)
        cap = -(-cap // self.align) * self.align
        limit = stack.max_capacity
        other = stack._other(self)
        if limit is not None:
            room = (limit - other.capacity_units * other.unit) // self.unit - kept
            if size > room:
                raise StackOverflowError(
                    f"stack request of {size * self.unit} bytes exceeds max_capacity="
                    f"{limit} bytes ({max(room, 0) * self.unit} bytes free for a new chunk, "
                    f"{self.in_use * self.unit} bytes in use).",
                    requested_bytes=size * self.unit,
                    limit_bytes=limit,
                )
            cap = min(cap, room // self.align * self.align)
        array = self._allocate(cap, size)
        chunk = _Chunk(self, array, cap)
        if stack._checked and not self.objects:
            array[:] = _POISON
        if cur is not None and cur.top:
            # Scopes in a retired chunk end through `release`, which drops the
            # chunk with its last slice: no fast path for them.
            cur.fast = False
            self.retired.append(cur)
        self._set_current(chunk)
        stack._growths += 1
        return chunk

    def _allocate(self, cap: int, size: int) -> NDArray:
        try:
            if self.objects:
                raw = np.empty(cap + _OBJ_ALIGN, dtype=object)
                skip = (-raw.ctypes.data % ALIGNMENT) // _OBJ_SIZE
            else:
                raw = np.empty(cap + ALIGNMENT, dtype=np.uint8)
                skip = -raw.ctypes.data % ALIGNMENT
                # Fault every page in now, once: the chunk's memory is resident from
                # its first use, so resident memory stays flat while later frames
                # reach deeper into it, and no frame pays page faults.
                raw[::_PAGE] = 0
        except (MemoryError, ValueError) as err:
            raise StackOverflowError(
                f"stack request of {size * self.unit} bytes failed: the system could not "
                f"provide a chunk of {cap * self.unit} bytes.",
                requested_bytes=size * self.unit,
                limit_bytes=None,
            ) from err
        return raw[skip : skip + cap]

    def _set_current(self, chunk: _Chunk | None) -> None:
        self.current = chunk
        if not self.objects:
            fast = chunk if chunk is not None and self.fast else None
            self.stack._fast_chunk = _NO_FAST_CHUNK if fast is None else fast

    def trim(self) -> int:
        """Drop the current chunk if nothing lives in it; return the bytes released."""
        cur = self.current
        if cur is None or cur.top:
            return 0
        self._set_current(None)
        return cur.capacity * self.unit


def _no_fast_chunk() -> _Chunk:
    """A stand-in for "no current chunk": nothing fits under its limit."""
    chunk = _Chunk.__new__(_Chunk)
    chunk.top = 0
    chunk.limit = -1
    chunk.fast = False
    return chunk


_NO_FAST_CHUNK = _no_fast_chunk()
_NEVER_FITS = 1 << 62  # a `_size` that no chunk limit reaches: always the slow path

# Zero bytes at a 64-byte boundary, for slices of zero bytes: they touch no chunk.
_EMPTY = np.zeros(2 * ALIGNMENT, dtype=np.uint8)
_EMPTY_ALIGNED = _EMPTY[-_EMPTY.ctypes.data % ALIGNMENT :][:0]
_EMPTY_OBJ = np.empty(2 * _OBJ_ALIGN, dtype=object)
_EMPTY_OBJ_ALIGNED = _EMPTY_OBJ[(-_EMPTY_OBJ.ctypes.data % ALIGNMENT) // _OBJ_SIZE :][:0]


def _empty_view(shape: tuple[int, ...], dt: np.dtype[Any]) -> NDArray:
    """A slice of zero bytes (no elements, or a zero-sized dtype): touches no chunk."""
    if dt.hasobject:  # no elements: nothing can be stored, so sharing the base is safe
        return _EMPTY_OBJ_ALIGNED.reshape(shape)
    view: NDArray = np.ndarray(shape, dtype=dt, buffer=_EMPTY_ALIGNED)
    return view


# --------------------------------------------------------------------------
# Scopes.


class _Scope(_Record):
    """Base of the scope kinds: a context manager and an allocation record."""

    __slots__ = ("_stack",)

    _stack: Stack

    def _enter_check(self) -> None:
        if self._state != _FRESH:
            raise ScopeError(
                "this scope was already entered; call buffer()/uninit_slice()/uninit() "
                "again for a new slice."
            )

    def __enter__(self) -> NDArray:
        raise NotImplementedError

    def __exit__(self, et: object, ev: object, tb: object) -> None:
        self._stack._end(self)

    def _run(self, fn: Callable[[NDArray], T]) -> T:
        """The closure form: enter, call ``fn`` with the slice, end, return fn's result."""
        view = self.__enter__()
        stack = self._stack
        if not (stack._checked and self._chunk is not None):
            try:
                result = fn(view)
            finally:
                del view
                stack._end(self)
            return result
        # Views derived from a slice keep its anchor (see _anchor) alive, so a
        # reference count above the one seen before fn ran means something
        # outlived the scope.
        anchor = _anchor(view)
        before = (sys.getrefcount(view), sys.getrefcount(anchor))
        try:
            result = fn(view)
        except BaseException:
            del view, anchor
            stack._end(self)
            raise
        if sys.getrefcount(view) > before[0] or sys.getrefcount(anchor) > before[1]:
            stack._escaped(self, anchor, view, fn)
            return result
        del view, anchor
        stack._end(self)
        return result


class _SliceScope(_Scope):
    """``uninit_slice`` / ``uninit``: a slice of a fixed shape and dtype.

    Made by :func:`_slice_scope` (or inline by :func:`uninit_slice`), which set
    the slots directly: a Python ``__init__`` would cost ~60 ns a scope.
    """

    # The spec: dtype; element count; bytes rounded up to a cache line; bytes per
    # element (-1 for object slots); the shape (None: a plain (count,) slice).
    __slots__ = ("_count", "_dt", "_itemsize", "_shape", "_size")

    _dt: np.dtype[Any]
    _count: int
    _size: int
    _itemsize: int
    _shape: tuple[int, ...] | None

    def _set_spec(self, shape: Any, dtype: Any, what: str) -> None:
        dt = _as_dtype(dtype, what)
        dims, count = _as_shape(shape, what)
        if dt.shape:  # a subarray dtype such as (np.float32, 2): numpy appends its shape
            sub = dt.shape
            dims += sub
            for d in sub:
                count *= d
            dt = dt.base
        elif dt.itemsize and not dt.hasobject:
            # Only plain data with bytes in it takes the fast paths (see __enter__).
            try:
                if len(_DTYPE_INFO) < 1024:  # bounded: specs built on the fly must not leak
                    _DTYPE_INFO[dtype] = (dt, dt.itemsize)
            except TypeError:  # an unhashable spec
                pass
        itemsize = _itemsize(dt)
        if not count or not itemsize:
            # Zero bytes never reach an allocation (which would refuse a huge
            # shape with StackOverflowError): check that numpy can make it at all.
            try:
                _empty_view(dims, dt)
            except ValueError as err:
                raise ValueError(
                    f"{what}: shape {shape!r} of dtype {dt} holds no bytes, but numpy "
                    f"cannot make an array of that shape ({err})."
                ) from err
        self._dt = dt
        self._count = count
        self._itemsize = itemsize
        # Object slots and zero-sized dtypes never take the fast path: an end
        # past any chunk's limit sends them to _enter_slow.
        self._size = (count * itemsize + 63) & -64 if itemsize > 0 else _NEVER_FITS
        self._shape = None if len(dims) == 1 else dims

    def __enter__(self) -> NDArray:
        if self._state:
            self._enter_check()
        # The hot path: plain data on an unlocked, unchecked stack, fitting in
        # the current chunk below its high-water mark (a stack without such a
        # chunk has _NO_FAST_CHUNK, whose limit nothing fits under). Everything
        # else (object slots, growth, counters) goes through _enter_slow.
        chunk = self._stack._fast_chunk
        start = chunk.top
        end = start + self._size
        if end <= chunk.limit:
            chunk.top = self._end = end
            self._start = start
            self._chunk = chunk
            self._state = _LIVE
            dt = self._dt
            # Slicing a cached whole-chunk view is ~3x cheaper than frombuffer.
            try:
                full = chunk.views[dt]
            except KeyError:
                full = chunk.typed(dt)
            if full is not None:
                start //= self._itemsize
                view = full[start : start + self._count]
            else:
                view = np.frombuffer(chunk.mv, dt, self._count, start)
            shape = self._shape
            return view if shape is None else view.reshape(shape)
        return self._enter_slow(self._shape)

    def _enter_slow(self, shape: tuple[int, ...] | None) -> NDArray:
        stack = self._stack
        dt = self._dt
        count = self._count
        nbytes = count * self._itemsize
        self._chunk = None
        if nbytes == 0:
            self._state = _LIVE
            return _empty_view((count,) if shape is None else shape, dt)
        if nbytes < 0:  # dtype=object: slots holding None
            stack._alloc(self, stack._objects, count)
            self._state = _LIVE
            chunk = _chunk_of(self)
            view = chunk.array[self._start : self._start + count]
        else:
            stack._alloc(self, stack._bytes, nbytes)
            self._state = _LIVE
            # Checked mode wants each slice to be its own numpy base (see _anchor).
            view = np.frombuffer(_chunk_of(self).mv, dt, count, self._start)
        return view if shape is None else view.reshape(shape)

    def __exit__(self, et: object, ev: object, tb: object) -> None:
        if self._state == _LIVE:
            chunk = self._chunk
            if chunk is not None and chunk.fast and chunk.top == self._end:
                # The hot path: a LIFO release in the current chunk with no
                # out-of-order holes to merge (retired chunks are never `fast`).
                self._state = _ENDED
                chunk.top = self._start
                return
        self._stack._end(self)  # the general case, or the clear error


class _FlatScope(_SliceScope):
    """A plain 1-D slice of a dtype seen before: the hottest case, without reshape.

    ``_shape`` stays unset (it is None by definition).
    """

    __slots__ = ()

    def __enter__(self) -> NDArray:
        # _SliceScope.__enter__ without the reshape; keep the two in step.
        if self._state:
            self._enter_check()
        chunk = self._stack._fast_chunk
        start = chunk.top
        end = start + self._size
        if end <= chunk.limit:
            chunk.top = self._end = end
            self._start = start
            self._chunk = chunk
            self._state = _LIVE
            dt = self._dt
            try:
                full = chunk.views[dt]
            except KeyError:
                full = chunk.typed(dt)
            if full is not None:
                start //= self._itemsize
                return full[start : start + self._count]
            return np.frombuffer(chunk.mv, dt, self._count, start)
        return self._enter_slow(None)


def _slice_scope(stack: Stack, shape: Any, dtype: Any, what: str) -> _SliceScope:
    """A fresh slice scope (see :func:`uninit_slice` for the inlined copy)."""
    if type(shape) is int and shape >= 0:
        try:
            dt, itemsize = _DTYPE_INFO[dtype]
        except (KeyError, TypeError):
            pass
        else:
            flat = _FlatScope()
            flat._stack = stack
            flat._state = _FRESH
            flat._dt = dt
            flat._count = shape
            flat._itemsize = itemsize
            flat._size = (shape * itemsize + 63) & -64
            return flat
    scope = _SliceScope()
    scope._stack = stack
    scope._state = _FRESH
    scope._set_spec(shape, dtype, what)
    return scope


def _bad_item(items: list[Any], dt: np.dtype[Any], base: int, err: Exception) -> Exception:
    """Find the first item of ``items`` that does not convert to ``dt``; build the error.

    An item may also fit on its own but not have the shape of the ones before it.
    """
    first: tuple[int, ...] | None = None
    for i, item in enumerate(items):
        try:
            shape = np.asarray([item], dtype=dt).shape[1:]
        except (TypeError, ValueError, OverflowError, FloatingPointError) as item_err:
            cls = TypeError if isinstance(item_err, TypeError) else ValueError
            return cls(f"buffer: item {base + i} ({item!r}) does not fit dtype {dt}: {item_err}")
        if first is None:
            first = shape
        elif shape != first:
            return ValueError(
                f"buffer: item {base + i} has shape {shape}, but the items before it have "
                f"shape {first}; all items must have one shape."
            )
    cls = TypeError if isinstance(err, TypeError) else ValueError
    return cls(f"buffer: items {base}..{base + len(items) - 1} do not fit dtype {dt}: {err}")


def _to_objects(items: list[Any]) -> NDArray:
    return np.fromiter(items, dtype=object, count=len(items))


def _all_text(items: list[Any], arr: NDArray) -> bool:
    """Whether every leaf of ``items`` is text (numpy turns numbers mixed with text into text)."""
    kind = str if arr.dtype.kind == "U" else bytes
    leaves = np.empty(arr.shape, dtype=object)
    leaves[...] = items if arr.ndim > 1 else _to_objects(items)
    return all(isinstance(x, kind) for x in leaves.flat)


def _convert(items: list[Any], dt: np.dtype[Any] | None, base: int) -> NDArray:
    """Bulk-convert one list of items (numpy fills it in C, not per item in Python).

    ``base`` is the index of ``items[0]`` in the whole iterable, for messages.
    """
    if dt is None:
        try:
            arr = np.asarray(items)
        except (ValueError, TypeError, OverflowError):  # ragged or odd items: keep objects
            return _to_objects(items)
        if arr.dtype.hasobject:
            # nested lists of objects: one object per item
            return arr if arr.ndim == 1 else _to_objects(items)
        if arr.dtype.kind in "US" and not _all_text(items, arr):
            return _to_objects(items)  # numbers mixed with text stay what they are
        return arr
    if dt.hasobject:
        return _to_objects(items)
    if dt.kind in "iu":
        # numpy truncates floats into integer dtypes without a word: refuse them,
        # as an ndarray of floats is refused (see _check_cast).
        try:
            src = np.asarray(items)
        except (ValueError, TypeError, OverflowError):
            src = None  # ragged or odd items: let the conversion below name them
        if src is not None and src.size:  # (no items: numpy calls [] floats)
            if src.dtype.kind in "fc":
                raise _float_item(items, dt, base)
            if src.dtype.kind in "iub":
                _check_int_range(src, dt, base)
                return src.astype(dt)
    try:
        return np.asarray(items, dtype=dt)
    except (ValueError, TypeError, OverflowError, FloatingPointError) as err:
        raise _bad_item(items, dt, base, err) from err


def _float_item(items: list[Any], dt: np.dtype[Any], base: int) -> TypeError:
    for i, item in enumerate(items):
        if np.asarray(item).dtype.kind in "fc":
            return TypeError(
                f"buffer: item {base + i} ({item!r}) does not fit dtype {dt}: expected "
                f"integers, got a {type(item).__name__}; round or convert it explicitly first."
            )
    return TypeError(f"buffer: items {base}.. hold floats; dtype {dt} expects integers.")


def _check_int_range(
    src: NDArray, dt: np.dtype[Any], base: int | None, shown: np.dtype[Any] | None = None
) -> None:
    """Refuse integers outside ``dt``'s range, naming the first (item ``base + i``).

    ``shown`` is the dtype the caller asked for, when ``dt`` is its base.
    """
    if src.size == 0:
        return
    info = np.iinfo(dt)
    lo, hi = int(src.min()), int(src.max())
    if info.min <= lo and hi <= info.max:
        return
    flat = src.ravel()
    # Both bounds are within src's own range when they are crossed: safe compares.
    bad = np.zeros(flat.shape, dtype=bool)
    if lo < info.min:
        bad |= flat < info.min
    if hi > info.max:
        bad |= flat > info.max
    pos = int(np.flatnonzero(bad)[0])
    value = int(flat[pos])
    if base is None:
        what = f"value {value}"
    else:  # items may be rows: the item is the row the value sits in
        what = f"item {base + pos // max(1, flat.size // len(src))} ({value})"
    raise ValueError(
        f"buffer: {what} does not fit dtype {shown or dt}; expected {info.min}..{info.max}."
    )


def _check_cast(src: NDArray, dt: np.dtype[Any]) -> None:
    """Refuse casts that would silently change values (out-of-range ints, float to int).

    A subarray ``dt`` such as (np.uint8, 3) is checked by its base, named as given.
    """
    base = dt.base
    if np.can_cast(src.dtype, base, "safe") or base.hasobject or src.size == 0:
        return
    if src.dtype.kind in "iub" and base.kind in "iu":
        _check_int_range(src, base, None, dt)
        return
    if not np.can_cast(src.dtype, base, "same_kind"):
        raise TypeError(
            f"buffer: cannot convert an array of {src.dtype} to dtype {dt} without losing "
            f"values; convert it explicitly (e.g. arr.astype({base.name!r})) first."
        )


def _range_len(r: range) -> int:
    """``len(r)``, also past sys.maxsize (where len() raises OverflowError)."""
    step = r.step
    return max(0, (r.stop - r.start + step - (1 if step > 0 else -1)) // step)


def _check_range_fits(r: range, n: int, dt: np.dtype[Any]) -> None:
    """Refuse a range (of ``n`` values) with values outside ``dt``, naming its first bad item.

    A range is monotonic, so when its first value fits, the values that fit are
    a run from the start: a binary search finds the first one that does not.
    """
    _convert([r[0]], dt, 0)
    last = n - 1
    try:
        _convert([r[last]], dt, last)
    except (TypeError, ValueError):
        fits, bad = 0, last
        while bad - fits > 1:
            mid = (fits + bad) // 2
            try:
                _convert([r[mid]], dt, mid)
            except (TypeError, ValueError):
                bad = mid
            else:
                fits = mid
        _convert([r[bad]], dt, bad)  # raises, naming the first bad item
        raise


def _per_item(dt: np.dtype[Any], item: tuple[int, ...]) -> int:
    """Bytes per item of ``item`` shape (Python ints: no overflow)."""
    n = dt.itemsize
    for d in item:
        n *= d
    return n


class _BufferScope(_Scope):
    """``buffer``: an iterable consumed into a slice that may grow while it is filled."""

    __slots__ = ("_dtype", "_iterable")

    def __init__(self, stack: Stack, iterable: Any, dtype: Any) -> None:
        self._state = _FRESH
        self._stack = stack
        self._chunk = None
        self._dtype = None if dtype is None else _as_dtype(dtype, "buffer")
        if not isinstance(iterable, Iterable) and not hasattr(iterable, "__getitem__"):
            raise TypeError(
                f"buffer: expected an iterable (list, range, generator, ndarray); got "
                f"{type(iterable).__name__} {iterable!r}."
            )
        self._iterable: Any = iterable

    def __enter__(self) -> NDArray:
        self._enter_check()
        iterable, self._iterable = self._iterable, None  # consumed: keep no reference
        self._state = _LIVE
        try:
            return self._fill(iterable)
        except BaseException as err:
            del iterable
            self._drop()
            self._state = _ENDED
            _clear_own_frames(err.__traceback__)  # the items they held die with the scope
            raise

    # -- placing data ------------------------------------------------------

    def _drop(self) -> None:
        """Give back whatever this scope holds (it stays LIVE for the caller to end)."""
        if self._chunk is not None:
            self._stack._end(self)
            self._state = _LIVE
            self._chunk = None

    def _view_at(
        self, rec: _Record, count: int, dt: np.dtype[Any], item: tuple[int, ...]
    ) -> NDArray:
        chunk = rec._chunk
        if chunk is None:
            return _empty_view((count, *item), dt)
        n = count
        for d in item:
            n *= d
        if dt.hasobject:
            return chunk.array[rec._start : rec._start + n].reshape((count, *item))
        return np.frombuffer(chunk.mv, dt, n, rec._start).reshape((count, *item))

    def _place(self, count: int, dt: np.dtype[Any], item: tuple[int, ...]) -> NDArray:
        """Allocate room for ``count`` items on the stack and return the view."""
        nbytes = count * _per_item(dt, item)
        if nbytes:
            stack = self._stack
            if dt.hasobject:
                stack._alloc(self, stack._objects, nbytes // _OBJ_SIZE)
            else:
                stack._alloc(self, stack._bytes, nbytes)
        return self._view_at(self, count, dt, item)

    def _place_shape(self, shape: tuple[int, ...], dt: np.dtype[Any]) -> NDArray:
        if not shape:  # a 0-d array: one value
            return self._place(1, dt, ()).reshape(())
        return self._place(shape[0], dt, tuple(shape[1:]))

    def _fill(self, iterable: Any) -> NDArray:
        dt = self._dtype
        if isinstance(iterable, np.ndarray):
            src = iterable
            if dt is None:
                dt = _as_dtype(src.dtype, "buffer")  # refuses mixed object fields clearly
            elif src.dtype == _OBJECT and not dt.hasobject:
                flat = _convert(src.ravel().tolist(), dt, 0)
                src = flat.reshape(src.shape + flat.shape[1:])
                dt = src.dtype
            else:
                _check_cast(src, dt)
                if dt.shape:  # a subarray dtype: each value gains its shape, as in numpy
                    src = np.asarray(src, dtype=dt)
                    dt = src.dtype
            view = self._place_shape(src.shape, dt)
            try:
                np.copyto(view, src, casting="unsafe")  # value-checked by _check_cast
            except FloatingPointError as err:  # np.seterr(over="raise"): float overflow
                raise ValueError(
                    f"buffer: a value of the {src.dtype} array does not fit dtype {dt}: {err}."
                ) from err
            return view
        if isinstance(iterable, range) and (dt is None or not dt.shape):
            return self._fill_range(iterable, dt)
        if isinstance(iterable, list | tuple):
            arr = _convert(list(iterable), dt, 0)
            view = self._place_shape(arr.shape, arr.dtype)
            view[...] = arr
            return view
        try:
            it = iter(iterable)
        except TypeError as err:
            raise TypeError(
                f"buffer: expected an iterable (list, range, generator, ndarray); got "
                f"{type(iterable).__name__} {iterable!r}."
            ) from err
        return self._fill_iter(it, dt)

    def _fill_range(self, r: range, dt: np.dtype[Any] | None) -> NDArray:
        n = _range_len(r)
        if n == 0:
            return self._place(0, dt if dt is not None else np.dtype(np.int64), ())
        if dt is None:
            dt = _convert([r[0], r[-1]], None, 0).dtype
        elif not dt.hasobject:
            _check_range_fits(r, n, dt)
        view = self._place(n, dt, ())  # a range too long for memory: StackOverflowError
        if dt.hasobject:
            view[:] = _to_objects(list(r))
            return view
        exact = dt if dt.kind in "iu" else np.dtype(np.int64)
        for i in range(0, n, _MAX_CHUNK_ITEMS):  # bounded temporaries, filled in bulk
            sub = r[i : i + _MAX_CHUNK_ITEMS]
            view[i : i + len(sub)] = np.arange(sub.start, sub.stop, sub.step, dtype=exact)
        return view

    def _fill_iter(self, it: Iterator[Any], dt: np.dtype[Any] | None) -> NDArray:
        hint = operator.length_hint(it, 0)
        want = max(_FIRST_CHUNK_ITEMS, min(hint, _MAX_CHUNK_ITEMS))
        items = list(itertools.islice(it, want))
        first = _convert(items, dt, 0)
        dt = first.dtype
        item = tuple(first.shape[1:])
        count = len(first)
        if count < want:  # the iterator is exhausted: place exactly what it gave
            view = self._place(count, dt, item)
            view[...] = first
            return view
        # The hint sizes the slice, but only so far: a wrong one must not make
        # buffer() hoard (or fail for) memory the items never use.
        cap = max(2 * count, min(hint, 4 * count))
        view = self._place(cap, dt, item)
        view[:count] = first
        del first, items
        step = want
        while True:
            step = min(step * 2, _MAX_CHUNK_ITEMS)
            items = list(itertools.islice(it, step))
            if not items:
                break
            arr = _convert(items, self._dtype, count)
            shape = tuple(arr.shape[1:])
            if self._dtype is not None:
                if shape != item:
                    raise ValueError(
                        f"buffer: item {count} has shape {shape}, but the items before "
                        f"it have shape {item}; all items must have one shape."
                    )
            elif shape != item or arr.dtype != dt:
                new_dt = _promote(dt, arr.dtype, shape == item)
                if new_dt != dt:
                    if new_dt.hasobject:
                        view = self._move(count, cap, new_dt, (), _objects_of(view[:count]))
                        item = ()
                    else:
                        view = self._move(count, cap, new_dt, item, view[:count])
                    dt = new_dt
                if dt.hasobject and (arr.dtype != dt or arr.ndim != 1):
                    arr = _to_objects(items)
            del items
            if count + len(arr) > cap:
                cap = max(cap * 2, count + len(arr))
                view = self._grow_to(view, count, cap, dt, item)
            view[count : count + len(arr)] = arr
            count += len(arr)
            del arr
        return self._shrink(view, count, dt, item)

    def _grow_to(
        self, view: NDArray, count: int, cap: int, dt: np.dtype[Any], item: tuple[int, ...]
    ) -> NDArray:
        """Make room for ``cap`` items: in place when on top of the stack, else move."""
        chunk = self._chunk
        if chunk is not None:
            region = chunk.region
            with self._stack._locked():
                grown = region.try_extend(self, cap * _per_item(dt, item) // region.unit)
            if grown:
                return self._view_at(self, cap, dt, item)
        return self._move(count, cap, dt, item, view[:count])

    def _move(
        self, count: int, cap: int, dt: np.dtype[Any], item: tuple[int, ...], data: NDArray
    ) -> NDArray:
        """Re-place this buffer (bigger, or with a promoted dtype) and copy ``data`` over."""
        stack = self._stack
        region = stack._objects if dt.hasobject else stack._bytes
        tmp = _Record()
        tmp._state = _FRESH
        tmp._chunk = None
        units = cap * _per_item(dt, item) // region.unit
        if units:
            stack._alloc(tmp, region, units)  # may raise: nothing changed yet
            tmp._state = _LIVE
        new = self._view_at(tmp, cap, dt, item)
        try:
            new[:count] = data
        except BaseException:
            if tmp._chunk is not None:
                stack._end(tmp)
            raise
        with stack._locked():
            if self._chunk is None:  # the old place held nothing: just adopt the new one
                self._chunk, self._start, self._end = tmp._chunk, tmp._start, tmp._end
                return new
            if tmp._chunk is None:
                raise AssertionError("a buffer never moves to zero bytes")
            _Region.swap(self, tmp)  # self takes the new place, tmp the old one
        tmp._state = _LIVE
        stack._end(tmp)
        return new

    def _shrink(
        self, view: NDArray, count: int, dt: np.dtype[Any], item: tuple[int, ...]
    ) -> NDArray:
        """Hand back the unused tail when it sits on top of the stack."""
        chunk = self._chunk
        if chunk is not None:
            if count == 0:
                self._drop()
                return _empty_view((0, *item), dt)
            region = chunk.region
            units = count * _per_item(dt, item) // region.unit
            size = -(-units // region.align) * region.align
            with self._stack._locked():
                if chunk.top == self._end and size < self._end - self._start:
                    region._resize(self, size)
        return view[:count]


def _promote(a: np.dtype[Any], b: np.dtype[Any], same_shape: bool) -> np.dtype[Any]:
    if not same_shape or a.hasobject or b.hasobject:
        return _OBJECT
    if (a.kind in "US" or b.kind in "US") and a.kind != b.kind:
        return _OBJECT  # numbers and text (or str and bytes): keep each item as it is
    try:
        return np.result_type(a, b)
    except TypeError:  # no common dtype: keep objects
        return _OBJECT


def _objects_of(arr: NDArray) -> NDArray:
    """One object per item: rows of a 2-D array become lists (they are ragged later)."""
    if arr.ndim == 1:
        return arr.astype(object)
    return _to_objects([row.tolist() for row in arr])


# --------------------------------------------------------------------------
# The stack.


class Stack:
    """An owned second stack: a growable arena of short-lived numpy slices.

    Slices start on 64-byte boundaries and are handed out by :meth:`buffer`,
    :meth:`uninit_slice` and :meth:`uninit`, each a context manager (or, with
    ``fn=``, a call that passes the slice to ``fn`` and returns its result).
    A view kept past its scope never points at freed memory, but it sees the
    bytes of later slices; ``checked=True`` poisons released memory (0xFF) and
    warns with :class:`EscapedViewWarning` when a view escapes a closure scope.

    ``initial_capacity`` is the first chunk's size in bytes; ``max_capacity``
    caps the bytes the stack may hold (``None``: no cap), and a request past it
    raises :class:`StackOverflowError` with nothing changed. With
    ``thread_safe=True`` (the default for owned stacks) a lock makes concurrent
    use from several threads safe. ``thread_safe=False`` drops the lock, which
    lets scopes take inline fast paths (as the thread-local stacks do); such a
    stack must then be used from one thread only.
    """

    def __init__(
        self,
        *,
        initial_capacity: int = _DEFAULT_INITIAL,
        max_capacity: int | None = None,
        checked: bool = False,
        thread_safe: bool = True,
    ) -> None:
        initial_capacity = non_negative_int(initial_capacity, "Stack: initial_capacity")
        if max_capacity is not None:
            max_capacity = non_negative_int(max_capacity, "Stack: max_capacity")
        self.max_capacity = max_capacity
        self._checked = bool(checked)
        self._lock = threading.RLock() if thread_safe else None
        self._fast = self._lock is None and not self._checked  # see _SliceScope.__enter__
        self._fast_chunk = _NO_FAST_CHUNK  # the current byte chunk when _fast
        self._growths = 0
        self._high_water = 0
        self._pending: list[_Record] = []  # escaped views that died (checked mode)
        self._bytes = _Region(self, objects=False, initial_bytes=initial_capacity)
        self._objects = _Region(self, objects=True, initial_bytes=min(initial_capacity, 4096))

    def __repr__(self) -> str:
        return (
            f"Stack(capacity_bytes={self.capacity_bytes}, bytes_in_use={self.bytes_in_use}, "
            f"high_water_bytes={self.high_water_bytes}, growths={self.growths}, "
            f"checked={self.checked})"
        )

    @property
    def checked(self) -> bool:
        """Whether released memory is poisoned and escaped views are reported (fixed)."""
        return self._checked

    # -- the three scopes --------------------------------------------------

    def buffer(
        self,
        iterable: Iterable[Any],
        *,
        dtype: DTypeLike | None = None,
        fn: Callable[[NDArray], T] | None = None,
    ) -> Any:
        """Consume ``iterable`` into a slice on this stack.

        Lists, ranges and arrays are converted by numpy in bulk; an iterator of
        unknown length is read in growing chunks and the slice grows as it goes
        (in place when it is on top of the stack, else moved). The dtype is
        inferred unless given, with ``object`` as the fall-back for items numpy
        cannot hold natively (and for numbers mixed with text); object references
        are dropped when the scope ends, also when the block or the iterable
        raised. Arrays keep their shape. Floats are not truncated into an
        integer dtype, nor integers wrapped around.

        Raises TypeError for a non-iterable or invalid dtype and TypeError or
        ValueError naming the first item that does not fit ``dtype``.
        """
        scope = _BufferScope(self, iterable, dtype)
        return scope if fn is None else scope._run(fn)

    def uninit_slice(
        self,
        shape: ShapeLike,
        dtype: DTypeLike,
        *,
        fn: Callable[[NDArray], T] | None = None,
    ) -> Any:
        """An uninitialised slice of ``shape`` (an int or a tuple) and ``dtype``.

        ``dtype=object`` slices hold ``None``. Raises TypeError/ValueError for a
        bad shape or dtype and :class:`StackOverflowError` past ``max_capacity``.
        """
        scope = _slice_scope(self, shape, dtype, "uninit_slice")
        return scope if fn is None else scope._run(fn)

    def uninit(self, dtype: DTypeLike, *, fn: Callable[[NDArray], T] | None = None) -> Any:
        """One uninitialised value of ``dtype`` as a 0-d view (it may be huge)."""
        scope = _slice_scope(self, (), dtype, "uninit")
        return scope if fn is None else scope._run(fn)

    # -- memory and counters ----------------------------------------------

    def trim(self) -> int:
        """Give idle memory back: drop the current chunk when no slice lives in it.

        Returns the bytes released. Chunks that still hold live slices are kept
        (older ones are dropped by themselves when their last slice ends).
        """
        with self._locked():
            self._drain()
            return self._bytes.trim() + self._objects.trim()

    @property
    def capacity_bytes(self) -> int:
        """Bytes held in chunks (raw data plus object slots at 8 bytes each)."""
        return self._bytes.capacity_units + self._objects.capacity_units * _OBJ_SIZE

    @property
    def bytes_in_use(self) -> int:
        """Bytes below the bump pointers: live slices with their alignment padding,
        and holes left by slices that ended out of order (reclaimed once the
        slices above them end)."""
        return self._bytes.in_use + self._objects.in_use * _OBJ_SIZE

    @property
    def high_water_bytes(self) -> int:
        """The most :attr:`bytes_in_use` has been since creation or :meth:`reset_high_water`."""
        return self._high_water

    @property
    def growths(self) -> int:
        """How many chunks this stack has allocated."""
        return self._growths

    @property
    def chunk_count(self) -> int:
        """Chunks held now (converges to one, or zero after :meth:`trim`)."""
        return sum(len(r.retired) + (r.current is not None) for r in (self._bytes, self._objects))

    def reset_high_water(self) -> None:
        """Restart the high-water mark from the bytes in use now."""
        with self._locked():
            self._high_water = 0
            self._note_high()

    def _note_high(self) -> None:
        """Update the high-water mark; re-arm each current chunk's cheap `mark` test."""
        used = self.bytes_in_use
        if used > self._high_water:
            self._high_water = used
        for region in (self._bytes, self._objects):
            chunk = region.current
            if chunk is not None:
                others = used - chunk.top * region.unit
                chunk.mark = (self._high_water - others) // region.unit
                chunk.limit = min(chunk.mark, chunk.capacity)

    # -- internals ----------------------------------------------------------

    def _locked(self) -> Any:
        return self._lock if self._lock is not None else _NO_LOCK

    def _other(self, region: _Region) -> _Region:
        return self._objects if region is self._bytes else self._bytes

    def _alloc(self, rec: _Record, region: _Region, units: int) -> None:
        lock = self._lock
        if lock is None:
            if self._pending:
                self._drain()
            region.alloc(rec, units)
            return
        with lock:
            if self._pending:
                self._drain()
            region.alloc(rec, units)

    def _end(self, scope: _Record) -> None:
        state = scope._state
        if state != _LIVE:
            raise ScopeError(
                "this scope already ended; a scope can end only once."
                if state in (_ENDED, _ESCAPED)
                else "this scope was never entered; use it in a `with` statement."
            )
        scope._state = _ENDED
        chunk = scope._chunk
        if chunk is None:  # zero bytes: nothing was allocated
            return
        lock = self._lock
        if lock is None:
            chunk.region.release(scope)
            return
        with lock:
            chunk.region.release(scope)

    def _escaped(
        self, scope: _Scope, anchor: NDArray, view: NDArray, fn: Callable[..., Any]
    ) -> None:
        """Checked mode: keep an escaped view's memory out of reuse until it dies."""
        scope._state = _ESCAPED
        name = getattr(fn, "__qualname__", repr(fn))
        warnings.warn(
            f"a view of shape {view.shape} and dtype {view.dtype} escaped the closure "
            f"scope of {name}; it stays readable (its memory is quarantined until it is "
            f"dropped), but the slice was meant to end with the scope.",
            EscapedViewWarning,
            stacklevel=_user_stacklevel(),
        )
        # Every view derived from the slice keeps `anchor` alive: once it dies,
        # nothing can read the memory any more and it can be reused.
        weakref.finalize(anchor, self._pending.append, scope)

    def _drain(self) -> None:
        """Reclaim quarantined regions whose escaped views have died."""
        pending = self._pending
        while pending:
            rec = pending.pop()
            rec._state = _ENDED
            _chunk_of(rec).region.release(rec)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def non_negative_int(value: Any, what: str) -> int:
    """``value`` as an int >= 0, else TypeError/ValueError naming ``what`` and the value.

    bools are refused (True is an int to Python, but never a count here).
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a non-negative int; got {value!r}.")
    try:
        n = operator.index(value)
    except TypeError as err:
        raise TypeError(
            f"{what} must be a non-negative int; got {value!r} ({type(value).__name__})."
        ) from err
    if n < 0:
        raise ValueError(f"{what} must be a non-negative int; got {n}.")
    return n


# --------------------------------------------------------------------------
# Thread-local default stacks and the module-level functions.

_local = threading.local()


def _env_checked() -> bool:
    return os.environ.get(CHECKED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def thread_stack() -> Stack:
    """The calling thread's own default stack (made on first use).

    It has no lock (only its thread uses it) and runs in checked mode when the
    ``STAGEBUF_CHECKED`` environment variable is 1 at the time it is made.
    """
    try:
        return _local.stack  # type: ignore[no-any-return]
    except AttributeError:
        stack = _local.stack = Stack(checked=_env_checked(), thread_safe=False)
        return stack


def buffer(
    iterable: Iterable[Any],
    *,
    dtype: DTypeLike | None = None,
    fn: Callable[[NDArray], T] | None = None,
) -> Any:
    """:meth:`Stack.buffer` on the calling thread's own stack."""
    try:
        stack = _local.stack
    except AttributeError:
        stack = thread_stack()
    scope = _BufferScope(stack, iterable, dtype)
    return scope if fn is None else scope._run(fn)


def uninit_slice(
    shape: ShapeLike, dtype: DTypeLike, *, fn: Callable[[NDArray], T] | None = None
) -> Any:
    """:meth:`Stack.uninit_slice` on the calling thread's own stack."""
    try:
        stack = _local.stack
    except AttributeError:
        stack = thread_stack()
    if type(shape) is int and shape >= 0:
        try:
            dt, itemsize = _DTYPE_INFO[dtype]
        except (KeyError, TypeError):
            pass
        else:
            # The hot path, _slice_scope inlined: a call costs ~40 ns here.
            flat = _FlatScope()
            flat._stack = stack
            flat._state = _FRESH
            flat._dt = dt
            flat._count = shape
            flat._itemsize = itemsize
            flat._size = (shape * itemsize + 63) & -64
            return flat if fn is None else flat._run(fn)
    scope = _slice_scope(stack, shape, dtype, "uninit_slice")
    return scope if fn is None else scope._run(fn)


def uninit(dtype: DTypeLike, *, fn: Callable[[NDArray], T] | None = None) -> Any:
    """:meth:`Stack.uninit` on the calling thread's own stack."""
    try:
        stack = _local.stack
    except AttributeError:
        stack = thread_stack()
    scope = _slice_scope(stack, (), dtype, "uninit")
    return scope if fn is None else scope._run(fn)


_THIS_FILE = _clear_own_frames.__code__.co_filename
