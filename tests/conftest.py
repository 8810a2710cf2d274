"""Shared fixtures: seeded randomness, strict numpy errors, one GL context per session."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_and_strict_numpy() -> Iterator[None]:
    random.seed(1234)
    np.random.seed(1234)
    old = np.seterr(all="raise")
    yield
    np.seterr(**old)


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


@pytest.fixture
def ctx(gl_ctx: Any) -> Iterator[Any]:
    """The session context, made current (a test may have made or released its own)
    and checked for pending GL errors before and after a test."""
    gl_ctx.__enter__()
    assert gl_ctx.error == "GL_NO_ERROR"
    yield gl_ctx
    assert gl_ctx.error == "GL_NO_ERROR"
