"""Drawing an uploaded frame with moderngl: cached vertex arrays, one draw call per
draw (indirect where a base vertex or instance is needed, re-pointed attributes
where GL has no indirect draw), and each draw's uniforms and textures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._errors import StagerError
from ..._recording._drawlist import INDEXED, INSTANCED, MESH, PLAIN, STREAMED, Draw
from ..._recording._modes import PATCHES
from ..._recording._programs import Binding
from ._slots import Slot

__all__ = ["FIXED_RESTART", "Renderer", "UniformState"]

# GL_PRIMITIVE_RESTART_FIXED_INDEX: restart at the all-ones value of the index
# type. moderngl enables restart at 0xFFFFFFFF only, which a uint16 never holds.
FIXED_RESTART = 0x8D69

_PRUNE_AT = 32  # vertex arrays cached per slot (or for meshes) before released ones are dropped

# (program, layout, instance or streamed layout, streamed) -> Binding
BindingFor = Callable[[Any, Any, Any, str, bool], Binding]


class Renderer:
    """A stager's vertex arrays and draw calls."""

    __slots__ = (
        "binding",
        "ctx",
        "index_size",
        "mesh_vaos",
        "prune",
        "released",
        "vertex_arrays_created",
    )

    def __init__(
        self,
        ctx: Any,
        binding: BindingFor,
        released: Callable[[Any], bool],
        prune: Callable[[], None],
        index_size: int,
    ) -> None:
        self.ctx = ctx
        self.binding = binding
        self.released = released
        self.prune = prune  # the stager's: drop what every cache holds of released objects
        self.index_size = index_size
        self.mesh_vaos: dict[tuple[Any, Any], Any] = {}
        self.vertex_arrays_created = 0

    def render(
        self,
        slot: Slot,
        draws: list[Draw],
        ranges: list[tuple[int, int]],
        mode: int | None,
        fixed_restart: bool,
        slots: list[Slot],
    ) -> int:
        """Issue the frame's draws from ``slot``; return the draw calls."""
        calls = 0
        uniforms = UniformState()
        if fixed_restart:
            self.ctx.enable_direct(FIXED_RESTART)
        try:
            vaos = slot.vaos
            bound: dict[int, Any] = {}  # unit -> texture bound by this render
            for draw in draws:
                if not draw.count:
                    continue
                state = draw.state
                if state.uniforms or uniforms.saved:
                    uniforms.apply(state.program, state.uniforms)
                if state.textures:
                    for unit, texture in state.textures.items():
                        if bound.get(unit) is not texture:  # nothing else binds during render
                            texture.use(location=unit)
                            bound[unit] = texture
                if (
                    draw.kind == PLAIN
                    and mode is None
                    and draw.command < 0
                    and state.mode != PATCHES
                ):  # the common draw
                    vao = vaos.get((state.program, state.layout, False))
                    if vao is None:
                        vao = self._vao(slot, draw, slots)
                    vao.render(state.mode, vertices=draw.count, first=draw.first)
                    calls += 1
                    continue
                vao = self._vao(slot, draw, slots)
                drawn = state.mode if mode is None else mode
                if mode is None or draw.kind >= INSTANCED:
                    calls += self._draw(slot, vao, draw, drawn)
                else:
                    calls += self._draw_ranges(slot, vao, draw, ranges, mode)
                if drawn == PATCHES:
                    self._check_patches()
        finally:
            uniforms.restore()
            if fixed_restart:
                self.ctx.disable_direct(FIXED_RESTART)
            # Mapped buffers: the next frame written into this slot waits for these
            # draws (also when one raised: those issued before it read the slot).
            slot.refence()
        return calls

    def _check_patches(self) -> None:
        """GL refuses PATCHES from a program without a tessellation stage, silently
        (GL_INVALID_OPERATION, nothing drawn); moderngl cannot say which programs have
        one before a draw, so the first such draw says so."""
        if self.ctx.error == "GL_INVALID_OPERATION":
            raise StagerError(
                "render(): a draw in mode PATCHES was refused by GL (GL_INVALID_OPERATION): "
                "PATCHES needs a program with a tessellation stage (tess_control_shader / "
                "tess_evaluation_shader); draw this range in another mode, or with such a "
                "program."
            )

    def release(self) -> None:
        for vao in self.mesh_vaos.values():
            vao.release()
        self.mesh_vaos.clear()

    def forget(self) -> None:
        """Drop the vertex arrays without a GL call (their context is gone)."""
        self.mesh_vaos.clear()

    def forget_released(self, slots: list[Slot]) -> None:
        """Drop the vertex arrays of released programs and meshes."""
        released = self.released
        for slot in slots:
            for key in [k for k in slot.vaos if any(map(released, k))]:
                slot.vaos.pop(key).release()
                slot.offsets.pop(key, None)
        for mkey in [k for k in self.mesh_vaos if any(map(released, k))]:
            self.mesh_vaos.pop(mkey).release()

    # -- vertex arrays -----------------------------------------------------

    def _vao(self, slot: Slot, draw: Draw, slots: list[Slot]) -> Any:
        """The cached vertex array for a draw (made on first use)."""
        state = draw.state
        kind = draw.kind
        if kind == MESH:
            mesh = draw.base
            mesh.check_usable("render()")
            mkey = (state.program, mesh)
            vao = self.mesh_vaos.get(mkey)
            if vao is None:
                if len(self.mesh_vaos) >= _PRUNE_AT:
                    self.prune()
                binding = self.binding(state.program, mesh.layout, None, "render()", False)
                vao = self._make_vao(state.program, mesh.vertex_buffer, binding, mesh=mesh)
                self.mesh_vaos[mkey] = vao
            return vao
        if kind in (INSTANCED, STREAMED):
            draw.base.check_usable("render()")
            key: tuple[Any, ...] = (state.program, state.layout, draw.base, kind)
        else:
            key = (state.program, state.layout, kind == INDEXED)
        vao = slot.vaos.get(key)
        if vao is None:
            if len(slot.vaos) >= _PRUNE_AT:
                self.prune()
            if kind in (INSTANCED, STREAMED):
                mesh = draw.base
                binding = self.binding(
                    state.program, mesh.layout, state.layout, "render()", kind == STREAMED
                )
                vao = self._make_vao(
                    state.program,
                    mesh.vertex_buffer,
                    binding,
                    mesh=mesh,
                    second=slot.vbo,
                )
            else:
                binding = self.binding(state.program, state.layout, None, "render()", False)
                ibo = slot.ibo if kind == INDEXED else None
                vao = self._make_vao(state.program, slot.vbo, binding, ibo=ibo)
            slot.vaos[key] = vao
        return vao

    def _make_vao(
        self,
        program: Any,
        vbo: Any,
        binding: Binding,
        *,
        ibo: Any = None,
        mesh: Any = None,
        second: Any = None,
    ) -> Any:
        content = []
        if binding.vertex_names:
            content.append((vbo, binding.vertex_format, *binding.vertex_names))
        if second is not None and binding.instance_names:
            content.append((second, binding.instance_format, *binding.instance_names))
        size = self.index_size
        if mesh is not None and mesh.index_dtype is not None:
            ibo, size = mesh.index_buffer, mesh.index_dtype.itemsize
        vao = self.ctx.vertex_array(
            program, content, index_buffer=ibo, index_element_size=size if ibo is not None else 4
        )
        self.vertex_arrays_created += 1
        return vao

    # -- draw calls --------------------------------------------------------

    def _draw(self, slot: Slot, vao: Any, draw: Draw, mode: int) -> int:
        """Issue one draw call; return 1."""
        kind = draw.kind
        if draw.command >= 0:
            vao.render_indirect(slot.vbo, mode, count=1, first=draw.command)
        elif kind == PLAIN:
            vao.render(mode, vertices=draw.count, first=draw.first)
        elif kind == INDEXED:
            self._point(slot, vao, draw, draw.base * draw.state.layout.stride)
            vao.render(mode, vertices=draw.count, first=draw.first)
        elif kind == INSTANCED:
            self._point(slot, vao, draw, draw.first * draw.state.layout.stride)
            vao.render(mode, vertices=draw.base.draw_count, instances=draw.count)
        elif kind == STREAMED:
            self._point(slot, vao, draw, draw.first * draw.state.layout.stride)
            vao.render(mode, vertices=draw.count)
        else:
            vao.render(mode, vertices=draw.count)
        return 1

    def _draw_ranges(
        self, slot: Slot, vao: Any, draw: Draw, ranges: list[tuple[int, int]], mode: int
    ) -> int:
        """Draw a plain or indexed draw's ranges one by one in ``mode``; return the calls."""
        own = ranges[draw.range_start : draw.range_start + draw.ranges]
        if draw.command >= 0:  # rebased: each range has its own indirect command
            commands = (
                [draw.command]
                if draw.ranges == 1
                else range(draw.command + 1, draw.command + 1 + draw.ranges)
            )
            for command, (_, count) in zip(commands, own, strict=True):
                if count:
                    vao.render_indirect(slot.vbo, mode, count=1, first=command)
            return sum(1 for _, count in own if count)
        if draw.kind == INDEXED:
            self._point(slot, vao, draw, draw.base * draw.state.layout.stride)
        calls = 0
        for first, count in own:
            if count:
                vao.render(mode, vertices=count, first=first)
                calls += 1
        return calls

    def _point(self, slot: Slot, vao: Any, draw: Draw, offset: int) -> None:
        """Bind the draw's per-vertex (indexed), per-instance or streamed attributes at
        ``offset`` bytes into the frame's buffer: moderngl has no base-vertex or
        base-instance draw call, and contexts before GL 4.2 no indirect one with a
        base instance."""
        state = draw.state
        kind = draw.kind
        key: tuple[Any, ...] = (
            (state.program, state.layout, True)
            if kind == INDEXED
            else (state.program, state.layout, draw.base, kind)
        )
        if slot.offsets.get(key, 0) == offset:
            return  # bound there already: the steady state
        if kind == INDEXED:
            binding = self.binding(state.program, state.layout, None, "render()", False)
            binds = binding.vertex_binds
        else:
            binding = self.binding(
                state.program, draw.base.layout, state.layout, "render()", kind == STREAMED
            )
            binds = binding.instance_binds
        divisor = 1 if kind == INSTANCED else 0
        stride = state.layout.stride
        for location, cls, token, attr_offset, normalized in binds:
            if normalized:
                raise StagerError(
                    f"drawing at an offset on GL {self.ctx.version_code}: moderngl's "
                    f"VertexArray.bind cannot re-point the normalised attribute '{token}' "
                    f"(it refuses `normalize` for float attributes), and base-instance draws "
                    f"need GL 4.2. Use an unnormalised format, or a context of GL 4.2 or later."
                )
            vao.bind(
                location,
                cls,
                slot.vbo,
                token,
                offset=offset + attr_offset,
                stride=stride,
                divisor=divisor,
            )
        slot.offsets[key] = offset


