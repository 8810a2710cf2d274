"""Which implementation of the recording's hot path this process runs: compiled or Python.

The compiled module ``_fast`` (built from ``_fast.c`` when the package is
installed where a C compiler is available) provides ``Frame.reserve`` for its
common case (an open frame, the default state or one already checked, room in
the frame's arena slice); everything else, and every error, goes to the
Python method (``Frame._reserve_slow``), which stays the reference. It runs
whenever the module is missing or fails to load (with a warning), and when
``STAGEBUF_PURE_PYTHON=1`` is in the environment at import (the variable that
forces the pure-Python arena too).
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Any

from .._arena._backend import PURE_PYTHON_ENV

__all__ = ["BACKEND", "NOT_BUILT", "fast", "install", "why_python"]

NOT_BUILT = (
    "stagebuf: no C compiler or Python headers here, so the arena and the recording run in "
    "pure Python"
)
"""What the install says when it cannot build the compiled parts, word for word in
setup.py, scripts/_venv.sh and the README (tests/test_package.py keeps them equal)."""

why_python = ""
"""Why the pure-Python recording runs ("" when the compiled one does)."""


def _load() -> ModuleType | None:
    global why_python
    if os.environ.get(PURE_PYTHON_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        why_python = f"{PURE_PYTHON_ENV}=1"
        return None
    name = f"{__package__}._fast"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:  # the module is there, but something it needs is not
            raise
        why_python = "no compiler at install"
        return None
    except ImportError as err:  # built, but it cannot load here (e.g. another numpy ABI)
        why_python = "the compiled module did not load"
        warnings.warn(
            f"stagebuf: the compiled recording did not load ({err}); running the "
            f"pure-Python recording (reinstall stagebuf to rebuild it).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


fast = _load()

BACKEND = "python" if fast is None else "c"
"""``"c"`` or ``"python"``: which ``Frame.reserve`` this process runs."""


def install(
    frame: Any, draw: type, state: type, stream: type, layout: type, *constants: Any
) -> str:
    """Put the compiled ``Frame.reserve`` in place (when it loaded); return the backend.

    The compiled method finds the slots of the five classes by name; a class
    whose slots it does not find as it expects (a change on one side only)
    leaves the Python method in place, with a warning.
    """
    global BACKEND, why_python
    if fast is None:
        return BACKEND
    try:
        method = fast.configure(
            frame, draw, state, stream, layout, *constants, frame.reserve.__doc__
        )
    except (TypeError, ValueError, RuntimeError) as err:
        BACKEND, why_python = "python", "the compiled module does not fit this code"
        warnings.warn(
            f"stagebuf: the compiled recording does not fit the Python classes ({err}); "
            f"running the pure-Python recording (reinstall stagebuf to rebuild it).",
            RuntimeWarning,
            stacklevel=2,
        )
        return BACKEND
    frame.reserve = method
    return BACKEND
