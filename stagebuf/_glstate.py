"""What a draw needs from GL besides its bytes: checked modes and programs, the
attributes a program reads from a layout (or from a mesh and an instance
layout), uniform and texture state, and GL error checks."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import moderngl
import numpy as np

from ._errors import GLError, LayoutMismatchError
from ._layout import VertexLayout

__all__ = [
    "MERGEABLE",
    "MODES",
    "Binding",
    "check_gl",
    "check_mode",
    "check_program",
    "check_textures",
    "check_uniforms",
    "is_released",
    "make_current",
    "program_attributes",
]

MODES = {
    moderngl.POINTS: "POINTS",
    moderngl.LINES: "LINES",
    moderngl.LINE_LOOP: "LINE_LOOP",
    moderngl.LINE_STRIP: "LINE_STRIP",
    moderngl.TRIANGLES: "TRIANGLES",
    moderngl.TRIANGLE_STRIP: "TRIANGLE_STRIP",
    moderngl.TRIANGLE_FAN: "TRIANGLE_FAN",
    moderngl.LINES_ADJACENCY: "LINES_ADJACENCY",
    moderngl.LINE_STRIP_ADJACENCY: "LINE_STRIP_ADJACENCY",
    moderngl.TRIANGLES_ADJACENCY: "TRIANGLES_ADJACENCY",
    moderngl.TRIANGLE_STRIP_ADJACENCY: "TRIANGLE_STRIP_ADJACENCY",
    moderngl.PATCHES: "PATCHES",
}
"""GL draw modes by value, with their names for messages."""

# Modes whose draws can be merged when ranges sit back to back: drawing
# [a, b) then [b, c) is the same as drawing [a, c) when each range holds
# whole primitives (points; line pairs; triangles). Strips, loops and fans
# join their ranges' ends, so they are never merged.
MERGEABLE = {moderngl.POINTS: 1, moderngl.LINES: 2, moderngl.TRIANGLES: 3}

# GL scalar types of vertex attributes: GL_FLOAT, GL_INT, GL_UNSIGNED_INT, GL_DOUBLE.
_SCALAR_KINDS = {0x1406: "f", 0x1404: "i", 0x1405: "u", 0x140A: "d"}
# The attribute class VertexArray.bind takes for each kind.
_BIND_CLASS = {"f": "f", "i": "i", "u": "i", "d": "d"}


def check_mode(mode: object, where: str) -> int:
    """``mode`` if it is a GL draw mode (numpy ints too); ValueError naming it otherwise."""
    if type(mode) is int and mode in MODES:
        return mode
    if not isinstance(mode, bool):
        try:
            value = operator.index(mode)  # type: ignore[arg-type]
        except TypeError:
            value = -1
        if value in MODES:
            return value
    raise ValueError(
        f"{where}: mode {mode!r} is not a GL draw mode; expected one of moderngl."
        + ", moderngl.".join(MODES.values())
        + "."
    )


def check_program(program: object, where: str) -> Any:
    """``program`` if it is a moderngl Program; TypeError naming what it is otherwise."""
    if isinstance(program, moderngl.Program):
        return program
    raise TypeError(
        f"{where}: program must be a moderngl.Program (ctx.program(...)); "
        f"got {type(program).__name__} {program!r}."
    )


def check_uniforms(program: Any, uniforms: object, where: str) -> dict[str, Any]:
    """A private copy of ``uniforms`` (name -> value), each checked against ``program``.

    Values are copied (as plain Python numbers and lists) so that changing an
    array or list after the call does not change the range it was given to.
    """
    if type(uniforms) is not dict and not isinstance(uniforms, Mapping):
        raise TypeError(
            f"{where}: uniforms must be a mapping of uniform name to value; "
            f"got {type(uniforms).__name__} {uniforms!r}."
        )
    copied = {}
    for name, value in uniforms.items():
        member = program.get(name, None) if isinstance(name, str) else None
        if not isinstance(member, moderngl.Uniform):
            known = sorted(str(n) for n in program if isinstance(program[n], moderngl.Uniform))
            raise KeyError(
                f"{where}: the program has no uniform {name!r}; its active uniforms are "
                f"{', '.join(known) or '(none)'} (GLSL drops uniforms the shader never uses)."
            )
        copied[name] = _uniform_value(member, name, value, where)
    return copied


def _uniform_value(uniform: Any, name: str, value: object, where: str) -> Any:
    """``value`` as plain Python numbers, checked: numeric, with the uniform's size."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        array = np.asarray(None)
    want = int(uniform.dimension) * max(int(uniform.array_length), 1)
    if array.dtype.kind not in "biuf" or array.size != want:
        shape = "a number" if want == 1 else f"{want} numbers"
        raise ValueError(f"{where}: uniform {name!r} takes {shape}; got {value!r}.")
    return array.tolist()


