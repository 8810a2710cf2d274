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

import warnings
from typing import Any

from .._arena._backend import load_compiled

__all__ = ["BACKEND", "NOT_BUILT", "fast", "install", "why_python"]

NOT_BUILT = (
    "stagebuf: no C compiler or Python headers here, so the arena and the recording run in "
    "pure Python"
)
"""What the install says when it cannot build the compiled parts, word for word in
setup.py, scripts/_venv.sh and the README (tests/test_package.py keeps them equal)."""

fast, why_python = load_compiled(__package__, "recording")

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
