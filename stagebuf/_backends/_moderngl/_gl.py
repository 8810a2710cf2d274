"""The GL helpers of the moderngl backend: the only place that reads moderngl's
object model (``mglo``, ``InvalidObject``) or its error flag."""

from __future__ import annotations

from typing import Any

from ..._errors import GLError

__all__ = ["check_gl", "is_released"]


def is_released(obj: object) -> bool:
    """True once a moderngl object (a context too) was released: its handle turns invalid."""
    return type(getattr(obj, "mglo", None)).__name__ == "InvalidObject"


def check_gl(ctx: Any, what: str, nbytes: int) -> None:
    """Raise :class:`GLError` when GL reports running out of memory after ``what``
    (a message with ``{}`` for ``nbytes``).

    moderngl does not check errors after buffer creation or writes, so a driver
    that refuses memory would go unnoticed. Only GL_OUT_OF_MEMORY is raised:
    other codes may have been left pending by the application's own calls
    before the stager's (reading the error clears it, so they are dropped).
    """
    error = ctx.error
    if error == "GL_OUT_OF_MEMORY":
        # ``what`` takes the byte count only here: no string formatting per frame.
        raise GLError(f"{what.format(nbytes)} failed: the driver reported {error}.", error=error)
