"""Which implementation of the scope fast path this process runs: compiled or Python.

The compiled module ``_fast`` (built from ``_fast.c`` when the package is
installed where a C compiler is available) provides the field bases of
:mod:`._fields` as C types plus the fast path's three parts; the pure-Python
arena is the fallback and the reference. ``STAGEBUF_PURE_PYTHON=1`` in the
environment at import forces the Python one.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = [
    "BACKEND",
    "PURE_PYTHON_ENV",
    "AllocationBase",
    "ChunkBase",
    "MemoryBase",
    "arena_line",
    "fast",
    "load_compiled",
]

PURE_PYTHON_ENV = "STAGEBUF_PURE_PYTHON"
"""Set to 1 to run the pure-Python arena even where the compiled one is built."""


def load_compiled(package: str, what: str) -> tuple[ModuleType | None, str]:
    """``package``'s compiled ``_fast`` module and ``""``, or None and why the
    pure-Python ``what`` ("arena", "recording") runs instead: the environment asks
    for it, the module was not built (no C compiler at install), or it was built
    but cannot load here (another numpy ABI: a RuntimeWarning says so)."""
    if os.environ.get(PURE_PYTHON_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return None, f"{PURE_PYTHON_ENV}=1"
    name = f"{package}._fast"
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError as err:
        if err.name != name:  # the module is there, but something it needs is not
            raise
        return None, "no compiler at install"
    except ImportError as err:  # built, but it cannot load here (e.g. another numpy ABI)
        warnings.warn(
            f"stagebuf: the compiled {what} did not load ({err}); running the pure-Python "
            f"{what} (reinstall stagebuf to rebuild it).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None, "the compiled module did not load"


fast, _why_python = load_compiled(__package__, "arena")
BACKEND = "python" if fast is None else "c"


def arena_line() -> str:
    """The first line the demo and the bench print: the version and which arena runs.

    ``stagebuf 0.3.0, arena: compiled (C)``, or ``stagebuf 0.3.0, arena: pure
    Python (no compiler at install; scopes ~5x slower)`` with the reason.
    """
    # The package's version, from the package already imported (importing it
    # here would make the arena reach the GL layers: tests/test_layers_of_code).
    __version__ = getattr(sys.modules[__name__.partition(".")[0]], "__version__", "?")
    if fast is not None:
        return f"stagebuf {__version__}, arena: compiled (C)"
    return f"stagebuf {__version__}, arena: pure Python ({_why_python}; scopes ~5x slower)"


if TYPE_CHECKING or fast is None:
    from ._fields import AllocationBase, ChunkBase, MemoryBase
else:
    AllocationBase = fast.AllocationBase
    ChunkBase = fast.ChunkBase
    MemoryBase = fast.MemoryBase
