"""The public surface that code outside this repo relies on (../shared/DESIGN.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import stagebuf as sb
from stagebuf._arena._scopes import SliceScope

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


def _compiled_module_built() -> bool:
    return importlib.util.find_spec("stagebuf._arena._fast") is not None


def _backend_in_child(env: dict[str, str]) -> str:
    code = (
        "import stagebuf, stagebuf._arena._thread_local as t; "
        "print(stagebuf.ARENA_BACKEND, type(t.uninit_slice).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_arena_backend_is_the_compiled_one_where_it_is_built() -> None:
    forced = os.environ.get(sb.PURE_PYTHON_ENV, "") == "1"
    want = "c" if _compiled_module_built() and not forced else "python"
    assert want == sb.ARENA_BACKEND
    # The compiled backend takes over the thread-local function and the slice
    # scopes' enter and exit; the Python ones stay the reference.
    compiled = sb.ARENA_BACKEND == "c"
    assert (type(sb.uninit_slice).__name__ == "builtin_function_or_method") is compiled
    assert (SliceScope.__enter__.__qualname__ == "AllocationBase.slice_enter") is compiled


def test_pure_python_switch_forces_the_python_arena() -> None:
    env = {**os.environ, sb.PURE_PYTHON_ENV: "1"}
    assert _backend_in_child(env) == "python function"
    env[sb.PURE_PYTHON_ENV] = ""
    want = "c builtin_function_or_method" if _compiled_module_built() else "python function"
    assert _backend_in_child(env) == want


def test_a_compiled_module_that_cannot_load_falls_back_with_a_warning() -> None:
    # As a module built against another numpy or Python would fail at import.
    code = """
import importlib.abc, sys, warnings
class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "stagebuf._arena._fast":
            raise ImportError("undefined symbol: PyBroken")
        return None
sys.meta_path.insert(0, Broken())
warnings.simplefilter("always")
import stagebuf
print(stagebuf.ARENA_BACKEND)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, sb.PURE_PYTHON_ENV: ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "python"
    assert "RuntimeWarning: stagebuf: the compiled arena did not load" in out.stderr
    assert "undefined symbol: PyBroken" in out.stderr