class UniformState:
    """Applies each draw's uniform values during one ``render()``.

    A uniform a draw names holds that value for the draw only: draws that do not
    name it see the program's own value (what the application set on the
    program), which :meth:`restore` puts back once the frame is drawn.
    """

    __slots__ = ("current", "saved")

    def __init__(self) -> None:
        self.saved: dict[Any, dict[str, Any]] = {}  # program -> its own values, as found
        self.current: dict[Any, dict[str, Any]] = {}  # program -> the values set now

    def apply(self, program: Any, uniforms: dict[str, Any] | None) -> None:
        saved = self.saved.get(program)
        if uniforms or saved:
            if saved is None:
                saved = self.saved[program] = {}
                self.current[program] = {}
            current = self.current[program]
            for name, own in saved.items():
                if (uniforms is None or name not in uniforms) and current[name] is not own:
                    _set(program, name, own)
                    current[name] = own
            if uniforms:
                for name, value in uniforms.items():
                    if name not in saved:
                        saved[name] = program[name].value
                    if current.get(name, saved[name]) is not value:
                        _set(program, name, value)
                        current[name] = value

    def restore(self) -> None:
        """Put back every program's own values."""
        for program, saved in self.saved.items():
            current = self.current[program]
            for name, own in saved.items():
                if current.get(name, own) is not own:
                    _set(program, name, own)
        self.saved.clear()
        self.current.clear()


def _set(program: Any, name: str, value: Any) -> None:
    try:
        program[name].value = value
    except Exception as err:
        raise ValueError(
            f"uniform {name!r}: moderngl refused the value {value!r} ({err})."
        ) from err
