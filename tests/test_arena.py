"""The second stack: buffer / uninit_slice / uninit, counters, growth, errors, checked mode.

Pure CPU: no GL. Most behaviour tests run on every kind of stack, since each
kind takes different paths: the thread-local default (unlocked, inline fast
paths), an owned Stack (locked), an unlocked owned Stack and a checked one.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import stagebuf as sb

KIB = 1024
MIB = 1024 * 1024
HUGE = np.dtype([("bytes", np.uint8, 4_194_304)])
ZERO_SIZED = np.dtype([("nothing", np.float32, (0,))])  # itemsize 0


def round64(n: int) -> int:
    return (n + 63) & ~63


def span(view: np.ndarray[Any, Any]) -> tuple[int, int]:
    """The address range a contiguous view covers."""
    start = view.ctypes.data
    return start, start + view.nbytes


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class Api:
    """One kind of stack: the three scopes plus the Stack holding the counters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "thread":
            self.stack = sb.thread_stack()
            self.buffer: Callable[..., Any] = sb.buffer
            self.uninit_slice: Callable[..., Any] = sb.uninit_slice
            self.uninit: Callable[..., Any] = sb.uninit
            return
        self.stack = {
            "locked": lambda: sb.Stack(),
            "unlocked": lambda: sb.Stack(thread_safe=False),
            "checked": lambda: sb.Stack(checked=True),
            "checked_unlocked": lambda: sb.Stack(checked=True, thread_safe=False),
        }[kind]()
        self.buffer = self.stack.buffer
        self.uninit_slice = self.stack.uninit_slice
        self.uninit = self.stack.uninit


KINDS = ["thread", "locked", "unlocked", "checked", "checked_unlocked"]


@pytest.fixture(params=KINDS)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    a = Api(request.param)
    before = a.stack.bytes_in_use
    yield a
    # Every test leaves the stack as it found it: nothing leaks.
    assert a.stack.bytes_in_use == before


@pytest.fixture
def fast() -> sb.Stack:
    """An owned stack that takes the inline fast paths (no lock, not checked)."""
    return sb.Stack(thread_safe=False)


# --------------------------------------------------------------------------
# buffer(): iterables of every kind


def test_buffer_list_tuple_range(api: Api) -> None:
    with api.buffer([3, 1, 2]) as a, api.buffer((1.5, 2.5)) as b, api.buffer(range(1000)) as c:
        assert a.dtype == np.int64
        assert a.tolist() == [3, 1, 2]
        assert b.dtype == np.float64
        assert b.tolist() == [1.5, 2.5]
        assert c.dtype == np.int64
        assert c.shape == (1000,)
        assert c[19] == 19
        assert c.tolist() == list(range(1000))
        # all three alive at once, each on a cache line of its own
        for v in (a, b, c):
            assert v.ctypes.data % 64 == 0
        assert not overlaps(span(a), span(b))
        assert not overlaps(span(b), span(c))
        assert not overlaps(span(a), span(c))


@pytest.mark.parametrize(
    "r",
    [range(0), range(1), range(5, 100, 7), range(100, -50, -3), range(-(2**40), 2**40, 2**37)],
)
def test_buffer_range_values(api: Api, r: range) -> None:
    with api.buffer(r) as items:
        assert items.dtype == np.int64
        assert items.tolist() == list(r)


def test_buffer_range_larger_than_one_conversion_step(api: Api) -> None:
    r = range(3, 3 + 3 * 200_001, 3)
    with api.buffer(r) as items:
        assert len(items) == 200_001
        np.testing.assert_array_equal(items, np.arange(3, 3 + 3 * 200_001, 3))


def test_buffer_range_with_dtype(api: Api) -> None:
    with api.buffer(range(250), dtype=np.uint8) as u8, api.buffer(range(4), dtype="f4") as f4:
        assert u8.dtype == np.uint8
        assert u8.tolist() == list(range(250))
        assert f4.dtype == np.float32
        assert f4.tolist() == [0.0, 1.0, 2.0, 3.0]
    # the first item that does not fit is named, not just an end of the range
    with pytest.raises(ValueError, match=r"item 256 \(256\) does not fit dtype uint8"):
        api.buffer(range(301), dtype=np.uint8).__enter__()
    with pytest.raises(ValueError, match=r"item 6 \(-1\) does not fit dtype uint8"):
        api.buffer(range(5, -5, -1), dtype=np.uint8).__enter__()
    with pytest.raises(ValueError, match=r"item 0 \(-5\) does not fit dtype uint8"):
        api.buffer(range(-5, 5), dtype=np.uint8).__enter__()
    with pytest.raises(ValueError, match=r"item 0 \(300\) does not fit dtype int8"):
        api.buffer(range(300, 0, -1), dtype=np.int8).__enter__()
    with pytest.raises(ValueError, match=r"item 1 \(-2\) does not fit dtype uint64"):
        api.buffer(range(0, -(2**70), -2), dtype=np.uint64).__enter__()


