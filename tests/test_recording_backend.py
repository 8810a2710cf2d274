"""The recording's compiled fast path (stagebuf/_recording/_fast.c) against its
reference, the Python ``Frame.reserve`` (``Frame._reserve_slow``).

- which one runs: ``stagebuf._recording.BACKEND``, ``STAGEBUF_PURE_PYTHON=1``, a
  module that is missing, does not load or does not fit the classes;
- the C path is taken for the common cases (no call into the Python method);
- each condition off the fast path goes to the Python method, once;
- a differential test: the same random reserves (options, layers, merges,
  growth, errors) through C and through Python give equal draw lists, ranges,
  views and bytes;
- faults: exceptions raised inside the fast path (a __hash__, a signal) leave
  the frame as it was or fully updated;
- bad values in the slots the C path reads send it to Python, never outside a view.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb
from stagebuf import _recording
from stagebuf._recording import _backend, _frame, _streams
from stagebuf._recording._drawlist import Draw
from stagebuf._recording._frame import Frame

pytestmark = pytest.mark.gl

COMPILED = _recording.BACKEND == "c"
needs_c = pytest.mark.skipif(not COMPILED, reason="the compiled recording only")

LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
WIDE = sb.VertexLayout(in_pos="2f", in_color="4f")  # another stride (24 bytes)

_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; uniform float u_size; uniform vec4 u_tint;
out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); gl_PointSize = u_size;
              v_color = in_color * u_tint; }"""
_FS = """#version 330 core
in vec4 v_color; out vec4 f_color; void main() { f_color = v_color; }"""
_PLAIN_VS = """#version 330 core
in vec2 in_pos; in vec4 in_color; out vec4 v_color;
void main() { gl_Position = vec4(in_pos, 0.0, 1.0); v_color = in_color; }"""

_WATCHED = 3  # a stager's first frames compare uniforms (the Python path)


@pytest.fixture
def progs(ctx: Any) -> Iterator[dict[str, Any]]:
    made = {
        "plain": ctx.program(vertex_shader=_PLAIN_VS, fragment_shader=_FS),
        "dots": ctx.program(vertex_shader=_VS, fragment_shader=_FS),
    }
    yield made
    for prog in made.values():
        prog.release()


def _stager(ctx: Any, progs: dict[str, Any], **kwargs: Any) -> sb.Stager:
    stager = sb.Stager(ctx, LAYOUT, progs["plain"], strategy="write", **kwargs)
    for _ in range(_WATCHED):  # past the uniform watch, the default checked
        with stager.frame() as frame:
            frame.reserve(3)
    return stager


class SlowCalls:
    """Counts the calls into the Python method (patched on Frame)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.log: list[Any] = []
        python = Frame._reserve_slow

        def counted(frame: Frame, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.log.append((args, kwargs))
            return python(frame, *args, **kwargs)

        monkeypatch.setattr(Frame, "_reserve_slow", counted)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowCalls:
    return SlowCalls(monkeypatch)


# -- which implementation runs -------------------------------------------------------


def _compiled_module_built() -> bool:
    import importlib.util

    return importlib.util.find_spec("stagebuf._recording._fast") is not None


def test_backend_is_the_compiled_one_where_it_is_built() -> None:
    forced = os.environ.get(sb.PURE_PYTHON_ENV, "") == "1"
    want = "c" if _compiled_module_built() and not forced else "python"
    assert want == _recording.BACKEND == _backend.BACKEND
    # The compiled method replaces Frame.reserve; the Python one stays, as the fallback.
    assert (type(Frame.__dict__["reserve"]).__name__ == "method_descriptor") is COMPILED
    assert Frame._reserve_slow.__qualname__ == "Frame.reserve"
    assert Frame.reserve.__doc__ is not None
    assert "Reserve ``count`` vertices drawn as one range" in Frame.reserve.__doc__


def _in_child(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, sb.PURE_PYTHON_ENV: "", **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )


_PRINT = "\nimport stagebuf._recording as r, stagebuf._recording._frame as f\n" + (
    "print(r.BACKEND, type(f.Frame.__dict__['reserve']).__name__)"
)


def test_pure_python_switch_forces_the_python_recording() -> None:
    assert _in_child(_PRINT, {sb.PURE_PYTHON_ENV: "1"}).stdout.split() == ["python", "function"]
    want = ["c", "method_descriptor"] if _compiled_module_built() else ["python", "function"]
    assert _in_child(_PRINT).stdout.split() == want


def _hide_module(error: str) -> str:
    return f"""
