"""Exception and warning types raised by stagebuf.

Each subclasses the built-in that fits, so callers can catch either the
stagebuf type or the built-in one.
"""

from __future__ import annotations

__all__ = [
    "EscapedViewWarning",
    "GLError",
    "LayoutMismatchError",
    "ScopeError",
    "StackOverflowError",
    "StagerError",
    "StagingLimitError",
    "UniformBetweenReservesWarning",
]


class StackOverflowError(MemoryError):
    """A stack request would exceed the stack's ``max_capacity`` (or the machine's memory).

    ``requested_bytes`` is what the request needed, ``limit_bytes`` the limit it
    hit (``None`` when the operating system refused the memory).
    """

    def __init__(self, message: str, *, requested_bytes: int, limit_bytes: int | None) -> None:
        super().__init__(message)
        self.requested_bytes = requested_bytes
        self.limit_bytes = limit_bytes


class ScopeError(RuntimeError):
    """A stack scope was used out of its life cycle (entered twice, ended twice)."""


class EscapedViewWarning(RuntimeWarning):
    """Checked mode: a view outlived the closure-form scope that handed it out."""


class StagingLimitError(MemoryError):
    """A frame asked for more vertices or indices than the stager's limit allows.

    ``requested`` is the total the frame would have needed, ``limit`` the cap.
    Nothing already staged in the frame is lost.
    """

    def __init__(self, message: str, *, requested: int, limit: int) -> None:
        super().__init__(message)
        self.requested = requested
        self.limit = limit


class LayoutMismatchError(ValueError):
    """A vertex layout does not provide what a shader program needs."""


class StagerError(RuntimeError):
    """A stager was used out of its life cycle: reserve outside a frame, nested
    frames, render before any frame, or use after it or its context was released."""


class GLError(StagerError):
    """The GL driver reported an error (``error``, e.g. ``"GL_OUT_OF_MEMORY"``) after a
    call the stager made: the frame that hit it was not uploaded."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


class UniformBetweenReservesWarning(UserWarning):
    """A program's uniform changed between two of its ranges in one frame: the draw
    list sets uniforms at render(), so every range drew with the last value. Pass
    the value per range (``reserve(..., uniforms=...)``). Said once per stager."""
