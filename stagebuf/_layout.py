"""Vertex layouts: one numpy structured dtype <-> a moderngl buffer format and attribute names.

A :class:`VertexLayout` describes one interleaved vertex: which attributes it
holds, in which order, at which byte offsets, and how GL reads each of them. It
gives the same description in the two forms the staging layer needs:

* ``layout.dtype``: a numpy structured dtype whose ``itemsize`` is the vertex
  stride, so an array of it is byte-for-byte the GL buffer contents;
* ``layout.format`` and ``layout.names``: the moderngl buffer format string and
  the attribute names for ``ctx.vertex_array(program, [(buf, fmt, *names)])``.

moderngl buffer format tokens (``[count]type[size]``, see moderngl's "Buffer
Format" reference) that a layout accepts:

========  ===========================  ===============
token     GL data                      numpy
========  ===========================  ===============
``f``     float (same as ``f4``)       ``float32``
``f2``    half float                   ``float16``
``f8``    double                       ``float64``
``f1``    unsigned byte, normalised    ``uint8``
          (0..255 -> 0.0..1.0)
``i``     int (``i4``); ``i1``,        ``int32``,
          ``i2`` byte, short           ``int8``, ``int16``
``u``     unsigned int (``u4``);       ``uint32``,
          ``u1``, ``u2``               ``uint8``, ``uint16``
``x``     padding: ``Nx`` is N bytes;  unnamed gap
          ``x2``/``x4``/``x8`` are
          2/4/8-byte units
========  ===========================  ===============

The count prefix is the component count: 1 to 4, or for float types also a
matrix size (6, 8, 9, 12 or 16 floats: ``16f`` feeds a ``mat4``, one column per
4 floats, column-major). ``n``-prefixed types such as ``4nu1`` are not moderngl
formats; ``f1`` is the normalised byte.

Padding. In the keyword form each attribute string holds exactly one type token
and may hold padding tokens before or after it: ``VertexLayout(in_pos="2f 4x",
in_color="4f1")`` puts 4 unused bytes after ``in_pos``. In
:meth:`VertexLayout.from_format` padding goes anywhere in the format string.
Padding takes bytes in ``dtype`` (an unnamed gap between field offsets, or
trailing bytes of ``itemsize``) but has no name in ``names``. Layouts are
canonical: ``format`` writes all padding as ``Nx`` byte counts and merges
adjacent padding, so layouts that describe the same bytes compare equal however
they were written.

Usage. moderngl's buffer-wide suffix ``/v`` (per vertex, the default), ``/i``
(per instance) or ``/r`` (per render) ends the format and applies to the whole
buffer, so a layout has one :attr:`VertexLayout.usage`. In the keyword form every
attribute string carries the same suffix (``in_offset="2f/i", in_scale="1f/i"``);
mixing per-vertex and per-instance attributes raises ``ValueError``; put them in
two layouts, one per buffer.

Alignment. GL requires every datum of N bytes to sit at a multiple of N bytes in
the buffer, so each attribute's offset and the stride must be multiples of the
attribute's component size (``"3f1 2f"`` raises; ``"3f1 1x 2f"`` does not).

This module knows nothing about GL objects: numpy only. Matching a layout
against a shader program works on plain ``(kind, components)`` pairs, see
:meth:`VertexLayout.check_attributes`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, cast

import numpy as np
import numpy.typing as npt

from ._errors import LayoutMismatchError

__all__ = ["ShaderKind", "Usage", "VertexAttribute", "VertexLayout"]

Usage = Literal["v", "i", "r"]
"""moderngl buffer usage: per vertex, per instance, per render."""

ShaderKind = Literal["f", "i", "u", "d"]
"""Scalar kind a shader attribute is declared with: float, int, uint, double."""

FormatKind = Literal["f", "i", "u"]

# (moderngl type letter, bytes per component) -> numpy scalar type.
_SCALARS: dict[tuple[str, int], np.dtype[Any]] = {
    ("f", 1): np.dtype(np.uint8),  # normalised: GL turns 0..255 into 0.0..1.0
    ("f", 2): np.dtype(np.float16),
    ("f", 4): np.dtype(np.float32),
    ("f", 8): np.dtype(np.float64),
    ("i", 1): np.dtype(np.int8),
    ("i", 2): np.dtype(np.int16),
    ("i", 4): np.dtype(np.int32),
    ("u", 1): np.dtype(np.uint8),
    ("u", 2): np.dtype(np.uint16),
    ("u", 4): np.dtype(np.uint32),
}
_PAD_SIZES = (1, 2, 4, 8)
_DEFAULT_SIZE = {"f": 4, "i": 4, "u": 4, "x": 1}
_VECTOR_COUNTS = (1, 2, 3, 4)
# Float matrices mat2..mat4 and matNxM: columns x rows with both in 2..4.
_MATRIX_COUNTS = (6, 8, 9, 12, 16)
_USAGES: tuple[Usage, ...] = ("v", "i", "r")
_SHADER_KINDS: tuple[ShaderKind, ...] = ("f", "i", "u", "d")

_TOKEN_RE = re.compile(r"([0-9]*)([fiux])([0-9]*)")  # ASCII digits only, as moderngl
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_VALID_TOKENS = (
    "valid tokens are f, f1, f2, f4, f8, i, i1, i2, i4, u, u1, u2, u4, each with an "
    "optional component count prefix (2f, 4f1, 3i), and padding x, x1, x2, x4, x8 "
    "with an optional count prefix (4x is 4 bytes, 2x4 is 8 bytes)"
)
_SUPPORTED_DTYPES = (
    "supported field dtypes are float16, float32, float64, int8, int16, int32, uint8, "
    "uint16 and uint32 in native byte order, as a scalar, a 1-D subarray of 1 to 4 "
    "components, or (floats only) a matrix of 2-4 x 2-4 components"
)
_MISALIGNED_HINT = "GL requires each component to be aligned to its size in bytes"


@dataclass(frozen=True)
class VertexAttribute:
    """One attribute of a :class:`VertexLayout`: where it lives in a vertex and how GL reads it.

    ``offset`` is in bytes from the start of the vertex; ``kind`` and ``size`` are
    the moderngl type letter (``"f"``, ``"i"``, ``"u"``) and bytes per component,
    so ``kind="f", size=1`` is the normalised unsigned byte ``f1``.
    """

    name: str
    offset: int
    components: int
    kind: FormatKind
    size: int

    @property
    def normalized(self) -> bool:
        """Whether GL maps the stored unsigned bytes 0..255 to floats 0.0..1.0 (``f1``)."""
        return self.kind == "f" and self.size == 1

    @property
    def token(self) -> str:
        """The canonical moderngl format token, e.g. ``"2f"``, ``"4f1"``, ``"1u2"``."""
        return _token(self.components, self.kind, self.size)

    @property
    def nbytes(self) -> int:
        """Bytes the attribute takes in each vertex."""
        return self.components * self.size

    @property
    def scalar_dtype(self) -> np.dtype[Any]:
        """numpy type of one component (``uint8`` for ``f1``)."""
        return _SCALARS[self.kind, self.size]

    @property
    def dtype(self) -> np.dtype[Any]:
        """numpy dtype of the attribute's field: a scalar for 1 component, else ``(n,)``."""
        if self.components == 1:
            return self.scalar_dtype
        return np.dtype((self.scalar_dtype, (self.components,)))


