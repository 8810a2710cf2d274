"""The moderngl backend: desktop GL (and headless EGL) through moderngl.

:class:`ModernglBackend` answers the recording layer's questions about one
context (its caps, what a program reads, which textures it can bind) and
makes the per-stager :class:`~._uploads.Uploader` and
:class:`~._draws.Renderer`. The GL helpers below are the only place the
staging layer reads moderngl's object model (``mglo``, ``InvalidObject``).
"""

from __future__ import annotations

from typing import Any

import moderngl

from ..._recording._modes import check_mode as _check_mode
from ..._recording._programs import ProgramInfo
from .. import Caps
from ._current import on, remember
from ._draws import Renderer
from ._gl import check_gl, is_released
from ._glfuncs import GlFuncs, load
from ._uploads import ORPHAN_LIMIT_BYTES, STRATEGIES, Uploader

__all__ = [
    "ORPHAN_LIMIT_BYTES",
    "STRATEGIES",
    "ModernglBackend",
    "check_gl",
    "is_released",
]

# GL scalar types of vertex attributes: GL_FLOAT, GL_INT, GL_UNSIGNED_INT, GL_DOUBLE.
_SCALAR_KINDS = {0x1406: "f", 0x1404: "i", 0x1405: "u", 0x140A: "d"}
# GL types of uniforms by scalar kind (the rest, ints and samplers, are "i").
_UNIFORM_KINDS = {
    **dict.fromkeys(
        (5126, 35664, 35665, 35666, 35674, 35675, 35676, 35685, 35686, 35687, 35688, 35689, 35690),
        "f",
    ),
    **dict.fromkeys((5130, 36860, 36861, 36862, *tuple(range(36678, 36687))), "d"),
    **dict.fromkeys((0x1405, 0x8DC6, 0x8DC7, 0x8DC8), "u"),
    **dict.fromkeys((0x8B56, 0x8B57, 0x8B58, 0x8B59), "b"),
}


class ModernglBackend:
    """One moderngl context as the staging layer sees it."""

    __slots__ = ("_gl", "caps", "ctx", "infos", "texture_units")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        version = int(ctx.version_code)
        # Indirect draws carry a base vertex from GL 4.0 on, a base instance from 4.2.
        # moderngl's VertexArray.bind refuses `normalize` for float attributes
        # (MGLVertexArray_bind: "invalid normalize"), so re-pointing drops it.
        self.caps = Caps(
            base_vertex=version >= 400,
            base_instance=version >= 420,
            repoints_normalized=False,
            base_vertex_needs=f"GL 4.0; this context is {version}",
            base_instance_needs=f"GL 4.2; this context is {version}",
        )
        self.texture_units = int(ctx.max_texture_units) if not is_released(ctx) else 0
        remember(ctx)  # a window context is known by what is current when it is first met
        self.infos: dict[Any, ProgramInfo] = {}  # program -> what it reads
        self._gl: GlFuncs | None = None

    def gl(self) -> GlFuncs:
        """The GL functions moderngl does not expose (mapping, fences), loaded once;
        their ``problem`` says why "mapped" cannot run, None when it can."""
        if self._gl is None:
            self._gl = load(self.ctx)
        return self._gl

    @property
    def default_strategy(self) -> str:
        """The default strategy: "mapped" where persistent mapping works here (and
        STAGEBUF_NO_MAPPED is not set), else "ring"."""
        return "mapped" if self.gl().problem is None else "ring"

    # -- questions of the recording layer ----------------------------------

    def check_mode(self, mode: object, where: str) -> int:
        return _check_mode(mode, where)

    def check_program(self, program: object, where: str) -> Any:
        """``program`` if it is a live moderngl Program of this context."""
        if not isinstance(program, moderngl.Program):
            raise TypeError(
                f"{where}: program must be a moderngl.Program (ctx.program(...)); "
                f"got {type(program).__name__} {program!r}."
            )
        if is_released(program):
            raise ValueError(f"{where}: the program was released; make a new one.")
        if program.ctx is not self.ctx:
            raise ValueError(
                f"{where}: the program belongs to another moderngl context than the stager's."
            )
        return program

    def describe(self, program: Any) -> ProgramInfo:
        """What ``program`` reads: its active attributes and uniforms (cached)."""
        info = self.infos.get(program)
        if info is None:
            info = self.infos[program] = describe(program)
        return info

    def uniform_values(self, program: Any) -> dict[str, Any]:
        """The program's own uniform values, read back from GL (samplers' units too)."""
        with on(self.ctx):  # read the stager's program on its own context
            return {name: program[name].value for name in self.describe(program).uniforms}

    def texture_problem(self, texture: Any) -> str | None:
        if getattr(texture, "ctx", self.ctx) is not self.ctx:
            return "belongs to another moderngl context than the stager's"
        if is_released(texture):
            return "was released"
        return None

    def owns(self, obj: Any) -> bool:
        """Whether a Mesh (or anything with ``.ctx``) belongs to this context."""
        return getattr(obj, "ctx", None) is self.ctx

    def released(self, obj: Any) -> bool:
        """Whether a cache-key part is a released GL object or Mesh (the other parts,
        layouts and numbers, never are)."""
        released = getattr(obj, "released", None)
        if type(released) is bool:  # a Mesh
            return released
        return is_released(obj)

    def forget_released(self) -> None:
        """Drop what is cached for released programs."""
        for program in [p for p in self.infos if is_released(p)]:
            del self.infos[program]

    # -- the per-stager halves ---------------------------------------------

    strategies = STRATEGIES

    def uploader(self, ring_size: int) -> Uploader:
        return Uploader(self, ring_size)

    def renderer(self, binding: Any, prune: Any, index_size: int) -> Renderer:
        return Renderer(self.ctx, binding, self.released, prune, index_size)

    # -- the context -------------------------------------------------------

    def is_released(self) -> bool:
        return is_released(self.ctx)

    def current(self) -> on:
        """``with backend.current():`` runs GL calls on this context and then makes
        current again what was current before (StagerError when it cannot)."""
        return on(self.ctx)


def describe(program: Any) -> ProgramInfo:
    """The active vertex attributes and uniforms of a moderngl program."""
    attributes = {}
    uniforms = {}
    for name in program:
        member = program[name]
        if isinstance(member, moderngl.Attribute) and not str(name).startswith("gl_"):
            # gl_VertexID / gl_InstanceID are inputs GL provides, not buffer attributes.
            # moderngl reports shape 'i' for uint attributes too: the GL scalar type
            # tells them apart. Arrays count all their components (as detect_format).
            scalar = int(getattr(member, "scalar_type", 0))  # missing from moderngl's stub
            kind = _SCALAR_KINDS.get(scalar, str(member.shape))
            count = int(member.dimension) * max(int(member.array_length), 1)
            attributes[str(name)] = (kind, count, int(member.location))
        elif isinstance(member, moderngl.Uniform):
            count = int(member.dimension) * max(int(member.array_length), 1)
            gl_type = int(getattr(member, "gl_type", 0))  # missing from moderngl's stub
            uniforms[str(name)] = (_UNIFORM_KINDS.get(gl_type, "i"), count)
    return ProgramInfo(attributes, uniforms)
