"""`on(ctx)` (stagebuf._backends._moderngl._current): GL calls of a block go to `ctx`,
and afterwards exactly the context that was current before is current again, proved
by pixels in two standalone EGL contexts; nesting, exceptions and interrupts restore
too; a context that cannot be made current raises StagerError before the block."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moderngl
import numpy as np
import pytest

from stagebuf import StagerError
from stagebuf._backends._moderngl import _current
from stagebuf._backends._moderngl._current import current_native, is_current, on, remember

RED = (1.0, 0.0, 0.0, 1.0)
GREEN = (0.0, 1.0, 0.0, 1.0)
BLUE = (0.0, 0.0, 1.0, 1.0)
BLACK = (0.0, 0.0, 0.0, 1.0)

# A triangle covering the viewport, from gl_VertexID alone (no buffer).
VERTEX = """#version 330 core
void main() {
    vec2 p = vec2((gl_VertexID == 1) ? 3.0 : -1.0, (gl_VertexID == 2) ? 3.0 : -1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}
"""
FRAGMENT = """#version 330 core
uniform vec4 u_color;
out vec4 f_color;
void main() { f_color = u_color; }
"""


class Target:
    """A context with a 4x4 framebuffer and a program that fills it with a colour."""

    def __init__(self, ctx: Any) -> None:
        ctx.__enter__()
        self.ctx = ctx
        self.fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((4, 4), 4)])
        self.prog = ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        self.vao = ctx.vertex_array(self.prog, [])

    def fill(self, color: tuple[float, float, float, float]) -> None:
        """Draw ``color`` over the framebuffer, on whatever context is current."""
        self.fbo.use()
        self.prog["u_color"].value = color
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def pixel(self) -> tuple[int, ...]:
        """The framebuffer's colour, read on its own context (left current)."""
        self.ctx.__enter__()
        data = np.frombuffer(self.fbo.read(components=4, alignment=1), np.uint8)
        colors = {tuple(int(v) for v in px) for px in data.reshape(-1, 4)}
        assert len(colors) == 1, colors
        return colors.pop()

    def release(self) -> None:
        self.ctx.__enter__()
        self.ctx.detect_framebuffer(0).use()  # never release the bound framebuffer
        for obj in (self.vao, self.prog, self.fbo):
            obj.release()


def rgba(color: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(255 * c) for c in color)


@pytest.fixture
def ctx_b(ctx: Any) -> Iterator[Any]:
    """A second standalone EGL context (moderngl's default context left as it was)."""
    default = moderngl._store.default_context
    b = moderngl.create_context(standalone=True, backend="egl")
    yield b
    ctx.__enter__()
    b.release()
    moderngl._store.default_context = default


@pytest.fixture
def a(ctx: Any) -> Iterator[Target]:
    target = Target(ctx)
    yield target
    target.release()


@pytest.fixture
def b(ctx_b: Any) -> Iterator[Target]:
    target = Target(ctx_b)
    yield target
    target.release()


def now() -> int:
    """The native context current on this thread (it must be one)."""
    state = current_native()
    assert state is not None
    return state.context


def handle(ctx: Any) -> int:
    """The native context of ``ctx`` (made current, then left current)."""
    ctx.__enter__()
    state = current_native()
    assert state is not None
    return state.context


def test_the_issue_19_case_the_callers_context_stays_current(a: Target, b: Target) -> None:
    # `with ctx_b: st_a.render(); fbo_b.clear(0, 1, 0, 1)` turned A's framebuffer green.
    a.ctx.__enter__()
    a.fbo.use()
    a.fbo.clear(*BLACK)
    b.ctx.__enter__()
    b.fbo.use()
    b.fbo.clear(*BLACK)
    with b.ctx:
        with on(a.ctx):
            a.fill(RED)  # the stager's render, on its own context
        b.fbo.clear(*GREEN)  # the application's next call, meant for B
        b.fill(BLUE)
        b.fill(GREEN)
    assert a.pixel() == rgba(RED)
    assert b.pixel() == rgba(GREEN)


def test_the_block_draws_on_its_context_and_leaves_the_other_alone(a: Target, b: Target) -> None:
    hb = handle(b.ctx)
    for target in (a, b):
        target.ctx.__enter__()
        target.fbo.use()
        target.fbo.clear(*BLACK)
    b.ctx.__enter__()
    with on(a.ctx) as entered:
        assert entered is a.ctx
        assert is_current(a.ctx)
        a.fill(BLUE)
    assert now() == hb
    b.fill(GREEN)  # right after the block: B's objects on B
    assert a.pixel() == rgba(BLUE)
    assert b.pixel() == rgba(GREEN)


def test_draw_and_read_surfaces_and_display_are_restored(a: Target, b: Target) -> None:
    b.ctx.__enter__()
    before = current_native()
    assert before is not None
    with on(a.ctx):
        inside = current_native()
        assert inside is not None
        assert inside.context != before.context
    after = current_native()
    assert after is not None
    assert (after.api, after.display, after.draw, after.read, after.context) == (
        before.api,
        before.display,
        before.draw,
        before.read,
        before.context,
    )


def test_nothing_current_before_means_nothing_current_after(a: Target) -> None:
    with a.ctx:
        pass  # moderngl's EGL exit makes no context current
    assert current_native() is None
    with on(a.ctx):
        a.fbo.use()
        a.fbo.clear(*RED)
    assert current_native() is None
    assert a.pixel() == rgba(RED)


def test_nesting_restores_each_level(a: Target, b: Target) -> None:
    ha, hb = handle(a.ctx), handle(b.ctx)
    seen = []
    b.ctx.__enter__()
    with on(a.ctx):
        seen.append(now())
        with on(b.ctx):
            seen.append(now())
            with on(a.ctx):
                seen.append(now())
                a.fill(RED)
                with on(a.ctx):  # the same context again: no switch
                    seen.append(now())
                seen.append(now())
            seen.append(now())
            b.fill(GREEN)
        seen.append(now())
    seen.append(now())
    assert seen == [ha, hb, ha, ha, ha, hb, ha, hb]
    assert a.pixel() == rgba(RED)
    assert b.pixel() == rgba(GREEN)


def test_an_exception_inside_restores(a: Target, b: Target) -> None:
    hb = handle(b.ctx)
    with pytest.raises(ZeroDivisionError), on(a.ctx):
        a.fill(RED)
        _ = 1 / 0
    assert now() == hb
    b.fill(GREEN)
    assert b.pixel() == rgba(GREEN)
    assert a.pixel() == rgba(RED)


def test_a_keyboard_interrupt_inside_restores(a: Target, b: Target) -> None:
    hb = handle(b.ctx)
    with pytest.raises(KeyboardInterrupt), on(a.ctx):
        raise KeyboardInterrupt
    assert now() == hb


def test_a_keyboard_interrupt_during_the_switch_restores(
    a: Target, b: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    hb = handle(b.ctx)
    with on(a.ctx):  # learn A's native context first
        pass
    enter = a.ctx.__enter__

    def interrupted() -> Any:
        enter()
        raise KeyboardInterrupt  # after the switch, before the check

    monkeypatch.setattr(a.ctx, "__enter__", interrupted)
    ran = False
    with pytest.raises(KeyboardInterrupt), on(a.ctx):
        ran = True
    assert not ran
    assert now() == hb


def test_no_switch_when_the_context_is_already_current(
    a: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    a.ctx.__enter__()
    with on(a.ctx):  # learns A's native context
        pass
    calls = []
    enter = a.ctx.__enter__

    def counted() -> Any:
        calls.append(1)
        return enter()

    monkeypatch.setattr(a.ctx, "__enter__", counted)
    for _ in range(3):
        with on(a.ctx):
            a.fill(GREEN)
    assert calls == []
    assert a.pixel() == rgba(GREEN)


class _NoSwitch:
    """A glcontext-like backend whose enter does nothing (a driver refusing every switch)."""

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


_NoSwitch.__module__ = "egl"  # claims to be glcontext's EGL backend


class _FakeContext:
    def __init__(self) -> None:
        self.mglo = type("mglo", (), {"_context": _NoSwitch()})()

    def __enter__(self) -> _FakeContext:
        self.mglo._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mglo._context.__exit__()

    def __repr__(self) -> str:
        return "<FakeContext that cannot switch>"


def test_a_context_that_does_not_switch_raises_and_restores(b: Target) -> None:
    hb = handle(b.ctx)
    fake = _FakeContext()
    ran = False
    with (
        pytest.raises(
            StagerError,
            match=r"cannot make the moderngl context <FakeContext that cannot switch> \(EGL\) "
            r"current: the driver refused the switch",
        ),
        on(fake),
    ):
        ran = True
    assert not ran
    assert now() == hb


@pytest.fixture
def window_ctx(ctx_b: Any) -> Any:
    """What `moderngl.create_context()` makes in a glfw/pyglet window: a context detected
    from the current one (here B) through moderngl's DefaultLoader, which cannot switch."""
    default = moderngl._store.default_context
    ctx_b.__enter__()
    moderngl.init_context()
    win = moderngl.get_context()
    moderngl._store.default_context = default
    assert type(win.mglo._context).__name__ == "DefaultLoader"
    return win


def test_a_window_context_refuses_to_run_while_another_is_current(
    a: Target, b: Target, window_ctx: Any
) -> None:
    b.ctx.__enter__()
    remember(window_ctx)  # made with its window current, as a Stager or Mesh does
    b.fbo.use()
    b.fbo.clear(*BLACK)
    a.ctx.__enter__()
    a.fbo.use()
    a.fbo.clear(*BLACK)
    ha = handle(a.ctx)
    ran = False
    with (
        pytest.raises(
            StagerError,
            match=r"^The moderngl context <moderngl\.Context object at 0x[0-9a-f]+>, a window "
            r"context moderngl detected \(moderngl.create_context\(\) in a window\) is not "
            r"current and cannot be made current \(moderngl's __enter__ does nothing for it\): "
            r"the current EGL context is 0x[0-9a-f]+, not its own \(0x[0-9a-f]+\)\. Nothing "
            r"was staged or drawn; make its window's context current first",
        ),
        on(window_ctx),
    ):
        ran = True
    assert not ran
    assert now() == ha
    # With its own context current, it works (and writes into B, which it is).
    b.ctx.__enter__()
    with on(window_ctx):
        # B's framebuffer by its GL name, through the window context: it is B's native one.
        window_ctx.detect_framebuffer(b.fbo.glo).clear(*GREEN)
    assert b.pixel() == rgba(GREEN)
    assert a.pixel() == rgba(BLACK)


def test_a_window_context_is_identified_at_first_sight(b: Target, window_ctx: Any) -> None:
    hb = handle(b.ctx)
    with on(window_ctx):  # no remember(): the first on() takes what is current
        assert now() == hb
    assert is_current(window_ctx)


def test_a_window_context_first_met_with_nothing_current_raises(ctx_b: Any) -> None:
    default = moderngl._store.default_context
    ctx_b.__enter__()
    moderngl.init_context()
    win = moderngl.get_context()
    moderngl._store.default_context = default
    with ctx_b:
        pass  # now nothing is current
    remember(win)  # does nothing: nothing to identify it by
    with (
        pytest.raises(StagerError, match=r"no GL context is current, so the moderngl context"),
        on(win),
    ):
        pass


def test_a_released_context_raises(ctx: Any) -> None:
    default = moderngl._store.default_context
    c = moderngl.create_context(standalone=True, backend="egl")
    kept = moderngl.create_context(standalone=True, backend="egl")
    moderngl._store.default_context = default
    with on(kept):
        pass  # known to the module before its release
    c.release()
    kept.release()
    ctx.__enter__()
    hx = now()
    for released in (c, kept):
        with (
            pytest.raises(StagerError, match=r"the moderngl context .* was released\."),
            on(released),
        ):
            pass
        assert now() == hx


def test_the_native_libraries_are_the_ones_glcontext_loads() -> None:
    assert _current.EGL.loaded()
    state = current_native()
    assert state is None or state.api in _current._APIS


# -- a real window context (GLX) under Xvfb, beside a standalone EGL one ---------------

_GLFW_SCRIPT = textwrap.dedent(
    """
    import glfw, moderngl, numpy as np
    from stagebuf import StagerError
    from stagebuf._backends._moderngl._current import on, remember, current_native

    def same(x, y):
        return (x.api, x.display, x.draw, x.read, x.context) == (
            y.api, y.display, y.draw, y.read, y.context)

    def pixel(fbo):
        return tuple(int(v) for v in np.frombuffer(fbo.read(components=4), np.uint8)[:4])

    assert glfw.init()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.VISIBLE, False)
    w1 = glfw.create_window(8, 8, "one", None, None)
    w2 = glfw.create_window(8, 8, "two", None, None)
    glfw.make_context_current(w1)
    c1 = moderngl.create_context()     # the first: moderngl's DefaultLoader, cannot switch
    remember(c1)
    at_w1 = current_native()
    fbo1 = c1.framebuffer(color_attachments=[c1.renderbuffer((2, 2), 4)])
    fbo1.use(); fbo1.clear(0.0, 0.0, 0.0, 1.0)
    glfw.make_context_current(w2)
    c2 = moderngl.create_context()     # the second: glcontext's X11 'detect', switches
    print("kinds", type(c1.mglo._context).__name__, type(c2.mglo._context).__module__)
    fbo2 = c2.framebuffer(color_attachments=[c2.renderbuffer((2, 2), 4)])
    at_w2 = current_native()

    # Issue 17: staging for window 1 while window 2 is current is refused.
    try:
        with on(c1):
            raise SystemExit("ran on the wrong window")
    except StagerError as err:
        print("refused:", err)
    assert same(current_native(), at_w2)

    # The X11 context of window 2 switches from window 1 and back.
    glfw.make_context_current(w1)
    with on(c2):
        assert same(current_native(), at_w2)
        fbo2.use(); fbo2.clear(1.0, 0.0, 0.0, 1.0)
    assert same(current_native(), at_w1)
    with on(c1):                       # window 1 current: allowed
        assert pixel(fbo1) == (0, 0, 0, 255), pixel(fbo1)   # window 2's clear stayed there
    with on(c2):
        assert pixel(fbo2) == (255, 0, 0, 255), pixel(fbo2)

    # A standalone EGL context beside GLX: GLX released, EGL current, GLX back.
    egl = moderngl.create_context(standalone=True, backend="egl")
    glfw.make_context_current(w1)
    with on(egl):
        assert current_native().api.name == "EGL"
        fbo = egl.framebuffer(color_attachments=[egl.renderbuffer((2, 2), 4)])
        fbo.use(); fbo.clear(0.0, 0.0, 1.0, 1.0)
        assert pixel(fbo) == (0, 0, 255, 255), pixel(fbo)
    assert same(current_native(), at_w1), (current_native(), at_w1)
    print("ok")
    """
)


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_glfw_window_contexts_under_xvfb(tmp_path: Path) -> None:
    script = tmp_path / "windows.py"
    script.write_text(_GLFW_SCRIPT)
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 640x480x24", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "refused: The moderngl context" in proc.stdout
    assert "a window context moderngl detected" in proc.stdout
    assert "the current GLX context is 0x" in proc.stdout
    assert proc.stdout.rstrip().endswith("ok")


def test_a_stager_of_a_window_context_refuses_to_stage_while_another_is_current(
    a: Target, b: Target, window_ctx: Any
) -> None:
    """Issue 17: a window context that cannot be made current must not stage into
    whatever context is current (GL names are per context: it would overwrite that
    context's buffers of the same names)."""
    import stagebuf as sb

    b.ctx.__enter__()  # the window's context is current while the stager is made
    program = sb.load_program(window_ctx)
    layout = sb.VertexLayout(in_pos="2f", in_color="4f1")
    stager = sb.Stager(window_ctx, layout, program, strategy="write")
    with stager.frame() as frame:
        frame.reserve(3)[:] = 0  # its first frame, on its own context
    a.ctx.__enter__()  # another context current now
    theirs = [a.ctx.buffer(bytes([i]) * 64) for i in range(16)]
    with (
        pytest.raises(StagerError, match=r"is not current and cannot be made current"),
        stager.frame() as frame,
    ):
        frame.reserve(3)[:] = 0
    assert stager.stats.frames == 1 and stager.stats.frames_discarded == 1
    assert stager.stack.bytes_in_use == 0
    for i, buffer in enumerate(theirs):
        assert buffer.read() == bytes([i]) * 64  # nothing written into A's buffers
        buffer.release()
    b.ctx.__enter__()  # its own context current again: it stages and draws
    with stager.frame() as frame:
        frame.reserve(3)[:] = 0
    stager.render()
    assert stager.stats.frames == 2
    stager.release()
    program.release()
