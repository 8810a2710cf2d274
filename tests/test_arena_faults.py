"""The arena's promises under faults: exceptions at any bytecode, misuse, hostile values.

Each test names the promise it checks. ``bytes_in_use`` back to its value
before is the leak check throughout; a canary slice checks that nothing
wrote into live memory.
"""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from arena_injection import Injector, inject_at_every_bytecode

import stagebuf as sb

F4 = np.float32

# -- an exception injected at every bytecode of a scope's life --------------------------


def _numbers(n: int) -> Iterator[int]:
    yield from range(n)


def _mixed(n: int) -> Iterator[Any]:
    for i in range(n):  # ints, then text: the buffer moves to object slots mid-way
        yield i if i < 400 else str(i)


def _after_trim(stack: sb.Stack) -> sb.Stack:
    stack.trim()  # no chunk left: the next scope allocates one
    return stack


# name -> (the stack the scope lives on, a factory of fresh scopes)
def _scenarios() -> dict[str, tuple[Callable[[], sb.Stack], Callable[[], Any]]]:
    owned = sb.Stack()
    checked = sb.Stack(checked=True)
    unlocked = sb.Stack(thread_safe=False, initial_capacity=1024)
    grows = sb.Stack(thread_safe=False, initial_capacity=1024)
    t = sb.thread_stack
    return {
        "fast path": (t, lambda: sb.uninit_slice(100, F4)),
        "tuple shape": (t, lambda: sb.uninit_slice((100,), F4)),
        "2-d shape": (t, lambda: sb.uninit_slice((10, 3), F4)),
        "uninit": (t, lambda: sb.uninit(np.float64)),
        "objects": (t, lambda: sb.uninit_slice(5, object)),
        "owned, locked": (lambda: owned, lambda: owned.uninit_slice(100, F4)),
        "owned, unlocked": (lambda: unlocked, lambda: unlocked.uninit_slice(100, F4)),
        "checked": (lambda: checked, lambda: checked.uninit_slice(100, F4)),
        "checked objects": (lambda: checked, lambda: checked.uninit_slice(5, object)),
        "buffer list": (t, lambda: sb.buffer([1.0, 2.0, 3.0])),
        "buffer generator": (t, lambda: sb.buffer(_numbers(3000))),
        "buffer moves to objects": (t, lambda: sb.buffer(_mixed(600))),
        "growth": (lambda: grows, lambda: _after_trim(grows).uninit_slice(100_000, np.uint8)),
    }


SCENARIOS = list(_scenarios())
# Made, entered and ended in C on the compiled backend, start to end.
COMPILED_SCENARIOS = {"fast path", "tuple shape"}


@pytest.mark.parametrize("exc", [KeyboardInterrupt, MemoryError])
@pytest.mark.parametrize("name", SCENARIOS)
def test_an_exception_at_any_bytecode_leaks_nothing(name: str, exc: type[BaseException]) -> None:
    """Any BaseException at any point of making, entering or ending a scope leaves
    nothing leaked, surfaces as itself, and the stack stays usable."""
    get_stack, make = _scenarios()[name]
    with sb.buffer(range(16)) as canary:
        n = inject_at_every_bytecode(get_stack(), make, exc)
        # The injector did reach the arena's bytecodes; on the compiled backend
        # the fast path's scopes run none (no Python code to interrupt).
        assert n > 20 or (sb.ARENA_BACKEND == "c" and name in COMPILED_SCENARIOS), n
        assert np.array_equal(canary, np.arange(16))


CLOSURES: dict[str, Callable[[sb.Stack], Any]] = {
    "fast path": lambda _: sb.uninit_slice(100, F4, fn=len),
    "owned, locked": lambda stack: stack.uninit_slice(100, F4, fn=len),
    "buffer list": lambda _: sb.buffer([1.0, 2.0], fn=len),
    "objects": lambda _: sb.uninit_slice(5, object, fn=len),
}


