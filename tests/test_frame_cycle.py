"""A frame without a with-block: stager.begin(), frame.end(), frame.discard(), and
the misuse of each, checked on the pixels and the counters."""

from __future__ import annotations

from typing import Any

import moderngl
import numpy as np
import pytest

import stagebuf as sb

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)
FULL = [(-1, -1), (3, -1), (-1, 3)]  # one triangle over the whole viewport


def centre(fbo: Any, stager: sb.Stager) -> tuple[int, ...]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    image = np.frombuffer(fbo.read(components=4, alignment=1), np.uint8)
    return tuple(int(v) for v in image.reshape(SIZE, SIZE, 4)[SIZE // 2, SIZE // 2])


def once(real: Any, fault: BaseException) -> Any:
    """``real``, except that its first call raises ``fault``."""
    armed = [True]

    def call(*args: Any, **kwargs: Any) -> Any:
        if armed.pop() if armed else False:
            raise fault
        return real(*args, **kwargs)

    return call


def fill(frame: sb.Frame, color: tuple[int, ...]) -> None:
    tri = frame.reserve(3)
    tri["in_pos"] = FULL
    tri["in_color"] = color


def test_begin_and_end_stage_a_frame_as_the_with_block_does(
    ctx: Any, fbo: Any, program: Any
) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        for color in (RED, GREEN, BLUE, RED):  # every ring slot, then around again
            frame = stager.begin()
            fill(frame, color)
            frame.end()
            assert centre(fbo, stager) == color
        assert stager.stats.frames == 4 and stager.stats.frames_discarded == 0
        assert stager.stack.bytes_in_use == 0


def test_discard_keeps_the_previous_frame(ctx: Any, fbo: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        frame = stager.begin()
        fill(frame, RED)
        frame.end()
        frame = stager.begin()
        fill(frame, GREEN)
        frame.discard()
        assert centre(fbo, stager) == RED
        assert stager.stats.frames == 1 and stager.stats.frames_discarded == 1
        assert stager.stack.bytes_in_use == 0
        with stager.frame() as frame:  # end() or discard() inside a with block: it is done
            fill(frame, BLUE)
            frame.discard()
        assert centre(fbo, stager) == RED
        with stager.frame() as frame:
            fill(frame, BLUE)
            frame.end()
        assert centre(fbo, stager) == BLUE


def test_render_while_a_frame_is_open_raises(ctx: Any, fbo: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        with stager.frame() as frame:
            fill(frame, RED)
        frame = stager.begin()
        fill(frame, GREEN)
        with pytest.raises(sb.StagerError, match=r"render\(\) while a frame is open"):
            stager.render()
        frame.end()  # the open frame was not disturbed
        assert centre(fbo, stager) == GREEN
        with stager.frame() as frame:
            fill(frame, BLUE)
            with pytest.raises(sb.StagerError, match=r"render\(\) while a frame is open"):
                stager.render()
        assert centre(fbo, stager) == BLUE


def test_misuse_of_the_life_cycle_is_named(ctx: Any, fbo: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        frame = stager.begin()
        fill(frame, RED)
        with pytest.raises(sb.StagerError, match="frames cannot nest"):
            stager.begin()
        with pytest.raises(sb.StagerError, match="frames cannot nest"), stager.frame():
            pass
        frame.end()
        with pytest.raises(sb.StagerError, match=r"end\(\) outside a frame: this frame has ended"):
            frame.end()
        with pytest.raises(sb.StagerError, match=r"discard\(\) outside a frame: this frame has"):
            frame.discard()
        with pytest.raises(sb.StagerError, match=r"reserve\(\) outside a frame: this frame has"):
            frame.reserve(3)
        with pytest.raises(sb.StagerError, match="a Frame is single-use"), frame:
            pass
        unopened = stager.frame()
        with pytest.raises(sb.StagerError, match=r"end\(\) outside a frame: this frame was never"):
            unopened.end()
        assert centre(fbo, stager) == RED  # nothing of that disturbed the frame on screen
        assert stager.stats.frames == 1


def test_a_lost_frame_can_be_found_and_release_discards_an_open_one(ctx: Any, program: Any) -> None:
    stager = sb.Stager(ctx, LAYOUT, program)

    def begin_frame() -> None:
        stager.begin()  # the frame's reference is lost when the hook fails
        raise RuntimeError("a hook failed before the frame was stored")

    with pytest.raises(RuntimeError):
        begin_frame()
    with pytest.raises(sb.StagerError, match=r"frames cannot nest.*stager.open_frame is it"):
        stager.begin()
    lost = stager.open_frame
    assert lost is not None
    lost.discard()
    assert stager.open_frame is None and stager.stack.bytes_in_use == 0
    frame = stager.begin()
    fill(frame, RED)
    stager.release()  # discards the open frame, then releases
    assert stager.stats.frames_discarded == 2 and stager.stats.frames == 0
    with pytest.raises(sb.StagerError, match="this frame has ended"):
        frame.end()


def test_an_exception_in_a_with_stager_block_is_not_hidden_by_an_open_frame(
    ctx: Any, program: Any
) -> None:
    with (
        pytest.raises(KeyError, match="the app's own error"),
        sb.Stager(ctx, LAYOUT, program) as stager,
    ):
        fill(stager.begin(), RED)
        raise KeyError("the app's own error")
    assert stager.gl_bytes == 0  # released: its GL buffers were freed


def test_a_failed_end_closes_the_frame_and_keeps_the_previous_one(
    ctx: Any, fbo: Any, program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        frame = stager.begin()
        fill(frame, RED)
        frame.end()
        for fault in (KeyboardInterrupt(), RuntimeError("injected")):
            frame = stager.begin()
            fill(frame, GREEN)
            frame.reserve(100_000)["in_pos"] = 5.0  # a bigger frame: new GL buffers
            monkeypatch.setattr(ctx, "buffer", once(ctx.buffer, fault))
            with pytest.raises(type(fault)):
                frame.end()
            monkeypatch.undo()
            assert centre(fbo, stager) == RED
            assert stager.stack.bytes_in_use == 0
            with pytest.raises(sb.StagerError, match="this frame has ended"):
                frame.end()
        frame = stager.begin()  # the stager goes on
        fill(frame, BLUE)
        frame.end()
        assert centre(fbo, stager) == BLUE
        assert stager.stats.frames_discarded == 2


def test_bad_indices_found_at_end_discard_the_frame(ctx: Any, fbo: Any, program: Any) -> None:
    with sb.Stager(ctx, LAYOUT, program) as stager:
        frame = stager.begin()
        fill(frame, RED)
        frame.end()
        frame = stager.begin()
        _, idx = frame.reserve_indexed(3, 3, mode=moderngl.TRIANGLES)
        idx[:] = [0, 1, 7]
        with pytest.raises(ValueError, match="index 7 in the indexed range"):
            frame.end()
        assert centre(fbo, stager) == RED
        assert stager.stats.frames_discarded == 1