def _token(components: int, kind: str, size: int) -> str:
    return f"{components}{kind}{'' if size == _DEFAULT_SIZE[kind] else size}"


@dataclass(frozen=True)
class _Pad:
    nbytes: int


@dataclass(frozen=True)
class _Type:
    components: int
    kind: FormatKind
    size: int
    text: str


def _parse_token(text: str, where: str) -> _Pad | _Type:
    """Parse one ``[count]type[size]`` token; ``where`` names the attribute or format."""
    match = _TOKEN_RE.fullmatch(text)
    if match is None:
        _bad_token(text, where)
    count_text, kind, size_text = match.groups()
    count = int(count_text) if count_text else 1
    size = int(size_text) if size_text else _DEFAULT_SIZE[kind]
    if kind == "x":
        if size not in _PAD_SIZES:
            _bad_token(text, where, f"padding units are 1, 2, 4 or 8 bytes, not {size}")
        if count == 0:
            raise ValueError(
                f"Padding token {text!r} {where} is zero bytes long; leave it out or give "
                f"a positive byte count such as '4x'."
            )
        return _Pad(count * size)
    if (kind, size) not in _SCALARS:
        valid = sorted(s for k, s in _SCALARS if k == kind)
        _bad_token(text, where, f"'{kind}' comes in {', '.join(map(str, valid))} bytes, not {size}")
    return _Type(count, cast(FormatKind, kind), size, text)


