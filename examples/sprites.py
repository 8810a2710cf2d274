"""Thousands of bouncing textured sprites of two kinds: instancing through one Stager.

The pattern of moderngl's own instancing examples and moderngl-window's text
writer: one small retained mesh (a quad, ``sb.Mesh`` in TRIANGLE_STRIP mode)
and a stream of per-instance records every frame (centre 2f, tint 4f1, size
1f, angle 1f). Each sprite kind has its own texture, so each is one
``frame.reserve_instances(quad, n, textures={0: texture})``: two instanced
draw calls per frame, whatever the number of sprites, and one upload.

The physics (move, bounce off the edges) runs on contiguous numpy arrays; each
attribute is then copied into the reserved records with ``sb.write_attribute``
(one machine word per record, not one numpy step per component).

    python examples/sprites.py                        # a window, or headless without a display
    python examples/sprites.py --headless --sprites 100000 --frames 60 --out sprites.png
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

APP = App(prog="sprites.py", title="stagebuf sprites", default_out="sprites.png")
BACKGROUND = (0.06, 0.05, 0.09, 1.0)

# Per-instance records: what changes per sprite. The quad's corners come from the mesh.
INSTANCE = sb.VertexLayout(in_offset="2f", in_color="4f1", in_size="1f", in_angle="1f")
TEXTURE_SIZE = 64


@dataclass
class SpriteOptions(RunOptions):
    """What sprites.py was asked to do."""

    sprites: int = 10_000


def parse_args(argv: list[str] | None = None) -> SpriteOptions:
    """Parse the command line (bad options exit with status 2 and one line)."""
    parser = app_parser(APP, "Bouncing textured sprites, instanced through one Stager.")
    parser.add_argument(
        "--sprites",
        type=count_arg("--sprites", 0),
        default=10_000,
        help="sprites, half of each kind (default 10000)",
    )
    ns = parser.parse_args(argv)
    return SpriteOptions(**run_options(parser, ns), sprites=ns.sprites)


def _grid(size: int) -> tuple[NDArray, NDArray]:
    """Texel centres in -1..1, x to the right and y down."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return np.meshgrid(c, c)


def ball_texture(size: int = TEXTURE_SIZE) -> NDArray:
    """A shaded orange ball with a highlight, on transparent texels (RGBA bytes)."""
    x, y = _grid(size)
    r = np.hypot(x, y)
    alpha = np.clip((1.0 - r) * size / 4, 0, 1)  # a soft rim about 2 texels wide
    light = np.clip(1.0 - np.hypot(x + 0.35, y + 0.35) / 1.3, 0, 1)
    img = np.empty((size, size, 4), np.float32)
    img[..., 0] = 0.55 + 0.45 * light
    img[..., 1] = 0.25 + 0.6 * light**2
    img[..., 2] = 0.05 + 0.5 * light**4
    img[..., 3] = alpha
    out: NDArray = (img * 255).round().astype(np.uint8)
    return out


def star_texture(size: int = TEXTURE_SIZE) -> NDArray:
    """A four-pointed blue-white sparkle (an astroid with a glow), RGBA bytes."""
    x, y = _grid(size)
    shape = np.sqrt(np.abs(x)) + np.sqrt(np.abs(y))  # < 1 inside the astroid
    core = np.clip((1.0 - shape) * 4, 0, 1)
    glow = np.clip(1.0 - np.hypot(x, y), 0, 1) ** 1.5 * 0.8
    alpha = np.clip(core + glow, 0, 1)
    white = np.clip(1.0 - np.hypot(x, y) * 2.5, 0, 1)  # a white-hot centre
    img = np.empty((size, size, 4), np.float32)
    img[..., 0] = 0.2 + 0.8 * white
    img[..., 1] = 0.55 + 0.45 * white
    img[..., 2] = 1.0
    img[..., 3] = alpha
    out: NDArray = (img * 255).round().astype(np.uint8)
    return out


