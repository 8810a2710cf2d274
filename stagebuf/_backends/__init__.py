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

__all__ = ["Caps", "for_context", "mesh_gl"]


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
    # A context that brings its own backend (stagebuf.web.Context) says so.
    own = getattr(type(ctx), "_stagebuf_backend", None)
    if own is not None:
        return own(ctx)
    import moderngl  # a dependency; imported here so the recording layer never needs it

    if isinstance(ctx, moderngl.Context):
        from ._moderngl import ModernglBackend

        return ModernglBackend(ctx)
    raise TypeError(
        f"{where}: ctx must be a moderngl.Context; got {type(ctx).__name__} {ctx!r} (or a "
        f"stagebuf.web.Context, to draw in browser pages)."
    )


def mesh_gl(ctx: object, where: str) -> Any:
    """What a Mesh needs of ``ctx``: ``buffer_type``, ``is_released()``,
    ``released(obj)``, ``current()``, ``check_gl(what, *args)`` and
    ``abandon(buffer)``; TypeError naming ``ctx`` when no backend takes it."""
    own = getattr(type(ctx), "_stagebuf_backend", None)
    if own is not None:
        return own(ctx)
    import moderngl

    if isinstance(ctx, moderngl.Context):
        from ._moderngl._meshes import MeshGL

        return MeshGL(ctx)
    return for_context(ctx, where)  # raises, naming ctx