def _bad_token(text: str, where: str, detail: str = "") -> NoReturn:
    hints = []
    if detail:
        hints.append(detail)
    if "n" in text:
        hints.append(
            "moderngl has no 'n' (normalised) prefix; use 'f1' for bytes normalised to 0..1"
        )
    if "d" in text:
        hints.append("moderngl writes doubles as 'f8'")
    if text != text.lower():
        hints.append("type letters are lower case")
    if "/" in text:
        hints.append("a usage suffix (/v, /i, /r) may only end the whole format")
    hint = "; ".join(hints)
    raise ValueError(
        f"Invalid vertex format token {text!r} {where}" + (f" ({hint})" if hint else "") + "; "
        f"{_VALID_TOKENS}."
    )


def _split_usage(text: str, where: str) -> tuple[str, Usage | None]:
    """Split off moderngl's trailing ``/v``, ``/i`` or ``/r``; ``None`` when absent."""
    body, slash, suffix = text.partition("/")
    if not slash:
        return text, None
    suffix = suffix.rstrip()
    if suffix not in _USAGES:
        raise ValueError(
            f"Invalid usage suffix {'/' + suffix!r} {where}; a format may end with one of "
            f"/v (per vertex, the default), /i (per instance) or /r (per render), and "
            f"nothing may follow it."
        )
    return body, suffix


def _parse_body(body: str, where: str) -> list[_Pad | _Type]:
    return [_parse_token(text, where) for text in body.split()]


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Attribute names must be strings, got {name!r}.")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"Attribute name {name!r} is not a GLSL identifier (ASCII letters, digits "
            f"and '_', not starting with a digit)."
        )
    if name.startswith("gl_"):
        raise ValueError(
            f"Attribute name {name!r} uses the 'gl_' prefix GLSL reserves for built-in "
            f"variables, which no buffer can feed."
        )
    return name


def _component_problem(kind: str, count: int) -> str | None:
    """The one component-count rule: why ``count`` components of ``kind`` cannot be an
    attribute, or None. Shared by format tokens (``"5f"``) and dtype fields
    (``("f4", 5)``), which both raise ValueError with it."""
    if count == 0:
        return "give 1 to 4"
    if count in _VECTOR_COUNTS or (kind == "f" and count in _MATRIX_COUNTS):
        return None
    if kind == "f":
        return "a float attribute has 1 to 4, or a matrix size: 6, 8, 9, 12 or 16 (mat2x3 .. mat4)"
    return "an integer attribute has 1 to 4 (GLSL has no integer matrices)"


def _check_components(name: str, item: _Type) -> None:
    problem = _component_problem(item.kind, item.components)
    if problem is None:
        return
    if item.components == 0:
        raise ValueError(
            f"Attribute {name!r} ({item.text!r}) has zero components; {problem}, "
            f"e.g. '2{item.text.lstrip('0123456789')}'."
        )
    raise ValueError(
        f"Attribute {name!r} ({item.text!r}) has {item.components} components; {problem}."
    )


def _glsl_type(kind: str, dim: int) -> str:
    """A readable GLSL type for a shader attribute's (kind, components)."""
    scalar = {"f": "float", "i": "int", "u": "uint", "d": "double"}[kind]
    if dim == 1:
        return scalar
    if dim <= 4:
        return f"{'' if kind == 'f' else kind}vec{dim}"
    return f"{dim} {scalar}s (matrix or array)"


def _describe_format(attr: VertexAttribute) -> str:
    n = attr.components
    if attr.normalized:
        return f"'{attr.token}' ({n} normalised unsigned bytes)"
    scalar = {
        ("f", 2): "half float",
        ("f", 4): "float",
        ("f", 8): "double",
        ("i", 1): "signed byte",
        ("i", 2): "signed short",
        ("i", 4): "signed int",
        ("u", 1): "unsigned byte",
        ("u", 2): "unsigned short",
        ("u", 4): "unsigned int",
    }[attr.kind, attr.size]
    return f"'{attr.token}' ({n} {scalar}{'s' if n > 1 else ''})"