class Sprites:
    """Bouncing sprites: physics in numpy, instanced drawing through one Stager."""

    def __init__(self, ctx: Any, opts: SpriteOptions) -> None:
        self.ctx = ctx
        self.frames = 0
        self.stage_ms = 0.0
        self.size = np.array(opts.size, np.float32)
        self.last_t: float | None = None

        self.program = sb.load_program(ctx, "sprites")
        # The retained mesh: one unit quad as a 4-vertex strip, uploaded once.
        corners = np.array(
            [((-0.5, -0.5),), ((0.5, -0.5),), ((-0.5, 0.5),), ((0.5, 0.5),)],
            dtype=[("in_corner", "f4", 2)],
        )
        self.quad = sb.Mesh(ctx, corners, mode=moderngl.TRIANGLE_STRIP)
        self.stager = sb.Stager(ctx, INSTANCE, self.program)
        self.textures = []
        for image in (ball_texture(), star_texture()):
            tex = ctx.texture(image.shape[1::-1], 4, image.tobytes())
            tex.build_mipmaps()  # sprites are drawn smaller than their texture
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            self.textures.append(tex)

        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA

        rng = np.random.default_rng(3)
        n = opts.sprites
        self.split = n // 2  # sprites [0, split) are balls, the rest sparkles
        scale = min(opts.size) / 720
        self.side = (rng.uniform(10, 28, n) * max(scale, 0.5)).astype(np.float32)
        self.pos = (rng.random((n, 2)) * self.size).astype(np.float32)
        speed = rng.uniform(40, 220, n) * max(scale, 0.25)
        heading = rng.uniform(0, 2 * np.pi, n)
        self.vel = np.column_stack([np.cos(heading), np.sin(heading)]) * speed[:, None]
        self.vel = self.vel.astype(np.float32)
        self.spin = rng.uniform(-3, 3, n).astype(np.float32)
        self.angle = np.zeros(n, np.float32)
        # Tints: warm for the balls, cool for the sparkles (each kind keeps its hue).
        warm = np.column_stack(
            [np.full(n, 255), rng.integers(150, 256, n), rng.integers(90, 200, n)]
        )
        cool = np.column_stack(
            [rng.integers(120, 220, n), rng.integers(200, 256, n), np.full(n, 255)]
        )
        rgb = np.where((np.arange(n) < self.split)[:, None], warm, cool)
        self.color = np.column_stack([rgb, np.full(n, 255)]).astype(np.uint8)

    def set_viewport(self, width: int, height: int) -> None:
        """Fit the viewport; sprites bounce off the new edges."""
        width, height = max(width, 1), max(height, 1)
        self.ctx.viewport = (0, 0, width, height)
        self.size = np.array([width, height], np.float32)

    def step(self, dt: float) -> None:
        """Move every sprite, reflecting those that crossed an edge (vectorised)."""
        dt32 = np.float32(dt)
        self.pos += self.vel * dt32
        self.angle += self.spin * dt32
        half = (self.side / 2)[:, None]
        low = self.pos < half
        high = self.pos > self.size - half
        self.pos = np.where(low, 2 * half - self.pos, self.pos)
        self.pos = np.where(high, 2 * (self.size - half) - self.pos, self.pos)
        # Still outside after a resize made the window smaller: clamp inside.
        self.pos = np.clip(self.pos, half, np.maximum(self.size - half, half))
        self.vel = np.where(low, np.abs(self.vel), np.where(high, -np.abs(self.vel), self.vel))

    def draw(self, t: float) -> None:
        """Advance the physics, stage both kinds as instanced ranges and draw them."""
        dt = 0.0 if self.last_t is None else min(t - self.last_t, 0.1)
        self.last_t = t
        start = time.perf_counter()
        self.step(dt)
        screen = {"u_screen": (float(self.size[0]), float(self.size[1]))}
        with self.stager.frame() as frame:
            for kind, sl in enumerate((slice(0, self.split), slice(self.split, None))):
                n = len(self.side[sl])
                inst = frame.reserve_instances(
                    self.quad, n, uniforms=screen, textures={0: self.textures[kind]}
                )
                sb.write_attribute(inst, "in_offset", self.pos[sl])
                sb.write_attribute(inst, "in_color", self.color[sl])
                sb.write_attribute(inst, "in_size", self.side[sl])
                sb.write_attribute(inst, "in_angle", self.angle[sl])
        self.stage_ms = (time.perf_counter() - start) * 1e3
        self.ctx.clear(*BACKGROUND)
        self.stager.render()
        self.frames += 1

    def status(self, fps: float) -> str:
        stats = self.stager.stats
        return (
            f"sprites | {len(self.side)} sprites | {fps:.1f} fps | "
            f"physics + staging {self.stage_ms:.2f} ms/frame (CPU) | "
            f"{stats.bytes_uploaded_last_frame / 1e6:.2f} MB uploaded | "
            f"{stats.draw_calls_last_render} draw calls"
        )

    def release(self) -> None:
        self.stager.release()
        self.quad.release()
        for tex in self.textures:
            tex.release()
        self.program.release()


def main(argv: list[str] | None = None) -> int:
    """Run the sprites: a window when a display is there, else headless to a PNG."""
    return run_main(APP, Sprites, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
