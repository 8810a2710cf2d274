"""``write_attribute`` against numpy's field assignment, one attribute format per row.

Each row copies one attribute of ``n`` interleaved vertices (the attribute sits
between a ``2f`` and a ``4f1`` neighbour, so strides run from 16 to 76 bytes)
from a contiguous array of its own dtype, three ways timed in turn in one run:

- ``sb.write_attribute(verts, name, values)``;
- ``verts[name][:] = values``, numpy's field assignment (the goal's reference);
- ``verts[name] = values``, the same without the field view.

The goal: at least numpy's speed for every format, and 3x for 1-4 components.
numpy's field assignment already moves one word per vertex for one-component
attributes (``f``, ``i``): there the same loop runs on both sides, and the
ratio measures the call overhead only.

:func:`run_records_rows` then times ``sb.write_records`` against what a user
writes by hand for each form of values (no goal: a reference for the README).

``python -m stagebuf.bench._pack_bench [--quick] [--vertices N]`` runs both alone.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NamedTuple

import numpy as np

from .._layout import VertexLayout
from .._pack import write_attribute, write_records
from ._progress import Progress
from ._timing import fmt_seconds, interleaved

__all__ = ["FORMATS", "PackRow", "RecordsRow", "run_pack_rows", "run_records_rows"]

FORMATS = ("f", "2f", "3f", "4f", "9f", "16f", "i", "4f1", "2u2", "3i", "4u1")
GOAL_ALL = 1.0
GOAL_SMALL = 3.0  # for attributes of 1-4 components
SMALL = 4


class PackRow(NamedTuple):
    """One format's figures: seconds per call of each side, and the ratios."""

    format: str
    vs_slice: float  # numpy ``verts[name][:] = values`` time / write_attribute time
    vs_field: float  # numpy ``verts[name] = values`` time / write_attribute time
    stride: int
    components: int
    seconds: float  # write_attribute, per call
    goal: float

    @property
    def met(self) -> bool:
        return self.vs_slice >= self.goal


def _case(fmt: str, n: int, rng: np.random.Generator) -> tuple[Any, Any, VertexLayout]:
    layout = VertexLayout(in_pos="2f", in_attr=fmt, in_color="4f1")
    ftype = layout.dtype["in_attr"]
    verts = np.zeros(n, layout.dtype)
    shape = (n, *ftype.shape)
    if ftype.base.kind == "f":
        values = rng.standard_normal(shape).astype(ftype.base)
    else:
        info = np.iinfo(ftype.base)
        values = rng.integers(info.min, info.max, shape, dtype=ftype.base, endpoint=True)
    return verts, values, layout


