"""``web.Context``: the moderngl subset a Stager, a Mesh and the examples use, drawing
in browser pages with WebGL2 instead of a GL driver in this process.

What a frame draws is recorded here as a list of commands (a clear, then each
``stager.render()`` with the GL state it ran under) and sent after each
render as one message: the pages draw the newest complete list at their next
animation frame. A frame starts at ``clear()`` (or ``present()``, for apps
that never clear).
"""

from __future__ import annotations

import operator
import secrets
import socket
from importlib import resources
from typing import Any, TypeVar

from .._arena import non_negative_int
from ._glsl import convert, read_program
from ._messages import Snapshot
from ._objects import Buffer, Program, Texture, Wire, checked_size
from ._server import Asset, PageStats, Server

__all__ = ["Context", "WebGLUnsupportedError"]

_Kept = TypeVar("_Kept", Program, Texture, Buffer)

# moderngl's enable flags (the same numbers: code written for moderngl passes them).
NOTHING, BLEND, DEPTH_TEST, CULL_FACE, RASTERIZER_DISCARD, PROGRAM_POINT_SIZE = 0, 1, 2, 4, 8, 16
_FLAGS = BLEND | DEPTH_TEST | CULL_FACE | RASTERIZER_DISCARD | PROGRAM_POINT_SIZE
# GL blend factors and equations WebGL2 takes.
_BLEND_FACTORS = {0, 1, *range(0x0300, 0x0309), *range(0x8001, 0x8005)}
_BLEND_EQUATIONS = {0x8006, 0x800A, 0x800B, 0x8007, 0x8008}  # ADD, SUBTRACT, REVERSE, MIN, MAX
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MAX_COMMANDS = 1024  # renders in one frame: an app that never clears hits this
_NO_FRAMES: set[int] = set()
# moderngl context state the page does not apply: assigning it raises instead of
# being ignored.
_MODERNGL_STATE = frozenset(
    {
        "depth_func",
        "cull_face",
        "front_face",
        "wireframe",
        "scissor",
        "line_width",
        "point_size",
        "polygon_offset",
        "provoking_vertex",
        "depth_clamp_range",
        "patch_vertices",
        "fbo",
    }
)
_PAGE_FILES = {"renderer.js": "text/javascript; charset=utf-8"}


class WebGLUnsupportedError(RuntimeError):
    """Something moderngl can do that WebGL2 (or the web Context) cannot."""


