"""Conversion of items: what dtype a batch of Python items becomes, and its values.

:func:`buffer` reads its iterable in batches; each batch is converted here in
bulk (numpy fills the array in C, not per item in Python). Without a dtype it
is inferred as ``np.array`` would, with ``object`` as the fall-back for items
numpy cannot hold natively, for ragged items and for numbers mixed with text.
With a dtype, values go through the one rule of :mod:`._lossless`: no value
changes silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._lossless import Loss, first_loss, not_whole_reason

__all__ = [
    "OBJECT",
    "array_loss_error",
    "convert",
    "is_flexible",
    "objects_of",
    "promote",
    "range_len",
    "to_objects",
]

NDArray = npt.NDArray[Any]
OBJECT = np.dtype(object)
_INT64 = np.iinfo(np.int64)


def to_objects(items: Sequence[Any]) -> NDArray:
    """One object per item, kept as it is."""
    return np.fromiter(items, dtype=object, count=len(items))


def is_flexible(dt: np.dtype[Any]) -> bool:
    """A string dtype without a size (``"U"``, ``"S"``): the size comes from the items."""
    return dt.kind in "USV" and dt.itemsize == 0 and dt.fields is None


def convert(items: Sequence[Any], dt: np.dtype[Any] | None, base: int) -> NDArray:
    """Bulk-convert one batch of items to ``dt`` (None: inferred).

    ``base`` is the index of ``items[0]`` in the whole iterable, for messages.
    A flexible ``dt`` ("U", "S") takes the size of its longest item, as in numpy.
    """
    if dt is None:
        return _infer(items)
    if dt.hasobject:
        return to_objects(items)
    if dt.kind in "iub":
        # numpy truncates and wraps into exact dtypes without a word: check first.
        try:
            src = np.asarray(items)
        except (ValueError, TypeError, OverflowError):
            src = None  # ragged or odd items: the conversion below names them
        # (No items: numpy calls [] floats. Text items: numpy parses them, see
        # _lossless.)
        if src is not None and src.size and src.dtype.kind not in "USV":
            loss = first_loss(src, dt)
            if loss is not None:
                raise _item_error(items, src, dt, base, loss)
            if src.dtype.kind in "iub":
                return src.astype(dt)
    try:
        return np.asarray(items, dtype=dt)
    except (ValueError, TypeError, OverflowError, FloatingPointError) as err:
        raise _bad_item(items, dt, base, err) from err


def _infer(items: Sequence[Any]) -> NDArray:
    try:
        arr = np.asarray(items)
    except (ValueError, TypeError, OverflowError):  # ragged or odd items: keep objects
        return to_objects(items)
    if arr.dtype.hasobject:
        # nested lists of objects: one object per item
        return arr if arr.ndim == 1 else to_objects(items)
    if arr.dtype.kind in "US" and not _all_text(items, arr):
        return to_objects(items)  # numbers mixed with text stay what they are
    return arr


def _all_text(items: Sequence[Any], arr: NDArray) -> bool:
    """Whether every leaf of ``items`` is text (numpy turns numbers mixed with text into text)."""
    kind = str if arr.dtype.kind == "U" else bytes
    leaves = np.empty(arr.shape, dtype=object)
    leaves[...] = items if arr.ndim > 1 else to_objects(items)
    return all(isinstance(x, kind) for x in leaves.flat)


def _item_error(
    items: Sequence[Any], src: NDArray, dt: np.dtype[Any], base: int, loss: Loss
) -> Exception:
    """The error for a batch that would lose a value, naming the item it sits in."""
    if loss.index is None:  # the source kind as a whole: floats into integers
        for i, item in enumerate(items):
            if np.asarray(item).dtype.kind in "fc":
                reason = not_whole_reason(dt, type(item).__name__)
                return loss.error(
                    f"buffer: item {base + i} ({item!r}) does not fit dtype {dt}{reason}"
                )
        return loss.error(f"buffer: items {base}.. do not fit dtype {dt}{loss.reason}")
    i = loss.index // max(1, src.size // len(items))  # items may be rows
    return loss.error(
        f"buffer: item {base + i} ({loss.value!r}) does not fit dtype {dt}{loss.reason}"
    )


def _bad_item(items: Sequence[Any], dt: np.dtype[Any], base: int, err: Exception) -> Exception:
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


def array_loss_error(src: NDArray, dt: np.dtype[Any]) -> Exception | None:
    """The error for copying the array ``src`` into ``dt`` (checked by its base), or None."""
    loss = first_loss(src, dt.base)
    if loss is None:
        return None
    if loss.index is None:
        return loss.error(
            f"buffer: cannot convert an array of {src.dtype} to dtype {dt} without losing "
            f"values; convert it explicitly (e.g. arr.astype({dt.base.name!r})) first."
        )
    return loss.error(f"buffer: value {loss.value!r} does not fit dtype {dt}{loss.reason}")


def promote(a: np.dtype[Any], b: np.dtype[Any], same_shape: bool) -> np.dtype[Any]:
    """The dtype that holds the items of both batches (object when nothing else does)."""
    if not same_shape or a.hasobject or b.hasobject:
        return OBJECT
    if (a.kind in "US" or b.kind in "US") and a.kind != b.kind:
        return OBJECT  # numbers and text (or str and bytes): keep each item as it is
    try:
        return np.result_type(a, b)
    except TypeError:  # no common dtype: keep objects
        return OBJECT


def objects_of(arr: NDArray) -> NDArray:
    """One object per item: rows of a 2-D array become lists (they are ragged later)."""
    if arr.ndim == 1:
        return arr.astype(object)
    return to_objects([row.tolist() for row in arr])


# -- ranges ----------------------------------------------------------------------


def range_len(r: range) -> int:
    """``len(r)``, also past sys.maxsize (where len() raises OverflowError)."""
    step = r.step
    return max(0, (r.stop - r.start + step - (1 if step > 0 else -1)) // step)


def check_range_fits(r: range, n: int, dt: np.dtype[Any]) -> None:
    """Refuse a range (of ``n`` values) with values outside ``dt``, naming its first bad item.

    A range is monotonic, so when its first value fits, the values that fit are
    a run from the start: a binary search finds the first one that does not.
    """
    convert([r[0]], dt, 0)
    last = n - 1
    try:
        convert([r[last]], dt, last)
    except (TypeError, ValueError):
        fits, bad = 0, last
        while bad - fits > 1:
            mid = (fits + bad) // 2
            try:
                convert([r[mid]], dt, mid)
            except (TypeError, ValueError):
                bad = mid
            else:
                fits = mid
        convert([r[bad]], dt, bad)  # raises, naming the first bad item
        raise


def range_values(r: range, dt: np.dtype[Any]) -> NDArray:
    """The values of ``r`` (a short run) as ``dt``, exactly as numpy converts each int."""
    if dt.kind in "iu":
        return np.arange(r.start, r.stop, r.step, dtype=dt)
    lo, hi = (r[0], r[-1]) if r.step > 0 else (r[-1], r[0])
    if _INT64.min <= lo and hi <= _INT64.max:
        return np.arange(r.start, r.stop, r.step, dtype=np.int64)
    # Past int64: numpy converts each Python int on its own (floats round it).
    return np.fromiter(r, dtype=dt, count=len(r))
