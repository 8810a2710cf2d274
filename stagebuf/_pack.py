"""Fast writes into one attribute of an interleaved (structured) vertex array.

numpy copies a field of a structured array one component at a time, with a
loop step per component (``verts["in_pos"][:] = xy`` walks 2 floats per
12-byte vertex). Viewing the attribute as one machine word per vertex (8 bytes
for ``2f``, 4 bytes for ``4f1``) lets numpy copy a whole attribute per step,
about 10x faster for small attributes. Numpy only, no GL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ._arena import first_loss

__all__ = ["attribute_words", "write_attribute"]

NDArray = npt.NDArray[Any]

_WORDS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _field(verts: NDArray, name: str) -> tuple[np.dtype[Any], int]:
    fields = verts.dtype.fields
    if fields is None or name not in fields:
        have = ", ".join(fields) if fields else "no fields"
        raise KeyError(f"no attribute {name!r} in this vertex array; it has {have}.")
    ftype, offset = fields[name][:2]
    return ftype, offset


def attribute_words(verts: NDArray, name: str) -> NDArray | None:
    """Attribute ``name`` of ``verts`` as one unsigned word per vertex, or None.

    None when the attribute's size is not 1, 2, 4 or 8 bytes (no such word).
    The result is a strided view into ``verts``: writing to it writes the vertices.
    """
    ftype, offset = _field(verts, name)
    word = _WORDS.get(ftype.itemsize)
    if word is None:
        return None
    wd = np.dtype(
        {"names": [name], "formats": [word], "offsets": [offset], "itemsize": verts.dtype.itemsize}
    )
    return verts.view(wd)[name]


def write_attribute(verts: NDArray, name: str, values: Any) -> None:
    """Copy ``values`` into attribute ``name`` of every vertex of ``verts``.

    ``values`` has the attribute's shape per vertex, with a leading axis of
    ``len(verts)`` or anything that broadcasts to it (one value for all, or
    ``(n, 1, ...)`` groups when ``verts`` is reshaped). When ``values`` already
    has the attribute's dtype and is contiguous per vertex, the copy moves one
    word per vertex; otherwise it is numpy's field assignment, after a check
    that no value would be silently changed (the rule of :func:`~stagebuf.buffer`):
    floats into an integer attribute raise TypeError (``f1`` colours take
    0..255 integers), and integers outside the attribute's range raise
    ValueError naming the value. Zero vertices are fine.
    """
    ftype, _ = _field(verts, name)
    arr = np.asarray(values)
    words = attribute_words(verts, name)
    base = ftype.base
    per_vertex = ftype.shape
    if (
        words is not None
        and arr.dtype == base
        and arr.ndim >= len(per_vertex)
        and arr.shape[arr.ndim - len(per_vertex) :] == per_vertex
    ):
        src = np.ascontiguousarray(arr)
        lead = src.shape[: src.ndim - len(per_vertex)]
        per_word = int(np.prod(per_vertex, dtype=np.int64))  # components in one word
        flat = src.reshape((*lead, per_word))  # explicit: -1 is ambiguous for 0 vertices
        try:
            np.copyto(words, flat.view(words.dtype).reshape(lead))
        except ValueError as err:
            raise _shape_error(arr, verts, name, ftype) from err
        return
    if arr.dtype != base:
        _refuse_lossy(arr, base, name)
    try:
        verts[name] = arr
    except ValueError as err:
        raise _shape_error(arr, verts, name, ftype) from err


def _shape_error(arr: NDArray, verts: NDArray, name: str, ftype: np.dtype[Any]) -> ValueError:
    per = f" x {ftype.shape}" if ftype.shape else ""
    return ValueError(
        f"write_attribute: values of shape {arr.shape} do not fit attribute {name!r} of "
        f"{verts.shape[0] if verts.ndim else 1} vertices ({verts.shape}{per}); give one "
        f"value per vertex, or one value for all."
    )


def _refuse_lossy(arr: NDArray, base: np.dtype[Any], name: str) -> None:
    loss = first_loss(arr, base)
    if loss is None:
        return
    if loss.index is None:
        raise loss.error(
            f"write_attribute: values of {arr.dtype} would be truncated into attribute "
            f"{name!r} of {base}; pass {base} values (a normalised f1 attribute takes "
            f"integers 0..255)."
        )
    raise loss.error(
        f"write_attribute: value {loss.value!r} does not fit attribute {name!r} of "
        f"{base}{loss.reason}"
    )
