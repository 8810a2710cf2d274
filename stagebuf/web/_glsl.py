"""GLSL for the page: desktop GLSL (330 core and later) converted to GLSL ES 3.00, and
what a program reads, found in its sources.

The Python process has no GL driver on the web path, so it cannot ask a linked
program for its active inputs as moderngl does. It reads the declarations
instead: every ``in`` of the vertex shader and every ``uniform`` of both
stages, with its type and array length. GL drops inputs a shader never uses;
a declared name that the code never mentions again is dropped here likewise,
so a layout need not feed an attribute the shader ignores. Attribute locations
are assigned here (declaration order, explicit ``layout(location = N)`` kept)
and the page binds them before linking, so both sides agree without a round
trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._recording._programs import ProgramInfo

__all__ = ["ShaderError", "WebProgramSource", "convert", "read_program"]


class ShaderError(ValueError):
    """A shader the WebGL2 page cannot run, or that stagebuf cannot read."""


# Scalar kind and components of each GLSL ES 3.00 type a program may declare.
_TYPES: dict[str, tuple[str, int]] = {
    "float": ("f", 1),
    "vec2": ("f", 2),
    "vec3": ("f", 3),
    "vec4": ("f", 4),
    "int": ("i", 1),
    "ivec2": ("i", 2),
    "ivec3": ("i", 3),
    "ivec4": ("i", 4),
    "uint": ("u", 1),
    "uvec2": ("u", 2),
    "uvec3": ("u", 3),
    "uvec4": ("u", 4),
    "bool": ("b", 1),
    "bvec2": ("b", 2),
    "bvec3": ("b", 3),
    "bvec4": ("b", 4),
    "mat2": ("f", 4),
    "mat3": ("f", 9),
    "mat4": ("f", 16),
    "mat2x2": ("f", 4),
    "mat2x3": ("f", 6),
    "mat2x4": ("f", 8),
    "mat3x2": ("f", 6),
    "mat3x3": ("f", 9),
    "mat3x4": ("f", 12),
    "mat4x2": ("f", 8),
    "mat4x3": ("f", 12),
    "mat4x4": ("f", 16),
}
# Attribute locations a matrix takes: one per column.
_COLUMNS = {"mat2": 2, "mat3": 3, "mat4": 4}
_COLUMNS.update({f"mat{c}x{r}": c for c in (2, 3, 4) for r in (2, 3, 4)})
# Samplers WebGL2 has: their uniform holds a texture unit (an int).
_SAMPLERS = {
    f"{prefix}sampler{shape}"
    for prefix in ("", "i", "u")
    for shape in ("2D", "3D", "Cube", "2DArray")
} | {"sampler2DShadow", "samplerCubeShadow", "sampler2DArrayShadow"}
# Desktop types with no GLSL ES 3.00 counterpart, and what to use instead.
_DESKTOP_ONLY = {
    "double": "float",
    "dvec2": "vec2",
    "dvec3": "vec3",
    "dvec4": "vec4",
    "dmat2": "mat2",
    "dmat3": "mat3",
    "dmat4": "mat4",
    "sampler1D": "sampler2D with a height of 1",
    "samplerBuffer": "a 2-D texture",
    "sampler2DRect": "sampler2D",
    "sampler2DMS": "a resolved sampler2D",
}

_VERSION = re.compile(r"^[ \t]*#[ \t]*version[ \t]+(\d+)[ \t]*(\w*)[ \t]*$", re.MULTILINE)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_BLOCK = re.compile(r"\buniform\s+\w+\s*\{")
# One declaration: optional layout(...), qualifiers, the storage word, a type and
# one or more names (with optional array sizes).
_DECLARATION = re.compile(
    r"(?:layout\s*\((?P<layout>[^)]*)\)\s*)?"
    r"(?:(?:flat|smooth|centroid|highp|mediump|lowp|invariant)\s+)*"
    r"\b(?P<storage>in|uniform|attribute)\s+"
    r"(?:(?:highp|mediump|lowp|flat|smooth|centroid)\s+)*"
    r"(?P<type>\w+)\s+(?P<names>[^;{}()]+);"
)
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?:\[\s*(?P<size>\w+)\s*\])?\s*$")
_LOCATION = re.compile(r"\blocation\s*=\s*(\d+)")

# What the page needs before the desktop sources' first line: the version, and the
# precisions GLSL ES 3.00 has no default for (floats in fragment shaders, and the
# samplers beyond sampler2D/samplerCube), all high as on the desktop.
_ES_PROLOGUE = (
    "#version 300 es\n"
    "precision highp float;\n"
    "precision highp int;\n"
    "precision highp sampler2D;\n"
    "precision highp sampler3D;\n"
    "precision highp samplerCube;\n"
    "precision highp sampler2DArray;\n"
    "precision highp sampler2DShadow;\n"
    "precision highp isampler2D;\n"
    "precision highp usampler2D;\n"
)


@dataclass(frozen=True)
class WebProgramSource:
    """A program as the page builds it: GLSL ES 3.00 sources, the attribute locations
    to bind before linking, and what it reads (for the recording's checks)."""

    vertex_shader: str
    fragment_shader: str
    locations: dict[str, int]
    info: ProgramInfo
    samplers: tuple[str, ...]
    columns: dict[int, int]  # first location -> locations taken, for matrix attributes


def convert(source: str, stage: str) -> str:
    """``source`` (GLSL 330 core or a later desktop version, or already ES 3.00) as
    GLSL ES 3.00: the version line replaced by ES's, with default precisions."""
    if not isinstance(source, str):
        raise TypeError(
            f"web.Context.program: {stage} must be GLSL source text; got "
            f"{type(source).__name__} {source!r}."
        )
    match = _VERSION.search(source)
    if match is None:
        raise ShaderError(
            f"web.Context.program: the {stage} has no #version line; stagebuf converts "
            f"'#version 330 core' (or later) sources to GLSL ES 3.00."
        )
    number, profile = int(match.group(1)), match.group(2)
    if profile == "es":
        if number != 300:
            raise ShaderError(
                f"web.Context.program: the {stage} is GLSL ES {number}; WebGL2 runs "
                f"GLSL ES 3.00 ('#version 300 es')."
            )
    elif number < 330:
        raise ShaderError(
            f"web.Context.program: the {stage} is GLSL {number}; stagebuf converts "
            f"GLSL 330 core and later desktop versions to GLSL ES 3.00."
        )
    for word, instead in _DESKTOP_ONLY.items():
        if re.search(rf"\b{word}\b", _COMMENTS.sub(" ", source)):
            raise ShaderError(
                f"web.Context.program: the {stage} uses '{word}', which GLSL ES 3.00 "
                f"(WebGL2) does not have; use {instead}."
            )
    # The prologue replaces the version line; `#line` keeps the page's compile
    # errors on the desktop source's line numbers.
    line = source.count("\n", 0, match.start()) + 2  # the line after #version
    return source[: match.start()] + _ES_PROLOGUE + f"#line {line}" + source[match.end() :]


def read_program(vertex_es: str, fragment_es: str) -> WebProgramSource:
    """What a program of these (converted) sources reads, with attribute locations."""
    vertex_code = _COMMENTS.sub(" ", vertex_es)
    fragment_code = _COMMENTS.sub(" ", fragment_es)
    for stage, code in (("vertex shader", vertex_code), ("fragment shader", fragment_code)):
        if _BLOCK.search(code):
            raise ShaderError(
                f"web.Context.program: the {stage} declares a uniform block; stagebuf's "
                f"WebGL2 backend sets plain uniforms only (declare them one by one)."
            )
    attributes: dict[str, tuple[str, int, int]] = {}
    locations: dict[str, int] = {}
    taken: set[int] = set()
    matrices: dict[str, str] = {}  # matrix attributes: one location per column
    pending: list[tuple[str, str, int]] = []  # (name, type, array length) without a location
    for decl in _declarations(vertex_code, ("in", "attribute")):
        name, type_name, length, layout = decl
        kind, components = _type_of(type_name, name, "attribute")
        if kind == "b":
            raise ShaderError(
                f"web.Context.program: attribute {name!r} is a {type_name}; GLSL has no "
                f"boolean attributes."
            )
        if not _used(vertex_code, name):
            continue  # GL drops an input the shader never reads
        if type_name in _COLUMNS:
            matrices[name] = type_name
        attributes[name] = (kind, components * max(length, 1), -1)
        wanted = _LOCATION.search(layout or "")
        slots = _COLUMNS.get(type_name, 1) * max(length, 1)
        if wanted:
            first = int(wanted.group(1))
            locations[name] = first
            taken.update(range(first, first + slots))
        else:
            pending.append((name, type_name, slots))
    location = 0
    for name, _type_name, slots in pending:
        while any(loc in taken for loc in range(location, location + slots)):
            location += 1
        locations[name] = location
        taken.update(range(location, location + slots))
        location += slots
    attributes = {
        name: (kind, count, locations[name]) for name, (kind, count, _) in attributes.items()
    }
    columns = {locations[name]: _COLUMNS[t] for name, t in matrices.items() if name in attributes}
    uniforms: dict[str, tuple[str, int]] = {}
    samplers: list[str] = []
    for code in (vertex_code, fragment_code):
        for name, type_name, length, _layout in _declarations(code, ("uniform",)):
            if type_name in _SAMPLERS:
                spec: tuple[str, int] = ("i", max(length, 1))
                if name not in samplers:
                    samplers.append(name)
            else:
                kind, components = _type_of(type_name, name, "uniform")
                spec = (kind, components * max(length, 1))
            if not (_used(vertex_code, name) or _used(fragment_code, name)):
                continue  # GL drops a uniform no stage reads
            if name in uniforms and uniforms[name] != spec:
                raise ShaderError(
                    f"web.Context.program: uniform {name!r} is declared with different "
                    f"types in the two stages."
                )
            uniforms[name] = spec
    return WebProgramSource(
        vertex_es,
        fragment_es,
        locations,
        ProgramInfo(attributes, uniforms),
        tuple(s for s in samplers if s in uniforms),
        columns,
    )


def _declarations(code: str, storages: tuple[str, ...]) -> list[tuple[str, str, int, str | None]]:
    """(name, type, array length or 0, layout text) of each global declaration of
    ``storages`` in ``code`` (outside functions: braces nest)."""
    out = []
    depth = 0
    top = []  # the text at brace depth 0
    for char in code:
        if char == "{":
            depth += 1
            top.append(" { ")
        elif char == "}":
            depth -= 1
            top.append(" } ")
        elif depth == 0:
            top.append(char)
    text = "".join(top)
    for match in _DECLARATION.finditer(text):
        if match.group("storage") not in storages:
            continue
        type_name = match.group("type")
        if type_name in ("struct",):
            continue
        for part in match.group("names").split(","):
            named = _NAME.match(part)
            if named is None:
                raise ShaderError(
                    f"web.Context.program: cannot read the declaration "
                    f"'{match.group(0).strip()}' (stagebuf reads plain '{match.group('storage')} "
                    f"<type> <name>[<size>];' declarations)."
                )
            size = named.group("size")
            length = 0
            if size is not None:
                if not size.isdigit():
                    raise ShaderError(
                        f"web.Context.program: the array size of {named.group('name')!r} is "
                        f"{size!r}; stagebuf reads literal sizes only."
                    )
                length = int(size)
            out.append((named.group("name"), type_name, length, match.group("layout")))
    return out


def _type_of(type_name: str, name: str, what: str) -> tuple[str, int]:
    spec = _TYPES.get(type_name)
    if spec is None:
        raise ShaderError(
            f"web.Context.program: {what} {name!r} has type {type_name!r}, which stagebuf's "
            f"WebGL2 backend does not set (scalars, vectors, matrices and samplers are "
            f"supported; structs are not)."
        )
    return spec


def _used(code: str, name: str) -> bool:
    """Whether ``name`` appears in ``code`` beyond its own declaration."""
    return len(re.findall(rf"\b{re.escape(name)}\b", code)) > 1
