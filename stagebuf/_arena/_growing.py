"""The growing buffer: ``buffer(iterable)``, a slice filled from an iterable.

Lists, tuples, ranges and arrays have a known length: one conversion (a list
or tuple as it is, without a copy), one allocation. An iterator of unknown
length is read in growing batches; the slice grows as it goes, in place when
it is on top of the stack, else it moves to a bigger place (the old one is
released). When a later batch needs another dtype (ints then floats, text of
a longer length, ragged items) the items move to the promoted dtype. The
unused tail is handed back at the end.

While it is being filled the scope is ``FILLING``: an iterable that tries to
end the very scope it feeds gets :class:`~stagebuf.ScopeError` before anything
is written. When the iterable or a conversion raises, the slice is released
and the items it held are dropped with it (the analogue of Rust's Drop).
"""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ._checked import in_package
from ._checks import as_dtype, check_dims
from ._chunks import OBJECT_SLOT_BYTES, Allocation, Chunk
from ._convert import (
    OBJECT,
    array_loss_error,
    check_range_fits,
    convert,
    is_flexible,
    objects_of,
    promote,
    range_len,
    range_values,
    to_objects,
)
from ._memory import Memory
from ._scopes import ENDED, FILLING, FRESH, LIVE, Scope, SliceScope, empty_view

__all__ = ["BufferScope"]

NDArray = npt.NDArray[Any]

_FIRST_BATCH = 256  # items in the first conversion batch of an iterator; doubles
_MAX_BATCH = 65536  # bounds the temporary list of one conversion batch


def _per_item(dt: np.dtype[Any], item: tuple[int, ...]) -> int:
    """Bytes per item of ``item`` shape (Python ints: no overflow)."""
    n = OBJECT_SLOT_BYTES if dt.hasobject else dt.itemsize
    for d in item:
        n *= d
    return n


def _units(dt: np.dtype[Any], count: int, item: tuple[int, ...]) -> int:
    """Allocator units for ``count`` items: bytes, or object slots."""
    nbytes = count * _per_item(dt, item)
    return nbytes // OBJECT_SLOT_BYTES if dt.hasobject else nbytes


def _not_iterable(iterable: Any) -> TypeError:
    return TypeError(
        f"buffer: expected an iterable (list, range, generator, ndarray); got "
        f"{type(iterable).__name__} {iterable!r}."
    )


def _clear_package_frames(tb: TracebackType | None) -> None:
    """Drop the locals of this package's finished frames in ``tb``.

    They may hold the items of a failed buffer (the batch being converted);
    the exception travelling up must not keep those objects alive.
    """
    while tb is not None:
        frame = tb.tb_frame
        if in_package(frame):
            with contextlib.suppress(RuntimeError):  # still executing: the handler's own
                frame.clear()
        tb = tb.tb_next


