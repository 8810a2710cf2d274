"""buffer(): iterables of every kind into a slice that grows as it is filled.

Modules: stagebuf._arena._growing, and the conversion of items (_convert,
_lossless). Pure CPU.
"""

from __future__ import annotations

import gc
import itertools
import random
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from arena_injection import inject_at_every_bytecode
from arena_kinds import KIB, MIB, Api, gen_ints, overlaps, round64, span

import stagebuf as sb
from stagebuf._arena._chunks import ChunkAllocator

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


def test_buffer_of_text_numpy_cannot_parse_names_the_dtype(api: Api) -> None:
    before = api.stack.bytes_in_use
    with pytest.raises(ValueError, match=r'<U2 array does not fit dtype datetime64\[ns\]: .*"s0"'):
        api.buffer(np.array(["s0"]), dtype="M8[ns]").__enter__()
    with pytest.raises(ValueError, match=r"item 0 \('s0'\) does not fit dtype datetime64\[ns\]"):
        api.buffer(["s0"], dtype="M8[ns]").__enter__()
    assert api.stack.bytes_in_use == before
    with api.buffer(np.array(["2024-01-02"]), dtype="M8[D]") as day:  # text that parses
        assert day.tolist() == [np.datetime64("2024-01-02", "D").item()]


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


# -- buffer(): lists and tuples, converted as they are -------------------------


def _sequences() -> dict[str, list[Any]]:
    rng = random.Random(7)
    return {
        "floats": [rng.uniform(-1e6, 1e6) for _ in range(1000)],
        "ints": [rng.randrange(-(2**40), 2**40) for _ in range(1000)],
        "vertices": [(rng.random(), rng.random(), rng.random()) for _ in range(1000)],
        "floats and ints": [1.5, 2, -3, 0.25],
        "bools": [True, False, True],
        "numpy scalars": [np.float32(1.5), np.float32(-2.5)],
        "one": [7.0],
        "empty": [],
    }


SEQUENCES = _sequences()


@pytest.mark.parametrize("container", [list, tuple])
@pytest.mark.parametrize("name", list(SEQUENCES))
@pytest.mark.parametrize("dtype", [None, np.float32])
def test_buffer_of_a_list_or_tuple_holds_what_np_array_makes(
    api: Api, name: str, container: type, dtype: Any
) -> None:
    items = container(SEQUENCES[name])
    expected = np.array(items, dtype=dtype)
    with api.buffer(items, dtype=dtype) as got:
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        assert got.tobytes() == expected.tobytes()  # the same values, bit for bit
        assert got.ctypes.data % 64 == 0
    assert items == container(SEQUENCES[name])  # the caller's items are left as they were


def test_buffer_of_a_tuple_for_a_structured_or_subarray_dtype_reads_items(api: Api) -> None:
    """numpy takes a tuple for one record of such a dtype; buffer() reads it as items."""
    point = np.dtype([("x", np.float32), ("y", np.float32)])
    pair = np.dtype((np.float32, 2))
    for items, dtype in [
        ((5,), pair),
        ((5, 6), pair),
        (((1.0, 2.0), (3.0, 4.0)), point),
        ((1.0, 2.0), point),
    ]:
        expected = np.array(list(items), dtype=dtype)
        with api.buffer(items, dtype=dtype) as got:
            assert got.shape == expected.shape == (len(items), *expected.shape[1:])
            assert got.tobytes() == expected.tobytes()


def test_buffer_of_a_list_subclass_reads_what_it_yields(api: Api) -> None:
    class Doubled(list[int]):
        def __iter__(self) -> Iterator[int]:
            return (2 * x for x in super().__iter__())

    with api.buffer(Doubled([1, 2, 3])) as got:
        assert got.tolist() == [2, 4, 6]