def gen_ints(n: int) -> Iterator[int]:
    yield from range(n)


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 10_000, 300_000])
def test_buffer_generator_of_unknown_length(api: Api, n: int) -> None:
    with api.buffer(gen_ints(n)) as items:
        assert items.dtype == (np.int64 if n else np.float64)  # numpy's default for []
        assert items.shape == (n,)
        np.testing.assert_array_equal(items, np.arange(n))
        assert api.stack.bytes_in_use >= items.nbytes


def test_buffer_generator_with_dtype(api: Api) -> None:
    with api.buffer((i % 7 for i in range(5000)), dtype=np.float32) as xs:
        assert xs.dtype == np.float32
        np.testing.assert_array_equal(xs, np.arange(5000) % 7)


def test_buffer_itertools_repeat(api: Api) -> None:
    with api.buffer(itertools.repeat(5, 100)) as s:
        assert s.tolist() == [5] * 100


def test_buffer_generator_grows_in_place_when_on_top() -> None:
    stack = sb.Stack(initial_capacity=MIB, thread_safe=False)
    n = 20_000
    with stack.buffer(gen_ints(n)) as items:
        np.testing.assert_array_equal(items, np.arange(n))
        # Grown in place and the tail handed back: no hole, no second chunk.
        assert stack.bytes_in_use == round64(n * 8)
        assert stack.growths == 1
        assert stack.chunk_count == 1
    assert stack.bytes_in_use == 0


def test_buffer_generator_moves_when_not_on_top(api: Api) -> None:
    stack = api.stack
    before = stack.bytes_in_use
    seen: dict[str, Any] = {}

    def gen() -> Iterator[int]:
        yield from range(300)
        # Opens a scope above the buffer while the buffer still fills: the
        # buffer can no longer grow in place and must move above it.
        with api.uninit_slice(1000, np.uint8) as mid:
            mid[:] = 7
            yield from range(300, 3000)
            seen["mid_intact"] = bool((mid == 7).all())
            seen["mid_span"] = span(mid)
        yield from range(3000, 5000)

    with api.buffer(gen()) as items:
        np.testing.assert_array_equal(items, np.arange(5000))
        assert seen["mid_intact"]
        assert not overlaps(span(items), seen["mid_span"])
    assert stack.bytes_in_use == before


@pytest.mark.parametrize("thread_safe", [True, False])
def test_buffer_moved_above_a_scope_leaves_a_hole_until_it_ends(thread_safe: bool) -> None:
    stack = sb.Stack(initial_capacity=MIB, thread_safe=thread_safe)
    spans = []

    def gen() -> Iterator[int]:
        yield from range(300)
        with stack.uninit_slice(1000, np.uint8) as mid:
            mid[:] = 7
            spans.append(span(mid))
            yield from range(300, 3000)
            assert (mid == 7).all()
        yield from range(3000, 5000)

    with stack.buffer(gen()) as items:
        np.testing.assert_array_equal(items, np.arange(5000))
        assert span(items)[0] >= spans[0][1]  # moved above the scope it could not grow past
        # that scope ended below the buffer (out of order): its bytes and the
        # buffer's first place stay counted until the buffer ends
        assert stack.bytes_in_use > items.nbytes
        assert stack.growths == 1
    assert stack.bytes_in_use == 0


def test_buffer_generator_growing_past_the_chunk(api: Api) -> None:
    stack = sb.Stack(initial_capacity=4 * KIB, thread_safe=api.kind == "locked")
    with stack.uninit_slice(100, np.int32) as below:
        below[:] = np.arange(100)
        with stack.buffer(i * 3 for i in range(200_000)) as items:
            np.testing.assert_array_equal(items, np.arange(200_000) * 3)
            np.testing.assert_array_equal(below, np.arange(100))
            assert stack.growths > 1
    assert stack.bytes_in_use == 0
    assert stack.chunk_count == 1


def test_buffer_ndarray_keeps_shape_and_dtype(api: Api) -> None:
    cube = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    rec = np.array([(1.5, 2), (3.5, 4)], dtype=[("x", "f4"), ("n", "i2")])
    with api.buffer(cube) as a, api.buffer(rec) as b, api.buffer(np.array(2.5)) as c:
        assert a.shape == (2, 3, 4)
        assert a.dtype == np.int16
        np.testing.assert_array_equal(a, cube)
        assert b.dtype == rec.dtype
        assert b["x"].tolist() == [1.5, 3.5]
        assert b["n"].tolist() == [2, 4]
        assert c.shape == ()
        assert float(c) == 2.5
        assert a.ctypes.data % 64 == 0
        assert b.ctypes.data % 64 == 0
        cube[0, 0, 0] = 99  # a copy, not a view of the source
        assert a[0, 0, 0] == 0


def test_buffer_ndarray_non_contiguous_and_cast(api: Api) -> None:
    src = np.arange(40, dtype=np.int32).reshape(5, 8)[:, ::3]
    with api.buffer(src) as a, api.buffer(src, dtype=np.float64) as b:
        np.testing.assert_array_equal(a, src)
        assert a.flags.c_contiguous
        assert b.dtype == np.float64
        np.testing.assert_array_equal(b, src.astype(np.float64))