def _mismatch(attr: VertexAttribute, kind: str, dim: int) -> str | None:
    """Why ``attr`` cannot feed a shader attribute of (kind, dim), or ``None`` if it can."""
    glsl = _glsl_type(kind, dim)
    fed = _describe_format(attr)
    n = attr.components
    if kind == "f" and attr.kind != "f":
        alt = _glsl_type(attr.kind, dim) if dim <= 4 else "an integer type"
        return (
            f"the program reads {glsl} but the layout feeds integers {fed}, which would "
            f"reach the shader unnormalised; use '{n}f1' for bytes normalised to 0..1, "
            f"or declare the attribute {alt}."
        )
    if kind == "d" and not (attr.kind == "f" and attr.size == 8):
        return (
            f"the program reads {glsl} but the layout feeds {fed}; a double attribute "
            f"only takes 64-bit floats, use '{n}f8'."
        )
    if kind in ("i", "u"):
        if attr.kind == "f":
            extra = ", and 'f1' is a normalised float, not an integer" if attr.normalized else ""
            return (
                f"the program reads {glsl} but the layout feeds floats {fed}{extra}; use "
                f"an integer format such as '{n}{kind}', or declare the attribute as float."
            )
        if kind == "u" and attr.kind == "i":
            return (
                f"the program reads {glsl} (unsigned) but the layout feeds signed "
                f"integers {fed}, so negative values would wrap; use '{_token(n, 'u', attr.size)}'."
            )
        if kind == "i" and attr.kind == "u" and attr.size == 4:
            return (
                f"the program reads {glsl} (signed) but the layout feeds {fed}, whose "
                f"values above 2**31 - 1 would wrap; use '{n}i', or '{n}u1'/'{n}u2'."
            )
    if dim > 4:
        if n != dim:
            return (
                f"the program reads {glsl} but the layout feeds {n} components; a "
                f"matrix or array attribute needs exactly {dim}."
            )
    elif n > 4:
        return (
            f"the program reads {glsl} but the layout feeds {n} components (a matrix); "
            f"a vector attribute takes at most 4."
        )
    elif kind == "d" and n < dim:
        return (
            f"the program reads {glsl} but the layout feeds only {n} components; GL does "
            f"not guarantee defaults for missing double components, so feed {dim}."
        )
    return None


