"""The GL objects of a :class:`~stagebuf.web.Context`, held in Python and sent to
the pages: programs (with their uniform values), textures and buffers.

Each object has an id the pages know it by and a version that grows with each
change of its data, so that a page is sent what it lacks and nothing else
(``Wire`` is what goes out: a JSON header and the data's bytes).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._arena import non_negative_int
from .._recording._programs import ProgramInfo, _uniform_value
from ._glsl import WebProgramSource

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["Buffer", "Program", "Texture", "Uniform", "Wire"]

_ids = itertools.count(1)  # ids are unique in the process: pages never confuse two objects

# moderngl's texture filter constants (GL enums): WebGL2 takes the same numbers.
_NEAREST, _LINEAR = 0x2600, 0x2601
_MIN_FILTERS = {0x2600, 0x2601, 0x2700, 0x2701, 0x2702, 0x2703}
_MAG_FILTERS = {_NEAREST, _LINEAR}
# Texture dtypes WebGL2 can sample with any filter, and their bytes per component.
_TEXTURE_DTYPES = {"f1": 1}


@dataclass(frozen=True)
class Wire:
    """One version of an object as the pages receive it."""

    id: int
    version: int
    header: dict[str, Any]
    blobs: tuple[Any, ...] = field(default=())  # bytes-like


def next_id() -> int:
    return next(_ids)


class _Object:
    """What every object of a web context has: its context, an id and a release."""

    __slots__ = ("_released", "ctx", "id")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.id = next_id()
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Free the object here and in every page (at the next frame sent)."""
        if not self._released:
            self._released = True
            self.ctx._forget(self.id)

    def _check(self, what: str) -> None:
        if self._released:
            raise ValueError(f"{what}: the {type(self).__name__.lower()} was released.")


class Uniform:
    """``program[name]`` for a uniform: its ``value``, read and set as moderngl's is."""

    __slots__ = ("_program", "name")

    def __init__(self, program: Program, name: str) -> None:
        self._program = program
        self.name = name

    @property
    def value(self) -> Any:
        return self._program._value(self.name)

    @value.setter
    def value(self, value: Any) -> None:
        self._program._set(self.name, value)

    def write(self, data: Any) -> None:
        """Set the value from its bytes (float32, int32 or uint32 by the uniform's type)."""
        self._program._set(self.name, bytes(memoryview(data)))

    @property
    def dimension(self) -> int:
        return self._program.info.uniforms[self.name][1]

    def __repr__(self) -> str:
        return f"<Uniform {self.name!r} = {self.value!r}>"


class Attribute:
    """``program[name]`` for a vertex attribute: where it is bound and what it reads."""

    __slots__ = ("components", "kind", "location", "name")

    def __init__(self, name: str, kind: str, components: int, location: int) -> None:
        self.name = name
        self.kind = kind
        self.components = components
        self.location = location

    def __repr__(self) -> str:
        return f"<Attribute {self.name!r} location={self.location}>"


