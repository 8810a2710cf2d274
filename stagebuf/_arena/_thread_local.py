"""The thread-local functions: each thread's own default stack, and the scopes on it.

:func:`buffer`, :func:`uninit_slice` and :func:`uninit` use the calling
thread's stack, made on first use without a lock (only its thread uses it,
which lets scopes take the inline fast path). Handing it to another thread
(``thread_stack()`` passed along) is refused with ScopeError wherever the
stack can check it off the fast path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

from ._backend import fast
from ._growing import BufferScope
from ._memory import Memory
from ._scopes import FRESH, NEVER_FITS, PLAIN_DTYPES, SliceScope, slice_scope
from ._stack import ShapeLike, SliceOf, Stack, new_thread_stack

__all__ = ["CHECKED_ENV", "buffer", "thread_stack", "uninit", "uninit_slice"]

T = TypeVar("T")
S = TypeVar("S", bound=np.generic)
NDArray = npt.NDArray[Any]

CHECKED_ENV = "STAGEBUF_CHECKED"
"""Set to 1 to make the thread-local default stacks run in checked mode."""

_local = threading.local()


def _env_checked() -> bool:
    return os.environ.get(CHECKED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _memory() -> Memory:
    """The calling thread's stack's memory (making the stack on first use)."""
    try:
        return _local.memory  # type: ignore[no-any-return]
    except AttributeError:
        return thread_stack()._memory


class _Owner:
    """Kept in a thread's ``_local`` with its stack; when the thread's locals die
    (its teardown), it hands the stack to ``_ending`` for the rest of it.

    A finalizer run later in that teardown (a thread-local first used after the
    stack) then gets the thread's own stack. A new one stored in ``_local``
    there would be kept by a thread-local dict that CPython re-makes while it
    clears the thread state and never frees: one leaked stack a thread.
    """

    __slots__ = ("ident", "stack", "thread")

    def __init__(self, ident: int, thread: threading.Thread, stack: Stack) -> None:
        self.ident = ident
        self.thread = thread
        self.stack = stack

    def __del__(self) -> None:
        for ident, (thread, _) in list(_ending.items()):
            if not thread.is_alive():  # gone: so the table holds the ending ones only
                _ending.pop(ident, None)
        _ending[self.ident] = (self.thread, self.stack)


# Stacks of threads whose locals died, by thread ident: used while the thread
# is still alive (its teardown), dropped once it is gone (when the next thread
# ends or gets its ident).
_ending: dict[int, tuple[threading.Thread, Stack]] = {}
# Whether `_local` is the interpreter's own thread-local (gevent's monkey-patching
# replaces it, and _thread._local, with a per-greenlet one: the type's module tells).
_OS_THREAD_LOCAL = type(_local).__module__ == "_thread" and type(_local).__name__ == "_local"
_DUMMY_THREAD: Any = getattr(threading, "_DummyThread", ())


def thread_stack() -> Stack:
    """The calling thread's own default stack (made on first use).

    It has no lock (only its thread uses it) and runs in checked mode when the
    ``STAGEBUF_CHECKED`` environment variable is 1 at the time it is made.
    """
    try:
        return _local.stack  # type: ignore[no-any-return]
    except AttributeError:
        pass
    ident = get_ident()
    ending = _ending.pop(ident, None)
    if ending is not None:
        thread, stack = ending
        if thread.is_alive():  # its teardown: the stack is not stored again
            _ending[ident] = ending
            return stack
    stack, memory = new_thread_stack(_env_checked())
    _local.stack, _local.memory = stack, memory
    thread = threading.current_thread()
    if _OS_THREAD_LOCAL and not isinstance(thread, _DUMMY_THREAD):
        # Only threads that threading started: their is_alive() ends with the
        # thread state. (A thread that Python did not start is a _DummyThread,
        # alive for ever; gevent's greenlets have no teardown of this kind.)
        _local.owner = _Owner(ident, thread, stack)
    return stack


@overload
def buffer(
    iterable: Iterable[Any], *, dtype: type[S] | np.dtype[S], fn: None = None
) -> SliceOf[npt.NDArray[S]]: ...
@overload
def buffer(
    iterable: Iterable[Any], *, dtype: npt.DTypeLike | None = None, fn: None = None
) -> SliceOf[NDArray]: ...
@overload
def buffer(
    iterable: Iterable[Any], *, dtype: type[S] | np.dtype[S], fn: Callable[[npt.NDArray[S]], T]
) -> T: ...
@overload
def buffer(
    iterable: Iterable[Any], *, dtype: npt.DTypeLike | None = None, fn: Callable[[NDArray], T]
) -> T: ...
def buffer(
    iterable: Iterable[Any],
    *,
    dtype: npt.DTypeLike | None = None,
    fn: Callable[[Any], Any] | None = None,
) -> Any:
    """:meth:`Stack.buffer` on the calling thread's own stack."""
    scope = BufferScope(_memory(), iterable, dtype)
    return scope if fn is None else scope.call_with(fn)