def test_buffer_ndarray_refuses_lossy_casts(api: Api) -> None:
    with pytest.raises(TypeError, match="cannot convert an array of float64 to dtype int32"):
        api.buffer(np.array([1.5, 2.0]), dtype=np.int32).__enter__()
    with pytest.raises(ValueError, match=r"value 300 does not fit dtype uint8; expected 0\.\.255"):
        api.buffer(np.array([1, 300]), dtype=np.uint8).__enter__()
    with pytest.raises(ValueError, match=r"value -1 does not fit dtype uint16"):
        api.buffer(np.array([-1, 3]), dtype=np.uint16).__enter__()


def test_buffer_float_overflow_is_an_error(api: Api) -> None:
    # conftest sets np.seterr(all="raise"): numpy refuses, stagebuf names the item
    with pytest.raises(ValueError, match=r"item 1 \(1e\+300\) does not fit dtype float32"):
        api.buffer([1.0, 1e300], dtype=np.float32).__enter__()
    with pytest.raises(ValueError, match="float64 array does not fit dtype float32"):
        api.buffer(np.array([1e300]), dtype=np.float32).__enter__()


def test_buffer_promotes_to_float_mid_stream(api: Api) -> None:
    def gen() -> Iterator[float]:
        yield from range(1000)  # ints first: an int64 slice
        yield 0.5  # then a float: the slice becomes float64
        yield from range(1000, 2000)

    expected = [*range(1000), 0.5, *range(1000, 2000)]
    with api.buffer(gen()) as items:
        assert items.dtype == np.float64
        assert items.tolist() == expected
    with api.buffer([1, 2.5, 3]) as first_batch:
        assert first_batch.dtype == np.float64


class Thing:
    """An item numpy cannot hold natively."""

    def __init__(self, n: int) -> None:
        self.n = n


def test_buffer_objects_numpy_cannot_hold(api: Api) -> None:
    things = [Thing(i) for i in range(5)]
    with api.buffer(things) as a, api.buffer(iter(things)) as b:
        assert a.dtype == object
        assert b.dtype == object
        assert all(x is t for x, t in zip(a, things, strict=True))
        assert all(x is t for x, t in zip(b, things, strict=True))
        assert a.ctypes.data % 64 == 0
        assert b.ctypes.data % 64 == 0


def test_buffer_ragged_lists_become_objects(api: Api) -> None:
    with api.buffer([[1], [2, 3], []]) as a:
        assert a.dtype == object
        assert a.shape == (3,)
        assert a.tolist() == [[1], [2, 3], []]

    def gen() -> Iterator[list[int]]:
        for _ in range(400):
            yield [1, 2]
        yield [1, 2, 3]  # ragged from here on: every item becomes one object

    with api.buffer(gen()) as b:
        assert b.dtype == object
        assert b.shape == (401,)
        assert b[0] == [1, 2]
        assert b[400] == [1, 2, 3]


def test_buffer_numbers_mixed_with_text_stay_objects(api: Api) -> None:
    # numpy alone would turn 1 into "1"
    with api.buffer([1, "a", 2.5]) as a:
        assert a.dtype == object
        assert a.tolist() == [1, "a", 2.5]
        assert type(a[0]) is int

    def gen() -> Iterator[Any]:
        yield from range(600)
        yield "x"

    with api.buffer(gen()) as b:
        assert b.dtype == object
        assert b[599] == 599
        assert type(b[599]) is int
        assert b[600] == "x"
    with api.buffer(["ab", "c"]) as text:
        assert text.dtype == np.dtype("<U2")


def test_buffer_big_ints_become_objects(api: Api) -> None:
    with api.buffer([1, 2**70]) as a:
        assert a.dtype == object
        assert a.tolist() == [1, 2**70]


def test_buffer_explicit_dtypes(api: Api) -> None:
    point = np.dtype([("x", np.float32), ("y", np.float32), ("id", np.uint16)])
    with api.buffer([(1.0, 2.0, 3), (4.0, 5.0, 6)], dtype=point) as pts:
        assert pts.dtype == point
        assert pts["x"].tolist() == [1.0, 4.0]
        assert pts["id"].tolist() == [3, 6]
    with api.buffer(((float(i), -float(i), i) for i in range(3000)), dtype=point) as many:
        assert many.shape == (3000,)
        np.testing.assert_array_equal(many["y"], -np.arange(3000, dtype=np.float32))
        np.testing.assert_array_equal(many["id"], np.arange(3000))
    with api.buffer([1, 2, 3], dtype=object) as objs:
        assert objs.dtype == object
        assert type(objs[0]) is int
    with api.buffer([[1, 2], [3, 4]], dtype=np.float32) as rows:
        assert rows.shape == (2, 2)
        assert rows.dtype == np.float32


def test_buffer_rows_from_a_generator(api: Api) -> None:
    with api.buffer((i, i * 2) for i in range(1000)) as rows:
        assert rows.shape == (1000, 2)
        np.testing.assert_array_equal(rows[:, 1], np.arange(1000) * 2)


