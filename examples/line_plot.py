"""A live line plot: 10 series x 100,000 points per frame, thick lines, one Stager.

Each series is a scrolling signal (a ring of samples; new ones arrive every
frame, as from a sensor or a simulation). Each frame turns every series into a
thick line: two vertices per point, offset along the line's normal by half
the line width in pixels, drawn as one triangle strip. All series share ONE
``frame.reserve_indexed`` range in TRIANGLE_STRIP mode: the restart index
(all bits set, ``0xFFFFFFFF`` for the default ``u4`` indices) ends one
series' strip and starts the next, so the whole plot is one draw call. The
lane grid is a second range (LINES).

The packing is vectorised numpy (no Python loop per point) and writes
straight into the reserved views: positions with ``np.add(..., out=view)``,
colours with ``sb.write_attribute`` (one word per vertex, broadcast per series).

    python examples/line_plot.py                      # a window, or headless without a display
    python examples/line_plot.py --headless --series 10 --points 100000 --out line_plot.png
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

import stagebuf as sb
from stagebuf.demo import App, RunOptions, app_parser, count_arg, run_main, run_options

NDArray = npt.NDArray[Any]

APP = App(prog="line_plot.py", title="stagebuf line plot", default_out="line_plot.png")
BACKGROUND = (0.98, 0.98, 0.97, 1.0)
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")  # pixels, colour
RESTART = np.uint32(0xFFFFFFFF)  # the restart index of u4 indices
GRID_RGBA = (200, 200, 210, 255)
# Matplotlib's "tab10" palette: one colour per series, cycling past ten.
PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    np.uint8,
)


@dataclass
class PlotOptions(RunOptions):
    """What line_plot.py was asked to do."""

    series: int = 10
    points: int = 100_000
    width: float = 1.5


def _width(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 50:  # also refuses nan
        raise argparse.ArgumentTypeError(f"--width must be 0.5..50 pixels; got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> PlotOptions:
    """Parse the command line (bad options exit with status 2 and one line)."""
    parser = app_parser(APP, "A live plot of many long series as thick lines, one Stager.")
    parser.add_argument(
        "--series", type=count_arg("--series", 1), default=10, help="series (default 10)"
    )
    parser.add_argument(
        "--points",
        type=count_arg("--points", 2),
        default=100_000,
        help="points per series (default 100000)",
    )
    parser.add_argument(
        "--width", type=_width, default=1.5, help="line width in pixels (default 1.5)"
    )
    ns = parser.parse_args(argv)
    return PlotOptions(
        **run_options(parser, ns), series=ns.series, points=ns.points, width=ns.width
    )


def strip_indices(series: int, points: int) -> NDArray:
    """Indices of ``series`` strips of ``2 * points`` vertices each, a restart after each."""
    idx = np.empty((series, 2 * points + 1), np.uint32)
    idx[:, :-1] = np.arange(series * 2 * points, dtype=np.uint32).reshape(series, 2 * points)
    idx[:, -1] = RESTART
    return idx.reshape(-1)


class LinePlot:
    """Scrolling signals, packed as thick triangle strips through one Stager."""

    def __init__(self, ctx: Any, opts: PlotOptions) -> None:
        self.ctx = ctx
        self.opts = opts
        self.frames = 0
        self.stage_ms = 0.0
        self.size = opts.size
        self.program = sb.load_program(ctx, "plot")
        self.stager = sb.Stager(ctx, LAYOUT, self.program)  # index_dtype "u4" by default
        s, p = opts.series, opts.points
        self.indices = strip_indices(s, p)  # the same every frame: copied into the range
        self.colors = np.empty((s, 4), np.uint8)
        self.colors[:, :3] = PALETTE[np.arange(s) % len(PALETTE)]
        self.colors[:, 3] = 255
        # The signals: per series a ring of samples, the newest last.
        self.rng = np.random.default_rng(11)
        self.freq = self.rng.uniform(0.5, 3.0, s)[:, None]
        self.phase = self.rng.uniform(0, 2 * np.pi, s)[:, None]
        self.clock = 0  # samples generated so far
        self.samples = self.new_samples(p)
        # Scratch arrays for the packing, made once (no allocation per frame).
        self.y = np.empty((s, p), np.float32)
        self.nx = np.empty((s, p), np.float32)
        self.ny = np.empty((s, p), np.float32)
        self.tmp = np.empty((s, p), np.float32)
        self.x = np.empty(p, np.float32)

    def new_samples(self, count: int) -> NDArray:
        """The next ``count`` samples of every series, in -1..1: two slow waves and noise."""
        u = (self.clock + np.arange(count)) / self.opts.points  # one screen width = 1
        self.clock += count
        wave = 0.55 * np.sin(2 * np.pi * self.freq * u + self.phase)
        wave += 0.25 * np.sin(2 * np.pi * 7.3 * self.freq * u + 2 * self.phase)
        noise = self.rng.standard_normal(wave.shape) * 0.06
        return np.clip(wave + noise, -1, 1).astype(np.float32)

    def set_viewport(self, width: int, height: int) -> None:
        """Fit the viewport; the plot is laid out in pixels."""
        width, height = max(width, 1), max(height, 1)
        self.ctx.viewport = (0, 0, width, height)
        self.size = (width, height)

    def layout(self) -> tuple[float, float, float, NDArray]:
        """The plot area: left, right, lane height and each lane's centre row (pixels)."""
        w, h = self.size
        margin = max(4.0, 0.03 * min(w, h))
        lane = (h - 2 * margin) / self.opts.series
        centres = margin + lane * (np.arange(self.opts.series) + 0.5)
        return margin, w - margin, lane, centres

    def draw(self, t: float) -> None:
        """Scroll the signals, stage the grid and the strips, and draw them."""
        start = time.perf_counter()
        s, p = self.opts.series, self.opts.points
        # New samples arrive: shift the ring left and append (1% of a screen per frame).
        step = max(1, p // 100)
        if step >= p:
            self.samples[:] = self.new_samples(p)
        else:
            self.samples[:, :-step] = self.samples[:, step:]
            self.samples[:, -step:] = self.new_samples(step)
        left, right, lane, centres = self.layout()
        screen = {"u_screen": (float(self.size[0]), float(self.size[1]))}
        with self.stager.frame() as frame:
            self.stage_grid(frame, left, right, lane, centres, screen)
            verts, idx = frame.reserve_indexed(
                2 * s * p, len(self.indices), mode=moderngl.TRIANGLE_STRIP, uniforms=screen
            )
            idx[:] = self.indices
            self.pack(verts, left, right, lane, centres)
        self.stage_ms = (time.perf_counter() - start) * 1e3
        self.ctx.clear(*BACKGROUND)
        self.stager.render()
        self.frames += 1

    def stage_grid(
        self,
        frame: sb.Frame,
        left: float,
        right: float,
        lane: float,
        centres: NDArray,
        screen: dict[str, Any],
    ) -> None:
        """Lane borders and ten vertical divisions, as LINES."""
        rows = np.append(centres - lane / 2, centres[-1] + lane / 2)
        cols = np.linspace(left, right, 11)
        lines = frame.reserve(2 * (len(rows) + len(cols)), mode=moderngl.LINES, uniforms=screen)
        ends = lines.reshape(-1, 2)["in_pos"]  # (line, end, xy): a view into the range
        ends[: len(rows), 0, 0], ends[: len(rows), 1, 0] = left, right
        ends[: len(rows), :, 1] = rows[:, None]
        ends[len(rows) :, :, 0] = cols[:, None]
        ends[len(rows) :, 0, 1], ends[len(rows) :, 1, 1] = rows[0], rows[-1]
        sb.write_attribute(lines, "in_color", np.array(GRID_RGBA, np.uint8))

    def pack(
        self, verts: NDArray, left: float, right: float, lane: float, centres: NDArray
    ) -> None:
        """Two vertices per point, at the point +- half the width along the normal."""
        s, p = self.opts.series, self.opts.points
        x, y, nx, ny, tmp = self.x, self.y, self.nx, self.ny, self.tmp
        x[:] = np.linspace(left, right, p, dtype=np.float32)
        # y: each series in its lane, +-40% of the lane height (y grows downwards).
        np.multiply(self.samples, np.float32(-0.4 * lane), out=y)
        y += centres.astype(np.float32)[:, None]
        # The tangent (dx, dy) by central differences over two point spacings
        # (one-sided at the ends); ny holds dy until the normal replaces it.
        dx = np.float32(2 * (right - left) / (p - 1))
        dy = ny
        np.subtract(y[:, 2:], y[:, :-2], out=dy[:, 1:-1])
        dy[:, 0] = 2 * (y[:, 1] - y[:, 0])
        dy[:, -1] = 2 * (y[:, -1] - y[:, -2])
        # The normal (-dy, dx), scaled to half the line width: tmp = (w/2) / |tangent|.
        np.multiply(dy, dy, out=tmp)
        tmp += dx * dx
        np.sqrt(tmp, out=tmp)
        np.divide(np.float32(self.opts.width / 2), tmp, out=tmp)
        np.multiply(dy, tmp, out=nx)
        np.negative(nx, out=nx)
        np.multiply(tmp, dx, out=ny)
        # Write the two sides straight into the reserved vertices.
        pos = verts.reshape(s, p, 2)["in_pos"]  # (series, point, side, xy), a view
        np.add(x, nx, out=pos[:, :, 0, 0])
        np.add(y, ny, out=pos[:, :, 0, 1])
        np.subtract(x, nx, out=pos[:, :, 1, 0])
        np.subtract(y, ny, out=pos[:, :, 1, 1])
        sb.write_attribute(verts.reshape(s, 2 * p), "in_color", self.colors[:, None, :])

    def status(self, fps: float) -> str:
        stats = self.stager.stats
        return (
            f"line_plot | {self.opts.series} x {self.opts.points} points | {fps:.1f} fps | "
            f"packing + staging {self.stage_ms:.2f} ms/frame (CPU) | "
            f"{stats.bytes_uploaded_last_frame / 1e6:.2f} MB uploaded | "
            f"{stats.draw_calls_last_render} draw calls"
        )

    def release(self) -> None:
        self.stager.release()
        self.program.release()


def main(argv: list[str] | None = None) -> int:
    """Run the plot: a window when a display is there, else headless to a PNG."""
    return run_main(APP, LinePlot, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