def check_textures(textures: object, where: str, ctx: Any, units: int) -> dict[int, Any]:
    """A copy of ``textures`` (unit -> object with ``.use(location)``), checked: units
    below ``units`` (the context's texture units), textures of ``ctx``."""
    if type(textures) is not dict and not isinstance(textures, Mapping):
        raise TypeError(
            f"{where}: textures must be a mapping of texture unit to texture; "
            f"got {type(textures).__name__} {textures!r}."
        )
    copied = {}
    for unit, texture in textures.items():
        try:
            number = -1 if isinstance(unit, bool) else operator.index(unit)
        except TypeError:
            number = -1
        if not 0 <= number < units:
            raise ValueError(
                f"{where}: texture unit {unit!r} is not a unit number; expected an int from "
                f"0 to {units - 1} (the context's texture units)."
            )
        if not callable(getattr(texture, "use", None)):
            raise TypeError(
                f"{where}: the texture for unit {unit} has no .use(location) method; "
                f"got {type(texture).__name__} {texture!r}."
            )
        owner = getattr(texture, "ctx", ctx)
        if owner is not ctx:
            raise ValueError(
                f"{where}: the texture for unit {unit} belongs to another moderngl context "
                f"than the stager's."
            )
        copied[number] = texture
    return copied


class DrawState:
    """Applies each draw's uniform values and textures during one ``render()``.

    A uniform a draw names holds that value for the draw only: draws that do not
    name it see the program's own value (what the application set on the
    program), which :meth:`restore` puts back once the frame is drawn.
    """

    __slots__ = ("current", "saved")

    def __init__(self) -> None:
        self.saved: dict[Any, dict[str, Any]] = {}  # program -> its own values, as found
        self.current: dict[Any, dict[str, Any]] = {}  # program -> the values set now

    def apply(self, program: Any, uniforms: dict[str, Any] | None, textures: Any) -> None:
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
        if textures:
            for unit, texture in textures.items():
                texture.use(location=unit)

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


def make_current(ctx: Any) -> None:
    """Make ``ctx`` the current GL context (it stays current afterwards: moderngl's
    standalone contexts restore no previous one on exit)."""
    ctx.__enter__()


def is_released(obj: object) -> bool:
    """True once a moderngl object (a context too) was released: its handle turns invalid."""
    return type(getattr(obj, "mglo", None)).__name__ == "InvalidObject"


def check_gl(ctx: Any, what: str, nbytes: int) -> None:
    """Raise :class:`GLError` when GL reports running out of memory after ``what``
    (a message with ``{}`` for ``nbytes``).

    moderngl does not check errors after buffer creation or writes, so a driver
    that refuses memory would go unnoticed. Only GL_OUT_OF_MEMORY is raised:
    other codes may have been left pending by the application's own calls
    before the stager's (reading the error clears it, so they are dropped).
    """
    error = ctx.error
    if error == "GL_OUT_OF_MEMORY":
        # ``what`` takes the byte count only here: no string formatting per frame.
        raise GLError(f"{what.format(nbytes)} failed: the driver reported {error}.", error=error)