def test_buffer_closure_form_returns_fn_result(api: Api) -> None:
    assert api.buffer(range(1000), fn=lambda items: int(items.sum())) == 499500
    assert api.buffer(gen_ints(10), dtype=np.float32, fn=lambda xs: xs.dtype) == np.float32


def test_module_level_closure_form() -> None:
    stack = sb.thread_stack()
    before = stack.bytes_in_use
    assert sb.buffer(range(1000), fn=lambda items: int(items.sum())) == 499500
    assert sb.uninit_slice(10, np.int8, fn=lambda s: s.shape) == (10,)
    assert sb.uninit(np.float64, fn=lambda v: v.shape) == ()
    assert stack.bytes_in_use == before


# -- buffer(): bad input -----------------------------------------------------


@pytest.mark.parametrize(
    ("iterable", "match"),
    [
        (5, r"expected an iterable \(list, range, generator, ndarray\); got int 5"),
        (None, "expected an iterable.*got NoneType None"),
        (3.5, "expected an iterable.*got float 3.5"),
    ],
)
def test_buffer_refuses_non_iterables(api: Api, iterable: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        api.buffer(iterable)


def test_buffer_of_a_numpy_scalar_is_refused_on_entry(api: Api) -> None:
    scope = api.buffer(np.float64(2.5))  # it has __getitem__, but it does not iterate
    with pytest.raises(TypeError, match=r"expected an iterable .*got float64 np\.float64\(2\.5\)"):
        scope.__enter__()


def test_buffer_converts_object_arrays_item_by_item(api: Api) -> None:
    with api.buffer(np.array([1, 2, 3], dtype=object), dtype=np.float32) as a:
        assert a.dtype == np.float32
        assert a.tolist() == [1.0, 2.0, 3.0]
    with api.buffer(np.array([[1, "a"], [2, "b"]], dtype=object)) as b:
        assert b.dtype == object
        assert b.shape == (2, 2)
        assert b.tolist() == [[1, "a"], [2, "b"]]
    with pytest.raises(TypeError, match=r"item 1 \(1\.5\) does not fit dtype int32: expected"):
        api.buffer(np.array([1, 1.5], dtype=object), dtype=np.int32).__enter__()


def test_buffer_subarray_dtypes_follow_numpy(api: Api) -> None:
    pair = np.dtype((np.float32, 2))
    for source in (np.arange(3), range(3), [0, 1, 2], (i for i in range(3))):
        with api.buffer(source, dtype=pair) as v:
            assert v.shape == (3, 2)
            assert v.dtype == np.float32
            assert v.tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]


def test_buffer_refuses_invalid_dtypes(api: Api) -> None:
    with pytest.raises(TypeError, match="'no-such-type' is not a valid dtype; expected"):
        api.buffer([1], dtype="no-such-type")
    with pytest.raises(TypeError, match="'f4,,' is not a valid dtype"):  # a SyntaxError in numpy
        api.buffer([1], dtype="f4,,")
    with pytest.raises(TypeError, match="mixes Python objects with other fields"):
        api.buffer([1], dtype=[("a", object), ("b", "f4")])


def test_buffer_names_the_item_that_does_not_fit(api: Api) -> None:
    stack = api.stack
    before = stack.bytes_in_use
    with pytest.raises(ValueError, match=r"item 1 \('x'\) does not fit dtype float64"):
        api.buffer([1.0, "x"], dtype=np.float64).__enter__()
    with pytest.raises(ValueError, match=r"item 5 \(300\) does not fit dtype uint8"):
        api.buffer([0, 1, 2, 3, 4, 300], dtype=np.uint8).__enter__()
    with pytest.raises(ValueError, match=r"item 0 \(-1\) does not fit dtype uint8; expected 0"):
        api.buffer([-1], dtype=np.uint8).__enter__()
    with pytest.raises(TypeError, match=r"item 2 \(1\.5\) does not fit dtype int32: expected"):
        api.buffer([1, 2, 1.5], dtype=np.int32).__enter__()

    def gen() -> Iterator[Any]:
        yield from range(700)
        yield "nope"

    with pytest.raises(ValueError, match=r"item 700 \('nope'\) does not fit dtype float32"):
        api.buffer(gen(), dtype=np.float32).__enter__()

    def ragged() -> Iterator[list[int]]:
        for _ in range(300):
            yield [1, 2]
        yield [1, 2, 3]

    with pytest.raises(ValueError, match=r"item 300 has shape \(3,\), but the items before"):
        api.buffer(ragged(), dtype=np.float32).__enter__()
    assert stack.bytes_in_use == before


def test_buffer_iterable_raising_releases_the_slice(api: Api) -> None:
    stack = api.stack
    before = stack.bytes_in_use

    def gen() -> Iterator[int]:
        yield from range(5000)
        raise KeyError("broken source")

    with pytest.raises(KeyError, match="broken source"), api.buffer(gen()):
        pass
    assert stack.bytes_in_use == before
    with api.buffer(range(10)) as ok:  # still usable
        assert ok.tolist() == list(range(10))


