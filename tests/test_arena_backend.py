"""The compiled arena against its reference, the pure-Python one.

Module: stagebuf._arena._fast (C) and ._backend. Pure CPU. The whole suite runs
on both backends (CI runs it again with STAGEBUF_PURE_PYTHON=1); these tests
check what only the compiled path could get wrong: views that must keep their
chunk alive, the call forms its uninit_slice hands to the Python one, the
thread each stack belongs to, and fields that must refuse bad values instead
of corrupting memory.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest

import stagebuf as sb
from stagebuf._arena import _thread_local
from stagebuf._arena._scopes import SliceScope

F4 = np.float32
compiled_only = pytest.mark.skipif(sb.ARENA_BACKEND != "c", reason="the compiled arena only")


def test_a_fast_path_view_keeps_its_chunk_alive_after_trim_and_the_stack() -> None:
    stack = sb.Stack(thread_safe=False)  # unlocked: its scopes take the fast path
    with stack.uninit_slice(64, F4):
        pass  # warm: the chunk exists and the fast path is armed
    with stack.uninit_slice(1000, F4) as view:
        view[:] = np.arange(1000, dtype=F4)
        kept = view
    stack.trim()
    del stack, view
    gc.collect()
    noise = [np.full(1000, -1.0, dtype=F4) for _ in range(64)]  # reuse freed memory, if any
    assert np.array_equal(kept, np.arange(1000, dtype=F4))
    assert kept.base is not None and kept.flags.writeable and not kept.flags.owndata
    assert kept.ctypes.data % sb.ALIGNMENT == 0
    del noise


def test_scopes_are_fresh_however_often_they_are_made_and_dropped() -> None:
    # The compiled path re-uses dead scope objects: nothing of an old scope
    # (its state, chunk, dtype) may show through a new one.
    for i in range(300):
        dtype = (np.float32, np.uint8, np.int64)[i % 3]
        scope = sb.uninit_slice(i % 7 + 1, dtype)
        if i % 5 == 0:
            del scope  # dropped without being entered
            continue
        with scope as view:
            assert view.shape == (i % 7 + 1,) and view.dtype == dtype
            view[:] = i % 100
        with pytest.raises(sb.ScopeError, match="already ended"):
            scope.__exit__(None, None, None)
    assert sb.thread_stack().bytes_in_use == 0


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((3, F4), {}),
    (((3,), F4), {}),
    (((2, 3), F4), {}),
    ((0, F4), {}),
    ((3, "f4"), {}),
    ((3, np.dtype([("x", "f4"), ("y", "u1")])), {}),
    ((3, F4), {"fn": len}),
    ((), {"shape": 3, "dtype": F4}),
    ((3,), {"dtype": F4}),
    ((3, F4), {"bad": 1}),
    ((3, F4, None), {}),
    ((3,), {}),
    ((-1, F4), {}),
    ((2**70, F4), {}),
    ((2**40, F4), {}),
    ((True, F4), {}),
    ((np.int64(3), F4), {}),
    ((3.0, F4), {}),
    ((3, [1]), {}),
    ((3, "not a dtype"), {}),
    ((3, object), {}),
]


def _outcome(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        result = fn(*args, **kwargs)
        if not isinstance(result, SliceScope):
            return "returned", result
        with result as view:
            return "scope", type(result).__name__, view.shape, view.dtype
    except BaseException as err:  # the error, as the caller would see it
        return type(err), str(err)


@pytest.mark.parametrize(("args", "kwargs"), CALLS, ids=[repr(c) for c in CALLS])
def test_uninit_slice_answers_every_call_as_the_python_reference_does(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    reference = getattr(_thread_local, "python_uninit_slice", sb.uninit_slice)
    before = sb.thread_stack().bytes_in_use
    assert _outcome(sb.uninit_slice, args, kwargs) == _outcome(reference, args, kwargs)
    assert sb.thread_stack().bytes_in_use == before


def test_each_thread_scopes_on_its_own_stack() -> None:
    main = sb.thread_stack()
    seen: dict[str, Any] = {}

    def work() -> None:
        mine = sb.thread_stack()
        with sb.uninit_slice(1000, F4) as view:
            view[:] = 1.0
            seen["in_use"] = mine.bytes_in_use
            seen["main_in_use"] = main._memory.bytes.in_use  # read without the owner check
        seen["after"] = mine.bytes_in_use
        seen["same"] = mine is main

    for _ in range(3):  # new threads may re-use an old thread's identity
        t = threading.Thread(target=work)
        t.start()
        t.join()
        assert seen["in_use"] >= 4000 and seen["after"] == 0 and not seen["same"]
        assert seen["main_in_use"] == 0


@compiled_only
def test_compiled_fields_refuse_bad_values_without_corrupting() -> None:
    stack = sb.thread_stack()
    before = stack.bytes_in_use
    scope = sb.uninit_slice(10, F4)
    bad = [("_count", "ten"), ("_size", 2**80), ("_state", 2**70), ("start", 1.5), ("stop", "x")]
    for field, value in bad:
        old = getattr(scope, field)
        with pytest.raises((TypeError, OverflowError)):
            setattr(scope, field, value)
        assert getattr(scope, field) == old, field  # left as it was
    with scope as view:  # untouched by the refused writes
        assert view.shape == (10,)
    chunk = stack._memory.bytes.current
    top, limit = chunk.top, chunk.fast_limit
    for field, value in [("top", "high"), ("top", 2**64), ("fast_limit", 0.5), ("bump_only", 1)]:
        with pytest.raises((TypeError, OverflowError)):
            setattr(chunk, field, value)  # bump_only: a bool, exactly
    assert (chunk.top, chunk.fast_limit) == (top, limit)
    with sb.uninit_slice(10, F4) as view:
        view[:] = 1.0
    assert stack.bytes_in_use == before


@compiled_only
def test_compiled_enter_and_exit_refuse_other_objects() -> None:
    with pytest.raises(TypeError):
        SliceScope.__enter__(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SliceScope.__exit__(object(), None, None, None)  # type: ignore[arg-type]


@compiled_only
def test_compiled_enter_stays_inside_the_chunk_whatever_its_private_fields_say() -> None:
    stack = sb.Stack(thread_safe=False, initial_capacity=4096)
    with stack.uninit_slice(16, np.uint8):
        pass  # warm: a 4 KiB chunk, the fast path armed
    chunk = stack._memory.bytes.current
    chunk.fast_limit = 1 << 40  # a lie: the chunk holds 4 KiB
    with stack.uninit_slice(1 << 20, np.uint8) as view:  # 1 MiB: past the chunk
        view[:] = 7  # a view inside the chunk's bytes would crash or corrupt here
        assert view.nbytes == 1 << 20 and int(view.sum()) == 7 << 20
    scope = stack.uninit_slice(16, np.float64)
    scope._size = 64  # room for 8 float64s, claimed for 16
    with scope as small:  # the C path refuses; the Python one places 16 of them
        small[:] = 1.0
        with stack.uninit_slice(8, np.float64) as after:
            assert small.shape == (16,) and not np.shares_memory(small, after)


def test_a_count_near_the_largest_size_fails_clearly_and_changes_nothing() -> None:
    # count * itemsize + padding fits a C ssize_t, start + size would not.
    stack = sb.thread_stack()
    with sb.uninit_slice(1, np.float64):
        pass
    with sb.uninit_slice(1, np.float64):
        before = stack.bytes_in_use
        huge = sb.uninit_slice((sys.maxsize - 63) // 8, np.float64)
        with pytest.raises(sb.StackOverflowError, match="stack request of"), huge as view:
            view[10**9] = 1.0  # must never run: the view would lie outside memory
        assert stack.bytes_in_use == before
        with sb.uninit_slice(100, np.float64) as view:
            view[:] = 2.0


def test_exit_takes_exactly_the_three_arguments_of_the_with_protocol() -> None:
    scope = sb.uninit_slice(4, F4)
    scope.__enter__()
    with pytest.raises(TypeError):
        scope.__exit__()  # type: ignore[call-arg]
    scope.__exit__(None, None, None)
    assert sb.thread_stack().bytes_in_use == 0


def test_a_dtype_spec_replaced_while_a_scope_is_made_is_not_used_after_it_dies() -> None:
    # A spec whose equality changes lets the dict entry be replaced (and its
    # tuple freed) by Python code that runs while the scope is made: here a
    # garbage collection's callback.
    flip = [True]

    class Spec:
        def __hash__(self) -> int:
            return 12345

        def __eq__(self, other: object) -> bool:
            return flip[0] if isinstance(other, Spec) else NotImplemented

        @property
        def dtype(self) -> np.dtype[Any]:
            flip[0] = True
            return np.dtype(np.float64)

    spec = Spec()
    keep = [sb.uninit_slice(1, spec) for _ in range(200)]  # known, and the free list drained
    armed = [True]

    def replace_the_entry(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and armed[0]:
            armed[0] = False
            flip[0] = False
            sb.uninit_slice(1, Spec())  # misses, then replaces spec's entry
            [(object(),) for _ in range(1000)]  # re-use the freed tuple's memory

    threshold = gc.get_threshold()
    gc.callbacks.append(replace_the_entry)
    gc.set_threshold(1)
    try:
        scope = sb.uninit_slice(1, spec)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(replace_the_entry)
    with scope as view:
        assert view.dtype == np.float64 and view.shape == (1,)
    del keep


def test_a_thread_ending_may_make_scopes_from_its_thread_locals_finalizers() -> None:
    # When a thread ends, its thread-local data dies, its stack included; a
    # finalizer that makes a scope then still gets a working stack. (The
    # compiled path's per-thread cache also forgets a Memory when it dies, in
    # case the stack dies first; this test does not manage to order that.)
    results: list[Any] = []
    # A thread's thread-locals die in the order the thread first used them:
    # `before` before its stack's, `after` after them.
    before, after = threading.local(), threading.local()

    class UsesTheArenaWhenItDies:
        def __del__(self) -> None:
            try:
                with sb.uninit_slice(256, F4) as view:
                    view[:] = 3.0
                    results.append(float(view.sum()))
            except BaseException as err:  # reported, not raised in a finalizer
                results.append(err)

    def work() -> None:
        before.dies = UsesTheArenaWhenItDies()
        with sb.uninit_slice(1000, F4) as view:  # the thread's stack exists, and is cached
            view[:] = 1.0
        after.dies = UsesTheArenaWhenItDies()

    for _ in range(20):
        t = threading.Thread(target=work)
        t.start()
        t.join()
    gc.collect()
    assert results == [768.0] * 40


@compiled_only
def test_configure_refuses_a_scope_type_it_could_not_make_field_by_field() -> None:
    from stagebuf._arena._backend import fast
    from stagebuf._arena._scopes import PLAIN_DTYPES, ShapedSliceScope

    assert fast is not None

    def memory() -> Any:
        return sb.thread_stack()._memory

    with pytest.raises(TypeError, match="adds no fields"):
        fast.configure(PLAIN_DTYPES, ShapedSliceScope, memory, sb.uninit_slice, True)  # adds _shape
    with pytest.raises(TypeError, match="adds no fields"):
        fast.configure(PLAIN_DTYPES, int, memory, sb.uninit_slice, True)

    class Other(SliceScope):
        __slots__ = ()

    with pytest.raises(RuntimeError, match="set once"):
        fast.configure(PLAIN_DTYPES, Other, memory, sb.uninit_slice, True)
    with sb.uninit_slice(8, F4) as view:  # the configured function is untouched
        assert type(sb.uninit_slice(1, F4)) is SliceScope and view.shape == (8,)


# A thread's teardown: its thread-locals die one by one, and a finalizer among
# them makes a scope after the stack's own references went, while another
# thread's collection frees the stack (its memory and scopes form a cycle in
# some versions). Run in a child: a use after free there is a segfault.
TEARDOWN_RACE = """
import gc, sys, threading
import numpy as np
import stagebuf as sb

