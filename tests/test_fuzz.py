"""Hypothesis fuzzing of the public API with hostile input.

Invariants: no crash, no corruption (live slices keep their data), and every
error is a clear one: TypeError, ValueError, KeyError, StackOverflowError
(a MemoryError) or ScopeError, with a message that names the bad value.

The default run tries a few examples per test (about 100 in all); the slow run
(``-m slow``) tries over 2,000 and prints ``FIGURE:`` lines with the counts.
"""

# PT017: a fuzzed call may succeed or fail depending on the input, so the checks on
# the error live in `except` blocks; pytest.raises would demand that it fails.
# ruff: noqa: PT017

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import operator
import pickle
import re
import sys
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stagebuf as sb
from stagebuf._gl import load_program

ALLOWED = (TypeError, ValueError, KeyError, sb.StackOverflowError, sb.ScopeError)
LIMIT = 32 << 20  # max_capacity of the fuzzed owned stacks: huge requests fail cheaply
EXAMPLES: Counter[str] = Counter()

_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}


def fuzz(
    body: Callable[..., None], fast: int, slow: int, **strategies: Any
) -> tuple[Callable[..., None], Callable[..., None]]:
    """Two tests of one property: ``fast`` examples by default, ``slow`` under -m slow."""

    @functools.wraps(body)
    def run(*args: Any, **kw: Any) -> None:
        EXAMPLES[body.__name__] += 1
        body(*args, **kw)

    quick = settings(max_examples=fast, **_SETTINGS)(given(**strategies)(run))
    long = settings(max_examples=slow, **_SETTINGS)(given(**strategies)(run))
    return quick, pytest.mark.slow(long)


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    if EXAMPLES:
        for name, n in sorted(EXAMPLES.items()):
            print(f"FIGURE: fuzz {name}: {n} examples")
        print(f"FIGURE: fuzz total examples: {sum(EXAMPLES.values())}")


class BoomError(Exception):
    """The user's own exception, raised from inside an iterable or a scope."""


def check_error(err: BaseException, *names: Any) -> None:
    """``err`` is one of the clear error types and its message names the bad value."""
    assert isinstance(err, ALLOWED), f"unclear error type {type(err).__name__}: {err}"
    msg = str(err)
    assert msg, f"{type(err).__name__} with an empty message"
    if isinstance(err, sb.StackOverflowError):
        assert f"{err.requested_bytes} bytes" in msg, msg
        assert err.limit_bytes is None or f"max_capacity={err.limit_bytes}" in msg, msg
        return
    candidates = [repr(n) for n in names] + [str(n) for n in names]
    for n in names:
        with contextlib.suppress(Exception):
            candidates.append(str(np.dtype(n)))  # the normalised spelling of a dtype
    assert any(c in msg for c in candidates), f"message does not name {names!r}: {msg}"


# -- strategies -----------------------------------------------------------------------

NP_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
small = st.integers(0, 40)
huge = st.sampled_from([2**31, 2**32 + 1, 2**40, 2**62, 2**63, 2**64, 10**30])
negative = st.integers(-(2**64), -1)
np_int = st.builds(lambda t, v: t(v), st.sampled_from(NP_INTS), st.integers(0, 40))
np_neg = st.builds(lambda t, v: t(v), st.sampled_from([np.int8, np.int64]), st.integers(-40, -1))
odd = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(
        [np.True_, np.float32(2.0), None, "3", b"3", 3 + 0j, Fraction(3, 1), Decimal(3)]
    ),
    st.builds(object),
    st.builds(lambda v: np.array(v), small),  # 0-d int arrays index like ints
    st.builds(lambda a, b: np.array([a, b]), small, small),
)
dim = st.one_of(small, small, small, huge, negative, np_int, np_neg, odd)
shapes = st.one_of(
    dim,
    st.lists(dim, max_size=4).map(tuple),
    st.lists(dim, max_size=3),  # numpy takes lists too
    st.lists(st.one_of(dim, st.tuples(small, small)), max_size=3).map(tuple),  # nested
)
tame_shapes = st.one_of(
    st.integers(0, 300),
    st.lists(st.integers(0, 40), max_size=2).map(tuple),
    st.sampled_from([2**62, 2**63, -1, 1.5, True, (3, -2), ((1, 2), 3), "4"]),
)