# --------------------------------------------------------------------------
# uninit_slice() and uninit()


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (0, (0,)),
        (1, (1,)),
        (100, (100,)),
        ((300, 2), (300, 2)),
        ((2, 3, 4), (2, 3, 4)),
        ((), ()),
        ([3, 4], (3, 4)),
        (np.int64(5), (5,)),
        ((np.uint8(2), 3), (2, 3)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, "f8", np.uint8, "S3", np.complex128])
def test_uninit_slice_shapes(api: Api, shape: Any, expected: tuple[int, ...], dtype: Any) -> None:
    with api.uninit_slice(shape, dtype) as s:
        assert s.shape == expected
        assert s.dtype == np.dtype(dtype)
        assert s.flags.writeable
        assert s.flags.c_contiguous
        assert s.ctypes.data % 64 == 0
        s[...] = np.arange(s.size, dtype=np.int64).reshape(expected).astype(dtype)
        with api.uninit_slice(7, np.uint8) as above:
            above[:] = 0xAB
            np.testing.assert_array_equal(
                s, np.arange(s.size, dtype=np.int64).reshape(expected).astype(dtype)
            )


def test_uninit_slice_subarray_dtype_appends_its_shape(api: Api) -> None:
    pair = np.dtype((np.float32, 2))
    for shape in (5, (3, 4), ()):
        with api.uninit_slice(shape, pair) as s:
            assert s.shape == np.empty(shape, pair).shape
            assert s.dtype == np.float32
            s[...] = 1.5
            assert (s == 1.5).all()


def test_uninit_slice_object_dtype(api: Api) -> None:
    with api.uninit_slice((4, 2), object) as s:
        assert s.dtype == object
        assert s.shape == (4, 2)
        assert all(x is None for x in s.flat)
        assert s.ctypes.data % 64 == 0
        s[0, 0] = "kept"
        assert s[0, 0] == "kept"


def test_uninit_slice_closure_form(api: Api) -> None:
    def fill(s: np.ndarray[Any, Any]) -> float:
        s[:] = 2.0
        return float(s.sum())

    assert api.uninit_slice(100, np.float64, fn=fill) == 200.0
    assert api.uninit_slice((3, 3), "i4", fn=lambda s: s.shape) == (3, 3)


@pytest.mark.parametrize(
    ("shape", "exc", "match"),
    [
        (-1, ValueError, r"shape -1 has negative length -1; expected >= 0"),
        ((3, -2), ValueError, r"shape \(3, -2\) has negative length -2"),
        (2.5, TypeError, r"shape 2\.5 holds 2\.5 \(float\); expected a non-negative int"),
        ((2, 2.0), TypeError, r"holds 2\.0 \(float\)"),
        (True, TypeError, r"shape True holds a bool; expected a non-negative int"),
        ((2, False), TypeError, r"shape \(2, False\) holds a bool"),
        ("5", TypeError, r"holds '5' \(str\)"),
        (None, TypeError, r"holds None \(NoneType\)"),
    ],
)
def test_uninit_slice_refuses_bad_shapes(api: Api, shape: Any, exc: type, match: str) -> None:
    with pytest.raises(exc, match="uninit_slice: .*" + match):
        api.uninit_slice(shape, np.float32)


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (None, r"dtype is required; got None"),
        ("nope", r"'nope' is not a valid dtype; expected something np\.dtype\(\) accepts"),
        (3.5, r"3\.5 is not a valid dtype"),
        ([("a", object), ("b", "f4")], "mixes Python objects with other fields"),
    ],
)
def test_uninit_slice_refuses_bad_dtypes(api: Api, dtype: Any, match: str) -> None:
    with pytest.raises(TypeError, match="uninit_slice: .*" + match):
        api.uninit_slice(4, dtype)
    with pytest.raises(TypeError, match="uninit: .*" + match):
        api.uninit(dtype)


def test_uninit_is_a_0d_view(api: Api) -> None:
    with api.uninit(np.float64) as v:
        assert v.shape == ()
        v[...] = 2.5
        assert float(v) == 2.5
        assert v.ctypes.data % 64 == 0
    with api.uninit((np.float32, 3)) as triple:
        assert triple.shape == (3,)
    with api.uninit(object) as o:
        assert o.shape == ()
        assert o[()] is None


def test_uninit_huge_value(api: Api) -> None:
    with api.uninit(HUGE) as huge:
        assert huge.shape == ()
        assert huge.dtype == HUGE
        assert huge.ctypes.data % 64 == 0
        assert huge["bytes"].shape == (4_194_304,)
        huge["bytes"][:] = 7
        with api.uninit(HUGE) as other:
            other["bytes"][:] = 9
            assert not overlaps(span(huge), span(other))
        assert (huge["bytes"] == 7).all()
    assert api.uninit(HUGE, fn=lambda h: int(h["bytes"].nbytes)) == 4_194_304


