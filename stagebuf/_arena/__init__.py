"""The second stack: an arena of short-lived, 64-byte aligned numpy slices.

A :class:`Stack` hands out slices in (mostly) LIFO order from a bump pointer in
one large chunk; each thread has its own default stack behind the module-level
:func:`buffer`, :func:`uninit_slice` and :func:`uninit`. numpy only, no GL.

One idea per module, in the order a slice meets them:

* :mod:`._backend`: which scope fast path runs, compiled (``_fast.c``) or
  Python; :mod:`._fields`: the fields it reads, as Python classes;
* :mod:`._checks`: argument checks (counts, dtypes, shapes);
* :mod:`._chunks`: chunks and bump allocation (one allocator per kind of memory);
* :mod:`._memory`: a stack's memory: both allocators, the cap, lock and counters;
* :mod:`._scopes`: the scope life cycle, and ``uninit_slice``/``uninit`` scopes
  with the one inline fast path;
* :mod:`._growing`: the growing buffer, ``buffer(iterable)``;
* :mod:`._convert`: conversion of items (dtype inference, batches, ranges);
* :mod:`._lossless`: the one rule that no value changes silently;
* :mod:`._checked`: checked mode (poison, escaped views, quarantine);
* :mod:`._stack`: :class:`Stack`, the public face of a memory;
* :mod:`._thread_local`: the thread-local functions.
"""

from __future__ import annotations

from ._backend import BACKEND as ARENA_BACKEND
from ._backend import PURE_PYTHON_ENV
from ._checks import non_negative_int
from ._chunks import ALIGNMENT
from ._lossless import Loss, first_loss
from ._stack import Stack
from ._thread_local import CHECKED_ENV, buffer, thread_stack, uninit, uninit_slice

__all__ = [
    "ALIGNMENT",
    "ARENA_BACKEND",
    "CHECKED_ENV",
    "PURE_PYTHON_ENV",
    "Loss",
    "Stack",
    "buffer",
    "first_loss",
    "non_negative_int",
    "thread_stack",
    "uninit",
    "uninit_slice",
]