@pytest.mark.parametrize("name", list(CLOSURES))
def test_an_exception_at_any_bytecode_of_the_closure_form(name: str) -> None:
    stack = _scenarios()[name][0]()
    n = 0
    while True:
        n += 1
        before = stack.bytes_in_use
        err = Injector(n, KeyboardInterrupt).run(lambda: CLOSURES[name](stack))
        assert err in (None, KeyboardInterrupt)
        assert stack.bytes_in_use == before, n
        if err is None:
            break


def _nest(make: Callable[[], Any]) -> None:
    with make():
        _nest(make)


@pytest.mark.parametrize(
    "name", ["fast path", "2-d shape", "owned, locked", "buffer list", "objects"]
)
def test_recursion_error_in_deep_nesting_leaks_nothing(name: str) -> None:
    get_stack, make = _scenarios()[name]
    stack = get_stack()
    before = stack.bytes_in_use
    limit = sys.getrecursionlimit()
    try:
        for depth in range(120, 190):  # every offset of the limit within a scope's calls
            sys.setrecursionlimit(depth)
            with pytest.raises(RecursionError):
                _nest(make)
            sys.setrecursionlimit(limit)
            assert stack.bytes_in_use == before, depth
    finally:
        sys.setrecursionlimit(limit)


# -- warnings turned into errors (-W error) ------------------------------------------


def test_escaped_view_warning_as_error_still_quarantines_and_frees() -> None:
    stack = sb.Stack(checked=True)
    kept: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(sb.EscapedViewWarning, match="escaped the closure scope"):
            stack.uninit_slice(16, F4, fn=kept.append)
    assert stack.bytes_in_use > 0  # quarantined while the view lives
    with stack.uninit_slice(16, F4) as other:  # not handed out again meanwhile
        assert not np.shares_memory(other, kept[0])
    kept.clear()
    gc.collect()
    assert stack.bytes_in_use == 0


def test_numpy_warnings_as_errors_surface_and_leak_nothing() -> None:
    stack = sb.Stack()
    with warnings.catch_warnings(), np.errstate(over="warn"):
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="overflow"):
            stack.buffer(np.array([1e300, 1.0]), dtype=F4).__enter__()
        with pytest.raises(RuntimeWarning, match="overflow"):
            stack.buffer((x for x in [1.0] * 300 + [1e300]), dtype=F4).__enter__()
    assert stack.bytes_in_use == 0


# -- numpy's limit of 64 dimensions ----------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.uninit_slice((1,) * 65, F4),
        lambda s: s.uninit_slice((1,) * 64, (F4, 2)),
        lambda s: s.uninit_slice((1,) * 30, (F4, (1,) * 40)),
        lambda s: s.buffer(np.zeros((1,) * 64, F4), dtype=(F4, 2)),
    ],
    ids=["shape", "shape+subarray", "uninit subarray", "buffer subarray"],
)
def test_more_than_64_dimensions_is_a_clear_error_with_nothing_allocated(
    make: Callable[[sb.Stack], Any],
) -> None:
    stack = sb.Stack()
    with pytest.raises(ValueError, match=r"(dimensions|dimension)"), make(stack):
        pass
    assert stack.bytes_in_use == 0


def test_items_of_64_dimensions_stay_objects() -> None:
    deep = np.zeros((1,) * 64, F4)
    with sb.Stack().buffer(iter([deep, deep])) as items:
        assert items.shape == (2,) and items.dtype == object and items[0] is deep


# -- one owner per slice --------------------------------------------------------------


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
@pytest.mark.parametrize("kind", ["slice", "buffer"])
def test_a_copied_scope_cannot_end_the_slice(copier: Callable[[Any], Any], kind: str) -> None:
    stack = sb.Stack()
    scope = stack.uninit_slice(8, F4) if kind == "slice" else stack.buffer([1.0, 2.0])
    with scope:
        dup = copier(scope)
        with pytest.raises(sb.ScopeError, match=r"copy of a scope .*only the original"):
            dup.__exit__(None, None, None)
        with pytest.raises(sb.ScopeError, match=r"copy of a scope"):
            dup.__enter__()
        with stack.uninit_slice(8, F4) as live:  # the slice is still owned once
            live[:] = 7
            assert stack.bytes_in_use == 2 * 64
    assert stack.bytes_in_use == 0
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(scope)


