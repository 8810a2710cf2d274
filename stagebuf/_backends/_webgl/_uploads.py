"""A recorded frame as the pages take it: its bytes and its draw list, encoded once
at the end of the frame.

Each draw names its program, mode and counts, the attribute sets it reads
(a format from the frame's table, the buffer, the byte offset: WebGL2 has no
base vertex or base instance, so a draw past the buffer's start is pointed
there), its element buffer, uniforms, textures and, for merged draws, its
ranges (``render(mode=)`` draws them one by one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._recording._drawlist import INDEXED, INSTANCED, PLAIN, STREAMED, Draw
from ..._recording._frame import RecordedFrame
from ..._recording._programs import Binding
from ..._recording._streams import Stream

if TYPE_CHECKING:
    from . import WebglBackend

__all__ = ["STRATEGIES", "Uploader", "WebFrame"]

STRATEGIES = ("send",)
"""The web backend has one way to upload: the frame is sent to the pages."""

_FRAME = -1  # an attribute set or element buffer in the frame's own data
# GL vertex attribute types by (scalar kind, bytes).
_GL_TYPES = {
    ("f", 4): 0x1406,  # FLOAT
    ("f", 2): 0x140B,  # HALF_FLOAT
    ("f", 1): 0x1401,  # UNSIGNED_BYTE, normalised ('f1')
    ("i", 1): 0x1400,  # BYTE
    ("i", 2): 0x1402,  # SHORT
    ("i", 4): 0x1404,  # INT
    ("u", 1): 0x1401,  # UNSIGNED_BYTE
    ("u", 2): 0x1403,  # UNSIGNED_SHORT
    ("u", 4): 0x1405,  # UNSIGNED_INT
}
_INDEX_TYPES = {2: 0x1403, 4: 0x1405}  # UNSIGNED_SHORT, UNSIGNED_INT
_BINDINGS_KEPT = 256  # cached bindings before released programs' are dropped


@dataclass
class WebFrame:
    """A stager's uploaded frame, as the context's command list names it."""

    wire: Any  # web._objects.Wire: a new id for each upload (pages hold several at once)
    programs: list[Any] = field(default_factory=list)
    objects: list[Any] = field(default_factory=list)  # textures and mesh buffers drawn
    # What stagebuf's properties read on other backends' slots.
    vbo: Any = None
    ibo: Any = None


class Uploader:
    """Encodes a stager's frames; keeps the last one for ``render()``."""

    __slots__ = (
        "backend",
        "bindings",
        "buffers_created",
        "drawn",
        "fixed_restart",
        "frame_id",
        "lost",
        "slots",
        "strategy",
    )

    def __init__(self, backend: WebglBackend) -> None:
        self.backend = backend
        self.frame_id = 0  # the id of the last upload: alive while this stager may render it
        self.strategy = ""
        self.drawn: WebFrame | None = None
        self.slots: list[Any] = []
        self.lost: str | None = None
        self.fixed_restart = False
        self.buffers_created = 0
        self.bindings: dict[tuple[Any, ...], tuple[list[Any], list[Any]]] = {}

    def set_strategy(self, strategy: str) -> None:
        self.strategy = strategy

    @property
    def nbytes(self) -> int:
        """Bytes of the last frame held for the pages."""
        if self.drawn is None:
            return 0
        return sum(len(blob) for blob in self.drawn.wire.blobs)

    def upload(self, frame: RecordedFrame, index_dtype: np.dtype[Any]) -> int:
        """Encode the frame; return the copies made (one per stream with data)."""
        from ...web._objects import Wire, next_id

        formats: list[Any] = []
        format_index: dict[Any, int] = {}
        programs: dict[int, Any] = {}
        objects: dict[int, Any] = {}
        draws = []
        for draw in frame.draws:
            if draw.count:
                draws.append(
                    self._draw(
                        draw,
                        frame.ranges,
                        index_dtype.itemsize,
                        formats,
                        format_index,
                        programs,
                        objects,
                    )
                )
        vertices = _bytes(frame.vertices)
        indices = b"" if frame.indices is None else _bytes(frame.indices)
        # A new object per upload: a frame may draw this stager's last upload and an
        # earlier one (staged, rendered, staged again, rendered before a clear).
        frame_ids = self.backend.frame_ids
        frame_ids.discard(self.frame_id)
        self.frame_id = next_id()
        frame_ids.add(self.frame_id)
        wire = Wire(
            self.frame_id,
            1,
            {"type": "frame", "formats": formats, "draws": draws},
            (vertices, indices),
        )
        self.drawn = WebFrame(wire, list(programs.values()), list(objects.values()))
        self.fixed_restart = frame.u2
        return int(bool(vertices)) + int(bool(indices))

    def drawn_slot(self, what: str) -> WebFrame:
        from ..._errors import StagerError

        if self.drawn is None:
            raise StagerError(f"{what} before any frame was uploaded: stage a frame first.")
        return self.drawn

    def trim(self) -> int:
        return 0  # one frame's bytes are all it holds, and render() needs them

    def release(self) -> None:
        self.drawn = None
        self.backend.frame_ids.discard(self.frame_id)

    # -- encoding ------------------------------------------------------------

    def _draw(
        self,
        draw: Draw,
        ranges: list[tuple[int, int]],
        index_size: int,
        formats: list[Any],
        format_index: dict[Any, int],
        programs: dict[int, Any],
        objects: dict[int, Any],
    ) -> dict[str, Any]:
        state = draw.state
        program = state.program
        programs[program.id] = program
        kind = draw.kind
        out: dict[str, Any] = {"p": program.id, "m": state.mode, "f": draw.first, "c": draw.count}
        stride = state.layout.stride
        if kind in (PLAIN, INDEXED):
            binds, _ = self._binds(program, state.layout, None, False)
            offset = draw.base * stride if kind == INDEXED else 0
            sets = [[_format(binds, stride, 0, formats, format_index), _FRAME, offset]]
            if kind == INDEXED:
                out["e"] = [_FRAME, _INDEX_TYPES[index_size], draw.first * index_size]
            if draw.ranges > 1:
                out["r"] = ranges[draw.range_start : draw.range_start + draw.ranges]
        else:
            mesh = draw.base
            mesh.check_usable("leaving a frame")
            buffer = mesh.vertex_buffer
            objects[buffer.id] = buffer
            second = state.layout if kind in (INSTANCED, STREAMED) else None
            binds, extra = self._binds(program, mesh.layout, second, kind == STREAMED)
            sets = [[_format(binds, mesh.layout.stride, 0, formats, format_index), buffer.id, 0]]
            if second is not None and extra:
                divisor = 1 if kind == INSTANCED else 0
                sets.append(
                    [
                        _format(extra, stride, divisor, formats, format_index),
                        _FRAME,
                        draw.first * stride,
                    ]
                )
            if mesh.index_dtype is not None:
                objects[mesh.index_buffer.id] = mesh.index_buffer
                out["e"] = [mesh.index_buffer.id, _INDEX_TYPES[mesh.index_dtype.itemsize], 0]
            if kind == INSTANCED:
                out["n"] = draw.count  # instances of one whole mesh draw
                out["f"] = 0
                out["c"] = mesh.draw_count
            else:
                out["f"] = 0  # a mesh draw (or a streamed one) covers the mesh from its start
        out["a"] = sets
        if state.uniforms:
            out["u"] = state.uniforms
        if state.textures:
            units = {}
            for unit, texture in state.textures.items():
                objects[texture.id] = texture
                units[str(unit)] = texture.id
            out["t"] = units
        out["k"] = kind
        return out

    def _binds(
        self, program: Any, layout: Any, second: Any, streamed: bool
    ) -> tuple[list[Any], list[Any]]:
        """The program's attributes in ``layout`` (and ``second``) as the page points
        them: ``[location, components, GL type, normalised, integer, offset]`` each,
        a matrix as one entry per column."""
        key = (program, layout, second, streamed)
        found = self.bindings.get(key)
        if found is None:
            if len(self.bindings) >= _BINDINGS_KEPT:
                self.bindings = {k: v for k, v in self.bindings.items() if not k[0].released}
            binding = Binding(program.info, layout, second, streamed=streamed)
            columns = program.source.columns
            found = (
                _attributes(binding.vertex_binds, layout, columns),
                _attributes(
                    binding.instance_binds,
                    second if streamed or second is None else second.with_usage("i"),
                    columns,
                )
                if second is not None
                else [],
            )
            self.bindings[key] = found
        return found


