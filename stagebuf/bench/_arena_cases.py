"""The arena bench's measurements, run in whichever process asks (either backend).

Each case times stagebuf's op and its baseline in the same process, interleaved
repeat by repeat (:func:`~._timing.interleaved`), and returns the raw samples:
op name -> seconds per op, one figure per repeat. Judging them (which
statistic, which goal) is the report's business (:mod:`._arena_report`), so a
child process can run a case and send its samples back as they are.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import stagebuf as sb

from ._timing import Samples, interleaved

__all__ = [
    "BIG_ITEMS",
    "CASES",
    "FRAME_SEED",
    "SWEEP_SIZES",
    "Case",
    "frame_sizes",
    "frames",
    "measure",
    "repeats",
    "sweep_op",
    "warm_up",
]

_F4 = np.float32
BIG_ITEMS = 64 * 1024 * 1024 // 4  # float32 items in 64 MiB
_FRAME_TEMPS = 64
FRAME_SEED = 1234
_LIST_ITEMS = 1000
SWEEP_SIZES = tuple(64 * 4**k for k in range(11))  # bytes: 64 B, 256 B, ..., 64 MiB


def repeats(quick: bool) -> int:
    """Repeats per case (each a batch of ops; the report takes their minimum)."""
    return 5 if quick else 7  # quick: shorter repeats, enough of them to dodge a noisy burst


def frames(quick: bool) -> int:
    """Frames timed one by one in the frame case (the report takes their median)."""
    return 9 if quick else 31


def frame_sizes() -> list[int]:
    """The frame's fixed mix: bytes per temporary, log-uniform over 1 KiB..8 MiB."""
    rng = random.Random(FRAME_SEED)
    lo, hi = math.log2(1024), math.log2(8 * 1024 * 1024)
    return [int(2 ** rng.uniform(lo, hi)) // 4 * 4 for _ in range(_FRAME_TEMPS)]


def _frame_ops() -> tuple[Callable[[], None], Callable[[], None]]:
    """One frame through the arena, and the same frame through ``np.empty``."""
    counts = [n // 4 for n in frame_sizes()]

    def ours() -> None:
        with contextlib.ExitStack() as frame:
            for n in counts:  # nested: each scope opens inside the ones before
                frame.enter_context(sb.uninit_slice(n, _F4)).fill(1.0)

    def theirs() -> None:
        temps = []
        for n in counts:  # all alive at once, as in the frame above
            t = np.empty(n, _F4)
            t.fill(1.0)
            temps.append(t)

    return ours, theirs


def _big_fill() -> None:
    with sb.uninit_slice(BIG_ITEMS, _F4) as s:
        s.fill(1.0)


def warm_up() -> None:
    """Grow the thread stack to its steady capacity before any timing.

    Two frames: a chunk that grows while slices are live converges to one chunk
    only once they end, so the second frame runs on the final chunk.
    """
    ours, _ = _frame_ops()
    ours()
    ours()
    _big_fill()


def small_scope(quick: bool) -> Samples:
    """A 4 KiB ``uninit_slice(1024, np.float32)`` scope (enter + exit) / ``np.empty``."""
    return interleaved(
        {
            "ours": "with uninit_slice(1024, f4) as s: pass",
            "base": "s = np.empty(1024, f4)",
        },
        number=10_000 if quick else 200_000,
        repeat=repeats(quick),
        names={"uninit_slice": sb.uninit_slice, "np": np, "f4": _F4},
    )


def buffer_list(quick: bool) -> Samples:
    """A ``buffer(list of 1000 floats)`` scope / ``np.array(list)``: both infer float64."""
    items = [0.5 * i for i in range(_LIST_ITEMS)]
    with sb.buffer(items) as probe:  # like for like, or the comparison means nothing
        if probe.dtype != np.array(items).dtype:
            raise RuntimeError(f"buffer() inferred {probe.dtype}, np.array float64: unlike work.")
    return interleaved(
        {"ours": "with buffer(items) as a: pass", "base": "a = np.array(items)"},
        number=300 if quick else 5_000,
        repeat=repeats(quick),
        names={"buffer": sb.buffer, "np": np, "items": items},
    )


def big_fill(quick: bool) -> Samples:
    """A 64 MiB slice written once (``fill``) / the same fill of a resident array
    ("floor": no allocation, pages already mapped) / ``np.empty`` + fill ("empty")."""
    resident = np.empty(BIG_ITEMS, _F4)
    resident.fill(0.0)  # fault every page in now: the floor is the bandwidth alone

    def floor() -> None:
        resident.fill(1.0)

    def empty() -> None:
        np.empty(BIG_ITEMS, _F4).fill(1.0)

    return interleaved(
        {"ours": _big_fill, "floor": floor, "empty": empty},
        number=2 if quick else 5,
        repeat=repeats(quick),
    )


def frame(quick: bool) -> Samples:
    """A frame of 64 nested temporaries, 1 KiB..8 MiB, each written once / ``np.empty``
    each. One frame per repeat: the report takes the median of frames.

    Twice: each side's frames in a row ("ours", "base"), as a render loop runs
    them, and the two sides' frames in turn ("ours_mixed", "base_mixed"). In a
    row, the arena's 49 MiB stay in a large enough cache (this machine's L3 is
    260 MiB) and the frame runs at cache speed; in turn, numpy's fresh pages
    evict them between frames, which leaves the arena only its saving of page
    faults.
    """
    ours, theirs = _frame_ops()
    n = frames(quick)
    samples = interleaved({"ours": ours}, number=1, repeat=n)
    samples |= interleaved({"base": theirs}, number=1, repeat=n)
    samples |= interleaved({"ours_mixed": ours, "base_mixed": theirs}, number=1, repeat=n)
    return samples


def tuple_shape(quick: bool) -> Samples:
    """The 4 KiB scope with shape ``(1024,)`` / the same scope with ``1024``."""
    return interleaved(
        {
            "ours": "with uninit_slice((1024,), f4) as s: pass",
            "base": "with uninit_slice(1024, f4) as s: pass",
        },
        number=10_000 if quick else 200_000,
        repeat=repeats(quick),
        names={"uninit_slice": sb.uninit_slice, "f4": _F4},
    )


def fast_path(quick: bool) -> Samples:
    """The 4 KiB scope through the thread-local fast path ("fast"), through
    ``thread_stack().uninit_slice`` ("slice_scope") and on a locked ``Stack``
    ("locked"), whose scopes never take the inline bump."""
    locked = sb.Stack()
    with locked.uninit_slice(1024, _F4):  # warm: the chunk exists
        pass
    return interleaved(
        {
            "fast": "with fast(1024, f4) as s: pass",
            "slice_scope": "with via_slice_scope(1024, f4) as s: pass",
            "locked": "with via_locked(1024, f4) as s: pass",
        },
        number=10_000 if quick else 200_000,
        repeat=repeats(quick),
        names={
            "fast": sb.uninit_slice,
            "via_slice_scope": sb.thread_stack().uninit_slice,
            "via_locked": locked.uninit_slice,
            "f4": _F4,
        },
    )


def sweep_op(side: str, nbytes: int) -> str:
    """The op name of one point of :func:`sweep`: ``side`` "ours" or "base"."""
    return f"{side} {nbytes}"


def sweep(quick: bool) -> Samples:
    """A scope (enter + exit, no write) of each size in ``SWEEP_SIZES`` / ``np.empty``
    of that size (no write either: its pages are not touched)."""
    samples: Samples = {}
    for nbytes in SWEEP_SIZES:
        samples |= interleaved(
            {
                sweep_op("ours", nbytes): "with uninit_slice(n, u1) as s: pass",
                sweep_op("base", nbytes): "s = np.empty(n, u1)",
            },
            number=500 if quick else 10_000,
            repeat=repeats(quick),
            names={"uninit_slice": sb.uninit_slice, "np": np, "u1": np.uint8, "n": nbytes},
        )
    return samples


@dataclass(frozen=True)
class Case:
    """One measurement: ``label`` names it in progress lines."""

    label: str
    measure: Callable[[bool], Samples]


CASES: dict[str, Case] = {
    "small_scope": Case("4 KiB uninit_slice scope", small_scope),
    "buffer_list": Case("buffer(list of 1000 floats)", buffer_list),
    "big_fill": Case("64 MiB slice, written once", big_fill),
    "frame": Case(f"frame of {_FRAME_TEMPS} temporaries", frame),
    "tuple_shape": Case("4 KiB scope, tuple shape", tuple_shape),
    "fast_path": Case("the fast path, three ways", fast_path),
    "sweep": Case("scope cost, 64 B..64 MiB", sweep),
}


def measure(case: str, quick: bool) -> Samples:
    """Run one case by its key in this process (ValueError for an unknown key)."""
    try:
        spec = CASES[case]
    except KeyError:
        raise ValueError(f"Unknown arena case {case!r}; known: {', '.join(CASES)}.") from None
    return spec.measure(quick)
