"""``Stack``: an owned second stack, the public face of one :class:`~._memory.Memory`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from threading import get_ident
from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

from ._checks import non_negative_int
from ._growing import BufferScope
from ._memory import Memory
from ._scopes import slice_scope

__all__ = ["DEFAULT_INITIAL_CAPACITY", "ShapeLike", "SliceOf", "Stack", "new_thread_stack"]

T = TypeVar("T")
S = TypeVar("S", bound=np.generic)
NDArray = npt.NDArray[Any]
ShapeLike = int | tuple[int, ...]
SliceOf = AbstractContextManager  # what the scope methods return without fn=
"""A scope: ``with`` it to get the slice (an ndarray view); it ends with the block."""

DEFAULT_INITIAL_CAPACITY = 64 * 1024


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
    lets scopes take the inline fast path (as the thread-local stacks do); such
    a stack must then be used from one thread only.
    """

    # No __slots__: a Stack takes attributes and weak references, as it always did.
    _memory: Memory

    def __init__(
        self,
        *,
        initial_capacity: int = DEFAULT_INITIAL_CAPACITY,
        max_capacity: int | None = None,
        checked: bool = False,
        thread_safe: bool = True,
    ) -> None:
        initial_capacity = non_negative_int(initial_capacity, "Stack: initial_capacity")
        if max_capacity is not None:
            max_capacity = non_negative_int(max_capacity, "Stack: max_capacity")
        self._memory = Memory(
            initial_capacity=initial_capacity,
            max_capacity=max_capacity,
            checked=bool(checked),
            thread_safe=thread_safe,
        )

    def __repr__(self) -> str:
        return (
            f"Stack(capacity_bytes={self.capacity_bytes}, bytes_in_use={self.bytes_in_use}, "
            f"high_water_bytes={self.high_water_bytes}, growths={self.growths}, "
            f"checked={self.checked})"
        )

    @property
    def checked(self) -> bool:
        """Whether released memory is poisoned and escaped views are reported (fixed)."""
        return self._memory.checked

    @property
    def max_capacity(self) -> int | None:
        """The most bytes this stack may hold (``None``: no cap); may be changed.

        A lower cap refuses new chunks past it; chunks held already stay.
        """
        return self._memory.max_capacity

    @max_capacity.setter
    def max_capacity(self, value: int | None) -> None:
        if value is not None:
            value = non_negative_int(value, "Stack: max_capacity")
        self._memory.max_capacity = value

    # -- the three scopes --------------------------------------------------

    @overload
    def buffer(
        self, iterable: Iterable[Any], *, dtype: type[S] | np.dtype[S], fn: None = None
    ) -> SliceOf[npt.NDArray[S]]: ...
    @overload
    def buffer(
        self, iterable: Iterable[Any], *, dtype: npt.DTypeLike | None = None, fn: None = None
    ) -> SliceOf[NDArray]: ...
    @overload
    def buffer(
        self,
        iterable: Iterable[Any],
        *,
        dtype: type[S] | np.dtype[S],
        fn: Callable[[npt.NDArray[S]], T],
    ) -> T: ...
    @overload
    def buffer(
        self,
        iterable: Iterable[Any],
        *,
        dtype: npt.DTypeLike | None = None,
        fn: Callable[[NDArray], T],
    ) -> T: ...
    def buffer(
        self,
        iterable: Iterable[Any],
        *,
        dtype: npt.DTypeLike | None = None,
        fn: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Consume ``iterable`` into a slice on this stack.

        Lists, ranges and arrays are converted by numpy in bulk; an iterator of
        unknown length is read in growing batches and the slice grows as it goes
        (in place when it is on top of the stack, else moved). The dtype is
        inferred unless given, with ``object`` as the fall-back for items numpy
        cannot hold natively (and for numbers mixed with text); object references
        are dropped when the scope ends, also when the block or the iterable
        raised. Arrays keep their shape. No value changes silently: floats are
        not truncated into an integer dtype, nor integers wrapped around, and a
        string dtype without a size (``"U"``, ``"S"``) takes the longest item's.

        Raises TypeError for a non-iterable or invalid dtype and TypeError or
        ValueError naming the first item that does not fit ``dtype``.
        """
        memory = self._memory
        if memory.owner_thread is not None:
            memory.check_thread()
        scope = BufferScope(memory, iterable, dtype)
        return scope if fn is None else scope.call_with(fn)

    @overload
    def uninit_slice(
        self, shape: ShapeLike, dtype: type[S] | np.dtype[S], *, fn: None = None
    ) -> SliceOf[npt.NDArray[S]]: ...
    @overload
    def uninit_slice(
        self, shape: ShapeLike, dtype: npt.DTypeLike, *, fn: None = None
    ) -> SliceOf[NDArray]: ...
    @overload
    def uninit_slice(
        self, shape: ShapeLike, dtype: type[S] | np.dtype[S], *, fn: Callable[[npt.NDArray[S]], T]
    ) -> T: ...
    @overload
    def uninit_slice(
        self, shape: ShapeLike, dtype: npt.DTypeLike, *, fn: Callable[[NDArray], T]
    ) -> T: ...
    def uninit_slice(
        self, shape: ShapeLike, dtype: npt.DTypeLike, *, fn: Callable[[Any], Any] | None = None
    ) -> Any:
        """An uninitialised slice of ``shape`` (an int or a tuple) and ``dtype``.

        ``dtype=object`` slices hold ``None``. Raises TypeError/ValueError for a
        bad shape or dtype and :class:`StackOverflowError` past ``max_capacity``.
        """
        memory = self._memory
        if memory.owner_thread is not None:
            memory.check_thread()
        scope = slice_scope(memory, shape, dtype, "uninit_slice")
        return scope if fn is None else scope.call_with(fn)

    @overload
    def uninit(
        self, dtype: type[S] | np.dtype[S], *, fn: None = None
    ) -> SliceOf[npt.NDArray[S]]: ...
    @overload
    def uninit(self, dtype: npt.DTypeLike, *, fn: None = None) -> SliceOf[NDArray]: ...
    @overload
    def uninit(self, dtype: type[S] | np.dtype[S], *, fn: Callable[[npt.NDArray[S]], T]) -> T: ...
    @overload
    def uninit(self, dtype: npt.DTypeLike, *, fn: Callable[[NDArray], T]) -> T: ...
    def uninit(self, dtype: npt.DTypeLike, *, fn: Callable[[Any], Any] | None = None) -> Any:
        """One uninitialised value of ``dtype`` as a 0-d view (it may be huge)."""
        memory = self._memory
        if memory.owner_thread is not None:
            memory.check_thread()
        scope = slice_scope(memory, (), dtype, "uninit")
        return scope if fn is None else scope.call_with(fn)

    # -- memory and counters ----------------------------------------------

    def trim(self) -> int:
        """Give idle memory back: drop the current chunk when no slice lives in it.

        Returns the bytes released. Chunks that still hold live slices are kept
        (older ones are dropped by themselves when their last slice ends).
        """
        return self._memory.trim()

    @property
    def capacity_bytes(self) -> int:
        """Bytes held in chunks (raw data plus object slots at 8 bytes each)."""
        return self._memory.capacity_bytes

    @property
    def bytes_in_use(self) -> int:
        """Bytes below the bump pointers: live slices with their alignment padding,
        and holes left by slices that ended out of order (reclaimed once the
        slices above them end)."""
        return self._memory.in_use_bytes

    @property
    def high_water_bytes(self) -> int:
        """The most :attr:`bytes_in_use` has been since creation or :meth:`reset_high_water`."""
        return self._memory.high_water

    @property
    def growths(self) -> int:
        """How many chunks this stack has allocated."""
        return self._memory.growths

    @property
    def chunk_count(self) -> int:
        """Chunks held now (converges to one, or zero after :meth:`trim`)."""
        return self._memory.chunk_count

    def reset_high_water(self) -> None:
        """Restart the high-water mark from the bytes in use now."""
        self._memory.reset_high_water()


def new_thread_stack(checked: bool) -> tuple[Stack, Memory]:
    """A stack for the calling thread only (no lock), and its memory for the fast calls."""
    stack = Stack(checked=checked, thread_safe=False)
    # get_ident as bound at import, as Memory.check_thread compares it (a
    # monkey-patching after import changes neither).
    stack._memory.owner_thread = get_ident()
    return stack, stack._memory
