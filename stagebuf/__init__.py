"""stagebuf: per-frame GPU buffer staging for Python render loops.

A second stack (:class:`Stack`, and the thread-local :func:`buffer`,
:func:`uninit_slice`, :func:`uninit`) hands out short-lived, reused numpy
slices; the staging layer packs each frame's vertices into them and uploads
them to moderngl buffers.
"""

from __future__ import annotations

from ._arena import (
    ALIGNMENT,
    CHECKED_ENV,
    Stack,
    buffer,
    thread_stack,
    uninit,
    uninit_slice,
)
from ._errors import (
    EscapedViewWarning,
    LayoutMismatchError,
    ScopeError,
    StackOverflowError,
    StagingLimitError,
)

__all__ = [
    "ALIGNMENT",
    "CHECKED_ENV",
    "EscapedViewWarning",
    "LayoutMismatchError",
    "ScopeError",
    "Stack",
    "StackOverflowError",
    "StagingLimitError",
    "buffer",
    "thread_stack",
    "uninit",
    "uninit_slice",
]

__version__ = "0.1.0"
