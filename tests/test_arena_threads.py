"""The second stack under threads: own default stacks per thread, a shared locked Stack."""

from __future__ import annotations

import random
import sys
import threading
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
