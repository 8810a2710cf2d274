"""What a program reads, as a backend describes it, and the checks of a draw's
options against that: attributes against one or two layouts, uniform values,
texture units. No GL import: a backend answers ``describe(program)`` with a
:class:`ProgramInfo` and the checks here are plain logic over it."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import LayoutMismatchError
from .._layout import VertexLayout

__all__ = ["Binding", "ProgramInfo", "check_textures", "check_uniforms", "no_attributes_message"]

# One attribute's bind: (location, bind class, format token, byte offset, normalised).
Bind = tuple[int, str, str, int, bool]

# The attribute class a vertex-array bind takes for each scalar kind.
_BIND_CLASS = {"f": "f", "i": "i", "u": "i", "d": "d"}
# Integer uniforms: the range GL stores them in.
_INT_RANGE = {"i": (-(2**31), 2**31 - 1), "u": (0, 2**32 - 1)}


@dataclass(frozen=True)
class ProgramInfo:
    """A program's active inputs, as its backend reports them.

    ``attributes``: name -> (scalar kind ``f``/``i``/``u``/``d``, components,
    location). ``uniforms``: name -> (scalar kind ``f``/``i``/``u``/``d``/``b``,
    values it takes: components times array length).
    """

    attributes: dict[str, tuple[str, int, int]]
    uniforms: dict[str, tuple[str, int]]

    def required(self) -> dict[str, tuple[str, int]]:
        """The attributes as a layout checks them: name -> (kind, components)."""
        return {name: (kind, n) for name, (kind, n, _) in self.attributes.items()}


def check_uniforms(info: ProgramInfo, uniforms: object, where: str) -> dict[str, Any]:
    """A private copy of ``uniforms`` (name -> value), each checked against the program.

    Values become plain Python numbers (one value: a number; more: a flat list
    in numpy's C order, so a (4, 4) array feeds a mat4 and a (3,) one a vec3),
    so that changing an array or list after the call does not change the range
    it was given to, and a value the backend would refuse is refused here, at
    the call that names it.
    """
    if type(uniforms) is not dict and not isinstance(uniforms, Mapping):
        raise TypeError(
            f"{where}: uniforms must be a mapping of uniform name to value; "
            f"got {type(uniforms).__name__} {uniforms!r}."
        )
    copied = {}
    for name, value in uniforms.items():
        spec = info.uniforms.get(name) if isinstance(name, str) else None
        if spec is None:
            raise KeyError(
                f"{where}: the program has no uniform {name!r}; its active uniforms are "
                f"{', '.join(sorted(info.uniforms)) or '(none)'} (GLSL drops uniforms the "
                f"shader never uses)."
            )
        copied[name] = _uniform_value(spec, name, value, where)
    return copied


def _uniform_value(spec: tuple[str, int], name: str, value: object, where: str) -> Any:
    """``value`` as plain Python numbers, checked: numeric, the uniform's size and range."""
    kind, want = spec
    if isinstance(value, (bytes, bytearray, memoryview)):
        scalar = np.dtype(_BYTES_AS.get(kind, np.float32))
        nbytes = memoryview(value).nbytes
        if nbytes != want * scalar.itemsize:
            raise ValueError(
                f"{where}: uniform {name!r} takes {want} {scalar.name} value"
                f"{'s' if want > 1 else ''} ({want * scalar.itemsize} bytes); got {nbytes} "
                f"bytes."
            )
        value = np.frombuffer(memoryview(value).cast("B"), scalar)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        array = np.asarray(None)
    shape = "a number" if want == 1 else f"{want} numbers"
    if array.dtype.kind not in "biuf" or array.size != want:
        raise ValueError(
            f"{where}: uniform {name!r} takes {shape}; got {value!r} (an array of any shape "
            f"holding {want} values, or their bytes, is taken)."
        )
    flat = array.reshape(-1)
    if kind == "b":  # GL: any non-zero is true; moderngl takes ints for bools
        if flat.dtype.kind == "f":
            raise TypeError(
                f"{where}: uniform {name!r} holds booleans; got {value!r} (pass True/False "
                f"or integers)."
            )
        bools = [int(v != 0) for v in flat.tolist()]
        return bools[0] if want == 1 else bools
    if kind in _INT_RANGE:
        if flat.dtype.kind == "f" and not np.array_equal(flat, np.trunc(flat)):
            raise TypeError(
                f"{where}: uniform {name!r} holds integers; got {value!r}, which has a fraction."
            )
        low, high = _INT_RANGE[kind]
        values = [int(v) for v in flat.tolist()] if flat.dtype.kind == "f" else flat.tolist()
        bad = [v for v in values if not low <= v <= high]
        if bad:
            raise ValueError(
                f"{where}: uniform {name!r} holds {'uint' if kind == 'u' else 'int'} values "
                f"from {low} to {high}; got {bad[0]}."
            )
        return values[0] if want == 1 else values
    values = flat.tolist()
    return values[0] if want == 1 else values


# How the bytes of a uniform's value are read, by the uniform's scalar kind.
_BYTES_AS: dict[str, Any] = {
    "f": np.float32,
    "d": np.float64,
    "i": np.int32,
    "u": np.uint32,
    "b": np.int32,
}


def check_textures(
    textures: object, where: str, units: int, problem: Callable[[Any], str | None]
) -> dict[int, Any]:
    """A copy of ``textures`` (unit -> object with ``.use(location)``), checked: units
    below ``units`` (the context's texture units); ``problem(texture)`` is the
    backend's word on a texture it cannot bind (another context's, a released one)."""
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
        why = problem(texture)
        if why is not None:
            raise ValueError(f"{where}: the texture for unit {unit} {why}.")
        copied[number] = texture
    return copied


class Binding:
    """How one program reads its attributes from one layout, or from a mesh's layout
    (per vertex) beside a second layout (per instance, or streamed per vertex): the
    vertex-array content to build.

    ``vertex_format``/``vertex_names`` bind the first buffer;
    ``instance_format``/``instance_names`` the second (empty when there is none);
    ``vertex_binds`` and ``instance_binds`` hold ``(location, class, token, offset,
    normalized)`` for each attribute, to re-point them at another offset in
    their buffer.
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
        info: ProgramInfo,
        layout: VertexLayout,
        instance_layout: VertexLayout | None = None,
        *,
        streamed: bool = False,
    ) -> None:
        required = info.required()
        self.instance_format = ""
        self.instance_names: tuple[str, ...] = ()
        self.instance_binds: tuple[Bind, ...] = ()
        if instance_layout is None:
            if not required:
                raise LayoutMismatchError(no_attributes_message(layout))
            layout.check_attributes(required)
            self.vertex_format, self.vertex_names = layout.format_for(required)
            self.vertex_binds = _binds(info, layout, self.vertex_names)
            return
        # The second layout's attributes win where both layouts name one.
        second = {n: s for n, s in required.items() if n in instance_layout.names}
        first = {n: s for n, s in required.items() if n not in second}
        role = "streamed layout" if streamed else "instance layout"
        try:
            layout.check_attributes(first)
            instance_layout.check_attributes(second)
        except LayoutMismatchError as err:
            raise LayoutMismatchError(
                f"The program's attributes are not all in the mesh's layout (per vertex) "
                f"or the {role} ({'per vertex' if streamed else 'per instance'}).\n"
                f"  program attributes:  {', '.join(required) or '(none)'}\n"
                f"  mesh layout:         {_listed(layout)}\n"
                f"  {role + ':':<20} {_listed(instance_layout)}\n"
                + "\n".join(str(err).splitlines()[3:]).replace(
                    "but the layout has no attribute of that name",
                    f"but neither the mesh's layout nor the {role} has it",
                )
            ) from None
        self.vertex_format, self.vertex_names = layout.format_for(first)
        self.vertex_binds = _binds(info, layout, self.vertex_names)
        second_layout = instance_layout if streamed else instance_layout.with_usage("i")
        self.instance_format, self.instance_names = second_layout.format_for(second)
        self.instance_binds = _binds(info, second_layout, self.instance_names)


def no_attributes_message(layout: VertexLayout) -> str:
    return (
        "The program reads no vertex attributes, so it cannot draw the layout's "
        f"vertices.\n  layout attributes:  {_listed(layout)}\n  A program that makes "
        "its geometry from gl_VertexID alone needs no stager: draw it with "
        "ctx.vertex_array(program, []) directly."
    )


def _binds(info: ProgramInfo, layout: VertexLayout, names: tuple[str, ...]) -> tuple[Bind, ...]:
    out = []
    for name in names:
        kind, _, location = info.attributes[name]
        attr = layout.attribute(name)
        # The normalisation is the layout's ('f1'): a bind call does not read it from the token.
        out.append((location, _BIND_CLASS.get(kind, "f"), attr.token, attr.offset, attr.normalized))
    return tuple(out)


def _listed(layout: VertexLayout) -> str:
    return ", ".join(f"{a.name} '{a.token}'" for a in layout.attributes)