@overload
def uninit_slice(
    shape: ShapeLike, dtype: type[S] | np.dtype[S], *, fn: None = None
) -> SliceOf[npt.NDArray[S]]: ...
@overload
def uninit_slice(
    shape: ShapeLike, dtype: npt.DTypeLike, *, fn: None = None
) -> SliceOf[NDArray]: ...
@overload
def uninit_slice(
    shape: ShapeLike, dtype: type[S] | np.dtype[S], *, fn: Callable[[npt.NDArray[S]], T]
) -> T: ...
@overload
def uninit_slice(shape: ShapeLike, dtype: npt.DTypeLike, *, fn: Callable[[NDArray], T]) -> T: ...
def uninit_slice(
    shape: ShapeLike, dtype: npt.DTypeLike, *, fn: Callable[[Any], Any] | None = None
) -> Any:
    """:meth:`Stack.uninit_slice` on the calling thread's own stack."""
    try:
        memory = _local.memory
    except AttributeError:
        memory = _memory()
    # FAST PATH, part 1 of 3 (parts 2 and 3: SliceScope.__enter__ and __exit__):
    # slice_scope's work written out for a count (or a 1-tuple of one) and a
    # plain dtype seen before, setting the slots slice_scope would set (the one
    # place a module writes another's private fields). The calls it saves are
    # ~5-13% of a 4 KiB scope (`python -m stagebuf.bench arena`, "via
    # slice_scope" row).
    count = shape
    if type(count) is not int:
        count = shape[0] if type(shape) is tuple and len(shape) == 1 else -1
        if type(count) is not int:
            count = -1
    if count >= 0:
        try:
            dt, itemsize = PLAIN_DTYPES[dtype]
        except (KeyError, TypeError):
            pass
        else:
            scope = SliceScope()
            scope._memory = memory
            scope._state = FRESH
            scope._dt = dt
            scope._count = count
            scope._itemsize = itemsize
            size = (count * itemsize + 63) & -64
            scope._size = size if size < NEVER_FITS else NEVER_FITS
            return scope if fn is None else scope.call_with(fn)
    scope = slice_scope(memory, shape, dtype, "uninit_slice")
    return scope if fn is None else scope.call_with(fn)


@overload
def uninit(dtype: type[S] | np.dtype[S], *, fn: None = None) -> SliceOf[npt.NDArray[S]]: ...
@overload
def uninit(dtype: npt.DTypeLike, *, fn: None = None) -> SliceOf[NDArray]: ...
@overload
def uninit(dtype: type[S] | np.dtype[S], *, fn: Callable[[npt.NDArray[S]], T]) -> T: ...
@overload
def uninit(dtype: npt.DTypeLike, *, fn: Callable[[NDArray], T]) -> T: ...
def uninit(dtype: npt.DTypeLike, *, fn: Callable[[Any], Any] | None = None) -> Any:
    """:meth:`Stack.uninit` on the calling thread's own stack."""
    scope = slice_scope(_memory(), (), dtype, "uninit")
    return scope if fn is None else scope.call_with(fn)


if fast is not None and not TYPE_CHECKING:
    # The compiled backend: FAST PATH part 1 in C (_fast.c). It takes the
    # calling thread's Memory from _memory (once per thread) and hands every
    # call off its fast case to the Python function above, which gives the
    # same scopes and the same errors.
    # The C side caches each thread's Memory per thread state only when
    # `_local` is the interpreter's own thread-local: under gevent (its
    # monkey-patching makes threading.local and get_ident per greenlet) the C
    # path asks _memory every time, so each greenlet gets the stack the Python
    # path gives it.
    python_uninit_slice = uninit_slice  # the reference (tests compare the two)
    fast.configure(PLAIN_DTYPES, SliceScope, _memory, python_uninit_slice, _OS_THREAD_LOCAL)
    uninit_slice = fast.uninit_slice