class Program(_Object):
    """A WebGL2 program: GLSL ES 3.00 sources the pages compile, and the values of its
    uniforms (set in Python; every page draws with them)."""

    __slots__ = ("_values", "info", "samplers", "source", "wire")

    def __init__(self, ctx: Context, source: WebProgramSource) -> None:
        super().__init__(ctx)
        self.source = source
        self.info: ProgramInfo = source.info
        self.samplers = source.samplers
        # GL starts every uniform at zero.
        self._values: dict[str, Any] = {
            name: 0 if n == 1 else [0] * n for name, (_, n) in source.info.uniforms.items()
        }
        self.wire = Wire(
            self.id,
            1,
            {
                "type": "program",
                "vs": source.vertex_shader,
                "fs": source.fragment_shader,
                "locations": source.locations,
            },
        )

    def __getitem__(self, name: str) -> Uniform | Attribute:
        if name in self.info.uniforms:
            return Uniform(self, name)
        spec = self.info.attributes.get(name)
        if spec is not None:
            return Attribute(name, *spec)
        raise KeyError(
            f"web program: no active uniform or attribute {name!r}; it has "
            f"{', '.join(sorted([*self.info.uniforms, *self.info.attributes])) or '(none)'} "
            f"(GLSL drops inputs the shader never uses)."
        )

    def __contains__(self, name: object) -> bool:
        return name in self.info.uniforms or name in self.info.attributes

    def __iter__(self) -> Iterator[str]:
        yield from self.info.attributes
        yield from self.info.uniforms

    def get(self, name: str, default: Any) -> Any:
        """``program[name]``, or ``default`` when the program has no such input."""
        if name not in self:
            return default
        return self[name]

    def values(self) -> dict[str, Any]:
        """The uniforms' values as the pages take them (a copy)."""
        return dict(self._values)

    def _value(self, name: str) -> Any:
        value = self._values[name]
        return tuple(value) if isinstance(value, list) else value

    def _set(self, name: str, value: Any) -> None:
        self._check(f"setting uniform {name!r}")
        spec = self.info.uniforms[name]
        self._values[name] = _uniform_value(spec, name, value, "web program")

    def __repr__(self) -> str:
        return f"<web Program {self.id}{' released' if self._released else ''}>"


