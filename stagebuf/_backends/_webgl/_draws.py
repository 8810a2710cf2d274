"""Drawing on the web backend: ``render()`` adds the stager's frame to its context's
command list, which sends the frame to the pages."""

from __future__ import annotations

from typing import Any

from ..._recording._drawlist import INDEXED, PLAIN, Draw

__all__ = ["Renderer"]


class Renderer:
    """A stager's renders: the draw calls each page makes for them are counted here."""

    __slots__ = ("ctx", "vertex_arrays_created")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.vertex_arrays_created = 0  # the pages keep one vertex array each

    def render(
        self,
        frame: Any,
        draws: list[Draw],
        ranges: list[tuple[int, int]],
        mode: int | None,
        fixed_restart: bool,
        slots: list[Any],
    ) -> int:
        """Add the frame to the context's frame (and send it); return the draw calls a
        page makes for it."""
        self.ctx._render(frame, mode)
        calls = 0
        for draw in draws:
            if not draw.count:
                continue
            if mode is not None and draw.kind in (PLAIN, INDEXED) and draw.ranges > 1:
                own = ranges[draw.range_start : draw.range_start + draw.ranges]
                calls += sum(1 for _, count in own if count)
            else:
                calls += 1
        return calls

    def release(self) -> None:
        """Nothing held here: the frame's bytes go with the uploader."""

    def forget(self) -> None:
        """Nothing held here."""

    def forget_released(self, slots: list[Any]) -> None:
        """Nothing cached per program or mesh here."""