def test_each_scope_gets_its_own_view(fast: sb.Stack) -> None:
    """Same place, same shape: still a new ndarray each time (no shared views)."""
    with fast.uninit_slice(16, np.float32) as a:
        a[:] = 1
    with fast.uninit_slice(16, np.float32) as b:
        assert b is not a
        assert b.ctypes.data == a.ctypes.data  # the memory is re-used...
        b[:] = 2
    assert a.shape == (16,)  # ...but the stale view is its own object
    assert (a == 2).all()  # and sees the re-used bytes (documented)


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
# Zero lengths and zero-sized dtypes


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [(0, np.float32), ((0, 5), np.float64), ((5, 0), "S3"), (0, object), (1000, ZERO_SIZED)],
)
def test_zero_bytes_touch_nothing(shape: Any, dtype: Any) -> None:
    for stack in (sb.Stack(), sb.Stack(thread_safe=False)):
        with stack.uninit_slice(shape, dtype) as z:
            assert z.nbytes == 0
            assert z.shape == np.empty(shape, dtype).shape
            assert z.ctypes.data % 64 == 0
        assert stack.growths == 0
        assert stack.capacity_bytes == 0
        with stack.uninit_slice(10, np.uint8):  # and with a chunk in place
            used = stack.bytes_in_use
            with stack.uninit_slice(shape, dtype) as z:
                assert z.nbytes == 0
                assert stack.bytes_in_use == used
            assert stack.growths == 1
        with stack.uninit(ZERO_SIZED) as zv:
            assert zv.shape == ()
        assert stack.bytes_in_use == 0


def test_zero_length_buffers(api: Api) -> None:
    used = api.stack.bytes_in_use
    with api.buffer([]) as a, api.buffer(range(0)) as b, api.buffer(iter(())) as c:
        assert a.shape == b.shape == c.shape == (0,)
        assert b.dtype == np.int64
        assert api.stack.bytes_in_use == used
    with api.buffer(np.empty((0, 3), np.float32)) as d:
        assert d.shape == (0, 3)
    with api.buffer([], dtype=object) as e:
        assert e.dtype == object


def test_zero_length_scope_ending_out_of_order(fast: sb.Stack) -> None:
    with fast.uninit_slice(10, np.uint8):
        pass  # a chunk exists: zero-length slices may sit in it
    a = fast.uninit_slice(64, np.uint8)
    a.__enter__()
    z = fast.uninit_slice(0, np.uint8)
    z.__enter__()
    b = fast.uninit_slice(64, np.uint8)
    b.__enter__()
    a.__exit__(None, None, None)  # out of order: a hole
    z.__exit__(None, None, None)  # zero bytes: must not hide the hole below it
    b.__exit__(None, None, None)
    assert fast.bytes_in_use == 0


# --------------------------------------------------------------------------
# Object references are dropped when the scope ends (the analogue of Drop)


def make_things(n: int) -> tuple[list[Thing], list[weakref.ref[Thing]]]:
    things = [Thing(i) for i in range(n)]
    return things, [weakref.ref(t) for t in things]


def all_dead(refs: list[weakref.ref[Thing]]) -> bool:
    gc.collect()
    return all(r() is None for r in refs)


def test_buffer_drops_its_references_when_the_scope_ends(api: Api) -> None:
    things, refs = make_things(700)
    with api.buffer(things) as a, api.buffer(iter(things)) as b:
        del things
        assert not all_dead(refs)  # the slices hold them
        assert a[0].n == 0
        assert b[699].n == 699
    assert all_dead(refs)
    assert a[0] is None  # the stale view sees empty slots


def test_buffer_drops_its_references_when_the_block_raises(api: Api) -> None:
    things, refs = make_things(10)
    with pytest.raises(RuntimeError, match="boom"), api.buffer(things):
        del things
        raise RuntimeError("boom")
    assert all_dead(refs)


def test_buffer_drops_its_references_when_the_iterable_raises(api: Api) -> None:
    refs: list[weakref.ref[Thing]] = []

    def gen() -> Iterator[Thing]:
        # Makes its items on the fly, so its own (finished) frame in the
        # traceback holds none of them.
        for i in range(700):
            refs.append(weakref.ref(thing := Thing(i)))
            yield thing
            del thing
        raise RuntimeError("source failed")

    source = gen()
    with pytest.raises(RuntimeError, match="source failed") as excinfo, api.buffer(source):
        pass  # pragma: no cover - never reached
    del source
    # The exception (still held here, with its traceback) must not keep the
    # items alive either.
    assert excinfo.value is not None
    assert all_dead(refs)


def test_buffer_drops_references_when_conversion_fails(api: Api) -> None:
    things, refs = make_things(300)
    items: list[Any] = [*things, "not a float"]
    del things
    with pytest.raises(
        TypeError, match=r"item 0 \(<.*Thing.*\) does not fit dtype float64"
    ) as excinfo:
        api.buffer(items, dtype=np.float64).__enter__()
    del items
    # The exception is still held here, with its traceback through the
    # conversion: it must not keep the items alive.
    assert excinfo.value is not None
    assert all_dead(refs)


def test_object_slices_are_cleared_when_they_end(api: Api) -> None:
    things, refs = make_things(5)
    with api.uninit_slice(5, object) as slots:
        slots[:] = things
        del things
        assert not all_dead(refs)
    assert all_dead(refs)
    with api.uninit_slice(5, object) as again:
        assert all(x is None for x in again)