def _attributes(binds: Any, layout: Any, columns: dict[int, int]) -> list[Any]:
    out = []
    for location, cls, token, offset, normalized in binds:
        comps, letter, size = _split(token)
        gl_type = _GL_TYPES[letter, size]
        integer = int(cls == "i")
        cols = columns.get(location, 1)
        per = comps // cols
        for col in range(cols):
            out.append(
                [location + col, per, gl_type, int(normalized), integer, offset + col * per * size]
            )
    return out


def _split(token: str) -> tuple[int, str, int]:
    """``"4f1"`` -> (4, "f", 1); ``"2f"`` -> (2, "f", 4)."""
    i = 0
    while i < len(token) and token[i].isdigit():
        i += 1
    count = int(token[:i] or 1)
    letter = token[i]
    size = int(token[i + 1 :] or 4)
    return count, letter, size


def _format(
    attributes: list[Any], stride: int, divisor: int, formats: list[Any], index: dict[Any, int]
) -> int:
    """The frame's format table entry for these attributes (added when new)."""
    key = (id(attributes), stride, divisor)
    found = index.get(key)
    if found is None:
        found = index[key] = len(formats)
        formats.append({"attrs": attributes, "stride": stride, "divisor": divisor})
    return found


def _bytes(stream: Stream) -> bytes:
    """The stream's used bytes as one copy (what the pages are sent)."""
    if not stream.used:
        return b""
    if len(stream.views) == 1:
        return stream.views[0][: stream.used].tobytes()
    return b"".join(chunk.tobytes() for _, chunk in stream.chunks())
