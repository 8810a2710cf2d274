"""One frame's staged bytes: arena slices bump-allocated in order, written to GL back to back.

A :class:`Stream` holds every vertex (or every index) a frame reserves, for all
its layouts at once, so a whole frame is one upload per GL buffer however many
layouts it mixes. Each reservation starts on a multiple of its item size in
the stream, so a vertex array bound at offset 0 reaches it with ``first=``.
numpy only: no GL here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from .._arena import Stack
from .._errors import StackOverflowError

__all__ = ["HINT_WINDOW", "SizeHint", "Stream", "forget_layouts"]

NDArray = npt.NDArray[Any]

HINT_WINDOW = 120
"""Frames after which the first arena slice of a frame shrinks to the recent peak."""

_BYTE = np.dtype(np.uint8)


class SizeHint:
    """How many bytes a frame's first arena slice holds: the biggest recent frame.

    It grows at once to fit a bigger frame (one slice once warm) and, at the end
    of every window of HINT_WINDOW frames, shrinks to that window's biggest
    frame, so one burst does not pin its size.
    """

    __slots__ = ("frames", "minimum", "need", "peak", "size")

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.reset()

    def reset(self) -> None:
        """Forget the sizes seen so far."""
        self.size = self.minimum
        # As size, without the minimum: what recent frames needed (0: none seen). A
        # lent window (a mapped buffer sized by the frames) is used when it holds this.
        self.need = 0
        self.peak = 0  # the biggest frame of the current window
        self.frames = 0

    def note(self, n: int) -> None:
        if n > self.size:
            self.size = pow2(n)
        if n > self.need:
            self.need = pow2(n)
        self.peak = max(self.peak, n)
        self.frames += 1
        if self.frames >= HINT_WINDOW:
            self.size = max(self.minimum, pow2(self.peak))
            self.need = pow2(self.peak) if self.peak else 0
            self.peak = self.frames = 0


class Stream:
    """Arena slices holding one frame's items in stream order; a bigger slice opens when full.

    ``take(n, key, stride, dtype)`` returns ``n`` items of ``dtype`` (``stride``
    bytes each) and the index of the first one in units of ``stride`` from the
    start of the stream, i.e. in the GL buffer the stream is written to.
    ``key`` names the item type (a layout) for the cache of typed views.
    """

    __slots__ = (
        "cap",
        "filled",
        "last_first",
        "scopes",
        "stack",
        "start",
        "starts",
        "typed",
        "used",
        "views",
    )

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.scopes: list[Any] = []  # arena scopes of the slices (None: a lent window)
        self.views: list[NDArray] = []  # uint8 slices
        self.starts: list[int] = []  # stream offset of each slice's first byte
        self.filled: list[int] = []  # bytes used in each slice but the last
        # The last slice, unpacked for the hot path.
        self.start = 0
        self.used = 0
        self.cap = 0
        self.typed: dict[object, tuple[NDArray, int]] = {}  # key -> (view, stream offset)
        # The last frame's first slice: where it lay in the arena, and its typed views.
        self.last_first: tuple[Any, int, int, dict[object, tuple[NDArray, int]]] | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the stream so far (padding between item types included)."""
        return self.start + self.used

    def open(self, nbytes: int) -> None:
        """Add an arena slice of ``nbytes`` (StackOverflowError past the stack's cap)."""
        scope = self.stack.uninit_slice(nbytes, _BYTE)
        view = scope.__enter__()
        if self.views:
            self.filled.append(self.used)
            self.start += self.used
        self.scopes.append(scope)
        self.views.append(view)
        self.starts.append(self.start)
        self.used = 0
        self.cap = nbytes
        self.typed = {}
        if len(self.views) == 1:
            # A frame's first slice usually lies where the last frame's did: its typed
            # views (one per layout) still fit the same bytes, so keep them.
            where = (getattr(scope, "chunk", None), getattr(scope, "start", -1), nbytes)
            last = self.last_first
            if last is not None and last[0] is where[0] and last[1:3] == where[1:3]:
                self.typed = last[3]
            self.last_first = (*where, self.typed)

    def open_window(self, window: NDArray, typed: dict[object, tuple[NDArray, int]]) -> None:
        """The frame's first slice is ``window``, uint8 memory a backend lends for this
        frame (a GL buffer's mapping), with ``typed``, the cache of its typed views
        the backend keeps from frame to frame; later slices come from the arena."""
        self.scopes.append(None)  # no arena scope to end
        self.views.append(window)
        self.starts.append(0)
        self.start = self.used = 0
        self.cap = len(window)
        self.typed = typed

    def open_first(self, hint: int, minimum: int) -> None:
        """The frame's first slice: ``hint`` bytes, or ``minimum`` when the stack's cap
        refuses the hint (a burst may have raised the hint past what the cap allows)."""
        try:
            self.open(hint)
        except StackOverflowError:
            if hint <= minimum:
                raise
            self.open(minimum)

    def take(self, n: int, key: object, stride: int, dtype: np.dtype[Any]) -> tuple[NDArray, int]:
        """``n`` contiguous items and the stream index (in ``stride`` units) of the first."""
        start = self.start
        pos = start + self.used
        pos += -pos % stride  # items start on a multiple of their size in the stream
        end = pos - start + n * stride
        if end > self.cap and n:
            self._grow(n * stride, stride)
            # Read the stream afresh: the growth allocated, and a collection it set off
            # may have run finalizers that take items too.
            return self.take(n, key, stride, dtype)
        hit = self.typed.get(key)
        if hit is None:
            self._typed(key, stride, dtype)
            return self.take(n, key, stride, dtype)  # likewise
        view, origin = hit
        k = (pos - origin) // stride
        self.used = end
        return view[k : k + n], origin // stride + k

    def _typed(self, key: object, stride: int, dtype: np.dtype[Any]) -> tuple[NDArray, int]:
        """The last slice seen as items of ``dtype`` from the first multiple of ``stride``
        in the stream (``origin``, a stream offset in bytes)."""
        phase = -self.start % stride
        count = (self.cap - phase) // stride if self.cap >= phase else 0
        raw = self.views[-1][phase : phase + count * stride]
        hit = (raw.view(dtype), self.start + phase)
        self.typed[key] = hit
        return hit

    def _grow(self, nbytes: int, stride: int) -> None:
        # Views handed out earlier stay valid: their slice stays open until the
        # frame ends. The new slice is at least twice the stream so far, and the
        # stager sizes the next frame's first slice to fit this whole frame.
        need = nbytes + stride  # room for the alignment of the first item
        want = max(need, 2 * (self.start + self.cap))
        try:
            self.open(want)
        except StackOverflowError:
            if want == need:
                raise
            self.open(need)  # no room to grow ahead: just what was asked for

    def mark(self) -> tuple[int, int]:
        """Where the next item goes, for :meth:`rollback`."""
        return len(self.views), self.used

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forget the items taken since ``mark``: slices opened since stay open, empty."""
        n_views, used = mark
        if n_views == len(self.views):
            self.used = used
        else:
            self.filled[n_views - 1] = used
            for i in range(n_views, len(self.filled)):
                self.filled[i] = 0
            self.used = 0
            # Later slices start where the kept bytes end, so the stream stays gapless.
            self.start = self.starts[n_views - 1] + used
            for i in range(n_views, len(self.views)):
                self.starts[i] = self.start
            self.typed = {}

    def chunks(self) -> Iterator[tuple[int, NDArray]]:
        """``(stream offset, bytes)`` of the used part of each slice (just one once warm)."""
        for i, view in enumerate(self.views):
            used = self.filled[i] if i < len(self.filled) else self.used
            if used:
                yield self.starts[i], view[:used]

    def release(self) -> None:
        """End the slices' scopes (newest first, as the arena expects)."""
        while self.scopes:
            scope = self.scopes.pop()
            if scope is not None:  # None: a window lent by the backend
                scope.__exit__(None, None, None)
        self.views.clear()
        self.starts.clear()
        self.filled.clear()
        self.start = self.used = self.cap = 0
        self.typed = {}


def forget_layouts(*streams: Stream) -> None:
    """Drop the typed views kept from the last frame (they hold its arena chunk alive)."""
    for stream in streams:
        stream.last_first = None


def pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(n - 1, 0).bit_length()