results = []
collect_now, collected = threading.Event(), threading.Event()
before, after = threading.local(), threading.local()

class MakesAScopeWhenItDies:
    def __init__(self, wait):
        self.wait = wait

    def __del__(self):
        if self.wait:  # the stack's references are gone: let the other thread collect
            collect_now.set()
            collected.wait(10)
        try:
            with sb.uninit_slice(256, np.float32) as view:
                view[:] = 3.0
                results.append(float(view.sum()))
        except BaseException as err:
            results.append(repr(err))

def collector():
    while True:
        collect_now.wait()
        collect_now.clear()
        gc.collect()
        junk = [(i,) * 10 for i in range(20000)]  # re-use freed memory
        collected.set()

def work():
    before.dies = MakesAScopeWhenItDies(False)  # dies before the stack's references
    with sb.uninit_slice(1000, np.float32) as view:  # the stack, made and cached
        view[:] = 1.0
    after.dies = MakesAScopeWhenItDies(True)  # dies after them

threading.Thread(target=collector, daemon=True).start()
for _ in range(20):
    collected.clear()
    t = threading.Thread(target=work)
    t.start()
    t.join()
print(results == [768.0] * 40, results[:3])
"""


def test_a_finalizer_in_a_thread_teardown_scopes_while_another_thread_collects() -> None:
    # Before the cache held its Memory strongly: a segfault (use after free)
    # in the first or second thread.
    proc = subprocess.run(
        [sys.executable, "-c", TEARDOWN_RACE], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith("True"), proc.stdout


# Thread churn, no blocking: short threads whose thread-local's finalizer
# allocates (collections start, and with a tiny switch interval other threads
# run, and collect, in the middle) and then makes a scope.
CHURN = """
import sys, threading
import numpy as np
import stagebuf as sb

