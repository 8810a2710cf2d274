"""The second stack under threads: own default stacks per thread, a shared locked Stack."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import stagebuf as sb

N_THREADS = 8


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Make the interpreter switch threads far more often than usual."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(work: Callable[[int], Any], n: int = N_THREADS) -> list[Any]:
    """Run ``work(i)`` on ``n`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as err:  # reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def pattern(tag: int, n: int) -> np.ndarray[Any, Any]:
    return (np.arange(n, dtype=np.int64) * 31 + tag * 1_000_003) % 2_147_483_647


def nested_work(
    tag: int,
    rounds: int,
    uninit_slice: Callable[..., Any],
    buffer: Callable[..., Any],
    uninit: Callable[..., Any],
) -> int:
    """Nested scopes, each filled with a pattern of its own and checked while the others live."""
    rng = random.Random(tag)
    checks = 0
    for r in range(rounds):
        n1, n2, n3 = rng.randint(1, 4000), rng.randint(0, 3000), rng.randint(1, 20_000)
        with uninit_slice(n1, np.int64) as a:
            a[:] = pattern(tag, n1)
            with buffer(int(x) for x in pattern(tag + 1, n2)) as b:  # grows as it goes
                with uninit_slice((n3, 2), np.float32) as c, uninit(np.complex128) as d:
                    c[:] = tag
                    d[...] = complex(tag, r)
                    with uninit_slice(3, object) as o:
                        o[:] = [(tag, r)] * 3
                        np.testing.assert_array_equal(a, pattern(tag, n1))
                        assert (c == tag).all()
                        assert complex(d) == complex(tag, r)
                        assert all(x == (tag, r) for x in o)
                    np.testing.assert_array_equal(b, pattern(tag + 1, n2))
                np.testing.assert_array_equal(b, pattern(tag + 1, n2))
            np.testing.assert_array_equal(a, pattern(tag, n1))
        checks += 1
    return checks


def test_each_thread_has_its_own_default_stack_and_data() -> None:
    def work(i: int) -> tuple[sb.Stack, int, int]:
        stack = sb.thread_stack()
        checks = nested_work(100 + i, 40, sb.uninit_slice, sb.buffer, sb.uninit)
        assert sb.thread_stack() is stack
        return stack, checks, stack.bytes_in_use

    results = run_threads(work)
    stacks = [r[0] for r in results]
    assert len({id(s) for s in stacks}) == N_THREADS  # all alive here, so ids are unique
    assert sb.thread_stack() not in stacks
    assert all(r[1] == 40 for r in results)
    assert all(r[2] == 0 for r in results)


@pytest.mark.parametrize("initial_capacity", [4096, 64 * 1024 * 1024])
def test_a_shared_owned_stack_never_corrupts(initial_capacity: int) -> None:
    stack = sb.Stack(initial_capacity=initial_capacity)  # thread_safe by default

    def work(i: int) -> int:
        return nested_work(200 + i, 25, stack.uninit_slice, stack.buffer, stack.uninit)

    assert run_threads(work) == [25] * N_THREADS
    assert stack.bytes_in_use == 0
    assert stack.high_water_bytes > 0
    # growth under contention still converges: one chunk of bytes, one of object slots
    assert stack.chunk_count <= 2


def test_a_shared_stack_with_a_limit_refuses_clearly_and_keeps_working() -> None:
    stack = sb.Stack(initial_capacity=4096, max_capacity=2 * 1024 * 1024)
    refused = []

    def work(i: int) -> int:
        rng = random.Random(i)
        done = 0
        for _ in range(30):
            n = rng.choice([100, 10_000, 100_000, 400_000])
            try:
                with stack.uninit_slice(n, np.int32) as s:
                    s[:] = i
                    with stack.buffer(range(n // 10)) as b:
                        assert (s == i).all()
                        assert b[-1] == n // 10 - 1
                    done += 1
            except sb.StackOverflowError as err:
                refused.append(str(err))
        return done

    done = run_threads(work)
    assert all("exceeds max_capacity=2097152 bytes" in msg for msg in refused)
    assert sum(done) + len(refused) == 30 * N_THREADS
    assert sum(done) > 0
    assert stack.bytes_in_use == 0
    assert stack.capacity_bytes <= 2 * 1024 * 1024
    with stack.uninit_slice(1000, np.int32) as ok:
        ok[:] = 1
        assert (ok == 1).all()


def test_checked_shared_stack_under_threads() -> None:
    stack = sb.Stack(checked=True)

    def work(i: int) -> int:
        return nested_work(300 + i, 10, stack.uninit_slice, stack.buffer, stack.uninit)

    assert run_threads(work, 4) == [10] * 4
    assert stack.bytes_in_use == 0


def test_closure_form_from_many_threads() -> None:
    stack = sb.Stack()

    def work(i: int) -> list[int]:
        return [
            stack.buffer(range(i, i + 1000), fn=lambda v: int(v.sum()))
            + sb.uninit_slice(100, np.int64, fn=lambda s: int(s.fill(i) or s.sum()))
            for _ in range(50)
        ]

    results = run_threads(work)
    for i, sums in enumerate(results):
        assert sums == [sum(range(i, i + 1000)) + 100 * i] * 50
    assert stack.bytes_in_use == 0


# -- moved from test_reliability: many threads, own and shared stacks --------------


def figure(text: str) -> None:
    """One greppable line of the report (shown with ``-s``)."""
    print(f"FIGURE: {text}", flush=True)


# -- 2. threads -----------------------------------------------------------------------


class _Api:
    """The scope functions a worker uses: the module's (own stack per thread) or a Stack's."""

    def __init__(self, stack: sb.Stack | None) -> None:
        target: Any = sb if stack is None else stack
        self.uninit_slice: Callable[..., Any] = target.uninit_slice
        self.buffer: Callable[..., Any] = target.buffer


def _pattern(tid: int, depth: int, counter: int, n: int) -> np.ndarray[Any, Any]:
    base = (tid << 40) | (depth << 32) | (counter << 8)
    return base + np.arange(n, dtype=np.int64) % 256


def _worker(
    api: _Api, tid: int, scopes: int, barrier: threading.Barrier, out: dict[int, Any]
) -> None:
    """Open ``scopes`` scopes in nests of random depth, each checking its own pattern."""
    rng = np.random.default_rng(tid)
    mismatches = 0
    counter = 0

    def nest(depth: int, max_depth: int) -> None:
        nonlocal counter, mismatches
        if depth >= max_depth or counter >= scopes:
            return
        counter += 1
        want = _pattern(tid, depth, counter, int(rng.integers(1, 200)))
        if depth % 2 == 0:
            scope = api.uninit_slice(len(want), np.int64)
            fill = True
        else:
            scope = api.buffer(iter(want.tolist()), dtype=np.int64)  # grows as it goes
            fill = False
        with scope as s:
            if fill:
                s[:] = want
            mismatches += int(np.count_nonzero(s != want))
            nest(depth + 1, max_depth)
            if depth % 3 == 0:
                nest(depth + 1, max_depth)  # a sibling: the same memory re-used
            mismatches += int(np.count_nonzero(s != want))

    try:
        barrier.wait()
        while counter < scopes:
            nest(0, int(rng.integers(1, 10)))
        # The stack itself, not its id: a thread's stack dies with its thread, and
        # a later thread's may then be made at the same address (same id).
        out[tid] = (mismatches, counter, sb.thread_stack(), sb.thread_stack().bytes_in_use)
    except BaseException as err:  # reported by the test, never lost with the thread
        out[tid] = err


def _run_threads(stack: sb.Stack | None, scopes: int, threads: int = 8) -> dict[int, Any]:
    out: dict[int, Any] = {}
    barrier = threading.Barrier(threads)
    api = _Api(stack)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: maximal interleaving
    try:
        pool = [
            threading.Thread(target=_worker, args=(api, tid, scopes, barrier, out))
            for tid in range(threads)
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        sys.setswitchinterval(old)
    errors = {tid: r for tid, r in out.items() if isinstance(r, BaseException)}
    assert not errors, f"worker threads raised: {errors!r}"
    assert len(out) == threads
    return out


def _check_own_stacks(scopes: int) -> None:
    start = time.perf_counter()
    out = _run_threads(None, scopes)
    wall = time.perf_counter() - start
    mismatches = sum(r[0] for r in out.values())
    opened = sum(r[1] for r in out.values())
    figure(
        f"threads own stacks: 8 threads x {scopes} nested scopes = {opened} scopes, "
        f"mismatches={mismatches}, wall={wall:.2f} s"
    )
    assert mismatches == 0
    assert all(r[1] == scopes for r in out.values())
    assert len({id(r[2]) for r in out.values()}) == 8, "threads shared a default stack"
    assert all(r[3] == 0 for r in out.values()), "a thread's stack kept bytes in use"


def _check_shared_stack(scopes: int, checked: bool) -> None:
    stack = sb.Stack(checked=checked, initial_capacity=4096)  # thread_safe=True by default
    start = time.perf_counter()
    out = _run_threads(stack, scopes)
    wall = time.perf_counter() - start
    mismatches = sum(r[0] for r in out.values())
    figure(
        f"threads shared Stack(checked={checked}): 8 threads x {scopes} scopes: works, "
        f"mismatches={mismatches}, capacity={stack.capacity_bytes} B, "
        f"growths={stack.growths}, high-water={stack.high_water_bytes} B, wall={wall:.2f} s"
    )
    assert mismatches == 0
    assert stack.bytes_in_use == 0
    assert stack.chunk_count <= 1


def test_threads_each_have_their_own_stack() -> None:
    _check_own_stacks(2_000)


@pytest.mark.parametrize("checked", [False, True])
def test_shared_owned_stack_never_corrupts(checked: bool) -> None:
    _check_shared_stack(2_000, checked)


@pytest.mark.slow
def test_threads_each_have_their_own_stack_long() -> None:
    _check_own_stacks(20_000)


@pytest.mark.slow
@pytest.mark.parametrize("checked", [False, True])
def test_shared_owned_stack_never_corrupts_long(checked: bool) -> None:
    _check_shared_stack(20_000, checked)
