"""Property-based test of the second stack against a simple reference model.

A hypothesis state machine opens scopes of random shapes and dtypes (zero-sized
and object ones included, and buffers of lists, ranges, arrays and generators)
and ends them in LIFO order or out of order, as generators and asyncio tasks
do. The model is a list of the live slices, each filled with a pattern of its
own. After every step: every live slice keeps its data, no two live slices
overlap, every slice is aligned, and the counters agree with what is live.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import stagebuf as sb

PAIR = np.dtype([("a", np.uint8), ("b", np.float64)])  # 9 bytes: 64 % 9 != 0
DTYPES = [
    np.uint8,
    np.int16,
    np.float32,
    np.float64,
    np.dtype("S3"),
    PAIR,
    np.dtype((np.int32, 3)),  # a subarray dtype: the slice gains its shape
    np.dtype([("nothing", np.float32, (0,))]),  # zero-sized
    np.dtype(object),
]
SHAPES = st.one_of(
    st.integers(0, 3000),
    st.tuples(st.integers(0, 40), st.integers(0, 40)),
    st.just(()),
)


class Live:
    """One live scope in the model: the scope, its view and the data it must keep."""

    def __init__(self, scope: Any, view: np.ndarray[Any, Any], expected: Any) -> None:
        self.scope = scope
        self.view = view
        self.expected = expected

    def intact(self) -> bool:
        if self.view.dtype == object:
            return bool(self.view.tolist() == self.expected)
        return bool(self.view.tobytes() == self.expected)


def fill(view: np.ndarray[Any, Any], tag: int) -> Any:
    """Write a pattern unique to ``tag`` into ``view``; return what to compare later."""
    if view.dtype == object:
        flat = view.reshape(-1)
        for i in range(flat.size):
            flat[i] = (tag, i)
        return view.tolist()
    if view.nbytes:
        raw = view.reshape(-1).view(np.uint8)
        raw[:] = (np.arange(raw.size) * 7 + tag * 13) % 251
    return view.tobytes()


class StackMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.live: list[Live] = []
        self.ended: list[Any] = []
        self.tag = 0
        self.stack = sb.Stack()

    @initialize(
        kind=st.sampled_from(["locked", "unlocked", "checked"]),
        initial=st.sampled_from([0, 1000, 4096, 65536]),
    )
    def make_stack(self, kind: str, initial: int) -> None:
        self.stack = sb.Stack(
            initial_capacity=initial,
            thread_safe=kind != "unlocked",
            checked=kind == "checked",
        )

    def next_tag(self) -> int:
        self.tag += 1
        return self.tag

    def opened(self, scope: Any, view: np.ndarray[Any, Any], expected: Any) -> None:
        assert view.ctypes.data % 64 == 0
        self.live.append(Live(scope, view, expected))

    # -- opening scopes ------------------------------------------------------

    @rule(shape=SHAPES, dtype=st.sampled_from(DTYPES))
    def open_slice(self, shape: Any, dtype: Any) -> None:
        scope = self.stack.uninit_slice(shape, dtype)
        view = scope.__enter__()
        assert view.shape == np.empty(shape, dtype).shape
        self.opened(scope, view, fill(view, self.next_tag()))

    @rule(dtype=st.sampled_from(DTYPES))
    def open_value(self, dtype: Any) -> None:
        scope = self.stack.uninit(dtype)
        view = scope.__enter__()
        assert view.shape == np.empty((), dtype).shape
        self.opened(scope, view, fill(view, self.next_tag()))

    @rule(
        n=st.integers(0, 2000),
        source=st.sampled_from(["list", "range", "array", "generator", "objects", "nested"]),
    )
    def open_buffer(self, n: int, source: str) -> None:
        tag = self.next_tag()
        values = [(i * 7 + tag) % 1000 for i in range(n)]
        stack = self.stack

        def gen() -> Iterator[int]:
            yield from values

        def nested() -> Iterator[int]:
            # opens (and ends) a scope above the buffer while it fills, which
            # makes the buffer move
            half = n // 2
            yield from values[:half]
            with stack.uninit_slice(100, np.uint8) as mid:
                mid[:] = 1
                yield from values[half:]
                assert (mid == 1).all()

        iterable: Any = {
            "list": lambda: values,
            "range": lambda: range(tag, tag + n),
            "array": lambda: np.array(values, dtype=np.int16),
            "generator": gen,
            "objects": lambda: [("obj", v) for v in values],
            "nested": nested,
        }[source]()
        scope = stack.buffer(iterable)
        view = scope.__enter__()
        if source == "range":
            assert view.tolist() == list(range(tag, tag + n))
        elif source == "objects":
            assert view.dtype == (object if n else np.float64)  # numpy's dtype for []
            assert view.tolist() == [("obj", v) for v in values]
        else:
            assert view.tolist() == values
        self.opened(scope, view, view.tolist() if view.dtype == object else view.tobytes())

    # -- ending scopes ---------------------------------------------------------

    @precondition(lambda self: self.live)
    @rule()
    def end_newest(self) -> None:
        item = self.live.pop()
        item.scope.__exit__(None, None, None)
        self.ended.append(item.scope)

    @precondition(lambda self: self.live)
    @rule(which=st.integers(0, 1000))
    def end_any(self, which: int) -> None:
        """Out of order, as when generators or tasks interleave."""
        item = self.live.pop(which % len(self.live))
        item.scope.__exit__(None, None, None)
        self.ended.append(item.scope)

    @precondition(lambda self: self.live)
    @rule(which=st.integers(0, 1000))
    def end_with_an_error(self, which: int) -> None:
        item = self.live.pop(which % len(self.live))
        try:
            raise KeyError("from the block")
        except KeyError as err:
            swallowed = item.scope.__exit__(KeyError, err, err.__traceback__)
        assert not swallowed  # the error goes on to the caller
        self.ended.append(item.scope)

    @precondition(lambda self: self.ended)
    @rule(which=st.integers(0, 1000))
    def end_again(self, which: int) -> None:
        scope = self.ended[which % len(self.ended)]
        with pytest.raises(sb.ScopeError, match="already ended"):
            scope.__exit__(None, None, None)
        with pytest.raises(sb.ScopeError, match="already entered"):
            scope.__enter__()

    @rule()
    def trim(self) -> None:
        before = self.stack.capacity_bytes
        released = self.stack.trim()
        assert self.stack.capacity_bytes == before - released

    @rule()
    def reset_high_water(self) -> None:
        self.stack.reset_high_water()
        assert self.stack.high_water_bytes == self.stack.bytes_in_use

    # -- invariants ------------------------------------------------------------

    @invariant()
    def live_slices_keep_their_data(self) -> None:
        for item in self.live:
            assert item.intact()

    @invariant()
    def live_slices_never_overlap(self) -> None:
        spans = sorted(
            (it.view.ctypes.data, it.view.ctypes.data + it.view.nbytes)
            for it in self.live
            if it.view.nbytes
        )
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start

    @invariant()
    def counters_agree(self) -> None:
        stack = self.stack
        live_bytes = sum(it.view.nbytes for it in self.live)
        assert stack.bytes_in_use >= live_bytes
        assert stack.high_water_bytes >= stack.bytes_in_use
        assert stack.capacity_bytes >= stack.bytes_in_use
        if not self.live:
            assert stack.bytes_in_use == 0
            assert stack.chunk_count <= 2  # at most one chunk of bytes, one of object slots

    def teardown(self) -> None:
        while self.live:
            self.live.pop().scope.__exit__(None, None, None)
        assert self.stack.bytes_in_use == 0


StackMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStackMachine = StackMachine.TestCase