sys.setswitchinterval(1e-6)
local = threading.local()
sums = []

class Dies:
    def __del__(self):
        junk = [[i] for i in range(2000)]
        with sb.uninit_slice(64, np.float32) as view:
            view[:] = 1.0
            sums.append(float(view.sum()))

def work():
    with sb.uninit_slice(100, np.float32):
        pass
    local.dies = Dies()

for _ in range(100):
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(len(sums), sorted(set(sums)))
"""


def test_thread_churn_with_finalizers_that_scope_never_meets_a_freed_stack() -> None:
    # Before the cache held its Memory strongly: a segfault in 3 runs of 3
    # (or a freed stack's memory read as another object: AttributeError).
    proc = subprocess.run(
        [sys.executable, "-c", CHURN], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split(maxsplit=1) == ["800", "[64.0]\n"], proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]


# gevent's monkey-patching makes threading.local and get_ident per greenlet,
# before stagebuf is imported. Emulated here without gevent: "tasks" that
# share one OS thread (and one thread state), switched by hand, each with its
# own locals and identity, as greenlets are.
TASK_LOCALS = """
import threading, _thread

current = [1]

class TaskLocal:
    def __init__(self):
        object.__setattr__(self, "_by_task", {})
    def __getattr__(self, name):
        try:
            return self._by_task[current[0]][name]
        except KeyError:
            raise AttributeError(name) from None
    def __setattr__(self, name, value):
        self._by_task.setdefault(current[0], {})[name] = value