class BufferScope(Scope):
    """``buffer``: an iterable consumed into a slice that may grow while it is filled."""

    __slots__ = ("_dtype", "_iterable")

    def __init__(self, memory: Memory, iterable: Any, dtype: Any) -> None:
        self._state = FRESH
        self._memory = memory
        self.chunk = None
        self._dtype = None if dtype is None else as_dtype(dtype, "buffer")
        kind = type(iterable)
        if (
            kind is not list
            and kind is not tuple
            and not isinstance(iterable, Iterable)
            and not hasattr(iterable, "__getitem__")
        ):
            raise _not_iterable(iterable)
        self._iterable: Any = iterable

    def __enter__(self) -> NDArray:
        if self._state != FRESH:
            self._enter_check()
        iterable, self._iterable = self._iterable, None  # consumed: keep no reference
        self._state = FILLING
        try:
            view = self._fill(iterable)
            self._state = LIVE
            return view
        except BaseException as err:
            if self._state == LIVE:  # filled: the exception came on the way out
                self._entering_interrupted()
                raise
            del iterable
            self._release_on_error()
            self._state = ENDED
            _clear_package_frames(err.__traceback__)  # the items die with the scope
            raise

    # Ending is the same for every scope that holds one allocation: the slice
    # scopes' exit (Python or compiled), whose fast path moves the bump pointer
    # back when the slice is the top of a bump-only chunk; Scope.__exit__
    # would take the lock (~0.4 us more a scope).
    __exit__ = SliceScope.__exit__

    def _release_on_error(self) -> None:
        """Release what the scope holds now (its objects die now), else put it off."""
        chunk = self.chunk
        if chunk is None:
            return
        try:
            self._memory.release(self)
        except BaseException:  # a second fault: the first one is what surfaces
            if chunk.top >= self.stop and self.stop not in chunk.gaps:
                self._memory.deferred += [self]
        self.chunk = None

    # -- placing data ------------------------------------------------------

    def _drop(self) -> None:
        """Give back whatever this scope holds."""
        if self.chunk is not None:
            held = _held_by(self)
            self.chunk = None
            self._memory.release(held)

    def _place(self, count: int, dt: np.dtype[Any], item: tuple[int, ...]) -> NDArray:
        """Allocate room for ``count`` items on the stack and return the view."""
        n = count  # elements: items times the elements of one item
        for d in item:
            n *= d
        if not n or not dt.itemsize:
            return empty_view((count, *item), dt)
        memory = self._memory
        if dt.hasobject:
            memory.allocate(self, n, objects=True)
            view = cast(Chunk, self.chunk).view(self.start, n, dt)
        else:
            memory.allocate(self, n * dt.itemsize, objects=False)  # inline on a fast chunk
            view = np.frombuffer(cast(Chunk, self.chunk).data, dt, n, self.start)
        return view.reshape((count, *item)) if item else view

    def _place_shape(self, shape: tuple[int, ...], dt: np.dtype[Any]) -> NDArray:
        if not shape:  # a 0-d array: one value
            return self._place(1, dt, ()).reshape(())
        return self._place(shape[0], dt, tuple(shape[1:]))

    def _fill(self, iterable: Any) -> NDArray:
        dt = self._dtype
        kind = type(iterable)
        if kind is list or (kind is tuple and (dt is None or dt.kind != "V")):
            # numpy reads an exact list or tuple as it is: no copy. Not a tuple
            # for a structured or subarray dtype ("V"): numpy would take it for
            # one record. A subclass is copied by list() below, through its own
            # __iter__, so that the conversion and its messages see what it yields.
            return self._fill_sequence(iterable, dt)
        if isinstance(iterable, np.ndarray):
            return self._fill_array(iterable, dt)
        if isinstance(iterable, range) and (dt is None or not (dt.shape or is_flexible(dt))):
            return self._fill_range(iterable, dt)
        if isinstance(iterable, list | tuple):
            return self._fill_sequence(list(iterable), dt)
        try:
            it = iter(iterable)
        except TypeError as err:
            raise _not_iterable(iterable) from err
        return self._fill_iter(it, dt)

    def _fill_sequence(
        self, items: list[Any] | tuple[Any, ...], dt: np.dtype[Any] | None
    ) -> NDArray:
        arr = convert(items, dt, 0)  # 1-D at least: a list (or tuple, see _fill) is an axis
        view = self._place(len(arr), arr.dtype, arr.shape[1:])
        view[...] = arr
        return view

    def _fill_array(self, src: NDArray, dt: np.dtype[Any] | None) -> NDArray:
        if dt is None:
            dt = as_dtype(src.dtype, "buffer")  # refuses mixed object fields clearly
        elif src.dtype == OBJECT and not dt.hasobject:
            flat = convert(src.ravel().tolist(), dt, 0)
            src = flat.reshape(src.shape + flat.shape[1:])
            dt = src.dtype
        else:
            error = array_loss_error(src, dt)
            if error is not None:
                raise error
            if dt.shape or is_flexible(dt):
                # A subarray dtype: each value gains its shape, as in numpy; a
                # flexible one takes the size of the longest value.
                check_dims(src.ndim + len(dt.shape), "buffer", src.shape + dt.shape)
                src = np.asarray(src, dtype=dt)
                dt = src.dtype
        view = self._place_shape(src.shape, dt)
        try:
            np.copyto(view, src, casting="unsafe")  # value-checked above
        except (FloatingPointError, ValueError, TypeError) as err:
            # Float overflow under np.seterr(over="raise"), or text that numpy
            # cannot parse as dt (a datetime): numpy names the value, we the dtype.
            cls = TypeError if isinstance(err, TypeError) else ValueError
            raise cls(
                f"buffer: a value of the {src.dtype} array does not fit dtype {dt}: {err}."
            ) from err
        return view

    def _fill_range(self, r: range, dt: np.dtype[Any] | None) -> NDArray:
        n = range_len(r)
        if n == 0:
            return self._place(0, dt if dt is not None else np.dtype(np.int64), ())
        if dt is None:
            dt = convert([r[0], r[-1]], None, 0).dtype
        elif not dt.hasobject:
            check_range_fits(r, n, dt)
        view = self._place(n, dt, ())  # a range too long for memory: StackOverflowError
        if dt.hasobject:
            view[:] = to_objects(list(r))
            return view
        for i in range(0, n, _MAX_BATCH):  # bounded temporaries, filled in bulk
            part = r[i : i + _MAX_BATCH]
            view[i : i + len(part)] = range_values(part, dt)
        return view

    def _fill_iter(self, it: Iterator[Any], dt: np.dtype[Any] | None) -> NDArray:
        hint = operator.length_hint(it, 0)
        want = max(_FIRST_BATCH, min(hint, _MAX_BATCH))
        items = list(itertools.islice(it, want))
        first = convert(items, dt, 0)
        # A given dtype stays, unless it is a flexible one ("U"): then, as when
        # none is given, later batches may need a promoted dtype.
        fixed = dt is not None and not is_flexible(dt)
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
        batch = want
        while True:
            batch = min(batch * 2, _MAX_BATCH)
            items = list(itertools.islice(it, batch))
            if not items:
                break
            arr = convert(items, self._dtype, count)
            shape = tuple(arr.shape[1:])
            if fixed:
                if shape != item:
                    raise ValueError(
                        f"buffer: item {count} has shape {shape}, but the items before "
                        f"it have shape {item}; all items must have one shape."
                    )
            elif shape != item or arr.dtype != dt:
                new_dt = promote(dt, arr.dtype, shape == item)
                if new_dt != dt:
                    if new_dt.hasobject:
                        view = self._move(count, cap, new_dt, (), objects_of(view[:count]))
                        item = ()
                    else:
                        view = self._move(count, cap, new_dt, item, view[:count])
                    dt = new_dt
                if dt.hasobject and (arr.dtype != dt or arr.ndim != 1):
                    arr = to_objects(items)
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
        if self._memory.try_extend(self, _units(dt, cap, item)):
            return _view_of(self, cap, dt, item)
        return self._move(count, cap, dt, item, view[:count])

    def _move(
        self, count: int, cap: int, dt: np.dtype[Any], item: tuple[int, ...], data: NDArray
    ) -> NDArray:
        """Re-place this buffer (bigger, or with a promoted dtype) and copy ``data`` over.

        The new place is held by a local record until this scope takes it,
        and the old one by another once this scope lets go of it, so an
        exception at any point leaves each place either held by this scope
        or handed to the deferred releases, once.
        """
        memory = self._memory
        new = Allocation()
        new.chunk = None
        old: Allocation | None = None
        try:
            units = _units(dt, cap, item)
            if units:
                memory.allocate(new, units, objects=dt.hasobject)
            view = _view_of(new, cap, dt, item)
            view[:count] = data
            if self.chunk is not None:
                old = _held_by(self)
            self.chunk = None  # held by `old` and `new` now, not by this scope
            self.start = new.start if new.chunk is not None else 0
            self.stop = new.stop if new.chunk is not None else 0
            self.chunk = new.chunk  # this scope holds the new place
            if old is not None:
                memory.release(old)
            return view
        except BaseException:
            # No calls here: see _scopes. Which place does this scope hold now?
            if new.chunk is not None and not (self.chunk is new.chunk and self.start == new.start):
                memory.deferred += [new]
            if old is not None and not (self.chunk is old.chunk and self.start == old.start):
                chunk = old.chunk
                if chunk is not None and chunk.top >= old.stop and old.stop not in chunk.gaps:
                    memory.deferred += [old]  # not released yet
            raise

    def _shrink(
        self, view: NDArray, count: int, dt: np.dtype[Any], item: tuple[int, ...]
    ) -> NDArray:
        """Hand back the unused tail when it sits on top of the stack."""
        if self.chunk is not None:
            if count == 0:
                self._drop()
                return empty_view((0, *item), dt)
            self._memory.shrink(self, _units(dt, count, item))
        return view[:count]


def _held_by(rec: Allocation) -> Allocation:
    """A record of the place ``rec`` holds (so that ``rec`` can let go of it)."""
    held = Allocation()
    held.start = rec.start
    held.stop = rec.stop
    held.chunk = rec.chunk
    return held


def _view_of(rec: Allocation, count: int, dt: np.dtype[Any], item: tuple[int, ...]) -> NDArray:
    chunk = rec.chunk
    if chunk is None:
        return empty_view((count, *item), dt)
    n = count
    for d in item:
        n *= d
    return chunk.view(rec.start, n, dt).reshape((count, *item))
