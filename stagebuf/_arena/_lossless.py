"""The one rule for converting values without changing them silently.

numpy converts with a shrug: ``np.array([1.5], dtype=np.int32)`` truncates to 1,
``np.array([300], dtype=np.uint8)`` wraps to 44, ``np.array([2], dtype=bool)``
turns 2 into True. Every entry point that copies caller values into a typed
slice (:func:`buffer` for lists, generators, ranges and arrays;
:func:`~stagebuf.write_attribute`) asks :func:`first_loss` first and raises
when it finds a value that would change. The rule, for a ``target`` dtype:

* integers and bools into an integer or bool target keep their value or are
  refused with ``ValueError`` (out of range; bool's range is 0..1);
* floats and complex numbers into an integer or bool target are refused with
  ``TypeError``, also when they happen to be whole: round explicitly first;
* other numbers (``Fraction``, ``Decimal``, anything numpy holds as an object)
  into an integer or bool target must be whole (``TypeError`` otherwise) and
  in range (``ValueError``);
* complex numbers into a real float target, and text or objects into any
  number target, are refused with ``TypeError`` (numpy's "same kind" rule);
* everything else follows numpy (floats into a narrower float round, text
  into a sized string dtype is cut as ``np.array`` cuts it).

One exception, in :func:`~._convert.convert`: a *list* of text items is parsed
item by item as ``np.array`` parses it (``"5"`` -> 5; ``"x"`` raises
``ValueError`` naming the item).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Loss", "first_loss", "integer_range", "not_whole_reason"]

NDArray = npt.NDArray[Any]
_EXACT_KINDS = "iub"  # targets that hold exact integers: where truncation hides


@dataclass(frozen=True)
class Loss:
    """The first value of an array that would change on its way into ``target``.

    ``index`` is its flat index (None when the rule refuses the source dtype as
    a whole); ``error`` the exception type to raise; ``reason`` ends the
    message, starting with its own punctuation (``"; expected 0..255."``).
    """

    index: int | None
    value: Any
    error: type[Exception]
    reason: str


def first_loss(values: NDArray, target: np.dtype[Any]) -> Loss | None:
    """The first value of ``values`` that would change in ``target``, or None."""
    source = values.dtype
    if values.size == 0 or target.hasobject or np.can_cast(source, target, "safe"):
        return None
    if target.kind in _EXACT_KINDS:
        if source.kind in _EXACT_KINDS:
            return _out_of_range(values, target)
        if source.kind in "fc":
            return Loss(None, None, TypeError, not_whole_reason(target, "float"))
        if source.hasobject:
            return _first_inexact_object(values, target)
        return Loss(None, None, TypeError, f": {source} values are not numbers.")
    if target.kind in "fc" and not np.can_cast(source, target, "same_kind"):
        return Loss(None, None, TypeError, f": {source} values have no {target} value.")
    return None


def integer_range(target: np.dtype[Any]) -> tuple[int, int]:
    """The smallest and largest integer ``target`` holds (bool: 0..1)."""
    if target.kind == "b":
        return 0, 1
    info = np.iinfo(target)
    return int(info.min), int(info.max)


def _range_reason(target: np.dtype[Any]) -> str:
    lo, hi = integer_range(target)
    return f"; expected {lo}..{hi}."


def not_whole_reason(target: np.dtype[Any], got: str) -> str:
    """The end of the message for a ``got`` (a type name) that is no whole number."""
    return (
        f": expected integers, got a {got}; round or convert it explicitly first "
        f"(dtype {target} would truncate it)."
    )


def _out_of_range(values: NDArray, target: np.dtype[Any]) -> Loss | None:
    lo, hi = integer_range(target)
    vmin, vmax = int(values.min()), int(values.max())
    if lo <= vmin and vmax <= hi:
        return None
    flat = values.ravel()
    # Each bound is inside the values' own range when it is crossed: safe compares.
    bad = np.zeros(flat.shape, dtype=bool)
    if vmin < lo:
        bad |= flat < lo
    if vmax > hi:
        bad |= flat > hi
    index = int(np.flatnonzero(bad)[0])
    return Loss(index, int(flat[index]), ValueError, _range_reason(target))


def _first_inexact_object(values: NDArray, target: np.dtype[Any]) -> Loss | None:
    """Objects into an integer target: each must be a whole number in range."""
    lo, hi = integer_range(target)
    for index, value in enumerate(values.ravel().tolist()):
        if isinstance(value, bool | int | np.integer | np.bool_):
            whole = int(value)
        elif isinstance(value, float | complex | np.floating | np.complexfloating):
            return Loss(index, value, TypeError, not_whole_reason(target, type(value).__name__))
        elif isinstance(value, numbers.Number) or hasattr(value, "__int__"):
            try:
                whole = int(value)
                exact = bool(whole == value)
            except (TypeError, ValueError, OverflowError, ArithmeticError):
                continue  # not a number after all (nan, inf): numpy names it
            if not exact:
                return Loss(index, value, TypeError, not_whole_reason(target, type(value).__name__))
        else:
            continue  # text, None, lists...: numpy converts them or names them
        if not lo <= whole <= hi:
            return Loss(index, value, ValueError, _range_reason(target))
    return None
