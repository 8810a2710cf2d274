"""A scene with mixed primitives and a HUD, all drawn through ONE Stager.

Each frame stages four kinds of geometry into one draw list:

* a scrolling line grid (``mode=moderngl.LINES``, the stager's default program);
* a twinkling star field (``mode=moderngl.POINTS``, its own program with a
  point-size uniform);
* a planet and an asteroid belt of spinning triangles (the stager's defaults);
* HUD quads with their own layout (pixels, texture coordinates, colour), their
  own program and a procedural bitmap-font texture, through
  ``frame.reserve_indexed`` (4 vertices, 6 indices per quad). The panel, the
  bars and the text are three reserves with the same state: one draw call.

Leaving the frame uploads everything with one write per GL buffer;
``stager.render()`` draws the four commands in order (4 draw calls).

    python examples/scene_hud.py                      # a window, or headless without a display
    python examples/scene_hud.py --headless --frames 60 --out scene_hud.png
"""

from __future__ import annotations

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

APP = App(prog="scene_hud.py", title="stagebuf scene + HUD", default_out="scene_hud.png")
BACKGROUND = (0.01, 0.012, 0.035, 1.0)

# The scene's vertices: world units (the window's height spans -1..1) and colours.
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
# The HUD's vertices: pixels (origin top-left), texture coordinates and a tint.
HUD_LAYOUT = sb.VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1")

GRID_STEP = 0.25  # world units between grid lines
GRID_EXTENT = 3.0  # the grid covers x in [-3, 3]: windows up to 3:1 wide
PANEL_RGBA = (16, 28, 64, 210)
TEXT_RGBA = (255, 255, 255, 255)
LABEL_RGBA = (120, 200, 255, 255)
BAR_RGBA = (90, 230, 120, 255)

# A 3x5 bitmap font: five rows of three pixels per glyph ('#' = ink).
FONT = {
    "A": ".#. #.# ### #.# #.#",
    "B": "##. #.# ##. #.# ##.",
    "C": ".## #.. #.. #.. .##",
    "D": "##. #.# #.# #.# ##.",
    "E": "### #.. ##. #.. ###",
    "F": "### #.. ##. #.. #..",
    "G": ".## #.. #.# #.# .##",
    "H": "#.# #.# ### #.# #.#",
    "I": "### .#. .#. .#. ###",
    "J": "..# ..# ..# #.# .#.",
    "K": "#.# #.# ##. #.# #.#",
    "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#",
    "N": "##. #.# #.# #.# #.#",
    "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..",
    "Q": ".#. #.# #.# ##. .##",
    "R": "##. #.# ##. #.# #.#",
    "S": ".## #.. .#. ..# ##.",
    "T": "### .#. .#. .#. .#.",
    "U": "#.# #.# #.# #.# ###",
    "V": "#.# #.# #.# #.# .#.",
    "W": "#.# #.# ### ### #.#",
    "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.",
    "Z": "### ..# .#. #.. ###",
    "0": "### #.# #.# #.# ###",
    "1": ".#. ##. .#. .#. ###",
    "2": "### ..# ### #.. ###",
    "3": "### ..# .## ..# ###",
    "4": "#.# #.# ### ..# ..#",
    "5": "### #.. ### ..# ###",
    "6": "### #.. ### #.# ###",
    "7": "### ..# ..# .#. .#.",
    "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ###",
    " ": "... ... ... ... ...",
    ".": "... ... ... ... .#.",
    ":": "... .#. ... .#. ...",
    "-": "... ... ### ... ...",
    "/": "..# ..# .#. #.. #..",
    "%": "#.. ..# .#. #.. ..#",
}
SOLID = "\x7f"  # an all-ink cell: panels and bars sample it
CELL_W, CELL_H = 4, 6  # atlas cell: a 3x5 glyph plus one pixel of spacing
ATLAS_COLS = 16


@dataclass
class SceneOptions(RunOptions):
    """What scene_hud.py was asked to do."""

    stars: int = 2000
    asteroids: int = 600