class Texture(_Object):
    """A 2-D texture of 1 to 4 normalised-byte components (``f1``), as the pages hold it.

    ``write`` replaces its pixels; ``filter``, ``repeat_x``/``repeat_y`` and
    ``build_mipmaps()`` work as moderngl's. ``use(location)`` binds it to a unit
    for the draws that follow, as moderngl's does.
    """

    __slots__ = (
        "_data",
        "_filter",
        "_mipmaps",
        "_repeat",
        "_version",
        "components",
        "dtype",
        "size",
        "wire",
    )

    def __init__(
        self, ctx: Context, size: Any, components: int, data: Any, dtype: str, where: str
    ) -> None:
        super().__init__(ctx)
        self.size = checked_size(size, where)
        self.components = _components(components, where)
        if dtype not in _TEXTURE_DTYPES:
            raise ValueError(
                f"{where}: dtype {dtype!r} is not supported by stagebuf's WebGL2 textures; "
                f"use 'f1' (normalised bytes: every filter works in WebGL2)."
            )
        self.dtype = dtype
        self._filter = (_LINEAR, _LINEAR)
        self._repeat = [True, True]
        self._mipmaps = False
        self._version = 0
        self._data = self._checked(data, where)
        self.wire = self._wire()

    def _checked(self, data: Any, where: str) -> bytes:
        width, height = self.size
        need = width * height * self.components * _TEXTURE_DTYPES[self.dtype]
        if data is None:
            return bytes(need)
        try:
            raw = bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
        except TypeError as err:
            raise TypeError(
                f"{where}: data must be bytes-like (bytes, a numpy array); got "
                f"{type(data).__name__} ({err})."
            ) from None
        if len(raw) != need:
            raise ValueError(
                f"{where}: data holds {len(raw)} bytes; a {width}x{height} texture of "
                f"{self.components} '{self.dtype}' components takes {need}."
            )
        return raw

    def _wire(self) -> Wire:
        self._version += 1
        return Wire(
            self.id,
            self._version,
            {
                "type": "texture",
                "size": list(self.size),
                "components": self.components,
                "filter": list(self._filter),
                "repeat": list(self._repeat),
                "mipmaps": self._mipmaps,
            },
            (self._data,),
        )

    def write(self, data: Any) -> None:
        """Replace the texture's pixels (the whole texture)."""
        self._check("Texture.write")
        self._data = self._checked(data, "Texture.write")
        self.wire = self._wire()

    def read(self) -> bytes:
        return self._data

    @property
    def filter(self) -> tuple[int, int]:
        return self._filter

    @filter.setter
    def filter(self, value: tuple[int, int]) -> None:
        try:
            low, high = (int(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(
                f"Texture.filter: expected (min filter, mag filter) as moderngl's constants; "
                f"got {value!r}."
            ) from None
        if low not in _MIN_FILTERS or high not in _MAG_FILTERS:
            raise ValueError(
                f"Texture.filter: ({low:#x}, {high:#x}) is not a filter pair; the min filter "
                f"is NEAREST, LINEAR or a *_MIPMAP_* one, the mag filter NEAREST or LINEAR."
            )
        self._filter = (low, high)
        self.wire = self._wire()

    @property
    def repeat_x(self) -> bool:
        return self._repeat[0]

    @repeat_x.setter
    def repeat_x(self, value: bool) -> None:
        self._repeat[0] = bool(value)
        self.wire = self._wire()

    @property
    def repeat_y(self) -> bool:
        return self._repeat[1]

    @repeat_y.setter
    def repeat_y(self, value: bool) -> None:
        self._repeat[1] = bool(value)
        self.wire = self._wire()

    def build_mipmaps(self, base: int = 0, max_level: int = 1000) -> None:
        """Make the pages build the texture's mipmaps (and keep them after writes)."""
        self._mipmaps = True
        self.wire = self._wire()

    def use(self, location: int = 0) -> None:
        """Bind to texture unit ``location`` for the draws that follow (moderngl's way)."""
        self._check("Texture.use")
        self.ctx._use_texture(self, location)

    def __repr__(self) -> str:
        w, h = self.size
        return f"<web Texture {self.id} {w}x{h}x{self.components}>"


class Buffer(_Object):
    """A GL buffer as the pages hold it (for meshes): bytes, written whole or in part."""

    __slots__ = ("_data", "_version", "wire")

    def __init__(self, ctx: Context, data: Any, reserve: int, where: str) -> None:
        super().__init__(ctx)
        if data is not None:
            try:
                self._data = bytearray(memoryview(data).cast("B"))
            except TypeError as err:
                raise TypeError(
                    f"{where}: data must be bytes-like; got {type(data).__name__} ({err})."
                ) from None
        else:
            self._data = bytearray(non_negative_int(reserve, f"{where}: reserve"))
        if not self._data:
            raise ValueError(f"{where}: a buffer of 0 bytes; GL buffers hold at least one byte.")
        self._version = 0
        self.wire = self._wire()

    def _wire(self) -> Wire:
        self._version += 1
        return Wire(self.id, self._version, {"type": "buffer"}, (bytes(self._data),))

    @property
    def size(self) -> int:
        return len(self._data)

    def write(self, data: Any, offset: int = 0) -> None:
        self._check("Buffer.write")
        view = memoryview(data).cast("B")
        offset = non_negative_int(offset, "Buffer.write: offset")
        if offset + view.nbytes > len(self._data):
            raise ValueError(
                f"Buffer.write: {view.nbytes} bytes at offset {offset} run past the buffer's "
                f"{len(self._data)} bytes."
            )
        self._data[offset : offset + view.nbytes] = view
        self.wire = self._wire()

    def read(self) -> bytes:
        return bytes(self._data)

    def __repr__(self) -> str:
        return f"<web Buffer {self.id} {self.size} bytes>"


def checked_size(size: object, where: str, limit: int = 16384) -> tuple[int, int]:
    """``size`` as (width, height) in pixels, each 1..``limit``."""
    try:
        width, height = (operator.index(v) for v in size)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TypeError(f"{where}: size must be (width, height) in pixels; got {size!r}.") from None
    if not (1 <= width <= limit and 1 <= height <= limit):
        raise ValueError(f"{where}: size {size!r} is outside 1x1..{limit}x{limit}.")
    return int(width), int(height)


def _components(components: object, where: str) -> int:
    number = non_negative_int(components, f"{where}: components")
    if not 1 <= number <= 4:
        raise ValueError(f"{where}: components must be 1 to 4; got {components!r}.")
    return number
