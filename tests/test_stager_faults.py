"""Faults injected into the staging layer: GL errors, GL calls that raise, interrupts,
arena caps and memory given back. After each, the stager stays usable, the previous
frame stays drawable (its pixels are checked) and later frames work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb
from stagebuf._gl import load_program

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")


class InjectedError(Exception):
    pass


@pytest.fixture
def program(ctx: Any) -> Iterator[Any]:
    prog = load_program(ctx)
    yield prog
    prog.release()


def image(fbo: Any, stager: sb.Stager) -> np.ndarray[Any, Any]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def stage(stager: sb.Stager, n: int, color: tuple[int, int, int, int]) -> None:
    """One frame: a big triangle in ``color``, then ``n - 3`` vertices off screen."""
    with stager.frame() as frame:
        v = frame.reserve(n)
        v["in_pos"] = 5.0
        v["in_pos"][:3] = [(-0.9, -0.9), (0.9, -0.9), (0.0, 0.9)]
        v["in_color"] = color


def colour_at_centre(img: np.ndarray[Any, Any]) -> tuple[int, ...]:
    return tuple(int(c) for c in img[SIZE // 2, SIZE // 2])


RED = (255, 0, 0, 255)
GREEN = (0, 255, 0, 255)
BLUE = (0, 0, 255, 255)


def once(real: Callable[..., Any], exc: BaseException) -> Callable[..., Any]:
    """``real`` that raises ``exc`` on its first call only."""
    state = {"armed": True}

    def call(*args: Any, **kwargs: Any) -> Any:
        if state["armed"]:
            state["armed"] = False
            raise exc
        return real(*args, **kwargs)

    return call


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
def test_gl_out_of_memory_at_growth_is_reported_and_survived(
    ctx: Any, fbo: Any, program: Any, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:
        stage(stager, 3, RED)
        frames, bytes_before = stager.stats.frames, stager.stats.bytes_uploaded_last_frame
        errors = iter(["GL_OUT_OF_MEMORY"])
        real = type(ctx).error
        monkeypatch.setattr(
            type(ctx), "error", property(lambda c: next(errors, None) or real.fget(c))
        )
        with pytest.raises(
            sb.GLError, match=r"creating a GL buffer of \d+ bytes failed: .*GL_OUT_OF_MEMORY"
        ) as info:
            stage(stager, 200_000, GREEN)  # grows the GL buffer: the driver refuses
        assert info.value.error == "GL_OUT_OF_MEMORY"
        assert stager.stats.frames == frames  # not counted as uploaded
        assert stager.stats.bytes_uploaded_last_frame == bytes_before
        assert stager.stats.frames_discarded == 1
        assert colour_at_centre(image(fbo, stager)) == RED  # the previous frame
        stage(stager, 200_000, BLUE)  # later frames work
        assert colour_at_centre(image(fbo, stager)) == BLUE
        assert stager.stack.bytes_in_use == 0


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
@pytest.mark.parametrize(
    ("call", "exc"),
    [
        ("buffer", InjectedError("no buffer")),
        ("buffer", KeyboardInterrupt()),
        ("vertex_array", InjectedError("no vertex array")),
        ("vertex_array", KeyboardInterrupt()),
    ],
)
def test_a_gl_call_that_raises_leaves_the_stager_usable(
    ctx: Any,
    fbo: Any,
    program: Any,
    strategy: str,
    call: str,
    exc: BaseException,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:
        stage(stager, 3, RED)
        assert colour_at_centre(image(fbo, stager)) == RED
        monkeypatch.setattr(ctx, call, once(getattr(ctx, call), exc))
        with pytest.raises(type(exc)):
            # A bigger frame needs new buffers, and they need new vertex arrays.
            stage(stager, 100_000, GREEN)
            image(fbo, stager)
        if call == "buffer":
            assert colour_at_centre(image(fbo, stager)) == RED
        for color in (BLUE, GREEN, RED, BLUE):  # every ring slot, then around again
            stage(stager, 100_000, color)
            assert colour_at_centre(image(fbo, stager)) == color
        assert ctx.error == "GL_NO_ERROR"


@pytest.mark.parametrize("strategy", sb.STRATEGIES)
def test_an_interrupted_write_keeps_the_previous_frame(
    ctx: Any, fbo: Any, program: Any, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:
        stage(stager, 3, RED)
        monkeypatch.setattr(
            moderngl.Buffer, "write", once(moderngl.Buffer.write, KeyboardInterrupt())
        )
        with pytest.raises(KeyboardInterrupt):
            stage(stager, 50_000, GREEN)  # a new buffer: interrupted before it is used
        assert colour_at_centre(image(fbo, stager)) == RED
        assert stager.stats.frames == 1 and stager.stack.bytes_in_use == 0
        stage(stager, 50_000, BLUE)
        assert colour_at_centre(image(fbo, stager)) == BLUE


def test_a_burst_under_a_stack_cap_does_not_break_later_frames(
    ctx: Any, fbo: Any, program: Any
) -> None:
    cap = 4 << 20
    stack = sb.Stack(max_capacity=cap)
    with sb.Stager(ctx, LAYOUT, program, stack=stack, initial_vertices=16) as stager:
        stage(stager, 100, RED)
        burst = (cap // 2) // LAYOUT.stride  # fits the cap, but its size hint would not
        stage(stager, burst, GREEN)
        for color in (BLUE, RED, GREEN):
            stage(stager, 1000, color)
            assert colour_at_centre(image(fbo, stager)) == color
        assert stack.capacity_bytes <= cap
        with pytest.raises(sb.StackOverflowError):
            stage(stager, 2 * burst, RED)  # really past the cap: refused, nothing lost
        assert colour_at_centre(image(fbo, stager)) == GREEN


def test_trim_gives_idle_gl_memory_back(ctx: Any, fbo: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        for color in (RED, GREEN, BLUE):  # a burst in every ring slot
            stage(stager, 1_000_000, color)
        burst_bytes = stager.gl_bytes
        assert burst_bytes >= 3 * 1_000_000 * LAYOUT.stride
        released = stager.trim()
        assert released >= 2 * 1_000_000 * LAYOUT.stride  # the two idle slots
        assert stager.gl_bytes <= burst_bytes // 3 + 1
        assert colour_at_centre(image(fbo, stager)) == BLUE  # the last frame still draws
        for color in (RED, GREEN, BLUE, RED):
            stage(stager, 1000, color)
            assert colour_at_centre(image(fbo, stager)) == color
        # Every slot now fits the small frames: the burst-sized buffer was re-made too.
        assert stager.gl_bytes <= 3 * 64 * 1024


def test_orphan_strategy_writes_big_buffers_in_place(ctx: Any, program: Any) -> None:
    orphans: list[int] = []
    real = moderngl.Buffer.orphan

    def counting(self: Any, *args: Any) -> Any:
        orphans.append(self.size)
        return real(self, *args)

    with sb.Stager(ctx, LAYOUT, program, strategy="orphan") as stager:
        moderngl.Buffer.orphan = counting  # type: ignore[method-assign]
        try:
            stage(stager, 1000, RED)
            stage(stager, 1000, RED)
            small = len(orphans)
            n = sb.ORPHAN_LIMIT_BYTES // LAYOUT.stride + 1
            stage(stager, n, RED)
            stage(stager, n, RED)
        finally:
            moderngl.Buffer.orphan = real  # type: ignore[method-assign]
        assert small == 2
        assert len(orphans) == small  # past the limit: no more orphaning
