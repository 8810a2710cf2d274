"""Chunks and bump allocation: growth, re-use, max_capacity, huge requests.

Modules: stagebuf._arena._chunks and _memory. Pure CPU.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from arena_kinds import KIB, MIB, ZERO_SIZED, Api, gen_ints, overlaps, span

import stagebuf as sb

# --------------------------------------------------------------------------
# Growth and re-use


def test_growth_is_geometric_and_capacity_converges() -> None:
    stack = sb.Stack(initial_capacity=4 * KIB, thread_safe=False)
    scopes = []
    capacities = []
    for _ in range(1024):  # 1 MiB alive at once, one KiB at a time
        scope = stack.uninit_slice(KIB, np.uint8)
        scope.__enter__()
        scopes.append(scope)
        if not capacities or stack.capacity_bytes != capacities[-1]:
            capacities.append(stack.capacity_bytes)
    # 4 KiB -> 1 MiB in doublings: a handful of chunks, not one per request
    assert stack.growths <= 10
    assert stack.chunk_count > 1  # older chunks still hold live slices
    for scope in reversed(scopes):
        scope.__exit__(None, None, None)
    assert stack.chunk_count == 1  # the older ones were dropped with their last slice
    assert stack.capacity_bytes >= MIB
    growths = stack.growths
    for _ in range(3):  # the same workload again fits in the one chunk
        scopes = [stack.uninit_slice(KIB, np.uint8) for _ in range(1024)]
        for scope in scopes:
            scope.__enter__()
        for scope in reversed(scopes):
            scope.__exit__(None, None, None)
    assert stack.growths == growths
    assert stack.chunk_count == 1


@pytest.mark.parametrize("thread_safe", [True, False])
def test_a_chunk_with_live_slices_stays_intact(thread_safe: bool) -> None:
    stack = sb.Stack(initial_capacity=4 * KIB, thread_safe=thread_safe)
    with stack.uninit_slice(1000, np.int32) as old:
        old[:] = np.arange(1000)
        with stack.uninit_slice(MIB, np.uint8) as big:  # does not fit: a new chunk
            assert stack.chunk_count == 2
            assert stack.growths == 2
            big[:] = 0xEE
            assert not overlaps(span(old), span(big))
            np.testing.assert_array_equal(old, np.arange(1000))
        np.testing.assert_array_equal(old, np.arange(1000))
        assert stack.chunk_count == 2
    assert stack.chunk_count == 1  # the old chunk went with its last slice
    assert stack.capacity_bytes >= MIB


def frame_workload(api: Api, sizes: list[int]) -> None:
    """One frame: nested temporaries of mixed sizes, each written and checked."""
    scopes = []
    for i, n in enumerate(sizes):
        scope = api.uninit_slice(n, np.uint8)
        view = scope.__enter__()
        view[:] = i & 0xFF
        scopes.append((scope, view, i & 0xFF))
    for scope, view, tag in reversed(scopes):
        assert (view == tag).all()
        scope.__exit__(None, None, None)


def test_steady_workload_allocates_nothing(api: Api) -> None:
    rng = random.Random(3)
    sizes = [rng.randint(1, 64 * KIB) for _ in range(40)]
    stack = api.stack
    for _ in range(3):  # warm-up
        frame_workload(api, sizes)
    growths, capacity, chunks = stack.growths, stack.capacity_bytes, stack.chunk_count
    assert chunks <= 2  # one for bytes (and one for object slots, made by other tests)
    for _ in range(100):
        frame_workload(api, sizes)
    assert stack.growths == growths
    assert stack.capacity_bytes == capacity
    assert stack.chunk_count == chunks


def test_module_level_steady_workload_allocates_nothing() -> None:
    stack = sb.thread_stack()
    for _ in range(3):
        with sb.uninit_slice(1024, np.float32) as a, sb.buffer(range(500)) as b:
            a[:] = b[:1]
    growths = stack.growths
    for _ in range(1000):
        with sb.uninit_slice(1024, np.float32) as a, sb.buffer(range(500)) as b:
            a[:] = b[:1]
    assert stack.growths == growths


# --------------------------------------------------------------------------
# max_capacity and huge requests


@pytest.mark.parametrize("thread_safe", [True, False])
def test_max_capacity_refuses_clearly_and_the_stack_stays_usable(thread_safe: bool) -> None:
    stack = sb.Stack(initial_capacity=64 * KIB, max_capacity=MIB, thread_safe=thread_safe)
    with stack.uninit_slice(1000, np.int16) as kept:
        kept[:] = 42
        with (
            pytest.raises(
                sb.StackOverflowError,
                match=r"stack request of 2097152 bytes exceeds max_capacity=1048576 bytes",
            ) as excinfo,
            stack.uninit_slice(2 * MIB, np.uint8),
        ):
            pass  # pragma: no cover - never reached
        err = excinfo.value
        assert isinstance(err, MemoryError)
        assert err.requested_bytes == 2 * MIB
        assert err.limit_bytes == MIB
        assert (kept == 42).all()
        with stack.uninit_slice(512 * KIB, np.uint8) as fits:  # within the limit: fine
            fits[:] = 1
        assert (kept == 42).all()
    assert stack.bytes_in_use == 0
    assert stack.capacity_bytes <= MIB
    with pytest.raises(MemoryError, match="exceeds max_capacity"):
        stack.uninit_slice(MIB + 1, np.uint8, fn=lambda s: None)


def test_max_capacity_during_a_growing_buffer() -> None:
    stack = sb.Stack(initial_capacity=4 * KIB, max_capacity=64 * KIB)
    too_big = stack.buffer(gen_ints(100_000))
    with pytest.raises(sb.StackOverflowError, match="exceeds max_capacity=65536 bytes"):
        too_big.__enter__()
    assert stack.bytes_in_use == 0
    with stack.buffer(gen_ints(1000)) as ok:
        np.testing.assert_array_equal(ok, np.arange(1000))


def test_max_capacity_zero_refuses_everything_but_zero_bytes() -> None:
    stack = sb.Stack(max_capacity=0)
    with stack.uninit_slice(0, np.float32) as z:
        assert z.shape == (0,)
    with pytest.raises(sb.StackOverflowError, match="request of 64 bytes exceeds max_capacity=0"):
        stack.uninit_slice(1, np.uint8).__enter__()


@pytest.mark.parametrize(
    "make",
    [
        lambda: sb.Stack(max_capacity=MIB),
        lambda: sb.Stack(),
        lambda: sb.Stack(thread_safe=False),
        lambda: None,  # the thread-local stack
    ],
)
def test_huge_requests_raise_instead_of_overflowing(make: Callable[[], Any]) -> None:
    stack = make()
    uninit_slice = sb.uninit_slice if stack is None else stack.uninit_slice
    nbytes = 2**40 * 2**40 * 8
    huge = uninit_slice((2**40, 2**40), np.float64)  # 2**83 bytes: Python ints, no wrap
    with pytest.raises(sb.StackOverflowError, match=f"stack request of {nbytes} bytes") as ei:
        huge.__enter__()
    assert ei.value.requested_bytes == nbytes
    if stack is not None and stack.max_capacity is not None:
        assert ei.value.limit_bytes == MIB
    else:
        assert ei.value.limit_bytes is None  # the system refused
        assert "could not provide" in str(ei.value)
    with uninit_slice(10, np.float64) as ok:  # still usable
        ok[:] = 1


def test_a_range_too_long_for_memory_raises_instead_of_overflowing(api: Api) -> None:
    n = 2**70  # len() of this range raises OverflowError in Python itself
    with pytest.raises(sb.StackOverflowError, match=f"stack request of {n * 8} bytes") as ei:
        api.buffer(range(n), dtype=np.float64).__enter__()
    assert ei.value.requested_bytes == n * 8
    with pytest.raises(sb.StackOverflowError, match="stack request of"):
        api.buffer(range(0, -(2**80), -1)).__enter__()  # past int64: object slots


def test_zero_bytes_numpy_cannot_shape_name_the_shape(api: Api) -> None:
    with pytest.raises(ValueError, match=r"uninit_slice: shape \(0, 4611686018427387904\)"):
        api.uninit_slice((0, 2**62), np.float32)
    with pytest.raises(ValueError, match=r"uninit_slice: shape 9223372036854775808 of dtype"):
        api.uninit_slice(2**63, ZERO_SIZED)
    with api.uninit_slice(2**40, ZERO_SIZED) as fine:  # within numpy's limits: works
        assert fine.shape == (2**40,)
        assert fine.nbytes == 0
