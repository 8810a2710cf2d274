"""Argument checks shared by the stack's entry points: counts, dtypes and shapes.

One message per rule, naming the bad value and what would be accepted.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any

import numpy as np

__all__ = ["MAX_DIMS", "as_dtype", "as_shape", "check_dims", "non_negative_int"]

MAX_DIMS = 64  # numpy refuses arrays of more dimensions
_OBJECT = np.dtype(object)
_DTYPES: dict[Any, np.dtype[Any]] = {}  # dtype spec -> dtype, for the few specs a program uses
_CACHE_LIMIT = 1024  # bounded: specs built on the fly must not grow the cache forever


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


def as_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """Normalise ``dtype`` (cached, since the hot path sees the same few specs)."""
    try:
        return _DTYPES[dtype]
    except (KeyError, TypeError):  # unseen, or an unhashable spec (a list of fields)
        pass
    if dtype is None:
        raise TypeError(f"{what}: dtype is required; got None (e.g. np.float32, 'f4').")
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except (ValueError, OverflowError) as err:
        if "C int" in str(err):  # numpy's size limit: every overflow says "C int"
            # TypeError, as for every spec np.dtype() refuses (callers catch one type).
            raise TypeError(
                f"{what}: dtype {dtype!r} is too large: numpy keeps a dtype's size, field "
                f"offsets and subarray dimensions below 2**31 ({err}); put the count in "
                f"the shape instead, e.g. uninit_slice(n, 'u1') for n bytes."
            ) from err
        raise TypeError(
            f"{what}: {dtype!r} is not a valid dtype ({err}); expected something np.dtype() "
            f"accepts, such as np.float32, 'f4', (np.float32, 2) or a structured dtype."
        ) from err
    except Exception as err:  # np.dtype(",") raises SyntaxError, others KeyError...
        # ...any of them means the same to the caller: not a dtype.
        raise TypeError(
            f"{what}: {dtype!r} is not a valid dtype; expected something np.dtype() "
            f"accepts, such as np.float32, 'f4', (np.float32, 2) or a structured dtype."
        ) from err
    if dt.kind == "T":  # numpy 2's StringDType: no fields, but items outside the array
        raise TypeError(
            f"{what}: dtype {dt} (numpy's variable-width strings) is not supported: its "
            f"items live outside the array, in memory the stack does not manage; use a "
            f"fixed-width text dtype such as 'U16' or 'S16', or dtype=object."
        )
    if dt.hasobject and dt != _OBJECT:
        raise TypeError(
            f"{what}: dtype {dt} mixes Python objects with other fields; the stack holds "
            f"either plain data or dtype=object slices, not both in one dtype."
        )
    if len(_DTYPES) < _CACHE_LIMIT:
        with contextlib.suppress(TypeError):  # unhashable: normalised again each time
            _DTYPES[dtype] = dt
    return dt


def as_shape(shape: Any, what: str) -> tuple[tuple[int, ...], int]:
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
    check_dims(len(out), what, shape)
    count = 1
    for n in out:
        count *= n
    return tuple(out), count


def check_dims(ndim: int, what: str, shape: Any) -> None:
    """Refuse more dimensions than numpy can make, before anything is allocated."""
    if ndim > MAX_DIMS:
        raise ValueError(
            f"{what}: shape {shape!r} has {ndim} dimensions; numpy arrays have at most {MAX_DIMS}."
        )