class Context:
    """A context whose frames are drawn by browser pages with WebGL2.

    ``web.Context(port=0)`` serves a page at :attr:`url` (HTTP and a websocket on
    one port; 0 picks a free one). It binds 127.0.0.1 unless ``host=`` names
    another address; then every request needs the random token in the URL.
    ``size`` is the page's canvas in pixels (``viewport`` starts as all of it).

    It offers what a :class:`~stagebuf.Stager`, a :class:`~stagebuf.Mesh`,
    :func:`~stagebuf.load_program` and the examples use: ``program``,
    ``texture``, ``buffer``, ``clear``, ``enable``/``disable``/``enable_only``
    with moderngl's flags, ``blend_func``, ``blend_equation``, ``viewport``.
    What WebGL2 cannot do raises :class:`WebGLUnsupportedError` naming it.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        size: tuple[int, int] = (1280, 720),
    ) -> None:
        port = _port(port)
        if not isinstance(host, str) or not host:
            raise TypeError(
                f"web.Context: host must be an address such as '127.0.0.1'; got {host!r}."
            )
        width, height = checked_size(size, "web.Context", limit=8192)
        self.size = (width, height)
        self.host = host
        # A server reachable from other machines needs a secret in its URL.
        self.token = None if host in _LOOPBACK else secrets.token_urlsafe(18)
        self._objects: dict[int, Any] = {}  # id -> live object
        self._viewport = (0, 0, width, height)
        self._flags = 0
        self._blend = (0x0302, 0x0303, 0x0302, 0x0303)  # SRC_ALPHA, ONE_MINUS_SRC_ALPHA
        self._equation = (0x8006, 0x8006)
        self._units: dict[int, Texture] = {}
        self._commands: list[dict[str, Any]] = []
        self._needed: dict[int, Wire] = {}
        self._seq = 0
        self._released = False
        self._backend: Any = None
        self._server = Server(host, port, self.token, _assets(), self._page, self._alive)
        self.port = self._server.port

    # -- moderngl's subset -------------------------------------------------------

    def program(
        self,
        vertex_shader: str,
        fragment_shader: str | None = None,
        geometry_shader: str | None = None,
        tess_control_shader: str | None = None,
        tess_evaluation_shader: str | None = None,
        varyings: Any = (),
        **unsupported: Any,
    ) -> Program:
        """A program from GLSL 330 core (or later desktop) sources, converted to GLSL
        ES 3.00. The pages compile it; what it reads is found in its sources."""
        self._check("web.Context.program")
        for name, given in (
            ("geometry_shader", geometry_shader),
            ("tess_control_shader", tess_control_shader),
            ("tess_evaluation_shader", tess_evaluation_shader),
        ):
            if given is not None:
                raise WebGLUnsupportedError(
                    f"web.Context.program: WebGL2 has no {name.replace('_', ' ')}s (vertex "
                    f"and fragment shaders only)."
                )
        if varyings:
            raise WebGLUnsupportedError(
                "web.Context.program: transform feedback (varyings=) is not supported by "
                "stagebuf's WebGL2 backend."
            )
        if unsupported:
            raise TypeError(
                f"web.Context.program: unexpected argument(s) {', '.join(sorted(unsupported))}."
            )
        if fragment_shader is None:
            raise WebGLUnsupportedError(
                "web.Context.program: WebGL2 programs need a fragment shader."
            )
        source = read_program(
            convert(vertex_shader, "vertex shader"), convert(fragment_shader, "fragment shader")
        )
        return self._keep(Program(self, source))

    def texture(
        self,
        size: tuple[int, int],
        components: int,
        data: Any = None,
        *,
        samples: int = 0,
        alignment: int = 1,
        dtype: str = "f1",
    ) -> Texture:
        """A 2-D texture of ``components`` normalised bytes per pixel (rows from the
        bottom, as GL uploads them)."""
        self._check("web.Context.texture")
        if samples:
            raise WebGLUnsupportedError(
                "web.Context.texture: multisampled textures cannot be sampled in WebGL2."
            )
        if alignment != 1:
            raise ValueError(
                f"web.Context.texture: alignment={alignment!r}; the web Context takes "
                f"tightly packed rows (alignment=1)."
            )
        return self._keep(Texture(self, size, components, data, dtype, "web.Context.texture"))

    def buffer(self, data: Any = None, *, reserve: int = 0, dynamic: bool = False) -> Buffer:
        """A buffer of ``data`` (or ``reserve`` zero bytes), held here and sent to the
        pages that draw from it."""
        self._check("web.Context.buffer")
        return self._keep(Buffer(self, data, reserve, "web.Context.buffer"))

    def clear(
        self,
        red: float = 0.0,
        green: float = 0.0,
        blue: float = 0.0,
        alpha: float = 0.0,
        depth: float = 1.0,
        *,
        viewport: Any = None,
        color: Any = None,
    ) -> None:
        """Start a frame: the pages clear to this colour (and depth) before the
        renders that follow."""
        self._check("web.Context.clear")
        if viewport is not None:
            raise WebGLUnsupportedError(
                "web.Context.clear: clearing part of the canvas (viewport=) is not supported."
            )
        rgba = tuple(color) if color is not None else (red, green, blue, alpha)
        try:
            values = [float(v) for v in rgba] + [0.0] * (4 - len(rgba))
        except (TypeError, ValueError):
            raise TypeError(
                f"web.Context.clear: colour values must be numbers; got {rgba!r}."
            ) from None
        self._start_frame()
        self._commands.append({"op": "clear", "color": values[:4], "depth": float(depth)})

    def present(self) -> None:
        """Send the frame drawn since the last ``clear()`` (or ``present()``) and start
        a new one: for apps that never clear (a render sends already)."""
        self._check("web.Context.present")
        self._publish()
        self._start_frame()

    def enable(self, flags: int) -> None:
        self._flags |= _flags(flags, "web.Context.enable")

    def disable(self, flags: int) -> None:
        self._flags &= ~_flags(flags, "web.Context.disable")

    def enable_only(self, flags: int) -> None:
        self._flags = _flags(flags, "web.Context.enable_only")

    @property
    def blend_func(self) -> tuple[int, int, int, int]:
        return self._blend

    @blend_func.setter
    def blend_func(self, value: Any) -> None:
        factors = _ints(value, "web.Context.blend_func", (2, 4))
        if any(f not in _BLEND_FACTORS for f in factors):
            raise ValueError(f"web.Context.blend_func: {value!r} holds a factor GL does not know.")
        self._blend = factors * 2 if len(factors) == 2 else factors  # type: ignore[assignment]

    @property
    def blend_equation(self) -> tuple[int, int]:
        return self._equation

    @blend_equation.setter
    def blend_equation(self, value: Any) -> None:
        if isinstance(value, int):
            value = (value, value)
        equations = _ints(value, "web.Context.blend_equation", (1, 2))
        if any(e not in _BLEND_EQUATIONS for e in equations):
            raise ValueError(
                f"web.Context.blend_equation: {value!r}; WebGL2 takes FUNC_ADD, "
                f"FUNC_SUBTRACT, FUNC_REVERSE_SUBTRACT, MIN and MAX."
            )
        self._equation = equations * 2 if len(equations) == 1 else equations  # type: ignore[assignment]

    @property
    def viewport(self) -> tuple[int, int, int, int]:
        return self._viewport

    @viewport.setter
    def viewport(self, value: Any) -> None:
        x, y, w, h = _ints(value, "web.Context.viewport", (4,))
        if w < 0 or h < 0:
            raise ValueError(f"web.Context.viewport: width and height must be >= 0; got {value!r}.")
        self._viewport = (x, y, w, h)

    @property
    def max_texture_units(self) -> int:
        return 16  # WebGL2 guarantees 16 combined texture units

    @property
    def version_code(self) -> int:
        return 300  # GLSL ES 3.00

    def finish(self) -> None:
        """Nothing to wait for here: the pages draw on their own."""

    @property
    def url(self) -> str:
        """The page's address (with its token when it needs one)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        token = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{token}"

    @property
    def stats(self) -> PageStats:
        """What was sent to the pages and what they drew."""
        return self._server.stats

    @property
    def frames_published(self) -> int:
        """Frames handed to the server so far (the newest frame's ``seq``)."""
        return self._seq

    def release(self) -> None:
        """Stop serving: every page's connection closes. Objects made here are released."""
        if self._released:
            return
        self._released = True
        self._server.stop()
        for obj in list(self._objects.values()):
            obj._released = True
        self._objects.clear()

    @property
    def released(self) -> bool:
        return self._released

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<web.Context {self.url} {self.size[0]}x{self.size[1]}>"

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _MODERNGL_STATE:
            raise WebGLUnsupportedError(
                f"web.Context.{name}: not supported by stagebuf's WebGL2 backend (it sends "
                f"enable/disable flags, blend_func, blend_equation and viewport)."
            )
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if (
            name in _MODERNGL_STATE
            or name
            in (
                "vertex_array",
                "simple_vertex_array",
                "info",
                "error",
                "extensions",
                "point_size",
                "line_width",
            )
            or name
            in (
                "framebuffer",
                "renderbuffer",
                "simple_framebuffer",
                "depth_texture",
                "texture_array",
                "texture3d",
                "texture_cube",
                "query",
                "scope",
                "compute_shader",
                "sampler",
                "external_buffer",
                "detect_framebuffer",
                "copy_framebuffer",
                "copy_buffer",
                "screen",
                "fbo",
            )
        ):
            raise WebGLUnsupportedError(
                f"web.Context has no {name}: the pages draw into their canvas, and the web "
                f"Context offers program, texture, buffer, clear, enable/disable, blend_func, "
                f"blend_equation and viewport."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- the staging layer's side -----------------------------------------------

    def _stagebuf_backend(self) -> Any:
        """The staging layer's backend for this context (see stagebuf._backends)."""
        if self._backend is None:
            from .._backends._webgl import WebglBackend

            self._backend = WebglBackend(self)
        return self._backend

    def _render(self, frame: Any, mode: int | None) -> None:
        """Add a stager's render of its uploaded frame to this frame, and send it."""
        self._check("render()")
        if len(self._commands) >= _MAX_COMMANDS:
            raise WebGLUnsupportedError(
                f"render(): {_MAX_COMMANDS} renders since the last ctx.clear(); a web frame "
                f"begins at ctx.clear() or ctx.present(): call one of them once per frame "
                f"(an app that draws its own background calls ctx.present() after its renders)."
            )
        needed = self._needed
        needed[frame.wire.id] = frame.wire
        values = {}
        for program in frame.programs:
            needed[program.id] = program.wire
            values[program.id] = program.values()
        for obj in frame.objects:
            needed[obj.id] = obj.wire
        units = {}
        for unit, texture in self._units.items():
            if not texture.released:
                needed[texture.id] = texture.wire
                units[unit] = texture.id
        self._commands.append(
            {
                "op": "render",
                "frame": frame.wire.id,
                "mode": mode,
                "viewport": self._viewport,
                "flags": self._flags,
                "blend": self._blend,
                "equation": self._equation,
                "values": values,
                "units": units,
            }
        )
        self._publish()

    def _publish(self) -> None:
        self._seq += 1
        self._server.publish(
            Snapshot(self._seq, self.size, tuple(self._commands), tuple(self._needed.values()))
        )

    def _start_frame(self) -> None:
        self._commands = []
        self._needed = {}

    def _use_texture(self, texture: Texture, unit: int) -> None:
        number = operator.index(unit)
        if not 0 <= number < self.max_texture_units:
            raise ValueError(f"Texture.use: location {unit!r} is not a texture unit (0 to 15).")
        self._units[number] = texture

    def _keep(self, obj: _Kept) -> _Kept:
        self._objects[obj.id] = obj
        return obj

    def _forget(self, oid: int) -> None:
        self._objects.pop(oid, None)
        self._units = {u: t for u, t in self._units.items() if t.id != oid}

    def _alive(self, oid: int) -> bool:
        """Whether object ``oid`` exists (pages free the others); a stager's frames are
        alive while the stager is."""
        return oid in self._objects or oid in self._frames_alive

    @property
    def _frames_alive(self) -> set[int]:
        backend = self._backend
        return _NO_FRAMES if backend is None else backend.frame_ids

    def _check(self, what: str) -> None:
        if self._released:
            raise ValueError(f"{what}: the web Context was released.")

    def _page(self, token: str) -> bytes:
        """The index page, carrying the token its requests need."""
        html = _read("index.html").decode()
        return html.replace("{{QUERY}}", f"?token={token}" if token else "").encode()


def _assets() -> dict[str, Asset]:
    return {name: Asset(_read(name), kind) for name, kind in _PAGE_FILES.items()}


def _read(name: str) -> bytes:
    return resources.files("stagebuf.web").joinpath("page").joinpath(name).read_bytes()


def _port(port: object) -> int:
    number = non_negative_int(port, "web.Context: port")
    if number > 65535:
        raise ValueError(f"web.Context: port must be 0 (any free port) to 65535; got {port!r}.")
    return number


def _flags(flags: object, where: str) -> int:
    try:
        number = operator.index(flags)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{where}: flags must be moderngl's flags (ints); got {flags!r}.") from None
    if number & ~_FLAGS:
        raise WebGLUnsupportedError(
            f"{where}: flag bits {number & ~_FLAGS:#x} are not BLEND, DEPTH_TEST, CULL_FACE, "
            f"RASTERIZER_DISCARD or PROGRAM_POINT_SIZE."
        )
    return number


def _ints(value: object, where: str, lengths: tuple[int, ...]) -> tuple[int, ...]:
    try:
        numbers = tuple(operator.index(v) for v in value)  # type: ignore[attr-defined]
    except TypeError:
        numbers = ()
    if len(numbers) not in lengths:
        raise TypeError(
            f"{where}: expected {' or '.join(map(str, lengths))} integers; got {value!r}."
        )
    return numbers
