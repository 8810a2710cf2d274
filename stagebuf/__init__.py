"""stagebuf: per-frame GPU buffer staging for Python render loops.

A second stack (:class:`Stack`, and the thread-local :func:`buffer`,
:func:`uninit_slice`, :func:`uninit`) hands out short-lived, reused numpy
slices; the staging layer packs each frame's vertices into them and uploads
them to moderngl buffers.
"""

from __future__ import annotations

from ._arena import (
    ALIGNMENT,
    ARENA_BACKEND,
    CHECKED_ENV,
    PURE_PYTHON_ENV,
    Stack,
    buffer,
    thread_stack,
    uninit,
    uninit_slice,
)
from ._backends._moderngl._uploads import ORPHAN_LIMIT_BYTES, STRATEGIES
from ._errors import (
    EscapedViewWarning,
    GLError,
    LayoutMismatchError,
    ScopeError,
    StackOverflowError,
    StagerError,
    StagingLimitError,
    UniformBetweenReservesWarning,
)
from ._gl import create_headless_context, load_program, shader_dir, shader_source
from ._layout import VertexAttribute, VertexLayout
from ._mesh import Mesh
from ._pack import attribute_words, write_attribute, write_records
from ._recording._backend import BACKEND as RECORDING_BACKEND
from ._recording._frame import Frame
from ._stager import HINT_WINDOW, Stager, StagerStats

__all__ = [
    "ALIGNMENT",
    "ARENA_BACKEND",
    "CHECKED_ENV",
    "HINT_WINDOW",
    "ORPHAN_LIMIT_BYTES",
    "PURE_PYTHON_ENV",
    "RECORDING_BACKEND",
    "STRATEGIES",
    "EscapedViewWarning",
    "Frame",
    "GLError",
    "LayoutMismatchError",
    "Mesh",
    "ScopeError",
    "Stack",
    "StackOverflowError",
    "Stager",
    "StagerError",
    "StagerStats",
    "StagingLimitError",
    "UniformBetweenReservesWarning",
    "VertexAttribute",
    "VertexLayout",
    "attribute_words",
    "buffer",
    "create_headless_context",
    "load_program",
    "shader_dir",
    "shader_source",
    "thread_stack",
    "uninit",
    "uninit_slice",
    "write_attribute",
    "write_records",
]

__version__ = "0.4.0"
