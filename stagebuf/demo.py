"""The triangle demo: a galaxy of procedurally animated triangles, staged every frame.

Each frame generates N triangles on the CPU (positions, sizes and colours all
change), stages them through a :class:`~stagebuf.Stager` and draws them with
the project's shaders, in a glfw window (OpenGL 3.3 core) or headless on an
EGL context, writing the last frame to a PNG. It prints frames per second and
the staging figures once a second (and shows them in the window title).

Run ``stagebuf-demo --help`` (or ``python examples/triangles.py --help``).

The window-or-headless loop is shared with the programs in ``examples/``: an
:class:`App` names a program, :func:`app_parser` adds the options every app
takes (``--frames``, ``--no-vsync``, ``--headless``, ``--out``, ``--size``),
and :func:`run_main` runs any :class:`Scene` in a glfw window when a display
is there, else headless on EGL (saying so in one line).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import moderngl
import numpy as np

from . import STRATEGIES, Stager
from ._arena._backend import arena_line
from ._gl import create_headless_context, load_program
from ._layout import VertexLayout
from ._png import write_png
from ._scene import TriangleField

__all__ = [
    "App",
    "DemoOptions",
    "RunOptions",
    "Scene",
    "app_parser",
    "count_arg",
    "main",
    "parse_args",
    "read_rgba",
    "run",
    "run_app",
    "run_main",
    "run_options",
]

BACKGROUND = (0.015, 0.015, 0.04, 1.0)
LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
DEFAULT_HEADLESS_FRAMES = 120
DEFAULT_OUT = "stagebuf-frame.png"


# -- the app runner, shared by the demo and examples/ -------------------------


@dataclass
class RunOptions:
    """How an app runs: for how long, where, at what size, and where its last frame goes."""

    frames: int | None = None  # None: until the window closes (headless: the app's default)
    vsync: bool = True
    headless: bool = False
    out: Path | None = None
    size: tuple[int, int] = (1280, 720)
    web: bool = False  # serve the frames to browser pages (stagebuf.web) instead
    port: int = 8765
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class App:
    """One runnable program: the name its messages start with, its window title,
    and its headless defaults (frame count and PNG name)."""

    prog: str
    title: str
    default_out: str
    headless_frames: int = DEFAULT_HEADLESS_FRAMES


class Scene(Protocol):
    """What :func:`run_main` drives: made on the app's context, then once per frame
    ``draw(t)`` (seconds) into the bound framebuffer."""

    frames: int  # frames drawn so far

    def set_viewport(self, width: int, height: int) -> None: ...

    def draw(self, t: float) -> None: ...

    def status(self, fps: float) -> str: ...

    def release(self) -> None: ...


Opts = TypeVar("Opts", bound=RunOptions)
SceneFactory = Callable[[Any, Opts], Scene]  # (moderngl context, options) -> scene


class _OneLineParser(argparse.ArgumentParser):
    """Bad options end the program with one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def count_arg(name: str, minimum: int) -> Callable[[str], int]:
    """An argparse ``type=``: an integer >= ``minimum``, with a one-line message naming
    the option otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be an integer >= {minimum}; got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}; got {value}")
        return value

    return parse


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 1280x720; got {text!r}") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"--size must be within 1x1..16384x16384; got {text!r}")
    return w, h


def app_parser(app: App, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every app takes; add the app's own, then
    pass the parsed namespace to :func:`run_options`. Bad options exit with status 2
    and one line on stderr."""
    parser = _OneLineParser(prog=app.prog, description=description)
    parser.add_argument(
        "--frames",
        type=count_arg("--frames", 1),
        default=None,
        help=f"run this many frames, then exit (headless default: {app.headless_frames})",
    )
    parser.add_argument("--no-vsync", action="store_true", help="do not wait for vertical sync")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="render offscreen on an EGL context (automatic without a display)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"write the last frame to this PNG (headless default: {app.default_out})",
    )
    parser.add_argument("--size", type=_size, default=(1280, 720), help="frame size, WxH")
    parser.add_argument(
        "--web",
        action="store_true",
        help="draw in browser pages (WebGL2): serve them at the printed URL (Ctrl-C stops)",
    )
    parser.add_argument(
        "--port",
        type=_port_arg,
        default=8765,
        help="with --web: the port to serve on (0: any free one; default 8765)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="with --web: the address to bind (default 127.0.0.1; another needs the "
        "token the printed URL carries)",
    )
    return parser


def _port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be an integer; got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be 0 to 65535; got {value}")
    return value


def run_options(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> dict[str, Any]:
    """The common options of a parsed namespace, checked, as keyword arguments of
    :class:`RunOptions` (or an app's subclass of it)."""
    if ns.web and ns.headless:
        parser.error("--web and --headless are two ways to run; pick one")
    if ns.web and ns.out is not None:
        parser.error(
            "--out writes a frame of a window or headless run; a --web run draws in the browser"
        )
    if ns.out is not None:
        folder = ns.out.parent if str(ns.out.parent) else Path(".")
        if ns.out.is_dir() or not folder.is_dir():
            parser.error(f"--out {str(ns.out)!r} must name a PNG file in an existing folder")
    return {
        "frames": ns.frames,
        "vsync": not ns.no_vsync,
        "headless": ns.headless,
        "out": ns.out,
        "size": ns.size,
        "web": ns.web,
        "port": ns.port,
        "host": ns.host,
    }


def read_rgba(fbo: Any, size: tuple[int, int]) -> np.ndarray[Any, Any]:
    """The framebuffer's pixels as a top-down ``(height, width, 4)`` uint8 array."""
    # An explicit viewport: the window's framebuffer may have been resized since
    # the context was made, and read() defaults to the size it had then.
    data = fbo.read(viewport=(0, 0, size[0], size[1]), components=4, alignment=1)
    img = np.frombuffer(data, dtype=np.uint8).reshape(size[1], size[0], 4)
    out: np.ndarray[Any, Any] = img[::-1].copy()  # GL rows are bottom-up; PNG rows top-down
    return out


class _Meter:
    """Frames per second, reported once a second."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.frames = 0
        self.fps = 0.0

    def tick(self) -> bool:
        self.frames += 1
        now = time.perf_counter()
        if now - self.last >= 1.0:
            self.fps = self.frames / (now - self.last)
            self.frames = 0
            self.last = now
            return True
        return False


def run_headless(app: App, make_scene: SceneFactory[Opts], opts: Opts) -> int:
    """Render ``opts.frames`` frames offscreen and write the last one to a PNG."""
    ctx = create_headless_context()
    frames = opts.frames or app.headless_frames
    out = opts.out or Path(app.default_out)
    w, h = opts.size
    fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 4)])
    scene = None
    try:
        scene = make_scene(ctx, opts)
        fbo.use()
        scene.set_viewport(w, h)
        meter = _Meter()
        t0 = time.perf_counter()
        for i in range(frames):
            scene.draw(i / 60.0)  # fixed time step: the same frames on every machine
            # Wait for the frame as a window's buffer swap would: without it Mesa's
            # llvmpipe keeps queueing frames and memory grows ~0.7 MB per frame.
            ctx.finish()
            if meter.tick():
                print(scene.status(meter.fps), flush=True)
        ctx.finish()
        elapsed = time.perf_counter() - t0
        write_png(out, read_rgba(fbo, (w, h)))
        print(scene.status(frames / elapsed), flush=True)
        print(f"wrote {out} ({w}x{h}, frame {frames} of {frames})", flush=True)
    finally:
        if scene is not None:
            scene.release()
        fbo.release()
        ctx.release()
    return 0


def run_window(app: App, make_scene: SceneFactory[Opts], opts: Opts) -> int | None:
    """Run in a glfw window; return None when no window can be opened."""
    import glfw  # only the demo imports glfw, and only for the window

    glfw.ERROR_REPORTING = "ignore"  # failures are reported below, in one line
    if not glfw.init():
        return None
    try:
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        w, h = opts.size
        window = glfw.create_window(w, h, app.title, None, None)
        if not window:
            return None
        glfw.make_context_current(window)
        glfw.swap_interval(1 if opts.vsync else 0)
        ctx = moderngl.create_context(require=330)
        scene = None
        try:
            scene = make_scene(ctx, opts)
            scene.set_viewport(*glfw.get_framebuffer_size(window))

            def on_resize(_win: Any, width: int, height: int) -> None:
                assert scene is not None
                scene.set_viewport(width, height)

            def on_key(win: Any, key: int, _sc: int, action: int, _mods: int) -> None:
                if key == glfw.KEY_ESCAPE and action == glfw.PRESS:
                    glfw.set_window_should_close(win, True)

            glfw.set_framebuffer_size_callback(window, on_resize)
            glfw.set_key_callback(window, on_key)
            meter = _Meter()
            t0 = time.perf_counter()
            while True:
                glfw.poll_events()
                # Escape or the close button ends the run after one last frame, so
                # that --out always gets the frame on screen when the window closed.
                closing = glfw.window_should_close(window)
                scene.draw(time.perf_counter() - t0)
                last = closing or (opts.frames is not None and scene.frames >= opts.frames)
                if last and opts.out is not None:
                    size = glfw.get_framebuffer_size(window)
                    write_png(opts.out, read_rgba(ctx.screen, size))
                    print(f"wrote {opts.out} ({size[0]}x{size[1]})", flush=True)
                glfw.swap_buffers(window)
                if meter.tick():
                    line = scene.status(meter.fps)
                    glfw.set_window_title(window, line)
                    print(line, flush=True)
                if last:
                    break
            print(f"closed after {scene.frames} frames", flush=True)
        finally:
            if scene is not None:
                scene.release()
            ctx.release()
            glfw.destroy_window(window)
    finally:
        glfw.terminate()
    return 0


def run_web(app: App, make_scene: SceneFactory[Opts], opts: Opts) -> int:
    """Serve the scene's frames to browser pages (WebGL2) at the printed URL, about 60
    a second (as fast as it can with --no-vsync), until --frames or Ctrl-C."""
    try:
        from .web import Context  # the web extra: websockets
    except ModuleNotFoundError as err:
        raise RuntimeError(
            f"--web needs the web extra ({err}): pip install 'stagebuf[web]'"
        ) from None

    w, h = opts.size
    with Context(port=opts.port, host=opts.host, size=(w, h)) as ctx:
        print(f"{app.prog}: open {ctx.url} in a browser (Ctrl-C stops)", flush=True)
        scene = make_scene(ctx, opts)
        try:
            scene.set_viewport(w, h)
            meter = _Meter()
            t0 = next_frame = time.perf_counter()
            while opts.frames is None or scene.frames < opts.frames:
                scene.draw(time.perf_counter() - t0)
                if opts.vsync:  # the browser shows 60 frames a second: stage no more
                    next_frame += 1 / 60
                    time.sleep(max(0.0, next_frame - time.perf_counter()))
                if meter.tick():
                    stats = ctx.stats
                    print(
                        f"{scene.status(meter.fps)} | {stats.pages} page(s), "
                        f"{stats.frames_drawn} frames drawn there",
                        flush=True,
                    )
            print(f"served {scene.frames} frames", flush=True)
        except KeyboardInterrupt:
            print(f"stopped after {scene.frames} frames", flush=True)
        finally:
            scene.release()
    return 0


def run_app(app: App, make_scene: SceneFactory[Opts], opts: Opts) -> int:
    """Run a scene: in browser pages with --web, else in a window when a display is
    there, else headless."""
    if opts.web:
        return run_web(app, make_scene, opts)
    if not opts.headless:
        status = run_window(app, make_scene, opts)
        if status is not None:
            return status
        print("no display could be opened: running headless", flush=True)
    return run_headless(app, make_scene, opts)


def run_main(app: App, make_scene: SceneFactory[Opts], opts: Opts) -> int:
    """:func:`run_app`, with GL, file and memory failures reported in one line
    (``<prog>: error: ...``) and exit status 1."""
    try:
        return run_app(app, make_scene, opts)
    except (RuntimeError, OSError, MemoryError) as err:
        print(f"{app.prog}: error: {err}", file=sys.stderr)
        return 1


# -- the triangle demo ----------------------------------------------------------

APP = App(prog="stagebuf-demo", title="stagebuf demo", default_out=DEFAULT_OUT)


@dataclass
class DemoOptions(RunOptions):
    """What ``stagebuf-demo`` was asked to do."""

    triangles: int = 20_000
    strategy: str | None = None  # None: the stager's default for its context
    seed: int = 7


def parse_args(argv: list[str] | None = None) -> DemoOptions:
    """Parse command-line options (bad ones exit with status 2 and a one-line message)."""
    parser = app_parser(APP, "Procedurally animated triangles staged every frame with stagebuf.")
    parser.add_argument(
        "--triangles",
        type=count_arg("--triangles", 0),
        default=20_000,
        help="triangles generated per frame (default 20000)",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="GL upload strategy (default: the stager's, 'mapped' where GL can, else 'ring')",
    )
    parser.add_argument("--seed", type=count_arg("--seed", 0), default=7, help="scene seed")
    ns = parser.parse_args(argv)
    if ns.web and ns.strategy is not None:
        parser.error("--strategy chooses how GL buffers are written; --web sends frames instead")
    return DemoOptions(
        **run_options(parser, ns), triangles=ns.triangles, strategy=ns.strategy, seed=ns.seed
    )


class _Scene:
    """The GL side of the demo, shared by the window and the headless paths."""

    def __init__(self, ctx: Any, opts: DemoOptions) -> None:
        self.ctx = ctx
        self.opts = opts
        self.program = load_program(ctx)
        self.stager = Stager(ctx, LAYOUT, self.program, strategy=opts.strategy)
        self.field = TriangleField(opts.triangles, seed=opts.seed)
        self.stage_ms = 0.0
        self.frames = 0
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE  # additive: dense arms glow

    def set_viewport(self, width: int, height: int) -> None:
        """Fit the viewport to the framebuffer, keeping the galaxy round."""
        self.ctx.viewport = (0, 0, max(width, 1), max(height, 1))
        aspect = max(width, 1) / max(height, 1)
        scale = (1.0 / aspect, 1.0) if aspect >= 1 else (1.0, aspect)
        self.program["u_scale"].value = tuple(0.95 * s for s in scale)

    def draw(self, t: float) -> None:
        """Generate, stage and draw one frame at time ``t``."""
        n = self.opts.triangles
        start = time.perf_counter()
        with self.stager.frame() as frame:
            tris = frame.reserve(3 * n)
            self.field.fill(tris, t)
        self.stage_ms = (time.perf_counter() - start) * 1e3
        self.ctx.clear(*BACKGROUND)
        self.stager.render()
        self.frames += 1

    def status(self, fps: float) -> str:
        stats = self.stager.stats
        return (
            f"stagebuf demo | {self.opts.triangles} triangles | {fps:.1f} fps | "
            f"staging {self.stage_ms:.2f} ms/frame (CPU) | "
            f"{stats.bytes_uploaded_last_frame / 1e6:.2f} MB uploaded | "
            f"arena high-water {stats.arena_high_water_bytes / 1e6:.2f} MB | "
            f"{self.stager.strategy}"
        )

    def release(self) -> None:
        self.stager.release()
        self.program.release()


def run(opts: DemoOptions) -> int:
    """Run the demo: in a window when a display is there, else headless."""
    return run_app(APP, _Scene, opts)


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``stagebuf-demo``."""
    opts = parse_args(argv)
    print(arena_line(), flush=True)  # first line: which arena runs (compiled or pure Python)
    return run_main(APP, _Scene, opts)


if __name__ == "__main__":
    sys.exit(main())