# --------------------------------------------------------------------------
# Exceptions, double ends and out-of-order endings


@pytest.mark.parametrize("which", ["uninit_slice", "uninit", "buffer", "buffer_gen", "objects"])
def test_exception_in_the_block_releases_the_slice(api: Api, which: str) -> None:
    stack = api.stack
    before = stack.bytes_in_use
    make = {
        "uninit_slice": lambda: api.uninit_slice((100, 3), np.float32),
        "uninit": lambda: api.uninit(np.complex128),
        "buffer": lambda: api.buffer(range(100)),
        "buffer_gen": lambda: api.buffer(gen_ints(5000)),
        "objects": lambda: api.uninit_slice(10, object),
    }[which]
    for _ in range(3):
        with pytest.raises(ZeroDivisionError), make():
            assert stack.bytes_in_use > before
            _ = 1 / 0
        assert stack.bytes_in_use == before
    with make() as ok:  # and the stack is still usable
        assert ok is not None


@pytest.mark.parametrize("which", ["uninit_slice", "uninit", "buffer", "zero"])
def test_ending_or_entering_a_scope_twice_is_an_error(api: Api, which: str) -> None:
    make = {
        "uninit_slice": lambda: api.uninit_slice(10, np.float32),
        "uninit": lambda: api.uninit(np.float32),
        "buffer": lambda: api.buffer([1, 2, 3]),
        "zero": lambda: api.uninit_slice(0, np.float32),
    }[which]
    scope = make()
    with pytest.raises(sb.ScopeError, match="never entered; use it in a `with` statement"):
        scope.__exit__(None, None, None)
    with scope, pytest.raises(sb.ScopeError, match="already entered"):
        scope.__enter__()
    with pytest.raises(sb.ScopeError, match="already ended; a scope can end only once"):
        scope.__exit__(None, None, None)
    with pytest.raises(sb.ScopeError, match="already entered"):
        scope.__enter__()
    # a double end must not have released anything a second time
    with make() as a, api.uninit_slice(10, np.int64) as b:
        b[:] = 5
        with pytest.raises(sb.ScopeError, match="already ended"):
            scope.__exit__(None, None, None)
        assert (b == 5).all()
        del a
    # an out-of-order double end, too
    first = api.uninit_slice(10, np.int64)
    first.__enter__()
    with api.uninit_slice(10, np.int64) as top:
        top[:] = 9
        first.__exit__(None, None, None)
        with pytest.raises(sb.ScopeError, match="already ended"):
            first.__exit__(None, None, None)
        with api.uninit_slice(10, np.int64) as newer:
            newer[:] = 1
            assert (top == 9).all()


def test_out_of_order_ending_keeps_live_slices_and_reclaims_later(api: Api) -> None:
    stack = api.stack
    base = stack.bytes_in_use
    a = api.uninit_slice(100, np.int64)
    va = a.__enter__()
    va[:] = 1
    b = api.uninit_slice(100, np.int64)
    vb = b.__enter__()
    vb[:] = 2
    a.__exit__(None, None, None)  # a ends while b, above it, lives
    assert stack.bytes_in_use == base + 2 * round64(800)  # a's memory waits for b
    with api.uninit_slice(100, np.int64) as c:
        c[:] = 3
        assert not overlaps(span(c), span(vb))
        assert (vb == 2).all()
    assert (vb == 2).all()
    b.__exit__(None, None, None)
    assert stack.bytes_in_use == base  # both reclaimed once b ended


def test_interleaved_generators_never_corrupt_a_live_slice(api: Api) -> None:
    log: list[str] = []

    def worker(tag: int, n: int, pauses: int) -> Iterator[None]:
        with api.uninit_slice(n, np.int32) as s:
            s[:] = tag
            for _ in range(pauses):
                yield
                assert (s == tag).all(), f"slice {tag} was overwritten"
            log.append(f"end {tag}")
        yield

    rng = random.Random(11)
    gens = {i: worker(i, rng.randint(1, 3000), rng.randint(1, 6)) for i in range(12)}
    live = dict(gens)
    started: set[int] = set()
    while live:
        i = rng.choice(sorted(live))
        started.add(i)
        try:
            next(live[i])
        except StopIteration:
            del live[i]
    assert len(log) == 12


def test_asyncio_tasks_hold_scopes_across_awaits(api: Api) -> None:
    stack = api.stack
    before = stack.bytes_in_use

    async def task(tag: int, n: int, waits: list[int]) -> int:
        with api.uninit_slice(n, np.int64) as s, api.buffer(range(tag, tag + 50)) as b:
            s[:] = tag
            for w in waits:
                for _ in range(w):
                    await asyncio.sleep(0)
                assert (s == tag).all()
                assert b.tolist() == list(range(tag, tag + 50))
            return int(s.sum())

    async def main() -> list[int]:
        rng = random.Random(5)
        jobs = [
            task(t, rng.randint(1, 5000), [rng.randint(0, 4) for _ in range(5)]) for t in range(16)
        ]
        return await asyncio.gather(*jobs)

    results = asyncio.run(main())
    assert len(results) == 16
    assert all(r % max(t, 1) == 0 for t, r in enumerate(results))
    assert stack.bytes_in_use == before


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


