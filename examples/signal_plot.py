"""A scrolling multi-signal plot: 64 signals x 1,000 samples, only the y values streamed.

Each signal is a lane of a recorder (as an EEG or a seismograph draws): a line
strip of 1,000 samples that scrolls left as new samples arrive. Everything but
the samples' values is the same every frame, so it lives on the GPU in ONE
``sb.Mesh``, uploaded once: per vertex its place in the plot (x across, the
lane's centre down) and its signal's colour, 12 bytes; and the indices, one
strip per signal with the restart index (``0xFFFFFFFF``, ``u4``) between them,
so every signal is one LINE_STRIP draw. Each frame streams one attribute beside
it: ``frame.reserve_attributes(mesh)`` gives one 4-byte record per mesh vertex
and ``sb.write_attribute`` fills it with the y values. A frame of 64 x 1,000
samples uploads 256 KB of y values where whole vertices would be 1.02 MB
(16 bytes each).

The samples are sums of sines with noise, made by vectorised numpy (no Python
loop per sample) for the new ones only: a ring per signal holds the last 1,000,
and each frame writes the ring into the reserved records in two slices, oldest
first, so nothing is shifted. The grid (lane separators and time divisions that
scroll with the samples) is a plain ``frame.reserve`` in LINES mode with its
own layout and program; it is staged after the signals but drawn beneath them:
``layer=-1``. Two draw calls: the grid, then every signal.

    python examples/signal_plot.py                    # a window, or headless without a display
    python examples/signal_plot.py --headless --signals 64 --samples 1000 --out signal_plot.png
"""

from __future__ import annotations

import math
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

APP = App(prog="signal_plot.py", title="stagebuf signal plot", default_out="signal_plot.png")
BACKGROUND = (0.04, 0.05, 0.07, 1.0)
# Static, in the mesh: the vertex's place (x across the plot 0..1, its lane's
# centre down the plot 0..1) and its signal's colour.
STATIC = sb.VertexLayout(in_base="2f", in_color="4f1")
STREAMED = sb.VertexLayout(in_y="f")  # streamed every frame: the sample, -1..1
GRID = sb.VertexLayout(in_pos="2f", in_color="4f1")  # pixels (shaders/plot.*)
RESTART = np.uint32(0xFFFFFFFF)  # the restart index of u4 indices
GRID_RGBA = (48, 56, 72, 255)
SECONDS = 4.0  # the plot spans this much signal time: samples / SECONDS arrive per second
DIVISION = 0.5  # seconds between vertical grid lines
MIN_ROW_GAP = 8.0  # pixels: fewer lane separators when lanes are thinner than this


@dataclass
class SignalOptions(RunOptions):
    """What signal_plot.py was asked to do."""

    signals: int = 64
    samples: int = 1000


def parse_args(argv: list[str] | None = None) -> SignalOptions:
    """Parse the command line (bad options exit with status 2 and one line)."""
    parser = app_parser(APP, "A scrolling plot of many signals; only their y values streamed.")
    parser.add_argument(
        "--signals", type=count_arg("--signals", 1), default=64, help="signals (default 64)"
    )
    parser.add_argument(
        "--samples",
        type=count_arg("--samples", 2),
        default=1000,
        help="samples per signal (default 1000)",
    )
    ns = parser.parse_args(argv)
    return SignalOptions(**run_options(parser, ns), signals=ns.signals, samples=ns.samples)


def strip_indices(signals: int, samples: int) -> NDArray:
    """Indices of ``signals`` strips of ``samples`` vertices each, a restart after each."""
    idx = np.empty((signals, samples + 1), np.uint32)
    idx[:, :-1] = np.arange(signals * samples, dtype=np.uint32).reshape(signals, samples)
    idx[:, -1] = RESTART
    return idx.reshape(-1)


def lane_colors(signals: int) -> NDArray:
    """One bright colour per signal, the hue running red to violet down the lanes."""
    hue = np.arange(signals) / max(signals, 2) * 0.8 * 6  # sextant of the colour wheel
    # HSV with saturation 0.6 and value 1 (the standard sextant formula, vectorised).
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None]) % 6
    rgb = 1 - 0.6 * np.clip(np.minimum(k, 4 - k), 0, 1)
    out = np.full((signals, 4), 255, np.uint8)
    out[:, :3] = np.round(rgb * 255)
    return out