def program_attributes(program: Any) -> dict[str, tuple[str, int]]:
    """The active vertex attributes of a moderngl program: name -> (kind, components)."""
    out = {}
    for name in program:
        member = program[name]
        if isinstance(member, moderngl.Attribute) and not str(name).startswith("gl_"):
            # gl_VertexID / gl_InstanceID are inputs GL provides, not buffer attributes.
            # moderngl reports shape 'i' for uint attributes too: the GL scalar type
            # tells them apart. Arrays count all their components (as detect_format).
            scalar = int(getattr(member, "scalar_type", 0))  # missing from moderngl's stub
            kind = _SCALAR_KINDS.get(scalar, str(member.shape))
            out[str(name)] = (kind, int(member.dimension) * max(int(member.array_length), 1))
    return out


class Binding:
    """How one program reads its attributes from one layout, or from a mesh's layout
    (per vertex) and an instance layout: the vertex-array content to build.

    ``vertex_format``/``vertex_names`` bind the per-vertex buffer;
    ``instance_format``/``instance_names`` the per-instance one (empty when not
    instanced); ``vertex_binds`` and ``instance_binds`` hold ``(location, class,
    token, offset, normalized)`` for each attribute, to re-point them at another offset in
    their buffer with ``VertexArray.bind``.
    """

    __slots__ = (
        "instance_binds",
        "instance_format",
        "instance_names",
        "vertex_binds",
        "vertex_format",
        "vertex_names",
    )

    def __init__(
        self,
        program: Any,
        layout: VertexLayout,
        instance_layout: VertexLayout | None = None,
    ) -> None:
        required = program_attributes(program)
        self.instance_format = ""
        self.instance_names: tuple[str, ...] = ()
        self.instance_binds: tuple[tuple[int, str, str, int, bool], ...] = ()
        if instance_layout is None:
            if not required:
                raise LayoutMismatchError(
                    "The program reads no vertex attributes, so it cannot draw the "
                    f"layout's vertices.\n  layout attributes:  {_listed(layout)}\n"
                    "  A program that makes its geometry from gl_VertexID alone needs no "
                    "stager: draw it with ctx.vertex_array(program, []) directly."
                )
            layout.check_attributes(required)
            self.vertex_format, self.vertex_names = layout.format_for(required)
            self.vertex_binds = _binds(program, layout, self.vertex_names, required)
            return
        # Per-instance attributes win where both layouts name one.
        per_instance = {n: s for n, s in required.items() if n in instance_layout.names}
        per_vertex = {n: s for n, s in required.items() if n not in per_instance}
        try:
            layout.check_attributes(per_vertex)
            instance_layout.check_attributes(per_instance)
        except LayoutMismatchError as err:
            raise LayoutMismatchError(
                "The program's attributes are not all in the mesh's layout (per vertex) "
                "or the instance layout (per instance).\n"
                f"  program attributes:  {', '.join(required) or '(none)'}\n"
                f"  mesh layout:         {_listed(layout)}\n"
                f"  instance layout:     {_listed(instance_layout)}\n"
                + "\n".join(str(err).splitlines()[3:]).replace(
                    "but the layout has no attribute of that name",
                    "but neither the mesh's layout nor the instance layout has it",
                )
            ) from None
        self.vertex_format, self.vertex_names = layout.format_for(per_vertex)
        self.vertex_binds = _binds(program, layout, self.vertex_names, required)
        inst = instance_layout.with_usage("i")
        self.instance_format, self.instance_names = inst.format_for(per_instance)
        self.instance_binds = _binds(program, inst, self.instance_names, required)


def _binds(
    program: Any, layout: VertexLayout, names: tuple[str, ...], required: dict[str, Any]
) -> tuple[tuple[int, str, str, int, bool], ...]:
    return tuple(
        (
            int(program[name].location),
            _BIND_CLASS[required[name][0]],
            layout.attribute(name).token,
            layout.attribute(name).offset,
            layout.attribute(name).normalized,  # bind() does not read it from 'f1'
        )
        for name in names
    )


def _listed(layout: VertexLayout) -> str:
    return ", ".join(f"{a.name} '{a.token}'" for a in layout.attributes)