threading.local = TaskLocal
threading.get_ident = lambda: 1000 + current[0]

import numpy as np
import stagebuf as sb

seen = []
for task in (1, 2, 1, 3):
    current[0] = task
    stack = sb.thread_stack()
    outer = sb.uninit_slice(1000, np.float32)  # the fast path
    with outer as view:
        view[:] = task
        with sb.uninit_slice((2, 3), np.float32):  # a Python path
            seen.append((task, id(stack), outer._memory is stack._memory))
    with stack.uninit_slice(10, np.float32):
        pass
stacks = {s for t, s, own in seen}
print(sb.ARENA_BACKEND, len(stacks), all(own for t, s, own in seen), seen[0][1] == seen[2][1])
threading.get_ident = _thread.get_ident  # threading's own shutdown needs the real one
"""


@pytest.mark.parametrize("backend", ["c", "python"])
def test_tasks_with_their_own_locals_get_their_own_stacks_on_both_backends(backend: str) -> None:
    # Before the fix the compiled path cached the first task's stack per
    # thread state, and its Python path then refused the second task with
    # ScopeError; pure Python gave each task its own stack.
    if backend == "c" and sb.ARENA_BACKEND != "c":
        pytest.skip("the compiled arena is not built")
    env = {**os.environ, sb.PURE_PYTHON_ENV: "1" if backend == "python" else ""}
    proc = subprocess.run(
        [sys.executable, "-c", TASK_LOCALS], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [backend, "3", "True", "True"]


GEVENT = """
from gevent import monkey
monkey.patch_all()
import gevent
import numpy as np
import stagebuf as sb

