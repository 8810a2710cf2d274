"""Kept for stagebuf._mesh while it moves over: the moderngl helpers live in
stagebuf._backends._moderngl, draw modes in stagebuf._recording._modes."""

from ._backends._moderngl._gl import check_gl, is_released, make_current
from ._recording._modes import check_mode

__all__ = ["check_gl", "check_mode", "is_released", "make_current"]
