"""stagebuf on WebGL2: the same Stager code draws in browser pages.

``web.Context`` stands where a moderngl context would: programs, textures,
buffers, clears and GL state are recorded in this (native) process, and each
``stager.render()`` sends the frame to every page watching ``ctx.url``, which
draws it with WebGL2. No GL driver is needed here; the pages' renderer is a
plain ES module shipped in the package (``stagebuf/web/page``).

    from stagebuf import web
    with web.Context(port=0) as ctx:      # serves http://127.0.0.1:<port>/
        program = sb.load_program(ctx)
        stager = sb.Stager(ctx, layout, program)
        ...

Needs the ``web`` extra (``pip install stagebuf[web]``: the websockets library).
"""

from __future__ import annotations

from ._context import Context, WebGLUnsupportedError
from ._glsl import ShaderError
from ._objects import Buffer, Program, Texture
from ._server import PageStats

__all__ = [
    "Buffer",
    "Context",
    "PageStats",
    "Program",
    "ShaderError",
    "Texture",
    "WebGLUnsupportedError",
]
