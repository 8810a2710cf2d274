"""Checked mode: poisoned releases, and views that escape a closure-form scope.

A checked stack (``Stack(checked=True)``, or the thread-local stacks when
``STAGEBUF_CHECKED=1``) fills released bytes with 0xFF, so a stale read stands
out (floats read NaN, signed ints -1), and watches each closure-form scope
(``fn=``): when a view of the slice outlives the call, the slice is
quarantined (kept out of reuse, still readable) until the last view of it
dies, and :class:`~stagebuf.EscapedViewWarning` says so.

Telling that a view escaped needs every view derived from a slice (``v[1:]``,
``v.reshape(...)``) to keep one per-slice array alive, its *anchor*. numpy
collapses the base of a new view to the first array up the chain that owns
its data or whose own base has another type, so a checked stack makes each
slice where that collapse stops:

* plain data: ``np.frombuffer`` over the chunk's memoryview (a memoryview
  base ends the chain at the slice's own array);
* objects (``np.frombuffer`` refuses them): the chunk's slots are an
  :class:`ObjectSlots` array (an ndarray subclass) and each slice a plain
  ndarray view of it, so views derived from the slice stop at the slice.
"""

from __future__ import annotations

import os
import sys
import warnings
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._errors import EscapedViewWarning

if TYPE_CHECKING:
    from ._chunks import Allocation

__all__ = ["POISON_BYTE", "EscapeWatch", "ObjectSlots", "in_package"]

NDArray = npt.NDArray[Any]

POISON_BYTE = 0xFF  # floats read back as NaN, signed ints as -1: stale reads stand out
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ObjectSlots(np.ndarray):
    """The object slots of a checked stack's chunk (see the module docstring).

    Users never see one: every slice handed out is a plain ndarray view of it.
    """


def _anchor_of(view: NDArray) -> NDArray:
    """The per-slice array that every view derived from ``view`` keeps alive."""
    anchor = view
    while type(anchor.base) is np.ndarray:
        anchor = anchor.base
    return anchor


class EscapeWatch:
    """Reference counts of a closure-form slice before ``fn`` ran, to compare after it."""

    __slots__ = ("_anchor", "_anchor_refs", "_view_refs")

    def __init__(self, view: NDArray) -> None:
        self._anchor: NDArray | None = _anchor_of(view)
        self._view_refs = self._anchor_refs = 0

    def arm(self, view: NDArray) -> None:
        """Count the references now (call it as :meth:`escaped` is called: same overhead)."""
        self._view_refs = sys.getrefcount(view)
        self._anchor_refs = sys.getrefcount(self._anchor)

    def escaped(self, view: NDArray) -> bool:
        """Whether a reference to ``view``, or to any view derived from it, outlived fn."""
        return (
            sys.getrefcount(view) > self._view_refs
            or sys.getrefcount(self._anchor) > self._anchor_refs
        )

    def quarantine(
        self,
        allocation: Allocation,
        release_later: Callable[[Allocation], None],
        view: NDArray,
        fn: Callable[..., Any],
    ) -> None:
        """Keep ``allocation`` out of reuse until its views die; then warn.

        The hand-over comes first, so a warning turned into an error
        (``-W error``) still frees the memory once the views are gone.
        """
        anchor = self._anchor
        self._anchor = None
        weakref.finalize(anchor, release_later, allocation)
        del anchor
        name = getattr(fn, "__qualname__", repr(fn))
        warnings.warn(
            f"a view of shape {view.shape} and dtype {view.dtype} escaped the closure "
            f"scope of {name}; it stays readable (its memory is quarantined until it is "
            f"dropped), but the slice was meant to end with the scope.",
            EscapedViewWarning,
            stacklevel=_user_stacklevel(),
        )


def in_package(frame: FrameType) -> bool:
    """Whether ``frame`` runs code of this package (the stack's own frames)."""
    return os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this package."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and in_package(frame):
        frame = frame.f_back
        level += 1
    return level