import importlib.abc, sys, warnings
class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "stagebuf._recording._fast":
            raise {error}
        return None
sys.meta_path.insert(0, Hidden())
warnings.simplefilter("always")
"""


def test_a_missing_module_runs_python_quietly() -> None:
    out = _in_child(_hide_module("ModuleNotFoundError(name=name)") + _PRINT)
    assert out.stdout.split() == ["python", "function"]
    assert "Warning" not in out.stderr


def test_a_module_that_cannot_load_falls_back_with_a_warning() -> None:
    out = _in_child(_hide_module('ImportError("undefined symbol: PyBroken")') + _PRINT)
    assert out.stdout.split() == ["python", "function"]
    assert "RuntimeWarning: stagebuf: the compiled recording did not load" in out.stderr
    assert "undefined symbol: PyBroken" in out.stderr


@pytest.mark.skipif(not _compiled_module_built(), reason="the compiled recording is not built")
def test_a_module_that_does_not_fit_the_classes_falls_back_with_a_warning() -> None:
    # As a module built from an older _fast.c would find a Draw with another slot.
    code = (
        """
import importlib.abc, importlib.util, sys, warnings
warnings.simplefilter("always")
class Patch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "stagebuf._recording._drawlist":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            class Draw(module.Draw):
                __slots__ = ("extra",)
            module.Draw = Draw
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Patch())
"""
        + _PRINT
    )
    out = _in_child(code)
    assert out.stdout.split() == ["python", "function"]
    assert "RuntimeWarning: stagebuf: the compiled recording does not fit" in out.stderr


# -- the C path is taken ---------------------------------------------------------------


@needs_c
def test_plain_and_cached_option_reserves_never_call_python(
    ctx: Any, progs: dict[str, Any], slow: SlowCalls
) -> None:
    uniforms = {"u_size": 4.0, "u_tint": (1.0, 1.0, 1.0, 1.0)}
    options = {"mode": moderngl.POINTS, "program": progs["dots"], "uniforms": uniforms}
    with _stager(ctx, progs) as stager:
        with stager.frame() as frame:  # first use of the options: checked in Python
            frame.reserve(1, **options)
            frame.reserve(2, mode=moderngl.LINES, layer=1)
            frame.reserve(1, layout=WIDE)
        slow.calls = 0
        for _ in range(3):
            with stager.frame() as frame:
                views = [frame.reserve(3) for _ in range(50)]
                views += [frame.reserve(1, **options) for _ in range(50)]
                views += [frame.reserve(2, mode=moderngl.LINES, layer=1) for _ in range(5)]
                views.append(frame.reserve(0))
                views.append(frame.reserve(3, mode=None, uniforms={}, textures=None, layer=0))
                views.append(frame.reserve(1, layout=WIDE))  # cached: the layout's typed view
                for v in views:
                    v["in_pos"] = 0.5
        assert slow.calls == 0, slow.log[-slow.calls :]
        draws = [(d.kind, d.state.mode, d.first, d.count, d.ranges, d.layer) for d in stager._draws]
        assert draws == [
            (0, moderngl.TRIANGLES, 0, 150, 50, 0),
            (0, moderngl.POINTS, 150, 50, 50, 0),
            (0, moderngl.TRIANGLES, 210, 3, 2, 0),  # reserve(0) and the equal default merge
            (0, moderngl.TRIANGLES, 107, 1, 1, 0),  # WIDE: 24-byte items from byte 2568
            (0, moderngl.LINES, 200, 10, 5, 1),
        ]


def _fallback_cases(progs: dict[str, Any]) -> list[tuple[str, Callable[[Frame], Any]]]:
    return [
        ("a numpy count", lambda f: f.reserve(np.int64(3))),
        ("count by keyword", lambda f: f.reserve(count=3)),
        ("a numpy layer", lambda f: f.reserve(3, layer=np.int64(2))),
        ("an equal layout, another object", lambda f: f.reserve(3, layout=_equal_layout())),
        ("a program not cached yet", lambda f: f.reserve(3, program=progs["dots"])),
        (
            "an unhashable uniform",
            lambda f: f.reserve(1, program=progs["dots"], uniforms={"u_size": np.float32([2])}),
        ),
        ("a mapping that is not a dict", lambda f: f.reserve(3, uniforms=_Mapping())),
        ("growth past the slice", lambda f: f.reserve(2000)),
    ]


def _equal_layout() -> sb.VertexLayout:
    return sb.VertexLayout(in_pos="2f", in_color="4f1")


class _Mapping(dict):  # type: ignore[type-arg]
    """A dict subclass: Python reads it, C leaves it to Python."""


@needs_c
def test_each_condition_off_the_fast_path_calls_python_once(
    ctx: Any, progs: dict[str, Any], slow: SlowCalls
) -> None:
    with _stager(ctx, progs) as stager:
        for name, call in _fallback_cases(progs):
            with stager.frame() as frame:
                frame.reserve(3)
                slow.calls = 0
                call(frame)
                assert slow.calls == 1, name
                frame.reserve(3)
                assert slow.calls == 1, name


@needs_c
@pytest.mark.parametrize(
    "error",
    ["negative", "string", "bool layer", "closed", "never opened", "max_vertices", "bad mode"],
)
def test_errors_come_from_python_with_its_messages(
    ctx: Any, progs: dict[str, Any], slow: SlowCalls, error: str
) -> None:
    with _stager(ctx, progs, max_vertices=10) as stager:
        frame = stager.begin()
        frame.reserve(3)
        slow.calls = 0
        expected: tuple[type[BaseException], str] = {
            "negative": (ValueError, "reserve: count"),
            "string": (TypeError, "reserve: count"),
            "bool layer": (TypeError, "reserve: layer must be an int"),
            "closed": (sb.StagerError, "this frame has ended"),
            "never opened": (sb.StagerError, "this frame was never opened"),
            "max_vertices": (sb.StagingLimitError, "past max_vertices=10"),
            "bad mode": (ValueError, "999"),
        }[error]
        if error == "closed":
            frame.end()
        if error == "never opened":
            frame.end()
            frame = stager.frame()
        args: dict[str, Any] = {
            "negative": {"count": -1},
            "string": {"count": "3"},
            "bool layer": {"count": 3, "layer": True},
            "max_vertices": {"count": 8},
            "bad mode": {"count": 3, "mode": 999},
        }.get(error, {"count": 3})
        count = args.pop("count")
        with pytest.raises(expected[0], match=expected[1]):
            frame.reserve(count, **args)
        assert slow.calls == 1
        if error in ("negative", "string", "bool layer", "max_vertices", "bad mode"):
            assert frame.vertex_count == 3  # nothing reserved by the failed call
            frame.discard()


# -- the differential test: C and Python, reserve for reserve --------------------------


def _script(seed: int, progs: dict[str, Any], frames: int) -> list[list[tuple[str, Any]]]:
    """Random frames of reserves: options, layers, merges, indexed ranges, errors."""
    rng = random.Random(seed)
    tints = [(1.0, 1.0, 1.0, 1.0), (0.5, 0.5, 0.5, 1.0)]
    out = []
    for _ in range(frames):
        steps: list[tuple[str, Any]] = []
        for _ in range(rng.randrange(1, 60)):
            roll = rng.random()
            count: Any = rng.choice([0, 1, 2, 3, 3, 4, 6, 9, 12, 30])
            if roll < 0.02:
                count = rng.choice([-1, "3", 2.0, np.int64(6)])
            elif roll < 0.04:
                count = rng.choice([5000, 20_000])  # a new arena slice
            options: dict[str, Any] = {}
            if rng.random() < 0.4:
                options["mode"] = rng.choice(
                    [moderngl.POINTS, moderngl.LINES, moderngl.TRIANGLES, moderngl.LINE_STRIP]
                )
            if rng.random() < 0.3:
                options["program"] = progs["dots"]
                if rng.random() < 0.7:
                    options["uniforms"] = {"u_size": rng.choice([1.0, 4.0])}
                    if rng.random() < 0.5:
                        options["uniforms"]["u_tint"] = rng.choice(tints)
                    if rng.random() < 0.05:
                        options["uniforms"]["u_size"] = np.float32([2.0])  # unhashable
            if rng.random() < 0.15:
                options["layout"] = rng.choice([LAYOUT, WIDE, None])
            if rng.random() < 0.3:
                options["layer"] = rng.choice([0, 0, 1, -1, 2, np.int64(1), 10**30, True])
            if rng.random() < 0.05:
                options["uniforms"] = {}
            kind = "indexed" if rng.random() < 0.08 else "reserve"
            steps.append((kind, (count, options)))
        out.append(steps)
    return out


def _describe_view(view: Any, stream: Any) -> tuple[Any, ...]:
    """A view as a position in the frame's stream: (slice index, byte offset), plus its
    dtype, shape, strides, flags and what its base chain ends at."""
    ptr = view.__array_interface__["data"][0]
    where = None
    for i, raw in enumerate(stream.views):
        lo = raw.__array_interface__["data"][0]
        if lo <= ptr <= lo + raw.nbytes:
            where = (i, ptr - lo)
    base = view
    while isinstance(base.base, np.ndarray):
        base = base.base
    return (
        where,
        view.dtype,
        view.shape,
        view.strides,
        tuple(view.flags[f] for f in ("C", "F", "W", "A", "O", "X")),
        type(view.base).__name__,
        base.dtype,
    )


def _describe_draw(d: Draw) -> tuple[Any, ...]:
    s = d.state
    return (
        d.kind,
        (s.mode, id(s.program), s.layout, repr(s.uniforms), s.textures, s.merge),
        d.first,
        d.count,
        d.base if isinstance(d.base, int) or d.base is None else id(d.base),
        d.range_start,
        d.layer,
        d.ranges,
        d.command,
    )


def _describe_frame(frame: Frame) -> tuple[Any, ...]:
    stream = frame._vertices
    return (
        [_describe_draw(d) for d in frame._draws],
        list(frame._ranges),
        frame._vertex_total,
        frame._last_layer,
        frame._layered,
        None if frame._last is None else _describe_draw(frame._last),
        sorted((k, None if v is None else _describe_draw(v)) for k, v in frame._lasts.items()),
        (stream.start, stream.used, stream.cap, len(stream.views)),
    )


def _run_script(
    ctx: Any, progs: dict[str, Any], script: list[list[tuple[str, Any]]], python: bool
) -> list[Any]:
    """Every result of the script (views described, errors by type and message), the
    frame after each step, the bytes uploaded and the draw list of each frame."""
    log: list[Any] = []
    stager = sb.Stager(ctx, LAYOUT, progs["plain"], strategy="write", stack=sb.Stack())
    fill = 0
    written: list[tuple[Any, bytes]] = []
    for steps in script:
        with stager.frame() as frame:
            reserve = frame._reserve_slow if python else frame.reserve
            for kind, (count, options) in steps:
                try:
                    if kind == "indexed":
                        verts, idx = frame.reserve_indexed(count, count, **options)
                        idx[:] = np.arange(len(idx)) % max(len(verts), 1)
                        view = verts
                    else:
                        view = reserve(count, **options)
                except Exception as err:  # the same error, word for word
                    log.append(("error", type(err).__name__, str(err)))
                else:
                    log.append(_describe_view(view, frame._vertices))
                    raw = view.view(np.uint8).reshape(-1)
                    raw[:] = np.arange(fill, fill + raw.size) % 251
                    written.append((raw, raw.tobytes()))
                    fill += raw.size
                log.append(_describe_frame(frame))
            # Every view still holds what was written through it: none overlaps another.
            # (Padding between layouts is never written: arena bytes, not compared.)
            log.append([raw.tobytes() == data for raw, data in written])
            log.append([(start, len(b)) for start, b in frame._vertices.chunks()])
            written.clear()
        log.append([_describe_draw(d) for d in stager._draws])
        log.append(list(stager._ranges))
    stager.release()
    return log


@needs_c
@pytest.mark.parametrize("seed", range(6))
def test_c_and_python_record_the_same_frames(
    ctx: Any, progs: dict[str, Any], slow: SlowCalls, seed: int
) -> None:
    script = _script(seed, progs, frames=16)
    python = _run_script(ctx, progs, script, python=True)
    slow.calls = 0
    compiled = _run_script(ctx, progs, script, python=False)
    assert len(compiled) == len(python)
    for i, (c, p) in enumerate(zip(compiled, python, strict=True)):
        assert c == p, f"step {i}"
    reserves = sum(1 for steps in script for kind, _ in steps if kind == "reserve")
    assert slow.calls < reserves * 0.6  # C took many (the first frames watch uniforms)


# -- faults ----------------------------------------------------------------------------


class _Boom:
    """A uniform value whose hash raises: the state lookup is the fast path's one call
    into Python code."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __hash__(self) -> int:
        raise self.error

    def __eq__(self, other: object) -> bool:
        return self is other