class VertexLayout:
    """One interleaved vertex: a numpy structured dtype and the matching moderngl format.

    ``VertexLayout(in_pos="2f", in_color="4f1")`` keeps the keyword order; each
    value is one moderngl type token, optionally surrounded by padding tokens
    (``"2f 4x"``) and ending with the usage suffix (``"2f/i"``), see the module
    docstring. Layouts are immutable and hashable; two layouts are equal when they
    describe the same bytes (names, types, offsets, stride) and the same usage.

    Raises ``ValueError`` for bad tokens, names, component counts, misaligned
    attributes, mixed usages or an empty layout, and ``TypeError`` when a value
    is not a string.
    """

    __slots__ = ("_attributes", "_by_name", "_dtype", "_format", "_hash", "_stride", "_usage")

    _attributes: tuple[VertexAttribute, ...]
    _by_name: dict[str, VertexAttribute]
    _dtype: np.dtype[np.void]
    _format: str
    _hash: int
    _stride: int
    _usage: Usage

    def __init__(self, **attributes: str) -> None:
        """Build a layout from ``name="format"`` keywords, in keyword order."""
        if not attributes:
            raise ValueError(
                "A VertexLayout needs at least one attribute, e.g. "
                "VertexLayout(in_pos='2f', in_color='4f1')."
            )
        items: list[tuple[str | None, _Pad | _Type]] = []
        usages: dict[str, Usage] = {}
        for name, spec in attributes.items():
            if not isinstance(spec, str):
                raise TypeError(
                    f"Attribute {name!r} must be given as a moderngl format string such as "
                    f"'2f', got {spec!r}."
                )
            where = f"in attribute {name!r} ({spec!r})"
            body, usage = _split_usage(spec, where)
            usages[name] = usage or "v"
            parsed = _parse_body(body, where)
            types = [item for item in parsed if isinstance(item, _Type)]
            if len(types) != 1:
                what = "no type token" if not types else f"{len(types)} type tokens"
                raise ValueError(
                    f"Attribute {name!r} ({spec!r}) has {what}; each keyword takes exactly "
                    f"one type token such as '2f', optionally with padding ('2f 4x'). "
                    f"Use VertexLayout.from_format() to name a whole format at once."
                )
            items.extend((name if isinstance(item, _Type) else None, item) for item in parsed)
        if len(set(usages.values())) > 1:
            listed = ", ".join(f"{n} /{u}" for n, u in usages.items())
            raise ValueError(
                f"A VertexLayout has one usage for the whole buffer, but its attributes "
                f"mix them ({listed}; no suffix means /v). Give every attribute the same "
                f"suffix, or use one layout per buffer for per-vertex and per-instance data."
            )
        self._setup(items, next(iter(usages.values())))

    # -- alternative constructors ------------------------------------------------

    @classmethod
    def from_format(cls, format: str, *names: str) -> VertexLayout:
        """Build a layout from a whole moderngl format string and one name per type token.

        ``VertexLayout.from_format("2f 4x 4f1", "in_pos", "in_color")``: padding
        tokens take no name; a trailing ``/v``, ``/i`` or ``/r`` sets the usage.
        Raises ``ValueError`` for bad tokens or when the names do not match the
        type tokens one to one, ``TypeError`` when ``format`` is not a string.
        """
        if not isinstance(format, str):
            raise TypeError(f"The format must be a moderngl format string, got {format!r}.")
        where = f"in format {format!r}"
        body, usage = _split_usage(format, where)
        items: list[tuple[str | None, _Pad | _Type]] = []
        n_types = 0
        for text in body.split():
            slot = f"{where} (attribute {names[n_types]!r})" if n_types < len(names) else where
            item = _parse_token(text, slot)
            if isinstance(item, _Type):
                name = names[n_types] if n_types < len(names) else None
                n_types += 1
                items.append((name, item))
            else:
                items.append((None, item))
        if n_types != len(names):
            raise ValueError(
                f"Format {format!r} has {n_types} attribute token(s) but {len(names)} "
                f"name(s) were given ({', '.join(map(repr, names)) or 'none'}); give one "
                f"name per type token, none for padding."
            )
        if n_types == 0:
            raise ValueError(
                f"Format {format!r} has no attribute; a VertexLayout needs at least one."
            )
        layout = cls.__new__(cls)
        layout._setup(items, usage or "v")
        return layout

    @classmethod
    def from_dtype(
        cls, dtype: npt.DTypeLike, *, normalized: Iterable[str] = (), usage: Usage = "v"
    ) -> VertexLayout:
        """Build a layout from a numpy structured dtype, fields ordered by offset.

        float32/16/64 fields become ``f``/``f2``/``f8``, int8/16/32 ``i1``/``i2``/``i``,
        uint8/16/32 ``u1``/``u2``/``u``; a uint8 field named in ``normalized`` becomes
        the normalised ``f1`` instead. A subarray shape gives the component count
        (``(2,)`` -> ``2f``; a float ``(4, 4)`` -> ``16f``); gaps between fields and
        after the last one become padding. Raises ``TypeError`` for a field dtype
        moderngl cannot read (naming the field) and ``ValueError`` for overlapping
        or misaligned fields, a component count no attribute has (the rule a
        format token such as ``"5f"`` breaks too) and bad ``normalized`` names.
        """
        try:
            dt = np.dtype(dtype)
        except (TypeError, ValueError, SyntaxError) as err:
            # numpy parses comma strings with ast.literal_eval: SyntaxError too.
            raise TypeError(
                f"VertexLayout.from_dtype: {dtype!r} is not a numpy dtype; expected a "
                f"structured dtype such as np.dtype([('in_pos', 'f4', 2)])."
            ) from err
        if dt.fields is None or not dt.names:
            raise TypeError(
                f"VertexLayout.from_dtype needs a structured dtype with named fields, got {dt}."
            )
        if isinstance(normalized, str):
            raise TypeError(
                f"normalized takes a collection of field names, e.g. normalized=({normalized!r},)."
            )
        norm = set(normalized)
        unknown = sorted(norm.difference(dt.names))
        if unknown:
            raise ValueError(
                f"normalized names {', '.join(map(repr, unknown))}, which the dtype does not "
                f"have; its fields are {', '.join(map(repr, dt.names))}."
            )
        if usage not in _USAGES:
            raise ValueError(f"usage must be 'v', 'i' or 'r', got {usage!r}.")
        fields = sorted(
            ((name, dt.fields[name][0], int(dt.fields[name][1])) for name in dt.names),
            key=lambda field: field[2],
        )
        entries: list[tuple[str, _Type]] = []
        for name, fdt, _ in fields:
            _check_name(name)
            entries.append((name, _field_type(name, fdt, name in norm)))
        spans = [
            (offset, item.components * item.size)
            for (_, _, offset), (_, item) in zip(fields, entries, strict=True)
        ]
        gaps = _gaps(spans, dt.itemsize)
        for i, gap in enumerate(gaps[1:-1], start=1):
            if gap < 0:
                prev, name = fields[i - 1][0], fields[i][0]
                end = spans[i - 1][0] + spans[i - 1][1]
                raise ValueError(
                    f"Fields {prev!r} and {name!r} overlap (offset {spans[i][0]} < {end}); "
                    f"GL vertex attributes cannot share bytes."
                )
        layout = cls.__new__(cls)
        layout._setup(_padded_items(entries, gaps), usage)
        return layout

    # -- construction ------------------------------------------------------------

    def _setup(self, items: list[tuple[str | None, _Pad | _Type]], usage: Usage) -> None:
        attributes: list[VertexAttribute] = []
        by_name: dict[str, VertexAttribute] = {}
        pos = 0
        for name, item in items:
            if isinstance(item, _Pad):
                pos += item.nbytes
                continue
            assert name is not None
            _check_name(name)
            if name in by_name:
                raise ValueError(f"Attribute name {name!r} appears twice; names must be unique.")
            _check_components(name, item)
            attr = VertexAttribute(name, pos, item.components, item.kind, item.size)
            if pos % item.size:
                need = item.size - pos % item.size
                raise ValueError(
                    f"Attribute {name!r} ({attr.token}) starts at byte {pos}, not a multiple "
                    f"of its {item.size}-byte components; {_MISALIGNED_HINT}. Add '{need}x' "
                    f"padding before it."
                )
            attributes.append(attr)
            by_name[name] = attr
            pos += attr.nbytes
        stride = pos
        widest = max(attributes, key=lambda a: a.size)
        if stride % widest.size:
            need = widest.size - stride % widest.size
            raise ValueError(
                f"The vertex stride ({stride} bytes) is not a multiple of {widest.size}, the "
                f"component size of {widest.name!r} ({widest.token}), so that attribute "
                f"would be misaligned in every other vertex; {_MISALIGNED_HINT}. Add "
                f"'{need}x' padding at the end."
            )
        dtype = np.dtype(
            {
                "names": [a.name for a in attributes],
                "formats": [a.dtype for a in attributes],
                "offsets": [a.offset for a in attributes],
                "itemsize": stride,
            }
        )
        set_ = object.__setattr__
        set_(self, "_attributes", tuple(attributes))
        set_(self, "_by_name", by_name)
        set_(self, "_stride", stride)
        set_(self, "_usage", usage)
        set_(self, "_dtype", dtype)
        set_(self, "_format", _format(self._attributes, stride, usage))
        set_(self, "_hash", hash((self._attributes, stride, usage)))

    # -- properties --------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype[np.void]:
        """The numpy structured dtype of one vertex; ``itemsize`` equals :attr:`stride`.

        Fields are named after the attributes (count-1 attributes are scalar
        fields, others ``(n,)`` subarrays; ``f1`` is stored as ``uint8``) and
        padding is unnamed bytes between or after them.
        """
        return self._dtype

    @property
    def format(self) -> str:
        """The canonical moderngl buffer format, e.g. ``"2f 4f1"`` or ``"2f 4x 1f/i"``."""
        return self._format

    @property
    def names(self) -> tuple[str, ...]:
        """The attribute names, in buffer order (padding has none)."""
        return tuple(a.name for a in self._attributes)

    @property
    def stride(self) -> int:
        """Bytes per vertex, padding included."""
        return self._stride

    @property
    def usage(self) -> Usage:
        """moderngl usage: ``"v"`` per vertex, ``"i"`` per instance, ``"r"`` per render."""
        return self._usage

    @property
    def attributes(self) -> tuple[VertexAttribute, ...]:
        """Every attribute's description, in buffer order."""
        return self._attributes

    def attribute(self, name: str) -> VertexAttribute:
        """The description of attribute ``name``; ``KeyError`` (listing the names) if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"The layout has no attribute {name!r}; it has {', '.join(map(repr, self.names))}."
            ) from None

    def with_usage(self, usage: Usage) -> VertexLayout:
        """The same layout with another buffer usage (``"v"``, ``"i"`` or ``"r"``)."""
        if usage not in _USAGES:
            raise ValueError(f"usage must be 'v', 'i' or 'r', got {usage!r}.")
        if usage == self._usage:
            return self
        layout = VertexLayout.__new__(VertexLayout)
        entries = [(a.name, _Type(a.components, a.kind, a.size, a.token)) for a in self._attributes]
        layout._setup(
            _padded_items(entries, _attribute_gaps(self._attributes, self._stride)), usage
        )
        return layout

    # -- matching a program ------------------------------------------------------

    def check_attributes(self, required: Mapping[str, tuple[str, int]]) -> tuple[str, ...]:
        """Check that this layout feeds every attribute a program reads; return the unused names.

        ``required`` maps each active program attribute to ``(kind, components)``:
        kind ``"f"`` (float, also fed by ``f1``/``f2``/``f8``), ``"i"`` (int),
        ``"u"`` (uint) or ``"d"`` (double); components is the attribute's
        dimension (times its array length for arrays; 16 for ``mat4``). Rules,
        following GL:

        * a float attribute takes float formats and the normalised ``f1``; an
          unnormalised integer format (``u1``, ``i``...) is a mismatch;
        * an ``int`` attribute takes ``i1``/``i2``/``i`` and ``u1``/``u2``
          (values fit); a ``uint`` attribute takes ``u`` formats only; floats
          (``f1`` included) feeding integers are a mismatch;
        * a double attribute takes ``f8`` only (``glVertexAttribLPointer``);
        * vectors: the buffer may give fewer components (GL fills in the missing
          ones from (0, 0, 0, 1)) or more (GL ignores the extra ones), except
          that double vectors need all their components;
        * matrices and arrays (more than 4 components) need exactly that many.

        Layout attributes the program does not read are fine; they are returned
        (in buffer order) so the caller can turn them into padding with
        :meth:`format_for`, since moderngl refuses names the program lacks.
        Raises ``LayoutMismatchError`` listing both sides' attributes and what
        is wrong with each bad one, ``ValueError`` for a malformed ``required``.
        """
        problems: list[str] = []
        program_side: list[str] = []
        for name, spec in required.items():
            kind, dim = _check_required(name, spec)
            program_side.append(f"{name} ({_glsl_type(kind, dim)})")
            attr = self._by_name.get(name)
            if attr is None:
                problems.append(
                    f"{name}: the program reads it ({_glsl_type(kind, dim)}) but the layout "
                    f"has no attribute of that name."
                )
                continue
            why = _mismatch(attr, kind, dim)
            if why is not None:
                problems.append(f"{name}: {why}")
        if problems:
            layout_side = ", ".join(f"{a.name} '{a.token}'" for a in self._attributes)
            raise LayoutMismatchError(
                "The vertex layout does not match the program's attributes.\n"
                f"  program attributes: {', '.join(program_side) or '(none)'}\n"
                f"  layout attributes:  {layout_side}\n  " + "\n  ".join(problems)
            )
        return tuple(a.name for a in self._attributes if a.name not in required)

    def format_for(self, used_names: Iterable[str]) -> tuple[str, tuple[str, ...]]:
        """The moderngl format and names that bind only ``used_names``; the rest become padding.

        Returns ``(format, names)`` for ``ctx.vertex_array(program, [(buf, format,
        *names)])``: attributes not in ``used_names`` are written as ``Nx`` padding
        bytes, so the stride and the other offsets stay the same. Names in
        ``used_names`` that the layout lacks are ignored (``check_attributes``
        reports them), so the program's attribute names can be passed directly.
        ``names`` is empty when the program reads none of the attributes; moderngl
        refuses such a buffer, so bind none then.
        """
        used = set(used_names)
        kept = tuple(a for a in self._attributes if a.name in used)
        return _format(kept, self._stride, self._usage), tuple(a.name for a in kept)

    # -- value semantics ---------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VertexLayout):
            return NotImplemented
        return (
            self._attributes == other._attributes
            and self._stride == other._stride
            and self._usage == other._usage
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        specs = _keyword_specs(self._attributes, self._stride, self._usage)
        if any(keyword.iskeyword(name) for name, _ in specs):
            inner = ", ".join(f"{name!r}: {spec!r}" for name, spec in specs)
            return f"VertexLayout(**{{{inner}}})"
        return f"VertexLayout({', '.join(f'{name}={spec!r}' for name, spec in specs)})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"VertexLayout is immutable; cannot set {name!r}.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"VertexLayout is immutable; cannot delete {name!r}.")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_specs, (_keyword_specs(self._attributes, self._stride, self._usage),))


def _from_specs(specs: list[tuple[str, str]]) -> VertexLayout:
    """Rebuild a layout from its keyword form (used by pickle)."""
    return VertexLayout(**dict(specs))


def _gaps(spans: list[tuple[int, int]], stride: int) -> list[int]:
    """The one padding walker: bytes of padding before each ``(offset, nbytes)`` span
    (in offset order) and after the last one, up to ``stride``; len(spans) + 1 values.

    A negative gap means the span overlaps the one before it.
    """
    gaps = []
    pos = 0
    for offset, nbytes in spans:
        gaps.append(offset - pos)
        pos = offset + nbytes
    gaps.append(stride - pos)
    return gaps


def _attribute_gaps(attributes: tuple[VertexAttribute, ...], stride: int) -> list[int]:
    return _gaps([(a.offset, a.nbytes) for a in attributes], stride)


def _keyword_specs(
    attributes: tuple[VertexAttribute, ...], stride: int, usage: Usage
) -> list[tuple[str, str]]:
    """Each attribute's keyword string: leading padding on the first, trailing on each."""
    suffix = "" if usage == "v" else f"/{usage}"
    gaps = _attribute_gaps(attributes, stride)
    specs = []
    for i, a in enumerate(attributes):
        parts = []
        if i == 0 and gaps[0]:
            parts.append(f"{gaps[0]}x")
        parts.append(a.token)
        if gaps[i + 1]:
            parts.append(f"{gaps[i + 1]}x")
        specs.append((a.name, " ".join(parts) + suffix))
    return specs