def task(n):
    stack = sb.thread_stack()
    with sb.uninit_slice(1000, np.float32) as view:
        view[:] = n
        gevent.sleep(0)  # the other greenlets run here
        with sb.uninit_slice((2, 3), np.float32):
            return id(stack), float(view.sum())

jobs = [gevent.spawn(task, n) for n in range(3)]
gevent.joinall(jobs, raise_error=True)
print(sb.ARENA_BACKEND, len({j.value[0] for j in jobs}), [j.value[1] for j in jobs])
"""


@pytest.mark.parametrize("backend", ["c", "python"])
def test_each_gevent_greenlet_gets_its_own_stack_on_both_backends(backend: str) -> None:
    pytest.importorskip("gevent")
    if backend == "c" and sb.ARENA_BACKEND != "c":
        pytest.skip("the compiled arena is not built")
    env = {**os.environ, sb.PURE_PYTHON_ENV: "1" if backend == "python" else ""}
    proc = subprocess.run(
        [sys.executable, "-c", GEVENT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split(maxsplit=2) == [backend, "3", "[0.0, 1000.0, 2000.0]\n"]


# A finalizer that makes a scope late in its thread's teardown (its
# thread-local was first used after the stack's): the compiled path keeps the
# thread's own stack for the whole teardown. A stack made anew there would be
# kept by a thread-local dict that CPython re-makes during the clearing and
# never frees: one leaked stack (64 KiB and up) a thread.
LATE_FINALIZER = """
import gc, threading
import numpy as np
import stagebuf as sb
from stagebuf._arena._memory import Memory

after = threading.local()
sums = []

class Dies:
    def __del__(self):
        with sb.uninit_slice(64, np.float32) as view:
            view[:] = 1.0
            sums.append(float(view.sum()))

def work():
    with sb.uninit_slice(100, np.float32):
        pass
    after.dies = Dies()

for _ in range(300):
    t = threading.Thread(target=work)
    t.start()
    t.join()
gc.collect()
print(len(sums), sum(type(o) is Memory for o in gc.get_objects()))
"""


def test_a_late_finalizer_in_a_thread_teardown_leaks_no_stack() -> None:
    # Before: 300 stacks alive (pure Python; the compiled path in between).
    proc = subprocess.run(
        [sys.executable, "-c", LATE_FINALIZER], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    scopes, memories = map(int, proc.stdout.split())
    assert scopes == 300
    assert memories <= 3, f"{memories} stacks alive after 300 threads ended"
