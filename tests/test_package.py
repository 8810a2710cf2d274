"""The public surface that code outside this repo relies on (../shared/DESIGN.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import stagebuf as sb

DESIGN_NAMES = [
    "buffer",
    "uninit_slice",
    "uninit",
    "Stack",
    "VertexLayout",
    "Stager",
    "Frame",
    "Mesh",
    "ARENA_BACKEND",
    "LayoutMismatchError",
    "StagerError",
    "ScopeError",
    "StackOverflowError",
]


def test_design_names_are_exported() -> None:
    missing = [name for name in DESIGN_NAMES if name not in sb.__all__ or not hasattr(sb, name)]
    assert not missing
    for method in ("reserve", "reserve_indexed", "reserve_instances", "draw"):
        assert callable(getattr(sb.Frame, method))


def test_arena_backend_is_pure_python_and_the_switch_is_accepted() -> None:
    assert sb.ARENA_BACKEND == "python"
    env = {**os.environ, "STAGEBUF_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", "import stagebuf; print(stagebuf.ARENA_BACKEND)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "python"
