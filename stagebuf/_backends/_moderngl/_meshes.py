"""What a Mesh asks of a moderngl context: its buffers, made, checked and freed on
that context (see stagebuf._mesh)."""

from __future__ import annotations

from typing import Any

import moderngl

from ..._recording._modes import check_mode
from ._current import on, remember
from ._gl import check_gl, is_released

__all__ = ["MeshGL"]


class MeshGL:
    """A moderngl context as a Mesh uses it."""

    __slots__ = ("ctx",)

    buffer_type = moderngl.Buffer

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        if not is_released(ctx):
            remember(ctx)  # a window context is known by what is current when first met

    def check_mode(self, mode: object, where: str) -> int:
        return check_mode(mode, where)

    def is_released(self) -> bool:
        return is_released(self.ctx)

    def released(self, obj: Any) -> bool:
        return is_released(obj)

    def current(self) -> on:
        return on(self.ctx)

    def check_gl(self, what: str, *args: Any) -> None:
        check_gl(self.ctx, what, *args)

    def abandon(self, buffer: Any) -> None:
        """Invalidate a buffer of a released context without a GL call, so that neither
        a later buffer.release() nor moderngl's finaliser (gc_mode="auto") deletes its
        name on whatever context is current then."""
        if not is_released(buffer):
            buffer.mglo = moderngl.InvalidObject()