def test_an_iterable_cannot_end_the_buffer_it_feeds() -> None:
    stack = sb.Stack()
    scope: Any = None

    def sabotage() -> Iterator[float]:
        yield from [1.0] * 300
        scope.__exit__(None, None, None)  # the very scope being filled
        yield from [2.0] * 300

    with stack.uninit_slice(64, F4) as canary:
        canary[:] = 5
        scope = stack.buffer(sabotage())
        with pytest.raises(sb.ScopeError, match="still being filled"):
            scope.__enter__()
        with stack.uninit_slice(1024, F4) as other:  # the memory is free and usable
            other[:] = 9
        assert (canary == 5).all()
    assert stack.bytes_in_use == 0


# -- checked mode: escapes of object views -------------------------------------------


@pytest.mark.parametrize(
    "escape",
    [lambda v: v, lambda v: v[1:], lambda v: v.reshape(2, 2), lambda v: v[::2][1:]],
    ids=["view", "v[1:]", "reshape", "view of a view"],
)
@pytest.mark.parametrize("kind", ["slice", "buffer"])
def test_checked_mode_catches_escaped_object_views(escape: Callable[[Any], Any], kind: str) -> None:
    stack = sb.Stack(checked=True)
    kept: list[Any] = []
    run: Callable[[Callable[[Any], None]], None] = (
        (lambda fn: stack.uninit_slice(4, object, fn=fn))
        if kind == "slice"
        else (lambda fn: stack.buffer(["a", "b", "c", "d"], fn=fn))
    )
    with pytest.warns(sb.EscapedViewWarning, match="escaped the closure scope"):
        run(lambda v: kept.append(escape(v)))
    held = stack.bytes_in_use
    assert held > 0  # quarantined
    with stack.uninit_slice(4, object) as live:  # reuse must not hand out the same slots
        live[:] = "live"
        kept[0][...] = None  # writes through the escaped view land in the quarantine
        assert list(live) == ["live"] * 4
    kept.clear()
    gc.collect()
    assert stack.bytes_in_use == 0


def test_checked_mode_derived_object_view_outliving_the_escaped_one() -> None:
    stack = sb.Stack(checked=True)
    kept: list[Any] = []
    with pytest.warns(sb.EscapedViewWarning):
        stack.uninit_slice(4, object, fn=lambda v: kept.append(v))
    derived = kept[0][1:]
    kept.clear()
    gc.collect()
    assert stack.bytes_in_use > 0  # still quarantined: `derived` reads the slots
    with stack.uninit_slice(4, object) as live:
        live[:] = "live"
        derived[...] = "stale write"
        assert list(live) == ["live"] * 4
    del derived
    gc.collect()
    assert stack.bytes_in_use == 0


def test_checked_mode_object_views_that_do_not_escape_stay_quiet() -> None:
    stack = sb.Stack(checked=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stack.uninit_slice(4, object, fn=lambda v: len(v[1:])) == 3
        assert stack.buffer(["a", "b"], fn=lambda v: v.tolist()) == ["a", "b"]
    assert stack.bytes_in_use == 0


# -- no value changes silently ---------------------------------------------------------


@pytest.mark.parametrize("dtype", ["U", "S"])
@pytest.mark.parametrize("form", ["list", "generator", "array", "range"])
def test_unsized_string_dtypes_match_numpy(dtype: str, form: str) -> None:
    words = [("w" * (i % 9 + 1)) for i in range(700)]
    if form == "range":
        source: Any = range(995, 1005)
        want = np.array(list(source), dtype=dtype)
    else:
        want = np.array(words, dtype=dtype)
        source = {"list": words, "generator": iter(words), "array": np.array(words)}[form]
    with sb.Stack().buffer(source, dtype=dtype) as got:
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (
            [1, Fraction(1, 2)],
            r"item 1 \(Fraction\(1, 2\)\) does not fit dtype int64: expected integers",
        ),
        ([Decimal("2.5"), 3], r"item 0 \(Decimal\('2\.5'\)\) does not fit dtype int64: expected"),
        ([Fraction(1, 3), 1.5], r"does not fit dtype int64: expected integers"),
        (
            [2, Decimal(1), 0.5],
            r"item 2 \(0\.5\) does not fit dtype int64: expected integers, got a float",
        ),
    ],
)
def test_fractions_and_decimals_are_not_truncated_into_integers(
    items: list[Any], match: str
) -> None:
    stack = sb.Stack()
    with pytest.raises(TypeError, match=match):
        stack.buffer(items, dtype=np.int64).__enter__()
    with pytest.raises(
        TypeError,
        match=match.replace("item 1", "item 301")
        .replace("item 0", "item 300")
        .replace("item 2", "item 302"),
    ):
        stack.buffer(iter([0] * 300 + items), dtype=np.int64).__enter__()
    assert stack.bytes_in_use == 0