def _format(attributes: tuple[VertexAttribute, ...], stride: int, usage: Usage) -> str:
    """The canonical format string: one merged ``Nx`` token per gap."""
    gaps = _attribute_gaps(attributes, stride)
    parts = []
    for gap, a in zip(gaps, attributes, strict=False):
        if gap:
            parts.append(f"{gap}x")
        parts.append(a.token)
    if gaps[-1]:
        parts.append(f"{gaps[-1]}x")
    return " ".join(parts) + ("" if usage == "v" else f"/{usage}")


def _padded_items(
    entries: list[tuple[str, _Type]], gaps: list[int]
) -> list[tuple[str | None, _Pad | _Type]]:
    """Layout items with a padding item for each non-zero gap (see :func:`_gaps`)."""
    items: list[tuple[str | None, _Pad | _Type]] = []
    for gap, entry in zip(gaps, entries, strict=False):
        if gap:
            items.append((None, _Pad(gap)))
        items.append(entry)
    if gaps[-1]:
        items.append((None, _Pad(gaps[-1])))
    return items


def _check_required(name: object, spec: object) -> tuple[ShaderKind, int]:
    if not isinstance(name, str):
        raise ValueError(f"Program attribute names must be strings, got {name!r}.")
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        kind, dim = spec
        # bool is an int subclass; True is no component count
        if kind in _SHADER_KINDS and type(dim) is int and dim >= 1:
            return cast(ShaderKind, kind), dim
    raise ValueError(
        f"Program attribute {name!r} must map to (kind, components) with kind one of "
        f"'f', 'i', 'u', 'd' and components >= 1, got {spec!r}."
    )


