"""Backends: what turns a recorded frame into GPU work, chosen by the context's type.

The recording layer (``stagebuf._recording``) asks a backend plain questions:
its :class:`Caps`, ``describe(program)`` (a ``ProgramInfo``), which modes and
textures it can use; at the end of a frame the stager hands the recorded
frame to the backend's uploader, and ``render()`` to its renderer. Each
backend lives in its own subpackage and is imported only when a context of
its kind is first used, so ``import stagebuf`` loads no GL binding it does
not need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Caps", "for_context"]


@dataclass(frozen=True)
class Caps:
    """What a backend's draw calls can do, as the recording layer needs to know it.

    ``base_vertex``/``base_instance``: a draw can start its indices' vertex 0 /
    its instance records past the buffer's start without re-pointing the vertex
    array; ``repoints_normalized``: attributes can be re-pointed at another
    offset and keep their normalisation. ``*_needs`` word what is missing, for
    messages ("GL 4.0; this context is 330").
    """

    base_vertex: bool
    base_instance: bool
    repoints_normalized: bool
    base_vertex_needs: str = ""
    base_instance_needs: str = ""


def for_context(ctx: object, where: str) -> Any:
    """The backend for ``ctx``: TypeError naming what ``ctx`` is when none takes it."""
    import moderngl  # a dependency; imported here so the recording layer never needs it

    if isinstance(ctx, moderngl.Context):
        from ._moderngl import ModernglBackend

        return ModernglBackend(ctx)
    raise TypeError(f"{where}: ctx must be a moderngl.Context; got {type(ctx).__name__} {ctx!r}.")