def test_whole_fractions_and_decimals_convert_exactly() -> None:
    with sb.Stack().buffer([Fraction(4, 2), Decimal(7), 3], dtype=np.int16) as got:
        assert got.tolist() == [2, 7, 3] and got.dtype == np.int16


@pytest.mark.parametrize("form", ["list", "array", "range", "generator"])
def test_one_rule_for_bools(form: str) -> None:
    """``buffer([0, 1, 2], dtype=bool)`` and the same ndarray agree: 2 is refused."""

    def source(values: list[int]) -> Any:
        return {
            "list": values,
            "array": np.array(values),
            "range": range(len(values)),
            "generator": iter([0] * 300 + values),
        }[form]

    stack = sb.Stack()
    with pytest.raises(ValueError, match=r"does not fit dtype bool; expected 0\.\.1"):
        stack.buffer(source([0, 1, 2]), dtype=bool).__enter__()
    with stack.buffer(source([0, 1]), dtype=bool) as ok:
        assert ok.dtype == bool and ok[-1]
    assert stack.bytes_in_use == 0


@pytest.mark.parametrize(
    "r",
    [range(2**63, 2**63 + 5), range(2**64, 2**63, -(2**60)), range(-(2**70), -(2**70) + 3)],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, object])
def test_ranges_beyond_int64_into_float_dtypes(r: range, dtype: Any) -> None:
    with sb.Stack().buffer(r, dtype=dtype) as got:
        assert got.tolist() == np.array(list(r), dtype=dtype).tolist()


def test_ranges_beyond_int64_into_int64_name_the_item() -> None:
    with pytest.raises(
        ValueError, match=r"item 0 \(9223372036854775808\) does not fit dtype int64"
    ):
        sb.Stack().buffer(range(2**63, 2**63 + 5), dtype=np.int64).__enter__()


@pytest.mark.parametrize("empty", [[], (), np.zeros(0)])
@pytest.mark.parametrize("dtype", [None, F4])
def test_a_generator_of_empty_items_grows_like_numpy(empty: Any, dtype: Any) -> None:
    n = 5000  # several batches: the slice grows while holding zero bytes
    want = np.array([empty] * n, dtype=dtype)
    stack = sb.Stack()
    with stack.buffer((empty for _ in range(n)), dtype=dtype) as got:
        assert got.shape == want.shape == (n, 0) and got.dtype == want.dtype
    assert stack.bytes_in_use == 0


# -- threads ---------------------------------------------------------------------------