@needs_c
@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")], ids=repr)
def test_an_exception_in_the_state_lookup_changes_nothing(
    ctx: Any, progs: dict[str, Any], error: BaseException
) -> None:
    with _stager(ctx, progs) as stager:
        frame = stager.begin()
        frame.reserve(3)
        frame.reserve(1, mode=moderngl.POINTS, layer=2)
        before = _describe_frame(frame)
        with pytest.raises(type(error)):
            frame.reserve(1, program=progs["dots"], uniforms={"u_size": _Boom(error)})
        assert _describe_frame(frame) == before
        frame.reserve(3)  # still usable: after the POINTS vertex, a draw of its own
        assert [(d.first, d.count, d.layer) for d in frame._draws] == [
            (0, 3, 0),
            (3, 1, 2),
            (4, 3, 0),
        ]
        frame.discard()


@needs_c
def test_signals_during_reserves_leave_every_frame_whole(ctx: Any, progs: dict[str, Any]) -> None:
    """KeyboardInterrupt from a timer lands wherever it lands; after each, the frame's
    ranges, draws, totals and stream agree (the C method is one step)."""
    if not hasattr(signal, "setitimer"):
        pytest.skip("no interval timer here")

    armed = [False]  # the handler raises only while the reserves run

    here = {__file__, _frame.__file__, _streams.__file__}

    def interrupt(signum: int, frame: Any) -> None:
        # Only into the reserves (a finalizer of another test's garbage, run by a
        # collection, would report it as unraisable instead).
        if armed[0] and frame is not None and frame.f_code.co_filename in here:
            raise KeyboardInterrupt

    gc.collect()
    gc.disable()
    old = signal.signal(signal.SIGALRM, interrupt)
    interrupts = 0
    try:
        with _stager(ctx, progs) as stager:
            for f in range(6):
                with stager.frame() as frame:
                    try:
                        if f:  # (the first frame sizes the arena slice: no growth after it)
                            armed[0] = True
                            signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
                        for i in range(3000):
                            try:
                                frame.reserve(3, layer=(i // 500) % 3)
                            except KeyboardInterrupt:
                                interrupts += 1
                        armed[0] = False
                    except KeyboardInterrupt:  # between two reserves: the loop ends early
                        armed[0] = False  # (a store: no signal is handled before it)
                        interrupts += 1
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    ranges = frame._ranges
                    assert sum(d.ranges for d in frame._draws) == len(ranges), f
                    assert sum(n for _, n in ranges) == frame._vertex_total
                    for d in frame._draws:
                        span = ranges[d.range_start : d.range_start + d.ranges]
                        assert span[0][0] == d.first and sum(n for _, n in span) == d.count
                    stream = frame._vertices
                    assert len(stream.views) == 1 or not f
                    assert stream.start + stream.used == LAYOUT.stride * frame._vertex_total
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        gc.enable()
    assert interrupts > 0


# -- bad values in the slots the C path reads --------------------------------------------


def _spoilers(layout: Any) -> list[tuple[str, Callable[[Frame], None]]]:
    def typed(entry: Any) -> Callable[[Frame], None]:
        def spoil(frame: Frame) -> None:
            frame._vertices.typed[layout] = entry

        return spoil

    def put(obj: Callable[[Frame], Any], name: str, value: Any) -> Callable[[Frame], None]:
        return lambda frame: setattr(obj(frame), name, value)

    this: Callable[[Frame], Any] = lambda f: f  # noqa: E731
    stream: Callable[[Frame], Any] = lambda f: f._vertices  # noqa: E731
    last: Callable[[Frame], Any] = lambda f: f._last  # noqa: E731
    return [
        ("vertex_total huge", put(this, "_vertex_total", 2**70)),
        ("vertex_total str", put(this, "_vertex_total", "0")),
        ("vertex_total negative", put(this, "_vertex_total", -1)),
        ("phase huge", put(this, "_phase", 2**70)),
        ("max_vertices float", put(this, "_max_vertices", 1e9)),
        ("last_layer float", put(this, "_last_layer", 0.0)),
        ("ranges a tuple", put(this, "_ranges", ())),
        ("used negative", put(stream, "used", -64)),
        ("used huge", put(stream, "used", 2**62)),
        ("cap huge", put(stream, "cap", 2**80)),
        ("start float", put(stream, "start", 0.0)),
        ("typed a list", put(stream, "typed", [])),
        ("entry short", typed((np.zeros(2, layout.dtype), 0))),
        ("entry 2-D", typed((np.zeros((64, 2), layout.dtype), 0))),
        ("entry bytes", typed((np.zeros(4096, np.uint8), 0))),
        ("entry strided", typed((np.zeros(8192, layout.dtype)[::2], 0))),
        ("layout stride", lambda f: object.__setattr__(f._default.layout, "_stride", 24)),
        ("entry origin negative", typed((np.zeros(4096, layout.dtype), -12))),
        ("entry origin past", typed((np.zeros(4096, layout.dtype), 2**40))),
        ("entry a list", typed([np.zeros(4096, layout.dtype), 0])),
        ("entry a subclass", typed((np.zeros(4096, layout.dtype).view(np.recarray), 0))),
        ("last count str", put(last, "count", "3")),
        ("last kind huge", put(last, "kind", 2**65)),
        ("last first negative", put(last, "first", -3)),
    ]


@needs_c
@pytest.mark.parametrize("case", range(24))
def test_bad_slot_values_send_the_call_to_python(
    ctx: Any, progs: dict[str, Any], slow: SlowCalls, case: int
) -> None:
    name, spoil = _spoilers(LAYOUT)[case]
    with _stager(ctx, progs) as stager:
        frame = stager.begin()
        frame.reserve(3)
        spoil(frame)
        slow.calls = 0
        try:
            with contextlib.suppress(Exception):  # Python's answer to the bad value, any
                frame.reserve(3)
        finally:
            object.__setattr__(LAYOUT, "_stride", 12)  # (the "layout stride" case)
        assert slow.calls == 1, name
        frame._phase = 1  # (the "phase" case) so that discard() runs
        frame.discard()


def test_state_cache_is_the_stagers(ctx: Any, progs: dict[str, Any]) -> None:
    """The C path reads the stager's cache of states through the frame: one dict."""
    with _stager(ctx, progs) as stager, stager.frame() as frame:
        assert frame._states is stager._states


def test_the_compiled_method_keeps_the_python_signature() -> None:
    import inspect

    def shape(method: Any) -> list[tuple[str, Any, Any]]:
        params = inspect.signature(method).parameters.values()
        return [(p.name, p.kind, p.default) for p in params if p.name != "self"]

    assert shape(Frame.reserve) == shape(Frame._reserve_slow)
    assert shape(Frame.reserve)[0] == (
        "count",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect._empty,
    )


# -- Python code running inside a reserve ----------------------------------------------


def _warm(stager: sb.Stager) -> None:
    for _ in range(4):  # past the first frames, which watch uniforms (the Python path)
        with stager.frame() as frame:
            frame.reserve(3)[:] = 0


def _no_overlap(views: list[Any]) -> bool:
    spans = sorted((v.ctypes.data, v.ctypes.data + v.nbytes) for v in views if v.nbytes)
    return all(b[0] >= a[1] for a, b in itertools.pairwise(spans))


def test_a_reserve_made_by_a_finalizer_inside_a_reserve_overlaps_nothing(
    ctx: Any, progs: dict[str, Any]
) -> None:
    """A collection set off by the reserve's own allocations may run a finalizer that
    reserves too: the outer reserve must not commit what it read before (red team:
    two views shared memory and vertex_count lost 4 vertices on the compiled path)."""
    stager = _stager(ctx, progs)
    _warm(stager)
    inner: list[Any] = []
    armed = [False]
    frame = stager.begin()

    class Bomb:
        def __init__(self) -> None:
            self.me = self  # a cycle: freed by the collector, not by its refcount

        def __del__(self) -> None:
            if armed[0]:
                inner.append(frame.reserve(4))

    outer = []
    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        for _ in range(2000):
            Bomb()
            armed[0] = True
            outer.append(frame.reserve(6))
            armed[0] = False
            if len(inner) >= 5:
                break
    finally:
        gc.set_threshold(*threshold)
    assert inner  # the finalizers did reserve inside the reserves
    assert _no_overlap(outer + inner)
    assert frame.vertex_count == sum(len(v) for v in outer + inner)
    frame.end()
    assert stager.stats.vertices_last_frame == frame.vertex_count
    stager.release()


def test_a_reserve_made_by_a_uniform_values_eq_inside_a_reserve_is_counted(
    ctx: Any, progs: dict[str, Any]
) -> None:
    stager = _stager(ctx, progs)
    _warm(stager)
    frame = stager.begin()
    inner: list[Any] = []

    class Sneaky(float):
        __hash__ = float.__hash__

        def __eq__(self, other: object) -> bool:
            if len(inner) < 3:
                inner.append(frame.reserve(6))
            return float.__eq__(self, other)  # type: ignore[operator]

    dot = progs["dots"]
    first = frame.reserve(1, mode=moderngl.POINTS, program=dot, uniforms={"u_size": 2.0})
    second = frame.reserve(1, mode=moderngl.POINTS, program=dot, uniforms={"u_size": Sneaky(2.0)})
    views = [first, second, *inner]
    assert _no_overlap(views)
    assert frame.vertex_count == sum(len(v) for v in views)
    frame.end()
    assert stager.stats.vertices_last_frame == frame.vertex_count
    stager.release()
