"""The public surface that code outside this repo relies on (../shared/DESIGN.md)."""

from __future__ import annotations

import importlib.util
import os
import runpy
import subprocess
import sys
from typing import Any

import pytest

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
    "RECORDING_BACKEND",
    "write_attribute",
    "write_records",
    "LayoutMismatchError",
    "StagerError",
    "ScopeError",
    "StackOverflowError",
]


def test_design_names_are_exported() -> None:
    missing = [name for name in DESIGN_NAMES if name not in sb.__all__ or not hasattr(sb, name)]
    assert not missing
    for method in (
        "reserve",
        "reserve_indexed",
        "reserve_instances",
        "reserve_attributes",
        "draw",
        "end",
        "discard",
    ):
        assert callable(getattr(sb.Frame, method))
    assert callable(sb.Stager.begin)  # 0.4: a frame without a with-block
    assert sb.RECORDING_BACKEND in ("c", "python")


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


# -- which arena runs: the install's line, and the programs' first lines --------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_module() -> dict[str, Any]:
    """setup.py's names, without running setup()."""
    import setuptools

    real = setuptools.setup
    setuptools.setup = lambda **kwargs: None
    try:
        return runpy.run_path(os.path.join(ROOT, "setup.py"))
    finally:
        setuptools.setup = real


def test_the_no_compiler_line_is_one_wording_in_setup_the_scripts_and_the_readme() -> None:
    # One line for both compiled parts: a machine without a compiler builds neither.
    from stagebuf._recording._backend import NOT_BUILT

    assert _setup_module()["NOT_BUILT"] == NOT_BUILT
    with open(os.path.join(ROOT, "scripts", "_venv.sh")) as f:
        assert f'sys.stderr.write("{NOT_BUILT}\\n")' in f.read()
    with open(os.path.join(ROOT, "README.md")) as f:
        assert f"`{NOT_BUILT}`" in " ".join(f.read().split())  # lines wrapped as Markdown


@pytest.mark.parametrize("fails", [True, False], ids=["no compiler", "built"])
def test_the_build_says_which_arena_it_built(
    fails: bool, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    names = _setup_module()
    told: list[str] = []
    monkeypatch.setitem(names["OptionalBuildExt"].build_extensions.__globals__, "tell", told.append)

    def compile_or_fail(self: Any, ext: Any) -> None:
        if fails:
            raise RuntimeError("command 'cc' failed: No such file or directory")

    monkeypatch.setattr(build_ext, "build_extension", compile_or_fail)
    command = names["OptionalBuildExt"](Distribution())
    command.extensions = [Extension("stagebuf._arena._fast", ["stagebuf/_arena/_fast.c"])]
    command.build_extensions()
    assert told == [names["NOT_BUILT"] if fails else names["BUILT"]]
    assert command.extensions == ([] if fails else command.extensions)
    if fails:  # the reason, for the build log
        assert "'cc' failed" in capfd.readouterr().err


def test_the_build_line_covers_both_compiled_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup.py builds the arena and the recording; its one line says what it built."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    names = _setup_module()
    assert "arena and the recording run in pure Python" in names["NOT_BUILT"]
    assert names["BUILT"] == "stagebuf: built the compiled arena and recording (C)"
    told: list[str] = []
    monkeypatch.setitem(names["OptionalBuildExt"].build_extensions.__globals__, "tell", told.append)

    def fail_the_recording(self: Any, ext: Any) -> None:
        if ext.name == "stagebuf._recording._fast":
            raise RuntimeError("stagebuf/_recording/_fast.c:1: error")

    monkeypatch.setattr(build_ext, "build_extension", fail_the_recording)
    command = names["OptionalBuildExt"](Distribution())
    command.extensions = [Extension(n, [f"{n.replace('.', '/')}.c"]) for n in names["PARTS"]]
    command.build_extensions()
    assert told == [
        "stagebuf: built the compiled arena (C); the recording runs in pure Python "
        "(its build failed)"
    ]
    assert [ext.name for ext in command.extensions] == ["stagebuf._arena._fast"]


def _arena_line_in_child(env: dict[str, str], code: str = "") -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "from stagebuf._arena._backend import arena_line\nprint(arena_line())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_the_arena_line_says_which_arena_runs_and_why() -> None:
    from stagebuf._arena._backend import arena_line

    head = f"stagebuf {sb.__version__}, arena: "
    if sb.ARENA_BACKEND == "c":
        assert arena_line() == head + "compiled (C)"
    forced = {**os.environ, sb.PURE_PYTHON_ENV: "1"}
    assert _arena_line_in_child(forced) == (
        head + "pure Python (STAGEBUF_PURE_PYTHON=1; scopes ~5x slower)"
    )
    hidden = """
import importlib.abc, sys
class NotBuilt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "stagebuf._arena._fast":
            raise ModuleNotFoundError(name=name)
        return None
sys.meta_path.insert(0, NotBuilt())
"""
    env = {**os.environ, sb.PURE_PYTHON_ENV: ""}
    assert _arena_line_in_child(env, hidden) == (
        head + "pure Python (no compiler at install; scopes ~5x slower)"
    )


def test_the_bench_prints_which_arena_runs_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stagebuf._arena._backend import arena_line
    from stagebuf.bench import __main__ as bench_main
    from stagebuf.bench import _arena_bench

    monkeypatch.setattr(_arena_bench, "run", lambda **kwargs: print("the table"))
    assert bench_main.main(["arena", "--quick"]) == 0
    assert capsys.readouterr().out.splitlines() == [arena_line(), "the table"]


SMALL = ["--frames", "1", "--triangles", "10", "--size", "16x16", "--out", "f.png"]


@pytest.mark.gl
def test_the_demo_prints_which_arena_runs_first(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "triangles.py"), "--headless", *SMALL],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    want = "compiled (C)" if sb.ARENA_BACKEND == "c" else "pure Python ("
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"stagebuf {sb.__version__}, arena: {want}"), proc.stdout
