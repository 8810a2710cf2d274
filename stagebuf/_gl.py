"""GL helpers: a headless context, and the project's shaders (shipped in the wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import moderngl

__all__ = ["create_headless_context", "load_program", "shader_dir", "shader_source"]

_HERE = Path(__file__).resolve().parent
# An installed wheel carries the shaders as stagebuf/shaders/; a source checkout
# (editable install) keeps them at the top level, next to the package.
_SHADER_DIRS = (_HERE / "shaders", _HERE.parent / "shaders")


def shader_dir() -> Path:
    """The folder holding the GLSL sources."""
    for folder in _SHADER_DIRS:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        "stagebuf's shaders were not found; looked in "
        + ", ".join(str(d) for d in _SHADER_DIRS)
        + " (a broken install?)."
    )


def shader_source(filename: str) -> str:
    """The text of one GLSL file from the shader folder, e.g. ``"triangles.vert"``."""
    path = shader_dir() / filename
    if not path.is_file():
        available = sorted(p.name for p in shader_dir().iterdir() if p.is_file())
        raise FileNotFoundError(
            f"no shader named {filename!r} in {path.parent}; available: {', '.join(available)}."
        )
    return path.read_text(encoding="utf-8")


def load_program(ctx: Any, name: str = "triangles") -> Any:
    """Compile ``<name>.vert`` + ``<name>.frag`` into a moderngl program.

    ``u_scale`` (when the program has it) starts at (1, 1): world units equal
    clip-space units until the caller sets the aspect correction.
    """
    program = ctx.program(
        vertex_shader=shader_source(f"{name}.vert"),
        fragment_shader=shader_source(f"{name}.frag"),
    )
    if "u_scale" in program:
        program["u_scale"].value = (1.0, 1.0)
    return program


def create_headless_context(*, require: int = 330) -> Any:
    """A standalone OpenGL context with no window, through EGL.

    Works without a display or GPU where Mesa is installed (llvmpipe). Raises
    RuntimeError, saying what was tried, when no context can be made.
    """
    try:
        # moderngl's stub types `backend` as a dict; the library takes the name.
        return moderngl.create_context(
            standalone=True,
            backend="egl",  # type: ignore[arg-type]
            require=require,
        )
    except Exception as err:
        raise RuntimeError(
            f"could not create a headless OpenGL {require // 100}.{require % 100 // 10} "
            f"context through EGL ({err}); install Mesa's EGL driver "
            f"(Debian: libegl1 libgl1-mesa-dri) or run on a machine with a GPU driver."
        ) from err