def test_an_owned_stack_never_ends_a_scope_twice_under_threads() -> None:
    stack = sb.Stack()
    for _ in range(100):
        with stack.uninit_slice(64, F4) as canary:
            canary[:] = 3
            scope = stack.uninit_slice(256, F4)
            scope.__enter__()
            start = threading.Barrier(4)
            outcomes: list[str] = []

            def end_it(
                scope: Any = scope, start: threading.Barrier = start, outcomes: list[str] = outcomes
            ) -> None:
                start.wait()
                try:
                    scope.__exit__(None, None, None)
                    outcomes.append("ended")
                except sb.ScopeError:
                    outcomes.append("refused")

            threads = [threading.Thread(target=end_it) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["ended", "refused", "refused", "refused"]
            assert (canary == 3).all()
        assert stack.bytes_in_use == 0


def test_a_thread_stack_used_from_another_thread_is_refused() -> None:
    mine = sb.thread_stack()
    before = mine.bytes_in_use
    errors: list[BaseException] = []
    scope = sb.buffer([1.0, 2.0])  # made here, entered there

    def misuse() -> None:
        for attempt in (
            lambda: mine.uninit_slice(10, F4),
            lambda: mine.uninit(F4),
            lambda: mine.buffer([1, 2]),
            scope.__enter__,
        ):
            try:
                attempt()
            except sb.ScopeError as err:
                errors.append(err)

    t = threading.Thread(target=misuse)
    t.start()
    t.join()
    assert len(errors) == 4
    assert all("default stack of thread" in str(e) and "thread_stack()" in str(e) for e in errors)
    assert mine.bytes_in_use == before
    with sb.uninit_slice(10, F4):  # still fine on its own thread
        pass


def test_text_into_numbers_arrays_refused_lists_parsed() -> None:
    stack = sb.Stack()
    with pytest.raises(TypeError, match=r"cannot convert an array of <U2 to dtype float32"):
        stack.buffer(np.array(["s0", "s1"]), dtype=F4).__enter__()
    with stack.buffer(["5", "6"], dtype=np.int32) as parsed:  # as np.array parses them
        assert parsed.tolist() == [5, 6]
    with pytest.raises(ValueError, match=r"item 1 \('x'\) does not fit dtype int32"):
        stack.buffer(["5", "x"], dtype=np.int32).__enter__()
    assert stack.bytes_in_use == 0


# -- a scope dropped live: the two bytecodes no library can guard ------------------------


@pytest.mark.parametrize("later", ["another scope", "another scope above it, ended"])
@pytest.mark.parametrize("name", ["fast path", "2-d shape", "buffer list", "owned, unlocked"])
def test_an_interrupt_at_any_bytecode_leaks_nothing_once_other_scopes_run(
    name: str, later: str
) -> None:
    # The README's promise: a scope dropped between `with` and its block ends
    # when nothing refers to it any more. Before: only while it was still the
    # stack's last entered scope; one more scope, and its slice leaked for good.
    get_stack, make = _scenarios()[name]
    stack = get_stack()
    with make():
        pass  # warm
    before = stack.bytes_in_use
    n = 0
    while True:
        n += 1
        injector = Injector(n, KeyboardInterrupt)

        def action() -> None:
            with make() as view:
                view[...] = 0

        err = injector.run(action)
        if later == "another scope":
            with make():
                pass
        else:
            outer = make()
            outer.__enter__()
            with make():
                pass
            outer.__exit__(None, None, None)
        assert stack.bytes_in_use == before, f"leaked at bytecode {n} ({injector.where})"
        assert stack.trim() >= 0 and stack.bytes_in_use == before
        if err is None:
            break


@pytest.mark.parametrize("name", ["fast path", "2-d shape", "objects", "buffer list", "checked"])
def test_a_scope_entered_by_hand_and_dropped_gives_its_slice_back(name: str) -> None:
    get_stack, make = _scenarios()[name]
    stack = get_stack()
    before = stack.bytes_in_use
    scope = make()
    scope.__enter__()
    with make():  # entered after it, and ended
        pass
    del scope  # dropped live: nothing can end it any more
    with make():
        pass
    assert stack.bytes_in_use == before
    with make() as view:  # the stack stays usable, and the canary intact
        view[...] = 0


def test_a_live_scope_in_a_garbage_cycle_gives_its_slice_back() -> None:
    stack = sb.thread_stack()
    before = stack.bytes_in_use
    holder: list[Any] = [sb.uninit_slice(100, F4)]
    holder.append(holder)  # a cycle: only the collector frees it
    holder[0].__enter__()
    del holder
    gc.collect()
    assert stack.bytes_in_use == before