VALID_DTYPES = [
    "f4",
    "<f8",
    ">i2",
    "u1",
    "i8",
    "c8",
    "?",
    "S5",
    "U3",
    "V7",
    "M8[ns]",
    "m8[s]",
    "O",
    np.float32,
    np.int64,
    int,
    float,
    complex,
    bool,
    object,
    dict,
    (np.float32, 2),
    (np.uint8, (2, 3)),
    [("a", "f4"), ("b", "u1", 3)],
    np.dtype({"names": ["x"], "formats": ["f8"], "offsets": [8], "itemsize": 24}),
    np.dtype([]),
    "S0",
    "V0",
    np.dtype("f4").newbyteorder(),
]
INVALID_DTYPES = [
    "",
    "f3",
    "nope",
    "i16",
    3,
    -1,
    2.5,
    None,
    object(),
    [("a", "O"), ("b", "f4")],  # objects mixed with data
    ("f4", -1),
    (np.float32, (2**31, 2**31)),
    [("a", "f4"), ("a", "f4")],
    {"names": ["a"]},
    b"\xff",
]
dtypes = st.one_of(
    st.sampled_from(VALID_DTYPES),
    st.sampled_from(INVALID_DTYPES),
    st.text(max_size=6),
)
tame_dtypes = st.sampled_from([*VALID_DTYPES, *INVALID_DTYPES])


# -- oracles ----------------------------------------------------------------------------


def expected_shape(shape: Any) -> tuple[int, ...] | type[Exception]:
    """What a shape means, or the error class it must raise."""
    dims = shape if isinstance(shape, tuple | list) else (shape,)
    out = []
    for d in dims:
        if isinstance(d, bool | np.bool_):
            return TypeError
        try:
            n = operator.index(d)
        except TypeError:
            return TypeError
        if n < 0:
            return ValueError
        out.append(n)
    return tuple(out)


def expected_dtype(dtype: Any) -> np.dtype[Any] | None:
    """The dtype a spec means, or None when it must raise TypeError."""
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except Exception:
        return None
    if dt.hasobject and dt != np.dtype(object):
        return None
    return dt


def fill_pattern(arr: np.ndarray[Any, Any], tag: int) -> Any:
    """Write a pattern that identifies ``arr`` (tag) into it; return what to compare with."""
    if arr.dtype.hasobject:
        arr[...] = np.asarray(tag * 1000 + np.arange(arr.size)).reshape(arr.shape).astype(object)
        return arr.copy()
    raw = arr.reshape(-1).view(np.uint8) if arr.size else np.empty(0, np.uint8)
    raw[:] = (np.arange(raw.size) * 7 + tag) % 251
    return raw.copy()


def intact(arr: np.ndarray[Any, Any], want: Any) -> bool:
    if arr.dtype.hasobject:
        return bool(np.all(arr == want)) if arr.size else True
    raw = arr.reshape(-1).view(np.uint8) if arr.size else np.empty(0, np.uint8)
    return bool(np.array_equal(raw, want))


# -- 1. uninit_slice / uninit: shapes and dtypes -----------------------------------------------


