"""Scopes: uninit_slice / uninit, zero lengths and the life cycle.

Module: stagebuf._arena._scopes (double ends, out-of-order ends, generators,
asyncio). Pure CPU.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from arena_kinds import HUGE, ZERO_SIZED, Api, gen_ints, overlaps, round64, span

import stagebuf as sb

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


BIG_DTYPES = [
    ("u1", 2**31),
    {"names": ["a"], "formats": ["u1"], "offsets": [0], "itemsize": 2**31},  # padding
    {"names": ["a"], "formats": ["u1"], "offsets": [2**31]},
    [("a", "u1", (2**16, 2**16))],
]


@pytest.mark.parametrize("dtype", BIG_DTYPES, ids=["subarray", "itemsize", "offset", "field"])
def test_a_dtype_past_numpys_size_limit_is_named_too_large(api: Api, dtype: Any) -> None:
    # Before: "is not a valid dtype" (a TypeError) without a word about its size,
    # or numpy's bare "integer won't fit into a C int".
    match = r"dtype .* is too large: numpy keeps a dtype's size, field offsets and subarray"
    with pytest.raises(TypeError, match="uninit_slice: " + match) as info:
        api.uninit_slice(1, dtype)
    assert repr(dtype) in str(info.value) and "C int" in str(info.value)
    with pytest.raises(TypeError, match="uninit: " + match):
        api.uninit(dtype)
    with pytest.raises(TypeError, match="buffer: " + match):
        api.buffer([], dtype=dtype)


def test_a_dtype_numpy_refuses_for_another_reason_says_numpys_reason(api: Api) -> None:
    with pytest.raises(
        TypeError, match=r"is not a valid dtype \(field 'a' occurs more than once\)"
    ):
        api.uninit_slice(1, [("a", "f4"), ("a", "f4")])


@pytest.mark.skipif(not hasattr(np.dtypes, "StringDType"), reason="numpy 2's StringDType")
def test_numpy_variable_width_strings_are_refused_as_what_they_are(api: Api) -> None:
    # Before: "mixes Python objects with other fields" (it has no fields).
    dtype = np.dtypes.StringDType()
    match = r"dtype StringDType\(\) \(numpy's variable-width strings\) is not supported: .* 'U16'"
    for call in (
        lambda: api.uninit_slice(3, dtype),
        lambda: api.uninit(dtype),
        lambda: api.buffer(["a", "b"], dtype=dtype),
    ):
        with pytest.raises(TypeError, match=match) as info:
            call()
        assert "mixes" not in str(info.value)


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


# -- generators and asyncio on the thread's own stack -------------------------------------


def test_generator_closed_midway_ends_its_scopes() -> None:
    local = sb.thread_stack()
    before = local.bytes_in_use

    def gen(tag: int) -> Iterator[np.ndarray[Any, Any]]:
        with sb.uninit_slice(100, np.int64) as a:
            a[:] = tag
            yield a
            with sb.uninit_slice(50, np.int64) as b:
                b[:] = tag + 1
                yield b

    g1, g2 = gen(10), gen(20)
    a1 = next(g1)
    a2 = next(g2)
    b1 = next(g1)  # above a2: g1's inner scope sits on top of g2's outer one
    g2.close()  # ends a2 out of order (GeneratorExit runs its `with` exit)
    assert np.all(a1 == 10) and np.all(b1 == 11)
    with sb.uninit_slice(100, np.int64) as c:  # must not land on a1 or b1
        c[:] = 99
        assert np.all(a1 == 10) and np.all(b1 == 11)
    g1.close()
    assert local.bytes_in_use == before
    assert a2 is not None


def test_asyncio_tasks_cancelled_mid_scope_on_the_thread_stack() -> None:
    local = sb.thread_stack()
    before = local.bytes_in_use
    bad = 0

    async def task(tag: int, rounds: int) -> None:
        nonlocal bad
        with sb.uninit_slice(64 + tag, np.int64) as s:
            s[:] = tag
            for _ in range(rounds):
                await asyncio.sleep(0)
                bad += int(np.count_nonzero(s != tag))

    async def main() -> None:
        tasks = [asyncio.create_task(task(tag, 1 + (tag * 7) % 11)) for tag in range(40)]
        await asyncio.sleep(0)
        for t in tasks[::5]:
            t.cancel()  # cancelled mid-scope: CancelledError ends the scope
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    assert bad == 0
    assert local.bytes_in_use == before