def _measure(fmt: str, n: int, quick: bool) -> PackRow:
    verts, values, layout = _case(fmt, n, np.random.default_rng(1))
    name = "in_attr"
    ftype = layout.dtype[name]
    components = int(np.prod(ftype.shape, dtype=np.int64))
    # about 0.1-1 ms per timing at 10k vertices: above the timer's noise
    number = max(5, (100 if quick else 400) * 10_000 // max(n, 1))
    samples = interleaved(
        {
            "write_attribute": "write_attribute(verts, name, values)",
            "slice": "verts[name][:] = values",
            "field": "verts[name] = values",
        },
        number=number,
        repeat=3 if quick else 9,
        names={"write_attribute": write_attribute, "verts": verts, "name": name, "values": values},
    )
    best = {op: min(times) for op, times in samples.items()}
    return PackRow(
        format=fmt,
        vs_slice=best["slice"] / best["write_attribute"],
        vs_field=best["field"] / best["write_attribute"],
        stride=layout.stride,
        components=components,
        seconds=best["write_attribute"],
        goal=GOAL_SMALL if components <= SMALL else GOAL_ALL,
    )


def run_pack_rows(
    quick: bool = False,
    *,
    vertices: int = 10_000,
    formats: tuple[str, ...] = FORMATS,
    progress: Progress | None = None,
) -> list[PackRow]:
    """Print the write_attribute table (one row per format, ``vertices`` vertices) and
    return its rows. ``progress`` (optional) gets one case per format."""
    rows = []
    for fmt in formats:
        if progress is None:
            rows.append(_measure(fmt, vertices, quick))
        else:
            with progress.case(f"write_attribute {fmt}, {vertices:,} vertices"):
                rows.append(_measure(fmt, vertices, quick))
    print()
    print(
        f"write_attribute vs numpy field assignment, {vertices:,} interleaved vertices "
        f"(best of repeats; ratio > 1: write_attribute is faster)"
    )
    print(
        f"{'format':>7} {'stride':>6} {'write_attr':>11} {'vs [:]=':>8} {'vs =':>7}  "
        f"goal (vs verts[name][:] = values)"
    )
    for row in rows:
        verdict = "met" if row.met else "MISSED"
        print(
            f"{row.format:>7} {row.stride:>6} {fmt_seconds(row.seconds):>11} "
            f"{row.vs_slice:7.2f}x {row.vs_field:6.2f}x  >= {row.goal:.0f}x: {verdict}"
        )
    if any(not r.met and r.components == 1 for r in rows):
        print(
            "  (one component: numpy's own loop already moves one word per vertex, the "
            "loop write_attribute runs too; only the call overhead differs)"
        )
    return rows


class RecordsRow(NamedTuple):
    """One form of write_records values: seconds per call of each side, and the ratio."""

    case: str
    by_hand: str  # the numpy statement it is timed against
    ratio: float  # by-hand time / write_records time
    seconds: float  # write_records, per call


def _records_cases(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    rng = np.random.default_rng(2)
    floats = VertexLayout(in_pos="3f", in_uv="2f")
    mixed = VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1")
    same = np.zeros(n, mixed.dtype)
    same["in_pos"] = rng.standard_normal((n, 2))
    same["in_color"] = rng.integers(0, 256, (n, 4))
    other = np.zeros(n, [("in_color", "u1", 4), ("in_uv", "f8", 2), ("in_pos", "f4", 2)])
    for name in mixed.names:
        other[name] = same[name]
    columns = rng.integers(0, 256, (n, 8))
    by_field = "; ".join(f"verts[{k!r}] = values[{k!r}]" for k in mixed.names)
    by_column = "; ".join(
        f"verts[{k!r}] = values[:, {a}:{b}]"
        for k, a, b in (("in_pos", 0, 2), ("in_uv", 2, 4), ("in_color", 4, 8))
    )
    return [
        (
            "exact dtype, 2f 2f 4f1",
            "verts[...] = values",
            {"verts": np.zeros(n, mixed.dtype), "values": same},
        ),
        (
            "(n, 5) float32 into 3f 2f",
            "verts.view(np.float32).reshape(-1, 5)[:] = values",
            {"verts": np.zeros(n, floats.dtype), "values": rng.random((n, 5), np.float32)},
        ),
        (
            "fields in another order/types",
            by_field,
            {"verts": np.zeros(n, mixed.dtype), "values": other},
        ),
        (
            "(n, 8) int64 columns, checked",  # by hand: unchecked
            by_column,
            {"verts": np.zeros(n, mixed.dtype), "values": columns},
        ),
    ]


def run_records_rows(quick: bool = False, *, vertices: int = 10_000) -> list[RecordsRow]:
    """Print the write_records table (one row per form of values) and return its rows."""
    rows = []
    number = max(5, (50 if quick else 200) * 10_000 // max(vertices, 1))
    for case, by_hand, names in _records_cases(vertices):
        samples = interleaved(
            {"write_records": "write_records(verts, values)", "by hand": by_hand},
            number=number,
            repeat=3 if quick else 9,
            names={**names, "write_records": write_records, "np": np},
        )
        best = {op: min(times) for op, times in samples.items()}
        ratio = best["by hand"] / best["write_records"]
        rows.append(RecordsRow(case, by_hand, ratio, best["write_records"]))
    print()
    print(f"write_records vs numpy by hand, {vertices:,} records (best of repeats)")
    print(f"{'values':>30} {'write_rec':>10} {'vs hand':>8}  by hand")
    for row in rows:
        print(f"{row.case:>30} {fmt_seconds(row.seconds):>10} {row.ratio:7.2f}x  {row.by_hand}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagebuf.bench._pack_bench")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--vertices", type=int, default=10_000, help="default: 10000")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]} | numpy {np.__version__}")
    run_pack_rows(args.quick, vertices=args.vertices)
    run_records_rows(args.quick, vertices=args.vertices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