def slice_property(shape: Any, dtype: Any, checked: bool, closure: bool) -> None:
    stack = sb.Stack(max_capacity=LIMIT, checked=checked, initial_capacity=4096)
    with stack.uninit_slice(100, np.int64) as canary:
        want_canary = fill_pattern(canary, 99)
        in_use = stack.bytes_in_use
        dims = expected_shape(shape)
        dt = expected_dtype(dtype)
        outcome: Any
        try:
            if closure:
                outcome = stack.uninit_slice(shape, dtype, fn=lambda s: (s.shape, s.dtype))
            else:
                with stack.uninit_slice(shape, dtype) as s:
                    assert stack.bytes_in_use >= in_use
                    if s.dtype.itemsize and s.size and not s.dtype.hasobject:
                        assert s.ctypes.data % sb.ALIGNMENT == 0
                    assert s.flags.c_contiguous and s.flags.writeable
                    want = fill_pattern(s, 5)
                    assert intact(canary, want_canary)
                    assert intact(s, want)
                    outcome = (s.shape, s.dtype)
        except ALLOWED as err:
            check_error(err, shape, dtype)
            if dt is None:
                assert isinstance(err, TypeError), err
            elif isinstance(dims, type):
                assert isinstance(err, dims), err
            else:
                count = int(np.prod(dims + dt.shape, dtype=object))
                per = 8 if dt.hasobject else dt.base.itemsize
                # Too big for the limit, or a zero-byte shape numpy itself cannot
                # make (a dimension past its maximum array size).
                too_big_for_numpy = isinstance(err, ValueError) and (
                    "numpy cannot make an array of that shape" in str(err)
                )
                assert count * per > LIMIT // 4 or too_big_for_numpy, (
                    f"{count * per} bytes should fit: {err}"
                )
                assert too_big_for_numpy or isinstance(err, sb.StackOverflowError), err
        else:
            assert dt is not None, f"invalid dtype {dtype!r} accepted"
            assert not isinstance(dims, type), f"invalid shape {shape!r} accepted"
            assert outcome == (dims + dt.shape, dt.base if dt.shape else dt)
        assert intact(canary, want_canary)
        assert stack.bytes_in_use == in_use
    assert stack.bytes_in_use == 0


test_slice_shapes_and_dtypes, test_slice_shapes_and_dtypes_long = fuzz(
    slice_property,
    25,
    1500,
    shape=shapes,
    dtype=dtypes,
    checked=st.booleans(),
    closure=st.booleans(),
)


def thread_slice_property(shape: Any, dtype: Any, which: str) -> None:
    """The module functions on the thread's own (unbounded) stack; tame sizes only."""
    local = sb.thread_stack()
    before = local.bytes_in_use
    try:
        if which == "uninit":
            with sb.uninit(dtype) as s:
                assert s.shape == np.dtype(dtype).shape
        else:
            with sb.uninit_slice(shape, dtype) as s:
                fill_pattern(s, 1)
    except ALLOWED as err:
        check_error(err, shape, dtype)
    assert local.bytes_in_use == before
    local.trim()


test_thread_slices, test_thread_slices_long = fuzz(
    thread_slice_property,
    10,
    400,
    shape=tame_shapes,
    dtype=tame_dtypes,
    which=st.sampled_from(["uninit", "uninit_slice"]),
)


# -- 2. buffer: hostile iterables ------------------------------------------------------------