def static_vertices(signals: int, samples: int) -> NDArray:
    """The mesh's vertices: ``samples`` per signal, in lane order."""
    verts = np.empty((signals, samples), STATIC.dtype)
    base = verts["in_base"]  # (signal, sample, 2): a view
    base[..., 0] = np.linspace(0, 1, samples, dtype=np.float32)
    base[..., 1] = ((np.arange(signals) + 0.5) / signals)[:, None]
    verts["in_color"] = lane_colors(signals)[:, None, :]
    return verts.reshape(-1)


class SignalPlot:
    """Scrolling signals: a static mesh, and their y values streamed beside it."""

    def __init__(self, ctx: Any, opts: SignalOptions) -> None:
        self.ctx = ctx
        self.opts = opts
        self.frames = 0
        self.stage_ms = 0.0
        self.grid_vertices = 0  # of the last frame
        self.size = opts.size
        s, n = opts.signals, opts.samples
        self.program = sb.load_program(ctx, "signal")
        self.grid_program = sb.load_program(ctx, "plot")
        # Uploaded once: where each sample sits, its colour, and the strips' indices.
        self.mesh = sb.Mesh(
            ctx,
            static_vertices(s, n),
            strip_indices(s, n),
            mode=moderngl.LINE_STRIP,
            layout=STATIC,
        )
        self.stager = sb.Stager(ctx, STREAMED, self.program)  # its default range: y values
        # The signals: per signal three sines of its own and noise.
        self.rng = np.random.default_rng(11)
        self.freq = self.rng.uniform(0.3, 1.5, (s, 1)) * np.array([1.0, 3.7, 11.3])  # Hz
        self.amp = self.rng.uniform(0.35, 0.6, (s, 3)) * np.array([1.0, 0.5, 0.2])
        self.phase = self.rng.uniform(0, 2 * np.pi, (s, 3))
        self.rate = n / SECONDS  # samples per second
        # The ring: the newest n samples of each signal; ring[:, head] is the oldest.
        # Sample k (an int, k / rate seconds) is at column k % n.
        self.ring = np.empty((s, n), np.float32)
        self.clock = 0  # the newest sample so far
        self.ring[:, (np.arange(-n + 1, 1)) % n] = self.samples(-n + 1, n)

    def samples(self, first: int, count: int) -> NDArray:
        """Samples ``first .. first + count - 1`` of every signal, in -1..1."""
        u = np.arange(first, first + count) / self.rate  # seconds
        angle = 2 * np.pi * self.freq[:, :, None] * u + self.phase[:, :, None]
        wave = np.einsum("sk,skn->sn", self.amp, np.sin(angle))
        wave += self.rng.standard_normal(wave.shape) * 0.05
        out: NDArray = np.clip(wave, -1, 1).astype(np.float32)
        return out

    def advance(self, t: float) -> None:
        """Add the samples that arrived by time ``t`` (seconds) to the ring."""
        n = self.opts.samples
        newest = math.floor(t * self.rate)
        count = min(newest - self.clock, n)  # a long pause: the whole ring is new
        if count > 0:
            first = newest - count + 1
            self.ring[:, np.arange(first, newest + 1) % n] = self.samples(first, count)
            self.clock = newest

    def ordered(self) -> NDArray:
        """The ring's samples oldest first (a copy: for tests and tools; draw() does not)."""
        head = (self.clock + 1) % self.opts.samples
        return np.concatenate((self.ring[:, head:], self.ring[:, :head]), axis=1)

    def set_viewport(self, width: int, height: int) -> None:
        """Fit the viewport; the plot is laid out in pixels."""
        width, height = max(width, 1), max(height, 1)
        self.ctx.viewport = (0, 0, width, height)
        self.size = (width, height)

    def rect(self) -> tuple[float, float, float, float]:
        """The plot area in pixels: left, top, width, height."""
        w, h = self.size
        margin = max(4.0, 0.03 * min(w, h))
        return margin, margin, w - 2 * margin, h - 2 * margin

    def uniforms(self) -> dict[str, Any]:
        """The signal program's uniforms for this frame's size."""
        left, top, width, height = self.rect()
        lane = height / self.opts.signals
        return {
            "u_screen": (float(self.size[0]), float(self.size[1])),
            "u_rect": (left, top, width, height),
            "u_amp": 0.45 * lane,  # a sample of +-1 stays inside its lane
        }

    def draw(self, t: float) -> None:
        """Add the new samples, stage the y values and the grid, and draw them."""
        start = time.perf_counter()
        self.advance(t)
        s, n = self.opts.signals, self.opts.samples
        head = (self.clock + 1) % n
        with self.stager.frame() as frame:
            y = frame.reserve_attributes(self.mesh, uniforms=self.uniforms())
            lanes = y.reshape(s, n)  # (signal, sample): a view into the range
            sb.write_attribute(lanes[:, : n - head], "in_y", self.ring[:, head:])
            sb.write_attribute(lanes[:, n - head :], "in_y", self.ring[:, :head])
            # Staged after the signals, drawn beneath them.
            self.grid_vertices = self.grid_line_count() * 2
            lines = frame.reserve(
                self.grid_vertices,
                mode=moderngl.LINES,
                layout=GRID,
                program=self.grid_program,
                uniforms={"u_screen": (float(self.size[0]), float(self.size[1]))},
                layer=-1,
            )
            self.fill_grid(lines)
        self.stage_ms = (time.perf_counter() - start) * 1e3
        self.ctx.clear(*BACKGROUND)
        self.stager.render()
        self.frames += 1

    def grid_rows(self) -> NDArray:
        """Pixel rows of the horizontal grid lines: the plot's top, bottom, and lane
        separators every 1, 2, 4 ... lanes, no closer than MIN_ROW_GAP pixels."""
        _, top, _, height = self.rect()
        s = self.opts.signals
        lane = height / s
        group = 1 << max(0, math.ceil(math.log2(MIN_ROW_GAP / lane))) if lane > 0 else s
        rows = np.arange(0, s + 1, min(group, s), dtype=np.float64)
        if rows[-1] != s:
            rows = np.append(rows, s)
        return top + rows * lane

    def grid_columns(self) -> NDArray:
        """Pixel columns of the vertical grid lines: every DIVISION seconds of signal
        time shown, so they scroll with the samples."""
        left, _, width, _ = self.rect()
        n = self.opts.samples
        oldest = (self.clock - n + 1) / self.rate  # seconds at the plot's left edge
        newest = self.clock / self.rate
        marks = np.arange(math.ceil(oldest / DIVISION), math.floor(newest / DIVISION) + 1)
        x = (marks * DIVISION * self.rate - (self.clock - n + 1)) / (n - 1)
        return left + x * width

    def grid_line_count(self) -> int:
        return len(self.grid_rows()) + len(self.grid_columns())

    def fill_grid(self, lines: NDArray) -> None:
        """The grid's lines into ``lines`` (two GRID vertices each), rows first."""
        left, top, width, height = self.rect()
        rows, cols = self.grid_rows(), self.grid_columns()
        ends = lines.reshape(-1, 2)["in_pos"]  # (line, end, xy): a view
        r = len(rows)
        ends[:r, 0, 0], ends[:r, 1, 0] = left, left + width
        ends[:r, :, 1] = rows[:, None]
        ends[r:, :, 0] = cols[:, None]
        ends[r:, 0, 1], ends[r:, 1, 1] = top, top + height
        sb.write_attribute(lines, "in_color", np.array(GRID_RGBA, np.uint8))

    def status(self, fps: float) -> str:
        stats = self.stager.stats
        vertices = self.opts.signals * self.opts.samples
        streamed = STREAMED.stride * vertices
        whole = (STATIC.stride + STREAMED.stride) * vertices
        grid = GRID.stride * self.grid_vertices
        return (
            f"signal_plot | {self.opts.signals} x {self.opts.samples} samples | {fps:.1f} fps | "
            f"sampling + staging {self.stage_ms:.2f} ms/frame (CPU) | "
            f"{stats.bytes_uploaded_last_frame / 1e6:.3f} MB uploaded: y values "
            f"{streamed / 1e6:.3f} MB + grid {grid / 1e6:.3f} MB "
            f"(whole vertices would be {whole / 1e6:.3f} MB) | "
            f"{stats.draw_calls_last_render} draw calls"
        )

    def release(self) -> None:
        self.stager.release()
        self.mesh.release()
        self.grid_program.release()
        self.program.release()


def main(argv: list[str] | None = None) -> int:
    """Run the plot: a window when a display is there, else headless to a PNG."""
    return run_main(APP, SignalPlot, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
