"""Stack: counters, trim, alignment; live slices never overlap.

Module: stagebuf._arena._stack. Pure CPU.
"""

from __future__ import annotations

import random
import weakref
from typing import Any

import numpy as np
import pytest
from arena_kinds import KIB, Api, overlaps, span

import stagebuf as sb

# --------------------------------------------------------------------------
# Owned stacks: counters, trim, alignment, overlap


def test_counters_of_a_fresh_stack() -> None:
    stack = sb.Stack()
    assert stack.capacity_bytes == 0
    assert stack.bytes_in_use == 0
    assert stack.high_water_bytes == 0
    assert stack.growths == 0
    assert stack.chunk_count == 0
    assert stack.checked is False
    assert sb.Stack(checked=True).checked is True


@pytest.mark.parametrize("thread_safe", [True, False])
def test_counters_follow_the_scopes(thread_safe: bool) -> None:
    stack = sb.Stack(initial_capacity=64 * KIB, thread_safe=thread_safe)
    with stack.uninit_slice(100, np.uint8) as a:
        assert stack.capacity_bytes == 64 * KIB
        assert stack.bytes_in_use == 128  # rounded up to a cache line
        assert stack.growths == 1
        assert stack.chunk_count == 1
        with stack.uninit_slice(1000, np.float32) as b:
            assert stack.bytes_in_use == 128 + 4032
            assert stack.high_water_bytes == 128 + 4032
            del b
        assert stack.bytes_in_use == 128
        del a
    assert stack.bytes_in_use == 0
    assert stack.high_water_bytes == 128 + 4032
    stack.reset_high_water()
    assert stack.high_water_bytes == 0
    with stack.uninit_slice(10, np.uint8):
        stack.reset_high_water()
        assert stack.high_water_bytes == 64
    assert "bytes_in_use=0" in repr(stack)
    assert "high_water_bytes=64" in repr(stack)


def test_high_water_counts_bytes_and_objects_together(fast: sb.Stack) -> None:
    """Object slots and bytes live in two regions; the mark sees their sum."""
    stack = fast
    stack.uninit_slice(1000, np.uint8, fn=lambda s: None)
    with stack.uninit_slice(64, object):  # 512 bytes of slots
        outer_b = stack.uninit_slice(448, np.uint8)
        outer_b.__enter__()
    with stack.uninit_slice(120, object):  # 960 bytes of slots, with 448 bytes live
        assert stack.bytes_in_use == 448 + 960
        assert stack.high_water_bytes >= stack.bytes_in_use
    outer_b.__exit__(None, None, None)
    assert stack.bytes_in_use == 0


def test_trim_gives_idle_memory_back() -> None:
    stack = sb.Stack()
    with stack.uninit_slice(10, np.uint8):
        assert stack.trim() == 0  # something lives in the chunk
        assert stack.chunk_count == 1
    with stack.uninit_slice(3, object):
        pass
    released = stack.trim()
    assert released == 64 * KIB + 4096
    assert stack.capacity_bytes == 0
    assert stack.chunk_count == 0
    assert stack.trim() == 0
    with stack.uninit_slice(10, np.uint8) as s:  # usable after a trim: a new chunk
        s[:] = 1
        assert stack.growths == 3
        assert stack.chunk_count == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"initial_capacity": -1}, ValueError, "initial_capacity must be a non-negative int"),
        ({"initial_capacity": "big"}, TypeError, r"initial_capacity .* got 'big' \(str\)"),
        ({"initial_capacity": 1.5}, TypeError, r"got 1\.5 \(float\)"),
        ({"max_capacity": True}, TypeError, "max_capacity must be a non-negative int.*True"),
        ({"max_capacity": -5}, ValueError, "max_capacity must be a non-negative int.*-5"),
    ],
)
def test_stack_refuses_bad_sizes(kwargs: dict[str, Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        sb.Stack(**kwargs)


def test_every_slice_is_aligned_and_live_slices_never_overlap(api: Api) -> None:
    rng = random.Random(7)
    dtypes = [np.uint8, np.int16, np.float32, np.float64, "S3", "S100", np.complex128, object]
    live: list[tuple[Any, np.ndarray[Any, Any], int]] = []
    for i in range(60):
        n = rng.choice([0, 1, 3, 63, 64, 65, 1000, 5000])
        dt = rng.choice(dtypes)
        scope = api.uninit_slice(n, dt)
        view = scope.__enter__()
        assert view.ctypes.data % 64 == 0
        if view.dtype == object:
            view[:] = [i] * n
        else:
            view.view(np.uint8)[:] = i
        for _, other, _ in live:
            if view.nbytes and other.nbytes:
                assert not overlaps(span(view), span(other))
        live.append((scope, view, i))
        if rng.random() < 0.3:  # sometimes end the newest one
            s, _, _ = live.pop()
            s.__exit__(None, None, None)
        for _, other, tag in live:  # every live slice keeps its bytes
            if other.dtype == object:
                assert all(x == tag for x in other)
            else:
                assert (other.view(np.uint8) == tag).all()
    for s, _, _ in reversed(live):
        s.__exit__(None, None, None)


def test_a_stack_keeps_attributes_weak_references_and_a_settable_cap() -> None:
    stack = sb.Stack()
    stack.label = "frame temporaries"  # type: ignore[attr-defined]
    assert weakref.ref(stack)() is stack
    stack.max_capacity = 4 * KIB
    with pytest.raises(sb.StackOverflowError, match="exceeds max_capacity=4096 bytes"):
        stack.uninit_slice(64 * KIB, np.uint8).__enter__()
    with pytest.raises(ValueError, match="max_capacity must be a non-negative int"):
        stack.max_capacity = -1
    stack.max_capacity = None
    with stack.uninit_slice(64 * KIB, np.uint8):
        pass
    assert stack.bytes_in_use == 0


@pytest.mark.parametrize("idle", ["objects", "bytes"])
def test_an_idle_chunk_of_one_kind_does_not_make_a_capped_stack_refuse_the_other(
    idle: str,
) -> None:
    # Before: StackOverflowError for a 64-byte request on a stack with nothing
    # in use, because an idle chunk of the other kind (bytes or object slots)
    # filled max_capacity.
    stack = sb.Stack(max_capacity=64 * KIB, initial_capacity=4 * KIB)
    first, then = (object, np.uint8) if idle == "objects" else (np.uint8, object)
    big = 8 * KIB if idle == "objects" else 64 * KIB  # 64 KiB either way: the whole cap
    with stack.uninit_slice(big, first):
        pass
    assert stack.bytes_in_use == 0 and stack.capacity_bytes == 64 * KIB
    with stack.uninit_slice(8, then) as view:
        view[:] = 1 if then is np.uint8 else None
        assert stack.capacity_bytes <= 64 * KIB
    with (
        stack.uninit_slice(8, then),
        pytest.raises(sb.StackOverflowError, match="exceeds max_capacity=65536 bytes"),
    ):
        stack.uninit_slice(64 * KIB, first).__enter__()  # the cap still holds while in use
    assert stack.bytes_in_use == 0