def parse_args(argv: list[str] | None = None) -> SceneOptions:
    """Parse the command line (bad options exit with status 2 and one line)."""
    parser = app_parser(APP, "A scene of mixed primitives and a textured HUD, one Stager.")
    parser.add_argument(
        "--stars", type=count_arg("--stars", 0), default=2000, help="stars (default 2000)"
    )
    parser.add_argument(
        "--asteroids",
        type=count_arg("--asteroids", 0),
        default=600,
        help="spinning triangles in the belt (default 600)",
    )
    ns = parser.parse_args(argv)
    return SceneOptions(**run_options(parser, ns), stars=ns.stars, asteroids=ns.asteroids)


def font_atlas() -> tuple[NDArray, dict[str, tuple[float, float, float, float]]]:
    """The font as an RGBA image (white ink, alpha = coverage) and each glyph's
    texture rectangle ``(u0, v0, u1, v1)``; rows of the image go top-down, and so
    does v (the texture is uploaded row 0 first)."""
    chars = [*FONT, SOLID]
    rows = -(-len(chars) // ATLAS_COLS)
    w, h = ATLAS_COLS * CELL_W, rows * CELL_H
    img = np.zeros((h, w, 4), np.uint8)
    img[..., :3] = 255
    uvs = {}
    for i, ch in enumerate(chars):
        x, y = (i % ATLAS_COLS) * CELL_W, (i // ATLAS_COLS) * CELL_H
        if ch == SOLID:
            img[y : y + CELL_H, x : x + CELL_W, 3] = 255
            # Sample the middle of the cell only: NEAREST never reaches a neighbour.
            uvs[ch] = ((x + 1.5) / w, (y + 2.5) / h, (x + 2.5) / w, (y + 3.5) / h)
            continue
        ink = np.array([[c == "#" for c in row] for row in FONT[ch].split()], bool)
        img[y : y + 5, x : x + 3, 3] = ink * 255
        uvs[ch] = (x / w, y / h, (x + 3) / w, (y + 5) / h)
    return img, uvs


class Quads:
    """HUD quads collected on the CPU, then written in one go into a reserved range."""

    QUAD_INDICES = np.array([0, 1, 2, 0, 2, 3], np.uint32)

    def __init__(self, uvs: dict[str, tuple[float, float, float, float]]) -> None:
        self.uvs = uvs
        self.rects: list[NDArray] = []  # (n, 4): x0, y0, x1, y1 in pixels
        self.tex: list[NDArray] = []  # (n, 4): u0, v0, u1, v1
        self.colors: list[NDArray] = []  # (n, 4) bytes

    def rect(self, x0: float, y0: float, x1: float, y1: float, rgba: tuple[int, ...]) -> None:
        """A solid rectangle (it samples the atlas's solid cell)."""
        self.rects.append(np.array([[x0, y0, x1, y1]], np.float32))
        self.tex.append(np.array([self.uvs[SOLID]], np.float32))
        self.colors.append(np.array([rgba], np.uint8))

    def bars(self, x0: NDArray, y0: NDArray, x1: NDArray, y1: NDArray, rgba: Any) -> None:
        """Many solid rectangles at once (arrays of corners)."""
        rects = np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)
        self.rects.append(rects)
        self.tex.append(np.broadcast_to(np.array(self.uvs[SOLID], np.float32), rects.shape))
        self.colors.append(np.broadcast_to(np.array(rgba, np.uint8), rects.shape))

    def text(self, x: float, y: float, text: str, scale: int, rgba: tuple[int, ...]) -> None:
        """One line of text, its top-left corner at (x, y), glyphs ``scale`` pixels per dot."""
        glyphs = [c for c in text.upper() if c in FONT and c != " "]
        cols = np.array([i for i, c in enumerate(text.upper()) if c in FONT and c != " "])
        if not glyphs:
            return
        left = x + cols * CELL_W * scale
        rects = np.stack(
            [left, np.full_like(left, y), left + 3 * scale, np.full_like(left, y + 5 * scale)],
            axis=1,
        )
        self.rects.append(rects.astype(np.float32))
        self.tex.append(np.array([self.uvs[c] for c in glyphs], np.float32))
        self.colors.append(np.broadcast_to(np.array(rgba, np.uint8), (len(glyphs), 4)))

    def stage(self, frame: sb.Frame, **state: Any) -> None:
        """Reserve one indexed range for all collected quads and fill it, vectorised."""
        if not self.rects:
            return
        rects = np.concatenate(self.rects)
        tex = np.concatenate(self.tex)
        colors = np.concatenate(self.colors)
        n = len(rects)
        verts, idx = frame.reserve_indexed(4 * n, 6 * n, layout=HUD_LAYOUT, **state)
        corners = verts.reshape(n, 4)  # per quad: top-left, top-right, bottom-right, bottom-left
        xs, ys = (0, 2, 2, 0), (1, 1, 3, 3)
        pos = np.stack([rects[:, xs], rects[:, ys]], axis=2)  # (n, 4, 2)
        uv = np.stack([tex[:, xs], tex[:, ys]], axis=2)
        sb.write_attribute(corners, "in_pos", pos)
        sb.write_attribute(corners, "in_uv", uv)
        sb.write_attribute(corners, "in_color", colors[:, None, :])  # one tint per quad
        # Indices count from this range's first vertex.
        idx.reshape(n, 6)[:] = self.QUAD_INDICES + 4 * np.arange(n, dtype=np.uint32)[:, None]
        self.rects.clear()
        self.tex.clear()
        self.colors.clear()


class SceneHud:
    """The scene: four kinds of geometry and three programs per frame, one Stager."""

    def __init__(self, ctx: Any, opts: SceneOptions) -> None:
        self.ctx = ctx
        self.opts = opts
        self.frames = 0
        self.size = (1, 1)
        self.scale = (1.0, 1.0)
        self.stage_ms = 0.0
        self.history = np.zeros(48, np.float32)  # staging times of the last frames, for bars
        rng = np.random.default_rng(5)

        self.program = sb.load_program(ctx, "triangles")  # world units, per-vertex colour
        self.star_program = sb.load_program(ctx, "stars")
        self.hud_program = sb.load_program(ctx, "hud")
        atlas, uvs = font_atlas()
        self.atlas = ctx.texture((atlas.shape[1], atlas.shape[0]), 4, atlas.tobytes())
        self.atlas.filter = (moderngl.NEAREST, moderngl.NEAREST)  # crisp pixel font
        self.quads = Quads(uvs)
        self.stager = sb.Stager(ctx, LAYOUT, self.program)

        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.enable(moderngl.PROGRAM_POINT_SIZE)  # the star program sets gl_PointSize

        # Stars: fixed positions, each twinkling at its own rate.
        n = opts.stars
        self.star_pos = np.column_stack(
            [rng.uniform(-GRID_EXTENT, GRID_EXTENT, n), rng.uniform(-1, 1, n)]
        ).astype(np.float32)
        self.star_tint = rng.choice(
            np.array([[255, 255, 255], [200, 220, 255], [255, 235, 200]], np.uint8), n
        )
        self.star_rate = rng.uniform(1.0, 4.0, n).astype(np.float32)
        self.star_phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        self.star_rgba = np.empty((n, 4), np.uint8)
        self.star_rgba[:, :3] = self.star_tint

        # Asteroids: an elliptic belt of small spinning triangles.
        m = opts.asteroids
        self.orbit = rng.uniform(0.55, 0.8, m).astype(np.float32)
        self.angle0 = rng.uniform(0, 2 * np.pi, m).astype(np.float32)
        self.spin = rng.uniform(-3, 3, m).astype(np.float32)
        self.radius = rng.uniform(0.012, 0.03, m).astype(np.float32)
        grey = rng.integers(110, 200, m)
        self.rock_rgba = np.column_stack([grey + 40, grey, grey - 50, np.full(m, 255)])
        self.rock_rgba = np.clip(self.rock_rgba, 0, 255).astype(np.uint8)

        # The planet: a disc of 64 triangles, lit from the upper left.
        k = 64
        a = np.linspace(0, 2 * np.pi, k + 1, dtype=np.float32)
        rim = 0.38 * np.column_stack([np.cos(a), np.sin(a)])
        planet = np.zeros((k, 3, 2), np.float32)
        planet[:, 1] = rim[:-1]
        planet[:, 2] = rim[1:]
        self.planet_pos = planet.reshape(-1, 2)
        light = 0.5 + 0.5 * np.cos(a[:-1] - 2.4)  # 1 facing the light
        shade = np.empty((k, 3, 4), np.uint8)
        shade[:, 0] = (60, 120, 200, 255)  # the centre
        rim_rgb = (30 + 90 * light[:, None] * np.array([1.0, 1.4, 2.0])).astype(np.uint8)
        shade[:, 1, :3] = shade[:, 2, :3] = rim_rgb
        shade[:, 1:, 3] = 255
        self.planet_rgba = shade.reshape(-1, 4)

    # -- runner hooks ----------------------------------------------------------

    def set_viewport(self, width: int, height: int) -> None:
        """Fit the viewport to the framebuffer; the world's height spans -1..1."""
        width, height = max(width, 1), max(height, 1)
        self.ctx.viewport = (0, 0, width, height)
        self.size = (width, height)
        self.scale = (height / width, 1.0)

    def draw(self, t: float) -> None:
        """Stage the whole frame through the one Stager, then draw it."""
        start = time.perf_counter()
        world = {"u_scale": self.scale}
        with self.stager.frame() as frame:
            self.stage_grid(frame, t, world)
            self.stage_stars(frame, t, world)
            self.stage_planet(frame, t, world)
            self.stage_hud(frame)
        self.stage_ms = (time.perf_counter() - start) * 1e3
        self.history = np.roll(self.history, -1)
        self.history[-1] = self.stage_ms
        self.ctx.clear(*BACKGROUND)
        self.stager.render()
        self.frames += 1

    def status(self, fps: float) -> str:
        stats = self.stager.stats
        return (
            f"scene_hud | {fps:.1f} fps | staging {self.stage_ms:.2f} ms/frame (CPU) | "
            f"{stats.vertices_last_frame} vertices | "
            f"{stats.draw_calls_last_render} draw calls"
        )

    def release(self) -> None:
        self.stager.release()
        self.atlas.release()
        for program in (self.program, self.star_program, self.hud_program):
            program.release()

    # -- the four kinds of geometry ------------------------------------------------

    def stage_grid(self, frame: sb.Frame, t: float, world: dict[str, Any]) -> None:
        """A grid of lines scrolling downwards (LINES: two vertices per line)."""
        xs = np.arange(-GRID_EXTENT, GRID_EXTENT + 1e-6, GRID_STEP, dtype=np.float32)
        ys = np.arange(-1.0, 1.0 + GRID_STEP, GRID_STEP, dtype=np.float32)
        ys = ys - np.float32((0.1 * t) % GRID_STEP)
        lines = frame.reserve(2 * (len(xs) + len(ys)), mode=moderngl.LINES, uniforms=world)
        ends = lines.reshape(-1, 2)["in_pos"]  # (line, end, xy), a view into the range
        ends[: len(xs), :, 0] = xs[:, None]
        ends[: len(xs), 0, 1], ends[: len(xs), 1, 1] = -1.0, 1.0
        ends[len(xs) :, 0, 0], ends[len(xs) :, 1, 0] = -GRID_EXTENT, GRID_EXTENT
        ends[len(xs) :, :, 1] = ys[:, None]
        sb.write_attribute(lines, "in_color", np.array([40, 70, 130, 150], np.uint8))

    def stage_stars(self, frame: sb.Frame, t: float, world: dict[str, Any]) -> None:
        """Stars as POINTS through their own program; the point size is a uniform."""
        point_size = max(2.0, 3.0 * self.size[1] / 720)
        stars = frame.reserve(
            len(self.star_pos),
            mode=moderngl.POINTS,
            program=self.star_program,
            uniforms={**world, "u_point_size": point_size},
        )
        twinkle = 0.6 + 0.4 * np.sin(self.star_rate * np.float32(t) + self.star_phase)
        self.star_rgba[:, 3] = (255 * twinkle).astype(np.uint8)
        sb.write_attribute(stars, "in_pos", self.star_pos)
        sb.write_attribute(stars, "in_color", self.star_rgba)

    def stage_planet(self, frame: sb.Frame, t: float, world: dict[str, Any]) -> None:
        """The planet and its asteroid belt: TRIANGLES, the stager's defaults.

        Rocks on the far side of the belt go before the planet and the near ones
        after it, three reserves with equal state back to back: one draw call."""
        # Each rock orbits (slower further out) and spins about its centre.
        theta = self.angle0 + np.float32(t) * 0.3 / self.orbit
        centre = np.column_stack(
            [1.6 * self.orbit * np.cos(theta), 0.45 * self.orbit * np.sin(theta)]
        )
        corner = self.spin[:, None] * np.float32(t) + np.array([0, 2.1, 4.2], np.float32)
        rocks = centre[:, None, :] + self.radius[:, None, None] * np.stack(
            [np.cos(corner), np.sin(corner)], axis=2
        )  # (rock, corner, xy)
        far = centre[:, 1] > 0  # the upper half of the ellipse lies behind the planet
        for side in (far, None, ~far):
            if side is None:
                disc = frame.reserve(len(self.planet_pos), uniforms=world)
                sb.write_attribute(disc, "in_pos", self.planet_pos)
                sb.write_attribute(disc, "in_color", self.planet_rgba)
                continue
            n = int(side.sum())
            belt = frame.reserve(3 * n, uniforms=world).reshape(n, 3)
            sb.write_attribute(belt, "in_pos", rocks[side].astype(np.float32))
            sb.write_attribute(belt, "in_color", self.rock_rgba[side][:, None, :])

    def stage_hud(self, frame: sb.Frame) -> None:
        """The HUD: a panel, a bar chart of staging times and text, one draw call."""
        w, h = self.size
        s = max(1, h // 160)  # pixels per font dot: 2 at 320 rows, 4 at 720
        pad = 3 * s
        line = 7 * s
        stats = self.stager.stats
        rows = [
            ("FRAME", str(self.frames)),
            ("DRAWS", str(stats.draw_calls_last_render)),
            ("VERTS", str(stats.vertices_last_frame)),
            ("CPU MS", f"{self.stage_ms:.2f}"),
        ]
        width = pad * 2 + CELL_W * s * 15
        bars_h = 6 * s
        height = pad * 2 + line * (len(rows) + 1) + bars_h + s
        state = {
            "program": self.hud_program,
            "uniforms": {"u_screen": (float(w), float(h))},
            "textures": {0: self.atlas},
        }
        q = self.quads
        q.rect(pad, pad, pad + width, pad + height, PANEL_RGBA)
        q.stage(frame, **state)
        # Bars: staging time of the last frames, scaled to the slowest.
        n = len(self.history)
        x0 = pad * 2 + np.arange(n) * (width - 2 * pad) / n
        bottom = pad + height - pad
        tall = np.maximum(s, bars_h * self.history / max(float(self.history.max()), 1e-6))
        q.bars(x0, bottom - tall, x0 + 0.7 * (width - 2 * pad) / n, np.full(n, bottom), BAR_RGBA)
        q.stage(frame, **state)  # same state as the panel: merged into one draw
        q.text(pad * 2, pad * 2, "STAGEBUF SCENE", s, TEXT_RGBA)
        for i, (label, value) in enumerate(rows, start=1):
            y = pad * 2 + i * line
            q.text(pad * 2, y, label, s, LABEL_RGBA)
            q.text(pad * 2 + CELL_W * s * 7, y, value, s, TEXT_RGBA)
        q.stage(frame, **state)


def main(argv: list[str] | None = None) -> int:
    """Run the scene: a window when a display is there, else headless to a PNG."""
    return run_main(APP, SceneHud, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