class Tracked:
    """An object the stack may hold; a weak reference tells when it was dropped."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Tracked({self.n})"


item_kinds = st.sampled_from(["int", "float", "str", "none", "tracked", "list", "big", "nan"])
iterable_kinds = st.sampled_from(["list", "tuple", "gen", "gen_boom", "array", "hint_liar"])


def make_items(kinds: list[str]) -> list[Any]:
    out: list[Any] = []
    for i, kind in enumerate(kinds):
        out.append(
            {
                "int": lambda i=i: i,
                "float": lambda i=i: i + 0.5,
                "str": lambda i=i: f"s{i}",
                "none": lambda: None,
                "tracked": lambda i=i: Tracked(i),
                "list": lambda i=i: [i, i],
                "big": lambda i=i: 2**70 + i,
                "nan": lambda: float("nan"),
            }[kind]()
        )
    return out


class HintLiar:
    """An iterator whose __length_hint__ claims far more items than it has."""

    def __init__(self, items: list[Any], hint: int) -> None:
        self._it = iter(items)
        self._hint = hint

    def __iter__(self) -> HintLiar:
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def __length_hint__(self) -> int:
        return self._hint


def _run_buffer(
    stack: sb.Stack, kinds: list[str], how: str, dtype: Any, boom_at: int
) -> tuple[list[weakref.ref[Any]], str]:
    """One buffer() call in its own frame, so nothing here outlives it."""
    items = make_items(kinds)
    refs = [weakref.ref(x) for x in items if isinstance(x, Tracked)]
    n = len(items)

    def gen(seq: list[Any]) -> Iterator[Any]:
        yield from seq[:boom_at]
        if how == "gen_boom":
            raise BoomError(f"iterable failed after {boom_at} items")
        yield from seq[boom_at:]

    iterable: Any
    if how == "list":
        iterable = items
    elif how == "tuple":
        iterable = tuple(items)
    elif how == "array":
        try:
            iterable = np.array(items)
        except ValueError:  # ragged
            iterable = np.array(items, dtype=object)
    elif how == "hint_liar":
        iterable = HintLiar(items, 2**40)
    else:
        iterable = gen(items)
    del items
    try:
        with stack.buffer(iterable, dtype=dtype) as s:
            del iterable
            if s.ndim:
                assert len(s) == n or how == "gen_boom"
            if s.dtype.hasobject and "list" not in kinds:  # every object kept as it is
                assert sum(isinstance(x, Tracked) for x in s.flat) == len(refs)
            return refs, f"ok {s.dtype}"
    except BoomError as err:
        assert how == "gen_boom" and "failed after" in str(err)
        return refs, "boom"
    except ALLOWED as err:
        if how == "hint_liar" and isinstance(err, sb.StackOverflowError):
            return refs, f"hint {type(err).__name__}: {err}"
        check_error(err, dtype, *[f"item {i} " for i in range(n)])
        return refs, type(err).__name__


def buffer_property(kinds: list[str], how: str, dtype: Any, boom_at: int, checked: bool) -> None:
    stack = sb.Stack(max_capacity=LIMIT, checked=checked, initial_capacity=1024)
    with stack.buffer(range(50)) as canary:
        in_use = stack.bytes_in_use
        refs, result = _run_buffer(stack, kinds, how, dtype, min(boom_at, len(kinds)))
        assert not result.startswith("hint"), f"a lying __length_hint__ broke buffer(): {result}"
        # Objects are dropped when the scope ends, also when the iterable raised.
        assert all(r() is None for r in refs), f"{result}: objects outlived their scope"
        assert np.array_equal(canary, np.arange(50))
        assert stack.bytes_in_use == in_use
    assert stack.bytes_in_use == 0


test_buffer_iterables, test_buffer_iterables_long = fuzz(
    buffer_property,
    20,
    1000,
    kinds=st.lists(item_kinds, max_size=600).filter(lambda k: len(set(k)) <= 3),
    how=iterable_kinds,
    dtype=st.one_of(st.none(), st.none(), tame_dtypes),
    boom_at=st.integers(0, 600),
    checked=st.booleans(),
)


def test_buffer_of_non_iterables_names_them() -> None:
    for bad in (5, None, 3.5, object(), Tracked(1)):
        with (
            pytest.raises(TypeError, match=r"buffer: expected an iterable .*got") as info,
            sb.buffer(bad),
        ):
            pass
        assert repr(bad) in str(info.value)


def test_buffer_range_error_names_the_first_bad_item() -> None:
    """A range that overflows the dtype is reported at its first bad item.

    ``buffer(range(300), dtype=np.uint8)``: items 0..255 fit, item 256 (256) is
    the first that does not; the message must not blame "item 1 (299)".
    """
    with (
        pytest.raises(ValueError, match=r"item 256 \(256\) does not fit dtype uint8"),
        sb.buffer(range(300), dtype=np.uint8),
    ):
        pass
    with (
        pytest.raises(ValueError, match=r"item 6 \(-1\) does not fit dtype uint8"),
        sb.buffer(range(5, -5, -1), dtype=np.uint8),
    ):
        pass


@pytest.mark.parametrize(
    "empty", [[], (), iter([]), range(0)], ids=["list", "tuple", "iter", "range"]
)
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32, object])
def test_buffer_of_nothing_with_any_dtype(empty: Any, dtype: Any) -> None:
    """Zero items fit every dtype: an empty list is not 'floats' for an integer dtype."""
    with sb.buffer(empty, dtype=dtype) as s:
        assert s.shape == (0,) and s.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [",", "i4,(", "f4,,"])
def test_dtype_strings_numpy_cannot_parse_are_type_errors(dtype: str) -> None:
    """np.dtype() raises SyntaxError for some comma strings; the stack must say TypeError."""
    with pytest.raises(TypeError, match=r"uninit_slice: .* is not a valid dtype"):
        sb.uninit_slice(3, dtype)
    with pytest.raises(TypeError, match=r"buffer: .* is not a valid dtype"):
        sb.buffer([1], dtype=dtype)
    with pytest.raises((TypeError, ValueError), match=re.escape(repr(dtype))):
        sb.VertexLayout.from_dtype(dtype)


def test_zero_size_shape_with_a_huge_dimension_names_the_shape() -> None:
    """(0, 2**62) holds no element, but numpy cannot describe it: the error must name it."""
    with (
        pytest.raises(ValueError, match=r"uninit_slice: shape \(0, 4611686018427387904\)"),
        sb.uninit_slice((0, 2**62), np.float32),
    ):
        pass


def test_buffer_ignores_a_lying_length_hint() -> None:
    """``__length_hint__`` is a hint: a wrong one must not make buffer() fail or hoard memory."""
    n = 70_000  # more than one conversion step (65,536 items): the hint sizes the slice
    stack = sb.Stack(max_capacity=LIMIT)
    with stack.buffer(HintLiar(list(range(n)), 2**40)) as s:  # 8 TiB claimed, 560 KB real
        assert np.array_equal(s, np.arange(n))
    assert stack.capacity_bytes <= 4 << 20
    unbounded = sb.Stack()
    with unbounded.buffer(HintLiar(list(range(n)), 10**9)) as s:
        assert len(s) == n
    assert unbounded.capacity_bytes <= 4 << 20, "an 8 GB chunk for 560 KB of items"


# -- 3. objects whose __del__ raises ------------------------------------------------------------


class DelRaiser:
    deleted = 0

    def __del__(self) -> None:
        DelRaiser.deleted += 1
        raise BoomError("__del__ failed")


def del_raiser_property(n: int, raisers: int, fail: bool) -> None:
    """Objects whose __del__ raises: each failure goes to sys.unraisablehook, as Python does
    for any finaliser; the scope still ends, drops every reference and stays consistent.

    (pytest turns unraisable exceptions into errors; that is right for the library,
    which must never raise from a finaliser itself, so the test collects these
    deliberate ones with its own hook.)
    """
    stack = sb.Stack(initial_capacity=1024)
    seen: list[Any] = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    DelRaiser.deleted = 0
    try:

        def items() -> Iterator[Any]:
            for i in range(n):
                yield DelRaiser() if i < raisers else Tracked(i)
            if fail:
                raise BoomError("midway")

        try:
            with stack.buffer(items(), dtype=object) as s:
                assert len(s) == n
        except BoomError:
            assert fail
        else:
            assert not fail
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert DelRaiser.deleted == min(raisers, n)
    assert len(seen) == min(raisers, n)
    assert all(isinstance(u.exc_value, BoomError) for u in seen)
    assert stack.bytes_in_use == 0
    with stack.uninit_slice(n, object) as s:
        assert all(x is None for x in s)


test_del_raisers, test_del_raisers_long = fuzz(
    del_raiser_property,
    5,
    200,
    n=st.integers(0, 700),
    raisers=st.integers(0, 700),
    fail=st.booleans(),
)


# -- 4. nested and interleaved scopes against a reference model ---------------------------------

SCOPE_DTYPES = [np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.float32), np.dtype(object)]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.integers(0, 3), st.integers(0, 3000)),
        st.tuples(st.just("buffer"), st.integers(0, 3), st.integers(1, 1500)),  # 0: see below
        st.tuples(st.just("closure"), st.integers(0, 3), st.integers(0, 500)),
        st.tuples(st.just("end"), st.integers(0, 100), st.just(0)),
        st.tuples(st.just("end"), st.just(-1), st.just(0)),  # the top: the common case
        st.tuples(st.just("twice"), st.integers(0, 100), st.just(0)),
    ),
    max_size=60,
)


def scopes_property(
    program: list[tuple[str, int, int]],
    checked: bool,
    thread_safe: bool,
    initial: int,
    limit: int | None,
) -> None:
    stack = sb.Stack(
        checked=checked, thread_safe=thread_safe, initial_capacity=initial, max_capacity=limit
    )
    live: list[tuple[Any, np.ndarray[Any, Any], Any]] = []  # (scope, view, expected)
    ended: list[Any] = []
    tag = 0

    def verify() -> None:
        for _scope, view, want in live:
            assert intact(view, want), "a live slice lost its data"
        views = [v for _, v, _ in live if v.size and v.dtype.itemsize]
        for i, a in enumerate(views):
            if not a.dtype.hasobject:
                assert a.ctypes.data % sb.ALIGNMENT == 0
            for b in views[i + 1 :]:
                assert not np.shares_memory(a, b), "two live slices overlap"

    with warnings.catch_warnings():
        warnings.simplefilter("error", sb.EscapedViewWarning)  # no false alarms
        for op, a, b in program:
            tag += 1
            dt = SCOPE_DTYPES[a % len(SCOPE_DTYPES)]
            try:
                if op == "open":
                    scope = stack.uninit_slice(b, dt)
                    view = scope.__enter__()
                    live.append((scope, view, fill_pattern(view, tag)))
                elif op == "buffer":
                    src = (tag * 1000 + np.arange(b)).astype(dt)
                    scope = stack.buffer(iter(src.tolist()), dtype=dt)
                    view = scope.__enter__()
                    assert np.array_equal(view, src)
                    live.append((scope, view, fill_pattern(view, tag)))
                elif op == "closure":
                    t = tag

                    def body(s: np.ndarray[Any, Any], t: int = t) -> int:
                        want = fill_pattern(s, t)
                        verify()
                        return int(intact(s, want))

                    assert stack.uninit_slice(b, dt, fn=body) == 1
                elif op == "end" and live:
                    scope, view, want = live.pop(a % len(live) if a >= 0 else -1)
                    assert intact(view, want)
                    scope.__exit__(None, None, None)
                    ended.append(scope)
                elif op == "twice" and ended:
                    scope = ended[a % len(ended)]
                    with pytest.raises(sb.ScopeError, match="already ended"):
                        scope.__exit__(None, None, None)
                    with pytest.raises(sb.ScopeError, match="already entered"):
                        scope.__enter__()
            except sb.StackOverflowError as err:
                assert limit is not None
                check_error(err)
            verify()
        while live:
            scope, view, want = live.pop(tag % len(live))
            assert intact(view, want)
            scope.__exit__(None, None, None)
            verify()
    assert stack.bytes_in_use == 0
    assert stack.chunk_count <= 2  # one per region (bytes, object slots) at most
    stack.trim()
    assert stack.capacity_bytes == 0


test_interleaved_scopes, test_interleaved_scopes_long = fuzz(
    scopes_property,
    20,
    1500,
    program=ops,
    checked=st.booleans(),
    thread_safe=st.booleans(),
    initial=st.sampled_from([0, 64, 1024, 65536]),
    limit=st.sampled_from([None, None, 64 * 1024, 1 << 20]),
)


# -- 5. generators closed midway and asyncio tasks -----------------------------------------------

gen_ops = st.lists(
    st.tuples(
        st.sampled_from(["start", "next", "close", "drop", "throw"]),
        st.integers(0, 5),
        st.integers(0, 400),
    ),
    max_size=40,
)


def generators_property(program: list[tuple[str, int, int]], own: bool) -> None:
    stack = sb.Stack(initial_capacity=512) if own else sb.thread_stack()
    api: Any = stack if own else sb
    before = stack.bytes_in_use
    gens: dict[int, Any] = {}
    held: dict[int, list[tuple[np.ndarray[Any, Any], Any]]] = {}
    tag = 0

    def holder(key: int, size: int) -> Iterator[None]:
        """Opens one more nested scope at every next()."""
        nonlocal tag
        tag += 1
        with api.uninit_slice(size, np.int64) as s:
            held[key].append((s, fill_pattern(s, tag)))
            yield
            yield from holder(key, size // 2 + 1)

    def verify() -> None:
        for pairs in held.values():
            for view, want in pairs:
                assert intact(view, want), "a live slice of a suspended generator changed"

    for op, key, size in program:
        if op == "start" and key not in gens:
            held[key] = []
            gens[key] = holder(key, size)
            next(gens[key])
        elif key in gens:
            if op == "next":
                next(gens[key])
            elif op == "close":
                gens.pop(key).close()  # GeneratorExit runs every `with` exit inside
                held.pop(key)
            elif op == "drop":
                held.pop(key)
                del gens[key]  # finalised by reference counting: closed the same way
            elif op == "throw":
                with pytest.raises(BoomError):
                    gens.pop(key).throw(BoomError("thrown in"))
                held.pop(key)
        verify()
    for key in list(gens):
        gens.pop(key).close()
        held.pop(key)
        verify()
    assert stack.bytes_in_use == before


test_generators_closed_midway, test_generators_closed_midway_long = fuzz(
    generators_property, 15, 600, program=gen_ops, own=st.booleans()
)


task_specs = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 6))),
    min_size=1,
    max_size=12,
)


def asyncio_property(specs: list[tuple[int, int, int | None]], own: bool, checked: bool) -> None:
    stack = sb.Stack(checked=checked, initial_capacity=256) if own else sb.thread_stack()
    api: Any = stack if own else sb
    before = stack.bytes_in_use
    bad = 0

    async def task(tag: int, size: int, rounds: int) -> None:
        nonlocal bad
        with api.uninit_slice(size, np.int64) as s:
            want = fill_pattern(s, tag)
            for r in range(rounds):
                await asyncio.sleep(0)
                bad += not intact(s, want)
                if r % 2:
                    with api.buffer(range(tag, tag + size)) as inner:  # nested across awaits
                        await asyncio.sleep(0)
                        bad += not np.array_equal(inner, np.arange(tag, tag + size))
                        bad += not intact(s, want)

    async def main() -> None:
        tasks = [asyncio.create_task(task(i, n, r)) for i, (n, r, _) in enumerate(specs)]
        for step in range(8):
            for t, (_, _, cancel_at) in zip(tasks, specs, strict=True):
                if cancel_at == step:
                    t.cancel()  # CancelledError at an await ends the scopes it is in
            await asyncio.sleep(0)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    assert bad == 0
    assert stack.bytes_in_use == before


test_asyncio_tasks, test_asyncio_tasks_long = fuzz(
    asyncio_property, 10, 400, specs=task_specs, own=st.booleans(), checked=st.booleans()
)


# -- 6. VertexLayout with random format strings -------------------------------------------------

tokens = st.builds(
    lambda count, kind, size: f"{count}{kind}{size}",
    st.sampled_from(["", "", "1", "2", "3", "4", "0", "5", "16", "99999999999", "٣"]),
    st.sampled_from(["f", "i", "u", "x", "f", "d", "b", "?", ""]),
    st.sampled_from(["", "", "1", "2", "4", "8", "3", "16"]),
)
formats = st.one_of(
    st.builds(
        lambda toks, sep, suffix: sep.join(toks) + suffix,
        st.lists(tokens, min_size=0, max_size=4),
        st.sampled_from([" ", "  ", "\t", ",", ""]),
        st.sampled_from(["", "", "/v", "/i", "/r", "/x", "/"]),
    ),
    st.text(max_size=8),
    st.sampled_from([None, 3, b"2f", ["2f"]]),
)
names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["", "1a", "a-b", "in pos", "gl_Position", "class"]),
)


def layout_property(specs: list[tuple[str, Any]]) -> None:
    kw = dict(specs)
    try:
        layout = sb.VertexLayout(**kw)
    except (ValueError, TypeError) as err:
        assert str(err)
        shown = [repr(v) for v in kw.values()] + [str(v) for v in kw.values()]
        shown += [repr(k) for k in kw] + [f"{k} /" for k in kw]  # "A /i, B /v": mixed usages
        assert not kw or any(s in str(err) for s in shown), f"names nothing bad: {err}"
        return
    assert layout.dtype.itemsize == layout.stride
    assert layout.names == tuple(kw)
    assert pickle.loads(pickle.dumps(layout)) == layout


test_layout_formats, test_layout_formats_long = fuzz(
    layout_property, 20, 1000, specs=st.lists(st.tuples(names, formats), max_size=4)
)


# -- 7. Frame.reserve with random counts against max_vertices ------------------------------------

LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
MAX_VERTICES = 5000
counts = st.one_of(
    st.integers(0, 2000),
    st.integers(0, 20),
    st.sampled_from([MAX_VERTICES, MAX_VERTICES + 1, 2**31, 2**62, 2**64, -1, -(2**63)]),
    st.builds(lambda t, v: t(v), st.sampled_from(NP_INTS), st.integers(0, 100)),
    st.sampled_from([True, 1.0, 2.5, None, "3", np.float32(3), np.array([3])]),
)


@pytest.fixture(scope="module")
def _module_stager(gl_ctx: Any) -> Iterator[sb.Stager]:
    program = load_program(gl_ctx)
    stager = sb.Stager(gl_ctx, LAYOUT, program, max_vertices=MAX_VERTICES, initial_vertices=16)
    yield stager
    stager.release()
    program.release()


def reserve_property(stager: sb.Stager, plan: list[Any], abort: bool) -> None:
    previous = (stager.ranges, stager.stats.frames)
    staged: list[tuple[np.ndarray[Any, Any], Any]] = []
    total = 0
    try:
        with stager.frame() as frame:
            for i, count in enumerate(plan):
                try:
                    view = frame.reserve(count)
                except sb.StagingLimitError as err:
                    n = operator.index(count)
                    assert total + n > MAX_VERTICES
                    assert f"reserving {n} vertices" in str(err)
                    assert f"past max_vertices={MAX_VERTICES}" in str(err)
                    assert (err.requested, err.limit) == (total + n, MAX_VERTICES)
                except (TypeError, ValueError) as err:
                    check_error(err, count)
                    assert expected_shape(count) in (TypeError, ValueError) or (
                        isinstance(count, tuple | list | np.ndarray)
                    )
                else:
                    n = operator.index(count)
                    assert len(view) == n and view.dtype == LAYOUT.dtype
                    view["in_pos"] = i
                    view["in_color"] = i % 256
                    staged.append((view, view.copy()))
                    total += n
                for v, want in staged:  # earlier reserves keep their data
                    assert np.array_equal(v, want)
            if abort:
                raise BoomError("frame body failed")
    except BoomError:
        assert abort
        assert (stager.ranges, stager.stats.frames) == previous
    else:
        assert stager.stats.vertices_last_frame == total
        if total:  # moderngl cannot map zero bytes
            want = np.concatenate([w for _, w in staged])
            got = np.frombuffer(stager.vertex_buffer.read(size=want.nbytes), LAYOUT.dtype)
            assert np.array_equal(got, want), "the upload differs from what was staged"
    assert stager.stack.bytes_in_use == 0


def _reserve_test(n: int) -> Callable[..., None]:
    @settings(max_examples=n, **_SETTINGS)
    @given(plan=st.lists(counts, max_size=8), abort=st.booleans())
    def test(_module_stager: sb.Stager, ctx: Any, plan: list[Any], abort: bool) -> None:
        EXAMPLES["reserve_property"] += 1
        reserve_property(_module_stager, plan, abort)

    return test


test_reserve_counts = _reserve_test(10)
test_reserve_counts_long = pytest.mark.slow(_reserve_test(600))