def _field_type(name: str, fdt: np.dtype[Any], normalized: bool) -> _Type:
    """The moderngl type of one structured dtype field."""
    base, shape = fdt.subdtype if fdt.subdtype is not None else (fdt, ())
    if base.fields is not None or base.subdtype is not None:
        raise TypeError(f"Field {name!r} is a nested structure ({fdt}); {_SUPPORTED_DTYPES}.")
    if not base.isnative:
        raise TypeError(
            f"Field {name!r} has non-native byte order ({base.str}); GL reads vertex data "
            f"in the machine's byte order. {_SUPPORTED_DTYPES}."
        )
    kind = {"f": "f", "i": "i", "u": "u"}.get(base.kind)
    if kind is None or (kind, base.itemsize) not in _SCALARS:
        raise TypeError(f"Field {name!r} has unsupported dtype {fdt}; {_SUPPORTED_DTYPES}.")
    size = base.itemsize
    if normalized:
        if (kind, size) != ("u", 1):
            raise ValueError(
                f"Field {name!r} is {base}, but only uint8 fields can be normalised "
                f"(moderngl 'f1'); drop it from normalized."
            )
        kind = "f"
    if len(shape) == 0:
        count = 1
    elif len(shape) == 1:
        count = shape[0]
        problem = _component_problem(kind, count)
        if problem is not None:
            raise ValueError(f"Field {name!r} has {count} components ({fdt}); {problem}.")
    elif len(shape) == 2 and kind == "f" and all(2 <= n <= 4 for n in shape):
        count = shape[0] * shape[1]
    else:
        raise TypeError(
            f"Field {name!r} has unsupported shape {shape} ({fdt}); {_SUPPORTED_DTYPES}."
        )
    return _Type(count, cast(FormatKind, kind), size, _token(count, kind, size))
