"""Index data: the index types a stager takes, the restart index, and the check and
offset of each indexed range's indices before upload. numpy only: no GL here.

A range's indices are written relative to its own vertices. Ranges merged into
one draw share one base vertex (the first range's), so each range's indices
are offset by where its vertices start relative to that base. The restart
index (all bits set) passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["INDEX_DTYPES", "IndexedRange", "index_dtype", "offset_indices"]

NDArray = npt.NDArray[Any]

INDEX_DTYPES = (np.dtype(np.uint16), np.dtype(np.uint32))

# Few ranges: one numpy call per range is cheapest. Many small ranges (a HUD of
# quads): a handful of calls over all of them beats hundreds of tiny ones.
_PER_RANGE_UP_TO = 16
_max = np.maximum.reduce  # skips ndarray.max's Python-level wrapper: small blocks are common


def index_dtype(value: object) -> np.dtype[Any]:
    """The index dtype for ``"u2"``/``"u4"`` (or ``np.uint16``/``np.uint32``)."""
    try:
        dtype = np.dtype(value)  # type: ignore[call-overload]
    except TypeError:
        dtype = None
    if dtype is None or dtype not in INDEX_DTYPES:
        raise ValueError(
            f"index_dtype {value!r} is not an index type; expected 'u2' (np.uint16) or "
            f"'u4' (np.uint32)."
        )
    found: np.dtype[Any] = dtype
    return found


class IndexedRange:
    """One ``reserve_indexed`` range: its index view, where its vertices start
    relative to its draw's base vertex (``delta``), and its vertex count."""

    __slots__ = (
        "call",
        "delta",
        "draw",
        "first_vertex",
        "indices",
        "local",
        "restarts",
        "segment",
        "vertex_count",
    )

    def __init__(
        self,
        indices: NDArray,
        segment: NDArray,
        local: int,
        delta: int,
        vertex_count: int,
        first_vertex: int,
        draw: object,
        call: int,
    ) -> None:
        self.indices = indices
        self.segment = segment  # the arena slice (typed) holding the indices ...
        self.local = local  # ... from this item on
        self.delta = delta
        self.vertex_count = vertex_count
        self.first_vertex = first_vertex  # for messages: the range's place in the frame
        self.draw = draw  # the draw call it is part of
        self.call = call  # for messages: which reserve_indexed of the frame (1 = the first)
        self.restarts = False  # set by offset_indices: the range holds the restart index


def offset_indices(ranges: list[IndexedRange], restart: int) -> None:
    """Check every range's indices, then add each range's ``delta`` to them, and
    mark the ranges that hold the restart index (``restarts``).

    Raises ValueError naming the first index at or past its range's vertex count
    (the restart index excepted): the frame is then not uploaded.
    """
    if len(ranges) <= _PER_RANGE_UP_TO:
        tops = [_check_one(r, restart) for r in ranges]
        for r, top in zip(ranges, tops, strict=True):
            _offset_one(r, top, restart)
        return
    _offset_many(ranges, restart)


def _top(block: NDArray, restart: int) -> int:
    """The largest index of a non-empty block other than the restart index (-1: none)."""
    top = int(block.max())
    if top == restart:
        kept = block[block != restart]
        top = int(kept.max()) if kept.size else -1
    return top


def _check_one(r: IndexedRange, restart: int) -> int:
    """Check one range's indices; return their maximum (the restart index included)."""
    block = r.indices
    if not block.size:
        return -1
    top = int(_max(block))
    if top >= r.vertex_count:
        real = _top(block, restart) if top == restart else top
        if real >= r.vertex_count:
            _raise_out_of_range(real, r)
    r.restarts = top == restart  # the largest value of the type: it is the top if present
    return top


def _offset_one(r: IndexedRange, top: int, restart: int) -> None:
    if r.delta and top >= 0:
        block = r.indices
        if top == restart:
            np.add(block, r.delta, out=block, where=block != restart, casting="unsafe")
        else:
            np.add(block, r.delta, out=block, casting="unsafe")


def _offset_many(ranges: list[IndexedRange], restart: int) -> None:
    """The same as the per-range path, vectorised over runs of adjacent views."""
    for run in _adjacent_runs(ranges):
        counts = np.fromiter((r.indices.size for r in run), np.int64, len(run))
        block = _joined(run)
        nonempty = counts > 0
        if not nonempty.any():
            continue
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[nonempty]
        tops = np.maximum.reduceat(block, starts).astype(np.int64)
        limits = np.fromiter((r.vertex_count for r in run), np.int64, len(run))[nonempty]
        live = [r for r, keep in zip(run, nonempty.tolist(), strict=True) if keep]
        for i in np.flatnonzero(tops >= limits).tolist():
            top = _top(live[i].indices, restart)  # the restart index is the one legal "top"
            if top >= live[i].vertex_count:
                _raise_out_of_range(top, live[i])
        restarting = np.flatnonzero(tops == restart).tolist()
        for i in restarting:
            live[i].restarts = True
        deltas = np.fromiter((r.delta for r in run), np.int64, len(run))
        if not deltas.any():
            continue
        offsets = np.repeat(deltas.astype(block.dtype), counts)
        if restarting:
            np.add(block, offsets, out=block, where=block != restart)
        else:
            block += offsets


def _adjacent_runs(ranges: list[IndexedRange]) -> list[list[IndexedRange]]:
    """Split the ranges where a new arena slice starts (indices are back to back
    within one slice)."""
    runs: list[list[IndexedRange]] = []
    segment = None
    for r in ranges:
        if r.segment is not segment:
            runs.append([])
            segment = r.segment
        runs[-1].append(r)
    return runs


def _joined(run: list[IndexedRange]) -> NDArray:
    """One view over a run of back-to-back index views in one arena slice."""
    last = run[-1]
    return run[0].segment[run[0].local : last.local + last.indices.size]


def _raise_out_of_range(top: int, r: IndexedRange) -> None:
    raise ValueError(
        f"index {top} in the indexed range of reserve_indexed call {r.call} of this frame "
        f"(its vertices start at vertex {r.first_vertex} of the frame) is out of range: that "
        f"range has {r.vertex_count} vertices (indices are relative to it; the restart index, "
        f"all bits set, is the only other value allowed). Indices are checked when the frame "
        f"is uploaded, at the end of its `with` block; the frame was not uploaded."
    )