# --------------------------------------------------------------------------
# Checked mode


def test_checked_mode_poisons_released_memory() -> None:
    stack = sb.Stack(checked=True)
    with stack.uninit_slice(16, np.float64) as fresh:
        assert np.isnan(fresh).all()  # new memory is poisoned too
        fresh[:] = 1.0
        stale = fresh
    assert np.isnan(stale).all()
    with stack.uninit_slice(8, np.int32) as ints:
        ints[:] = 5
        stale_ints = ints
    assert (stale_ints == -1).all()


def test_checked_mode_poisons_out_of_order_endings() -> None:
    stack = sb.Stack(checked=True)
    a = stack.uninit_slice(8, np.float32)
    va = a.__enter__()
    va[:] = 1
    with stack.uninit_slice(8, np.float32) as vb:
        vb[:] = 2
        a.__exit__(None, None, None)
        assert np.isnan(va).all()
        assert (vb == 2).all()


@pytest.mark.parametrize(
    ("scope", "escape"),
    [
        ("slice", lambda v: v),
        ("slice", lambda v: v[2:]),
        ("slice2d", lambda v: v[1:]),
        ("slice2d", lambda v: v.T),
        ("buffer", lambda v: v),
        ("buffer", lambda v: v[2:]),
        ("uninit", lambda v: v),
    ],
)
def test_checked_mode_reports_escaped_views_and_quarantines_them(
    scope: str, escape: Callable[[Any], Any]
) -> None:
    stack = sb.Stack(checked=True)
    run = {
        "slice": lambda fn: stack.uninit_slice(16, np.float64, fn=fn),
        "slice2d": lambda fn: stack.uninit_slice((4, 4), np.float64, fn=fn),
        "buffer": lambda fn: stack.buffer(np.arange(16, dtype=np.float64), fn=fn),
        "uninit": lambda fn: stack.uninit(np.dtype((np.float64, 16)), fn=fn),
    }[scope]
    with pytest.warns(sb.EscapedViewWarning, match="escaped the closure scope") as record:
        escaped = run(escape)
    assert record[0].filename == __file__  # points at the caller, not at stagebuf
    escaped[...] = 5.0
    for _ in range(3):  # later slices never get the escaped view's memory
        with stack.uninit_slice(64, np.float64) as later, stack.buffer(range(64)) as more:
            later[:] = 9.0
            assert not overlaps(span(later), span(escaped))
            assert not overlaps(span(more), span(escaped))
    assert (escaped == 5.0).all()
    held = stack.bytes_in_use
    assert held > 0
    del escaped, record
    gc.collect()
    with stack.uninit_slice(1, np.uint8):  # the next request reclaims it
        pass
    assert stack.bytes_in_use == 0


def test_checked_mode_stays_quiet_when_nothing_escapes() -> None:
    stack = sb.Stack(checked=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sb.EscapedViewWarning)
        assert stack.uninit_slice(16, np.float64, fn=lambda v: v.fill(1.0) or 3) == 3
        assert stack.buffer(range(10), fn=lambda v: int(v[2:].sum())) == 44
        assert stack.uninit(np.float64, fn=lambda v: v.shape) == ()
    assert stack.bytes_in_use == 0


def test_unchecked_stacks_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", sb.EscapedViewWarning)
        kept = sb.Stack().uninit_slice(4, np.float32, fn=lambda v: v)
    assert kept.shape == (4,)


def run_in_fresh_thread(fn: Callable[[], Any]) -> Any:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # pragma: no cover - reported below
            out["error"] = err

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_env_var_makes_thread_stacks_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> tuple[bool, bool, bool]:
        with sb.uninit_slice(8, np.float64) as s:
            s[:] = 1.0
            stale = s
        return (
            sb.thread_stack().checked,
            bool(np.isnan(stale).all()),
            bool(sb.thread_stack() is sb.thread_stack()),
        )

    monkeypatch.setenv(sb.CHECKED_ENV, "1")
    assert sb.CHECKED_ENV == "STAGEBUF_CHECKED"
    assert run_in_fresh_thread(probe) == (True, True, True)

    def escapes() -> int:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            sb.uninit_slice(4, np.float32, fn=lambda v: v)
        return sum(issubclass(w.category, sb.EscapedViewWarning) for w in record)

    assert run_in_fresh_thread(escapes) == 1
    monkeypatch.setenv(sb.CHECKED_ENV, "0")
    assert run_in_fresh_thread(probe)[:2] == (False, False)
    monkeypatch.delenv(sb.CHECKED_ENV)
    assert run_in_fresh_thread(probe)[0] is False


def test_each_thread_has_its_own_default_stack() -> None:
    main = sb.thread_stack()
    assert sb.thread_stack() is main
    other = run_in_fresh_thread(sb.thread_stack)
    assert other is not main
    assert isinstance(other, sb.Stack)
