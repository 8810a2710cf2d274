"""Shared fixtures: seeded randomness, strict numpy errors, one GL context per session."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from arena_kinds import KINDS, Api, api_of


@pytest.fixture(autouse=True)
def _seed_and_strict_numpy() -> Iterator[None]:
    random.seed(1234)
    np.random.seed(1234)
    old = np.seterr(all="raise")
    yield
    np.seterr(**old)
    # No test leaves an exception "being handled" on the thread: every later
    # exception would carry it as __context__, and its traceback keeps frames
    # (and their slices) alive.
    assert sys.exc_info()[1] is None, f"an exception is still being handled: {sys.exc_info()!r}"


_NO_MAPPED = "STAGEBUF_NO_MAPPED"


def _mapping_off() -> bool:
    return os.environ.get(_NO_MAPPED, "") not in ("", "0")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every GL test runs with the default strategy both ways: "mapped" (mapping on)
    # and "ring" (mapping off). With STAGEBUF_NO_MAPPED set, only the second.
    if "ctx" in metafunc.fixturenames and not _mapping_off():
        metafunc.parametrize(
            "_default_strategy", ["mapping-on", "mapping-off"], indirect=True, scope="function"
        )


@pytest.fixture(autouse=True)
def _default_strategy(request: pytest.FixtureRequest) -> Iterator[None]:
    """Switch persistent mapping off for the "mapping-off" run of a GL test (the
    default strategy is then "ring"); skip tests that ask for "mapped" explicitly
    while mapping is off."""
    param = getattr(request, "param", None)
    callspec = getattr(request.node, "callspec", None)
    asks = callspec is not None and callspec.params.get("strategy") == "mapped"
    if param == "mapping-off" or _mapping_off():
        if asks:
            pytest.skip("strategy 'mapped' with mapping switched off")
        mp = pytest.MonkeyPatch()
        mp.setenv(_NO_MAPPED, "1")
        yield
        mp.undo()
    else:
        yield


@pytest.fixture(scope="session")
def gl_ctx() -> Iterator[Any]:
    """A standalone EGL context (llvmpipe on machines without a GPU)."""
    import moderngl

    try:
        ctx = moderngl.create_context(standalone=True, backend="egl")
    except Exception as err:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no standalone EGL context here: {err}")
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (stagebuf.web._chromium.Browser) for the browser tests.
    Skipped where there is no chromium; under CI a missing chromium fails instead."""
    from stagebuf.web._chromium import Browser, find_chromium

    if find_chromium() is None:
        message = "no chromium here: apt-get install -y chromium (the browser tests need it)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, and CI must not skip them")
        pytest.skip(message)
    with Browser() as driven:
        yield driven


@pytest.fixture
def ctx(gl_ctx: Any) -> Iterator[Any]:
    """The session context, made current (a test may have made or released its own)
    and checked for pending GL errors before and after a test."""
    gl_ctx.__enter__()
    assert gl_ctx.error == "GL_NO_ERROR"
    yield gl_ctx
    assert gl_ctx.error == "GL_NO_ERROR"


FBO_SIZE = 64  # small: llvmpipe's raster cost stays out of the way


@pytest.fixture
def program(ctx: Any) -> Iterator[Any]:
    """The project's triangle program (shaders/triangles.*) on the session context."""
    from stagebuf._gl import load_program

    prog = load_program(ctx)
    yield prog
    prog.release()


@pytest.fixture(scope="session")
def _session_fbo(gl_ctx: Any) -> Iterator[Any]:
    # One framebuffer for the session: releasing the bound framebuffer and then
    # making another leaves GL_INVALID_OPERATION pending on Mesa. Higher-scoped
    # fixtures are set up before the per-test `ctx`: make the context current.
    gl_ctx.__enter__()
    fb = gl_ctx.framebuffer(color_attachments=[gl_ctx.renderbuffer((FBO_SIZE, FBO_SIZE), 4)])
    yield fb
    gl_ctx.__enter__()
    gl_ctx.detect_framebuffer(0).use()  # never release the bound framebuffer
    fb.release()


@pytest.fixture
def fbo(ctx: Any, _session_fbo: Any) -> Any:
    """A FBO_SIZE x FBO_SIZE RGBA framebuffer, bound, with blending off."""
    import moderngl

    _session_fbo.use()
    ctx.viewport = (0, 0, FBO_SIZE, FBO_SIZE)
    ctx.disable(moderngl.BLEND)
    return _session_fbo


@pytest.fixture(params=KINDS)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """Each kind of stack the arena tests run on (see arena_kinds.KINDS)."""
    yield from api_of(request)


@pytest.fixture
def fast() -> Any:
    """An owned stack that takes the inline fast paths (no lock, not checked)."""
    import stagebuf as sb

    return sb.Stack(thread_safe=False)
