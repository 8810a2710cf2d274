"""The WebGL2 backend: a :class:`stagebuf.web.Context` whose pages draw the frames.

It answers the recording layer as the moderngl backend does, from what the web
Context knows in Python (programs read from their sources, objects it made).
Its uploader turns a recorded frame into one message's worth of data (the
frame's bytes and its draw list, with attribute offsets resolved: WebGL2 has
no base-vertex or base-instance draws, so the page points attributes per
draw); its renderer adds the frame to the context's command list, which sends
it.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from ..._errors import StagerError
from ..._recording._modes import check_mode as _check_mode
from ..._recording._programs import Binding, ProgramInfo
from .. import Caps
from ._draws import Renderer
from ._uploads import STRATEGIES, Uploader

__all__ = ["WebglBackend"]

# Modes WebGL2 draws: POINTS, LINES, LINE_LOOP, LINE_STRIP, TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN.
_WEBGL_MODES = frozenset(range(7))
_MODE_NAMES = {
    0x000A: "LINES_ADJACENCY",
    0x000B: "LINE_STRIP_ADJACENCY",
    0x000C: "TRIANGLES_ADJACENCY",
    0x000D: "TRIANGLE_STRIP_ADJACENCY",
    0x000E: "PATCHES",
}


class WebglBackend:
    """One web Context as the staging layer sees it."""

    __slots__ = ("caps", "ctx", "frame_ids", "texture_units")

    strategies = STRATEGIES

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        # The page points each draw's attributes at its offset (normalised ones too).
        self.caps = Caps(
            base_vertex=False,
            base_instance=False,
            repoints_normalized=True,
            base_vertex_needs="WebGL2 has no base-vertex draws",
            base_instance_needs="WebGL2 has no base-instance draws",
        )
        self.texture_units = int(ctx.max_texture_units)
        self.frame_ids: set[int] = set()  # the ids of live stagers' frames (pages keep them)

    # -- questions of the recording layer ----------------------------------

    def check_mode(self, mode: object, where: str) -> int:
        number = _check_mode(mode, where)
        if number not in _WEBGL_MODES:
            raise StagerError(
                f"{where}: WebGL2 cannot draw mode {_MODE_NAMES.get(number, number)}; it draws "
                f"POINTS, LINES, LINE_LOOP, LINE_STRIP, TRIANGLES, TRIANGLE_STRIP and "
                f"TRIANGLE_FAN."
            )
        return number

    def check_program(self, program: object, where: str) -> Any:
        from ...web._objects import Program

        if not isinstance(program, Program):
            raise TypeError(
                f"{where}: program must be a program of the web Context (ctx.program(...)); "
                f"got {type(program).__name__} {program!r}."
            )
        if program.released:
            raise ValueError(f"{where}: the program was released; make a new one.")
        if program.ctx is not self.ctx:
            raise ValueError(f"{where}: the program belongs to another context than the stager's.")
        return program

    def check_binding(self, binding: Binding, where: str) -> None:
        """Refuse layouts WebGL2 cannot read (doubles), at the reserve that names them."""
        for bind in (*binding.vertex_binds, *binding.instance_binds):
            token = bind[2]
            if token.endswith("f8"):
                raise StagerError(
                    f"{where}: WebGL2 has no double attributes; attribute format {token!r} "
                    f"cannot be drawn in a page. Use 'f' (float32) in the layout."
                )

    def describe(self, program: Any) -> ProgramInfo:
        info: ProgramInfo = program.info
        return info

    def uniform_values(self, program: Any) -> dict[str, Any]:
        return {name: program._value(name) for name in program.info.uniforms}

    def texture_problem(self, texture: Any) -> str | None:
        from ...web._objects import Texture

        if not isinstance(texture, Texture):
            return f"is a {type(texture).__name__}, not a texture of the web Context"
        if texture.ctx is not self.ctx:
            return "belongs to another context than the stager's"
        if texture.released:
            return "was released"
        return None

    def owns(self, obj: Any) -> bool:
        return getattr(obj, "ctx", None) is self.ctx

    def released(self, obj: Any) -> bool:
        released = getattr(obj, "released", False)
        return bool(released)

    def forget_released(self) -> None:
        """Nothing cached per program here: the Context forgets released objects."""

    # -- meshes (see stagebuf._mesh) ----------------------------------------

    @property
    def buffer_type(self) -> type:
        from ...web._objects import Buffer

        return Buffer

    def check_gl(self, what: str, *args: Any) -> None:
        """No GL in this process: nothing can fail after a call returned."""

    def abandon(self, buffer: Any) -> None:
        buffer._released = True

    # -- the per-stager halves ---------------------------------------------

    def uploader(self, ring_size: int) -> Uploader:
        return Uploader(self)

    def renderer(self, binding: Any, prune: Any, index_size: int) -> Renderer:
        return Renderer(self.ctx)

    # -- the context -------------------------------------------------------

    def is_released(self) -> bool:
        return bool(self.ctx.released)

    def current(self) -> nullcontext[None]:
        return nullcontext()
