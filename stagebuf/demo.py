"""The triangle demo: a galaxy of procedurally animated triangles, staged every frame.

Each frame generates N triangles on the CPU (positions, sizes and colours all
change), stages them through a :class:`~stagebuf.Stager` and draws them with
the project's shaders, in a glfw window (OpenGL 3.3 core) or headless on an
EGL context, writing the last frame to a PNG. It prints frames per second and
the staging figures once a second (and shows them in the window title).

Run ``stagebuf-demo --help`` (or ``python examples/triangles.py --help``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import moderngl
import numpy as np

from ._gl import create_headless_context, load_program
from ._layout import VertexLayout
from ._png import write_png
from ._scene import TriangleField
from ._staging import STRATEGIES, Stager

__all__ = ["DemoOptions", "main", "parse_args", "run"]

BACKGROUND = (0.015, 0.015, 0.04, 1.0)
LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
DEFAULT_HEADLESS_FRAMES = 120
DEFAULT_OUT = "stagebuf-frame.png"


@dataclass
class DemoOptions:
    """What ``stagebuf-demo`` was asked to do."""

    triangles: int = 20_000
    frames: int | None = None  # None: until the window closes (headless: 120)
    vsync: bool = True
    strategy: str = "ring"
    headless: bool = False
    out: Path | None = None
    size: tuple[int, int] = (1280, 720)
    seed: int = 7


class _OneLineParser(argparse.ArgumentParser):
    """Bad options end the program with one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _count(name: str, minimum: int) -> Any:
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


def parse_args(argv: list[str] | None = None) -> DemoOptions:
    """Parse command-line options (bad ones exit with status 2 and a one-line message)."""
    parser = _OneLineParser(
        prog="stagebuf-demo",
        description="Procedurally animated triangles staged every frame with stagebuf.",
    )
    parser.add_argument(
        "--triangles",
        type=_count("--triangles", 0),
        default=20_000,
        help="triangles generated per frame (default 20000)",
    )
    parser.add_argument(
        "--frames",
        type=_count("--frames", 1),
        default=None,
        help=f"run this many frames, then exit (headless default: {DEFAULT_HEADLESS_FRAMES})",
    )
    parser.add_argument("--no-vsync", action="store_true", help="do not wait for vertical sync")
    parser.add_argument(
        "--strategy", choices=STRATEGIES, default="ring", help="GL upload strategy (default ring)"
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="render offscreen on an EGL context (automatic without a display)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"write the last frame to this PNG (headless default: {DEFAULT_OUT})",
    )
    parser.add_argument("--size", type=_size, default=(1280, 720), help="frame size, WxH")
    parser.add_argument("--seed", type=_count("--seed", 0), default=7, help="scene seed")
    ns = parser.parse_args(argv)
    if ns.out is not None:
        folder = ns.out.parent if str(ns.out.parent) else Path(".")
        if ns.out.is_dir() or not folder.is_dir():
            parser.error(f"--out {str(ns.out)!r} must name a PNG file in an existing folder")
    return DemoOptions(
        triangles=ns.triangles,
        frames=ns.frames,
        vsync=not ns.no_vsync,
        strategy=ns.strategy,
        headless=ns.headless,
        out=ns.out,
        size=ns.size,
        seed=ns.seed,
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
            f"{self.opts.strategy}"
        )

    def release(self) -> None:
        self.stager.release()
        self.program.release()


def _read_rgba(fbo: Any, size: tuple[int, int]) -> np.ndarray[Any, Any]:
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


def run_headless(opts: DemoOptions) -> int:
    """Render ``opts.frames`` frames offscreen and write the last one to a PNG."""
    ctx = create_headless_context()
    frames = opts.frames or DEFAULT_HEADLESS_FRAMES
    out = opts.out or Path(DEFAULT_OUT)
    w, h = opts.size
    fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 4)])
    scene = _Scene(ctx, opts)
    try:
        fbo.use()
        scene.set_viewport(w, h)
        meter = _Meter()
        t0 = time.perf_counter()
        for i in range(frames):
            scene.draw(t=i / 60.0)  # fixed time step: the same frames on every machine
            if meter.tick():
                print(scene.status(meter.fps), flush=True)
        ctx.finish()
        elapsed = time.perf_counter() - t0
        write_png(out, _read_rgba(fbo, (w, h)))
        print(scene.status(frames / elapsed), flush=True)
        print(f"wrote {out} ({w}x{h}, frame {frames} of {frames})", flush=True)
    finally:
        scene.release()
        fbo.release()
        ctx.release()
    return 0


def run_window(opts: DemoOptions) -> int | None:
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
        window = glfw.create_window(w, h, "stagebuf demo", None, None)
        if not window:
            return None
        glfw.make_context_current(window)
        glfw.swap_interval(1 if opts.vsync else 0)
        ctx = moderngl.create_context(require=330)
        scene = _Scene(ctx, opts)
        try:
            scene.set_viewport(*glfw.get_framebuffer_size(window))

            def on_resize(_win: Any, width: int, height: int) -> None:
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
                scene.draw(t=time.perf_counter() - t0)
                last = closing or (opts.frames is not None and scene.frames >= opts.frames)
                if last and opts.out is not None:
                    size = glfw.get_framebuffer_size(window)
                    write_png(opts.out, _read_rgba(ctx.screen, size))
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
            scene.release()
            ctx.release()
            glfw.destroy_window(window)
    finally:
        glfw.terminate()
    return 0


def run(opts: DemoOptions) -> int:
    """Run the demo: in a window when a display is there, else headless."""
    if not opts.headless:
        status = run_window(opts)
        if status is not None:
            return status
        print("no display could be opened: running headless", flush=True)
    return run_headless(opts)


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``stagebuf-demo``."""
    opts = parse_args(argv)
    try:
        return run(opts)
    except (RuntimeError, OSError, MemoryError) as err:
        print(f"stagebuf-demo: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