@pytest.mark.parametrize("container", [list, tuple])
def test_buffer_of_a_tuple_refuses_what_a_list_refuses(api: Api, container: type) -> None:
    stack = api.stack
    before = stack.bytes_in_use
    with pytest.raises(ValueError, match=r"item 5 \(300\) does not fit dtype uint8; expected 0"):
        api.buffer(container([0, 1, 2, 3, 4, 300]), dtype=np.uint8).__enter__()
    with pytest.raises(TypeError, match=r"item 2 \(1\.5\) does not fit dtype int32: expected"):
        api.buffer(container([1, 2, 1.5]), dtype=np.int32).__enter__()
    with pytest.raises(ValueError, match=r"item 1 \('x'\) does not fit dtype float64"):
        api.buffer(container([1.0, "x"]), dtype=np.float64).__enter__()
    with pytest.raises(ValueError, match=r"item 1 has shape \(3,\), but the items before"):
        api.buffer(container([(1.0, 2.0), (1.0, 2.0, 3.0)]), dtype=np.float32).__enter__()
    assert stack.bytes_in_use == before
    with api.buffer(container([1.0, 2.0])) as ok:  # still usable
        assert ok.tolist() == [1.0, 2.0]


# The inline fast path: a warm unlocked stack places a list's slice and ends it
# without the locked allocation or a release (bump pointer only), as uninit_slice does.


@pytest.mark.parametrize("kind", ["thread", "unlocked"])
def test_buffer_of_a_list_on_a_warm_unlocked_stack_takes_the_fast_path(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(kind)
    stack = api.stack
    floats = SEQUENCES["floats"]
    vertices = SEQUENCES["vertices"]
    with api.buffer(floats), api.buffer(vertices):  # warm: the high-water mark covers both
        pass
    before = stack.bytes_in_use

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("left the fast path")

    monkeypatch.setattr(ChunkAllocator, "allocate", refuse)
    monkeypatch.setattr(ChunkAllocator, "release", refuse)
    with api.buffer(floats) as a, api.buffer(tuple(vertices)) as b:
        assert a.tolist() == floats
        assert b.tolist() == [list(v) for v in vertices]
        assert a.ctypes.data % 64 == 0
        assert b.ctypes.data % 64 == 0
        assert not overlaps(span(a), span(b))
        assert stack.bytes_in_use == before + round64(a.nbytes) + round64(b.nbytes)
    assert stack.bytes_in_use == before


def test_buffer_of_a_warm_thread_stack_entered_from_another_thread_is_refused() -> None:
    stack = sb.thread_stack()
    with sb.buffer([1.0] * 100):  # warm: the slice would fit the fast path
        pass
    before = stack.bytes_in_use
    scope = sb.buffer([1.0] * 100)
    errors: list[BaseException] = []

    def enter() -> None:
        try:
            scope.__enter__()
        except BaseException as err:  # any outcome is recorded
            errors.append(err)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], sb.ScopeError)
    assert "default stack of thread" in str(errors[0])
    assert stack.bytes_in_use == before
    with sb.buffer([1.0] * 100) as ok:  # still fine on its own thread
        assert ok.sum() == 100.0


# name -> (the stack, a factory of fresh list or tuple scopes on it)
def _fast_buffers() -> dict[str, tuple[sb.Stack, Any]]:
    unlocked = sb.Stack(thread_safe=False)
    small = sb.Stack(thread_safe=False, initial_capacity=1024)
    vertices = tuple(SEQUENCES["vertices"][:40])
    return {
        "thread, floats": (sb.thread_stack(), lambda: sb.buffer(SEQUENCES["floats"][:40])),
        "thread, vertices": (sb.thread_stack(), lambda: sb.buffer(vertices)),
        "thread, objects": (sb.thread_stack(), lambda: sb.buffer([None, 1, "a"])),
        "unlocked, ints": (unlocked, lambda: unlocked.buffer(SEQUENCES["ints"][:40])),
        "unlocked, grows": (small, lambda: small.buffer(SEQUENCES["floats"][:200])),
    }


@pytest.mark.parametrize("name", list(_fast_buffers()))
def test_a_list_buffer_interrupted_at_any_bytecode_leaks_nothing(name: str) -> None:
    stack, make = _fast_buffers()[name]
    with make():  # warm: the fast path is open (but for "grows", which outgrows its chunk)
        pass
    n = inject_at_every_bytecode(stack, make, KeyboardInterrupt)
    assert n > 20  # the injector did reach the arena's bytecodes
