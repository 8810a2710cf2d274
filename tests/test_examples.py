"""The programs in examples/: run headless, their pixels and draw calls checked.

Each example runs as a user runs it (a subprocess, small sizes, few frames) and
its PNG is checked for what the example is about; the sprites scene also runs
in-process on the session context, with sprites placed by hand.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from stagebuf._png import read_png

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(wrap or []), sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def draw_calls(stdout: str) -> int:
    """The draw calls of the last status line an example printed."""
    found = re.findall(r"\| (\d+) draw calls", stdout)
    assert found, stdout
    return int(found[-1])


@functools.cache
def load_example(name: str) -> ModuleType:
    """An example imported as a module (its ``main`` guarded, nothing runs)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def rgb_of(img: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return img[..., :3].astype(int)


def near(img: np.ndarray[Any, Any], rgb: Any, tol: int = 2) -> np.ndarray[Any, Any]:
    """Pixels within ``tol`` of ``rgb`` in every channel."""
    return np.all(np.abs(rgb_of(img) - np.asarray(rgb)[:3]) <= tol, axis=-1)


def background_rgb(rgba: tuple[float, ...]) -> np.ndarray[Any, Any]:
    return np.round(np.array(rgba[:3]) * 255).astype(int)


# -- scene_hud -------------------------------------------------------------------


def test_scene_hud_draws_grid_stars_planet_and_a_textured_hud(tmp_path: Path) -> None:
    mod = load_example("scene_hud")
    out = tmp_path / "scene.png"
    w, h = 256, 192
    proc = run_example(
        "scene_hud", "--headless", "--frames", "3", "--size", f"{w}x{h}", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    # Grid (LINES), stars (POINTS, own program), planet and belt (three TRIANGLES
    # reserves, merged) and the HUD (three indexed reserves, merged): four draws.
    assert draw_calls(proc.stdout) == 4
    img = read_png(out)
    assert img.shape == (h, w, 4)
    rgb = rgb_of(img)
    bg = background_rgb(mod.BACKGROUND)

    # The HUD panel (top left): the panel colour blended over the background,
    # white text, light-blue labels and green bars, all from the glyph atlas.
    s = 1  # pixels per font dot at this height
    pad, width, height = 3 * s, 6 * s + mod.CELL_W * s * 15, 48 * s  # the panel's box
    panel = rgb[pad + 1 : pad + height - 1, pad + 1 : pad + width - 1]
    alpha = mod.PANEL_RGBA[3] / 255
    expect = np.round(np.array(mod.PANEL_RGBA[:3]) * alpha + bg * (1 - alpha))
    panel_share = np.all(np.abs(panel - expect) <= 3, axis=-1).mean()
    assert 0.5 < panel_share < 0.95, panel_share  # mostly panel, with ink on it
    text = np.all(panel >= 240, axis=-1).sum()
    labels = np.all(np.abs(panel - np.array(mod.LABEL_RGBA[:3])) <= 3, axis=-1).sum()
    bars = np.all(np.abs(panel - np.array(mod.BAR_RGBA[:3])) <= 3, axis=-1).sum()
    assert text > 100 and labels > 100 and bars > 20, (text, labels, bars)
    # The title's first glyph, 'S', sits at (2 * pad, 2 * pad): its dots are 2x2 pixels.
    glyph = np.all(rgb[2 * pad : 2 * pad + 5 * s, 2 * pad : 2 * pad + 3 * s] >= 240, axis=-1)
    dots = glyph[::s, ::s]
    assert np.array_equal(dots, np.array([[c == "#" for c in r] for r in mod.FONT["S"].split()]))

    # Below the belt (world y < -0.5): dark sky, grid lines and bright stars.
    sky = rgb[int(0.8 * h) :, :]
    dark = np.all(np.abs(sky - bg) <= 3, axis=-1).mean()
    assert dark > 0.6, dark
    bright = np.all(sky >= 120, axis=-1)
    assert 10 < bright.sum() < 0.05 * bright.size, bright.sum()
    # Stars are small points: a bright pixel's 9x9 neighbourhood is mostly not bright.
    ys, xs = np.nonzero(bright)
    for y, x in zip(ys[:20], xs[:20], strict=True):
        assert bright[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5].mean() < 0.5
    # Vertical grid lines: bluish columns through the whole strip, every 24 pixels
    # (a quarter of a world unit, the height spanning 2 units).
    bluish = (sky[..., 2] > sky[..., 0] + 20) & ~bright
    columns = np.nonzero(bluish.mean(axis=0) > 0.8)[0]
    assert len(columns) >= 8, columns
    assert np.all(np.diff(columns)[np.diff(columns) > 2] >= 22)

    # The planet at the centre (its lit blue), rocks of the belt (orange-brown).
    centre = rgb[h // 2 - 3 : h // 2 + 3, w // 2 - 3 : w // 2 + 3].reshape(-1, 3)
    assert np.all(centre[:, 2] > centre[:, 0] + 80), centre
    rocks = (rgb[..., 0] > rgb[..., 2] + 40) & (rgb[..., 1] > 60)
    assert rocks.sum() > 200


@pytest.mark.parametrize("args", [["--stars", "0", "--asteroids", "0"], ["--asteroids", "1"]])
def test_scene_hud_with_nothing_or_one_of_a_kind(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "few.png"
    proc = run_example(
        "scene_hud", "--headless", "--frames", "2", "--size", "96x64", *args, "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    # Empty ranges draw nothing: grid, planet and HUD remain (the planet's three
    # reserves merge whatever their sizes; the empty star range is skipped).
    assert draw_calls(proc.stdout) == 4 - (args[1] == "0")
    assert read_png(out).std() > 0


# -- sprites -----------------------------------------------------------------------


def warm_and_cool(img: np.ndarray[Any, Any]) -> tuple[int, int]:
    rgb = rgb_of(img)
    warm = (rgb[..., 0] > rgb[..., 2] + 60).sum()  # the orange balls
    cool = (rgb[..., 2] > rgb[..., 0] + 40).sum()  # the blue sparkles
    return int(warm), int(cool)


def test_sprites_of_both_textures_in_two_draw_calls(tmp_path: Path) -> None:
    out = tmp_path / "sprites.png"
    proc = run_example(
        "sprites", "--headless", "--frames", "3", "--sprites", "1000", "--size", "160x120",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1000 sprites" in proc.stdout
    assert draw_calls(proc.stdout) == 2  # one instanced draw per texture
    img = read_png(out)
    assert img.shape == (120, 160, 4)
    warm, cool = warm_and_cool(img)
    assert warm > 1000 and cool > 300, (warm, cool)


def test_no_sprites_draw_an_empty_frame(tmp_path: Path) -> None:
    mod = load_example("sprites")
    out = tmp_path / "none.png"
    proc = run_example(
        "sprites", "--headless", "--frames", "2", "--sprites", "0", "--size", "32x32",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert draw_calls(proc.stdout) == 0  # empty instanced ranges draw nothing
    assert near(read_png(out), background_rgb(mod.BACKGROUND)).all()


def test_sprites_scene_places_each_texture_where_its_sprite_is(ctx: Any, fbo: Any) -> None:
    """In-process on the session context: one ball on the left, one sparkle on the
    right, standing still; each quad shows its own texture."""
    import moderngl

    size = fbo.size[0]
    assert fbo.size == (size, size) and size >= 64
    mod = load_example("sprites")
    scene = mod.Sprites(ctx, mod.SpriteOptions(sprites=2, size=(size, size)))
    try:
        scene.set_viewport(size, size)
        scene.pos[:] = [(16, 32), (48, 32)]
        scene.vel[:] = 0
        scene.spin[:] = 0
        scene.side[:] = 24
        scene.color[:] = 255  # untinted: the textures' own colours
        scene.draw(0.0)
        assert scene.stager.stats.draw_calls_last_render == 2
        assert scene.stager.stats.vertices_last_frame == 2  # two instance records
        img = np.frombuffer(fbo.read(components=4), np.uint8).reshape(size, size, 4)
        img = img[::-1]
        left, right = img[:, :32], img[:, 32:]
        assert warm_and_cool(left)[0] > 100 and warm_and_cool(left)[1] == 0
        assert warm_and_cool(right)[1] > 30 and warm_and_cool(right)[0] == 0
        # The ball's texel at its centre-left is the texture's (lit from the top left).
        ball = mod.ball_texture()
        assert img[32, 16, 0] > 200 and abs(int(img[32, 16, 0]) - int(ball[32, 32, 0])) < 40
        # Outside both quads: the background.
        assert near(img[:, :2], background_rgb(mod.BACKGROUND)).all()
    finally:
        scene.release()
        ctx.disable(moderngl.BLEND)


def test_sprites_bounce_inside_the_frame() -> None:
    """The physics alone: after many steps every sprite is still inside the frame."""
    mod = load_example("sprites")

    scene = mod.Sprites.__new__(mod.Sprites)
    rng = np.random.default_rng(1)
    n = 500
    scene.size = np.array([100, 80], np.float32)
    scene.side = np.full(n, 10, np.float32)
    scene.pos = (rng.random((n, 2)) * [100, 80]).astype(np.float32)
    scene.vel = rng.uniform(-300, 300, (n, 2)).astype(np.float32)
    scene.spin = np.zeros(n, np.float32)
    scene.angle = np.zeros(n, np.float32)
    speed = np.abs(scene.vel).copy()
    for _ in range(200):
        scene.step(1 / 60)
    assert np.all(scene.pos >= 5) and np.all(scene.pos <= [95, 75])
    assert np.array_equal(np.abs(scene.vel), speed)  # reflections keep the speed


# -- line_plot ---------------------------------------------------------------------


def test_line_plot_lanes_and_restart(tmp_path: Path) -> None:
    mod = load_example("line_plot")
    out = tmp_path / "plot.png"
    w, h, series = 200, 150, 3
    proc = run_example(
        "line_plot", "--headless", "--frames", "3", "--series", str(series), "--points", "5000",
        "--size", f"{w}x{h}", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "3 x 5000 points" in proc.stdout
    assert draw_calls(proc.stdout) == 2  # the grid, and every series in one strip draw
    img = read_png(out)
    colours = [mod.PALETTE[k] for k in range(series)]
    # Every pixel is the background, the grid or one series' colour: a strip that
    # did not restart would join series k's end to series k+1's start with a
    # sliver of blended colours across the plot.
    known = near(img, background_rgb(mod.BACKGROUND)) | near(img, mod.GRID_RGBA)
    for c in colours:
        known |= near(img, c)
    assert known.all(), np.unique(img[~known].reshape(-1, 4), axis=0)[:5]
    # Each series stays in its own lane and runs across the whole plot.
    margin = max(4.0, 0.03 * min(w, h))
    lane = (h - 2 * margin) / series
    left, right = int(margin) + 2, int(w - margin) - 2
    for k, c in enumerate(colours):
        rows = np.nonzero(near(img, c).any(axis=1))[0]
        centre = margin + lane * (k + 0.5)
        assert rows.min() >= centre - 0.45 * lane and rows.max() <= centre + 0.45 * lane, k
        assert rows.max() - rows.min() > 0.2 * lane  # the signal moves up and down
        cols = near(img, c)[:, left:right].any(axis=0)
        assert cols.all(), (k, np.nonzero(~cols)[0])


def test_line_plot_thickness_follows_width(tmp_path: Path) -> None:
    """A flat series is a band ``--width`` pixels thick (the normals' scale)."""
    mod = load_example("line_plot")
    plot = mod.LinePlot.__new__(mod.LinePlot)
    plot.opts = mod.PlotOptions(series=1, points=1000, width=4.0)
    plot.size = (400, 100)
    plot.samples = np.zeros((1, 1000), np.float32)
    plot.samples[0, 500:] = 0.5  # a step: the normal turns along the jump
    plot.colors = np.zeros((1, 4), np.uint8)
    for name in ("y", "nx", "ny", "tmp"):
        setattr(plot, name, np.empty((1, 1000), np.float32))
    plot.x = np.empty(1000, np.float32)
    verts = np.empty(2000, mod.LAYOUT.dtype)
    left, right, lane, centres = plot.layout()
    plot.pack(verts, left, right, lane, centres)
    pos = verts["in_pos"].reshape(1000, 2, 2)
    side = np.linalg.norm(pos[:, 0] - pos[:, 1], axis=1)
    np.testing.assert_allclose(side, 4.0, rtol=1e-4)  # both sides 4 px apart everywhere
    np.testing.assert_allclose(pos[:400, 0, 1] - pos[:400, 1, 1], 4.0, rtol=1e-4)  # flat: vertical
    assert np.all(verts["in_color"] == 0)


def test_strip_indices_restart_after_each_series() -> None:
    mod = load_example("line_plot")
    idx = mod.strip_indices(2, 3)
    r = 0xFFFFFFFF
    assert idx.dtype == np.uint32
    assert idx.tolist() == [0, 1, 2, 3, 4, 5, r, 6, 7, 8, 9, 10, 11, r]


# -- signal_plot -------------------------------------------------------------------


def test_signal_plot_lanes_and_restart(tmp_path: Path) -> None:
    mod = load_example("signal_plot")
    out = tmp_path / "signals.png"
    w, h, signals = 200, 150, 4
    proc = run_example(
        "signal_plot", "--headless", "--frames", "3", "--signals", str(signals),
        "--samples", "500", "--size", f"{w}x{h}", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    assert "4 x 500 samples" in proc.stdout
    # Only the y values are streamed: 4 bytes a vertex, a quarter of whole vertices.
    assert "y values 0.008 MB" in proc.stdout and "whole vertices would be 0.032 MB" in proc.stdout
    assert draw_calls(proc.stdout) == 2  # the grid, and every signal in one strip draw
    img = read_png(out)
    assert img.shape == (h, w, 4)
    colours = mod.lane_colors(signals)
    # Every pixel is the background, the grid or one signal's colour: a strip that
    # did not restart would join signal k's end to signal k+1's start across the
    # plot, in colours blended between the two.
    known = near(img, background_rgb(mod.BACKGROUND)) | near(img, mod.GRID_RGBA)
    for c in colours:
        known |= near(img, c)
    assert known.all(), np.unique(img[~known].reshape(-1, 4), axis=0)[:5]
    # Each signal stays in its own lane and runs across the whole plot.
    margin = max(4.0, 0.03 * min(w, h))
    lane = (h - 2 * margin) / signals
    left, right = int(margin) + 1, int(w - margin) - 1
    for k, c in enumerate(colours):
        mine = near(img, c)
        rows = np.nonzero(mine.any(axis=1))[0]
        centre = margin + lane * (k + 0.5)
        assert rows.min() >= centre - 0.5 * lane and rows.max() <= centre + 0.5 * lane, k
        assert rows.max() - rows.min() > 0.2 * lane  # the signal moves up and down
        cols = mine[:, left:right].any(axis=0)
        assert cols.all(), (k, np.nonzero(~cols)[0])
    # The grid lies beneath (layer -1): vertical divisions show between the lanes.
    grid = near(img, mod.GRID_RGBA)
    assert (grid.mean(axis=0) > 0.5).sum() >= 4  # 0.5 s divisions over 4 s


@pytest.fixture
def signal_fbo(ctx: Any, fbo: Any) -> Iterator[Any]:
    """A 192x128 framebuffer, bound; the session one is bound again before it goes
    (releasing the bound framebuffer leaves a GL error pending on Mesa)."""
    own = ctx.framebuffer(color_attachments=[ctx.renderbuffer((192, 128), 4)])
    own.use()
    yield own
    fbo.use()
    own.release()


def signal_scene(ctx: Any, signals: int, samples: int, size: tuple[int, int]) -> Any:
    mod = load_example("signal_plot")
    scene = mod.SignalPlot(ctx, mod.SignalOptions(signals=signals, samples=samples, size=size))
    scene.set_viewport(*size)
    return scene


def plain_moderngl_signal_plot(ctx: Any, fb: Any, scene: Any) -> np.ndarray[Any, Any]:
    """The scene's last frame drawn by plain moderngl: the grid from its own buffer,
    then the signals from two buffers (static x, lane and colour; streamed y) and
    the same u4 indices with the restart index."""
    import moderngl

    mod = load_example("signal_plot")
    s, n = scene.opts.signals, scene.opts.samples
    grid = np.empty(scene.grid_vertices, mod.GRID.dtype)
    scene.fill_grid(grid)
    static = mod.static_vertices(s, n)
    y = np.ascontiguousarray(scene.ordered().reshape(-1), np.float32)
    indices = mod.strip_indices(s, n)
    made = [ctx.buffer(a.tobytes()) for a in (grid, static, y, indices)]
    gvbo, svbo, yvbo, ibo = made
    fb.clear(*mod.BACKGROUND)
    scene.grid_program["u_screen"].value = tuple(float(v) for v in scene.size)
    for name, value in scene.uniforms().items():
        scene.program[name].value = value
    vaos = [
        ctx.vertex_array(scene.grid_program, [(gvbo, mod.GRID.format, *mod.GRID.names)]),
        ctx.vertex_array(
            scene.program,
            [(svbo, mod.STATIC.format, *mod.STATIC.names), (yvbo, "f", "in_y")],
            index_buffer=ibo,
            index_element_size=4,
        ),
    ]
    vaos[0].render(moderngl.LINES, vertices=len(grid))
    vaos[1].render(moderngl.LINE_STRIP, vertices=len(indices))
    for obj in [*vaos, *made]:
        obj.release()
    return np.frombuffer(fb.read(components=4, alignment=1), np.uint8)


@pytest.mark.parametrize(("signals", "samples"), [(5, 300), (1, 2), (40, 97)])
def test_signal_plot_frames_equal_plain_moderngls(
    ctx: Any, signal_fbo: Any, signals: int, samples: int
) -> None:
    """Pixel for pixel (no tolerance: the same shaders, state and vertices), over
    frames that wrap the ring at different places and one after a long pause."""
    scene = signal_scene(ctx, signals, samples, signal_fbo.size)
    try:
        for t in (0.0, 0.37, 1.0, 2.9, 3.0, 30.0):
            scene.draw(t)
            got = np.frombuffer(signal_fbo.read(components=4, alignment=1), np.uint8)
            want = plain_moderngl_signal_plot(ctx, signal_fbo, scene)
            assert np.array_equal(got, want), (t, int((got != want).sum()))
            lit = got.reshape(-1, 4)[:, :3].max(axis=1) > 100
            assert lit.sum() > samples // 4  # the signals are drawn, not only the grid
    finally:
        scene.release()


def test_signal_plot_steady_frames_upload_only_y_values_and_make_no_gl_objects(
    ctx: Any, signal_fbo: Any
) -> None:
    import moderngl

    mod = load_example("signal_plot")
    s, n = 64, 1000
    scene = signal_scene(ctx, s, n, signal_fbo.size)
    try:
        for i in range(6):
            scene.draw(i / 60)
        stats = scene.stager.stats
        buffers, arrays = stats.buffers_created, stats.vertex_arrays_created
        growths = scene.stager.stack.growths
        for i in range(6, 40):
            scene.draw(i / 60)
            # 4 bytes per sample (the 12-byte static vertices stay in the mesh) and
            # the grid's few lines; whole vertices would be 16 bytes per sample. The
            # grid's records follow the y values in the same buffer, at a multiple of
            # their own stride: up to one grid stride of padding between the two.
            grid_bytes = mod.GRID.stride * scene.grid_vertices
            padding = stats.bytes_uploaded_last_frame - (4 * s * n + grid_bytes)
            assert 0 <= padding < mod.GRID.stride
            assert grid_bytes < 0.01 * 4 * s * n
            assert stats.writes_last_frame == (0 if scene.stager.strategy == "mapped" else 1)
            assert stats.draw_calls_last_render == 2
            # The grid, staged after the signals (its first vertex past their
            # records), is drawn first: layer -1. The signals: one indexed strip draw.
            assert scene.stager.draw_list == [
                ("plain", moderngl.LINES, -(-4 * s * n // mod.GRID.stride), scene.grid_vertices),
                ("streamed", moderngl.LINE_STRIP, 0, s * (n + 1)),
            ]
        assert stats.buffers_created == buffers
        assert stats.vertex_arrays_created == arrays
        assert scene.stager.stack.growths == growths
    finally:
        scene.release()


def test_signal_plot_samples_scroll_left(ctx: Any) -> None:
    """New samples enter at the right; the ones before move left unchanged; a pause
    longer than the plot's span refills it."""
    mod = load_example("signal_plot")
    scene = signal_scene(ctx, 3, 400, (64, 64))
    try:
        rate = 400 / mod.SECONDS
        before = scene.ordered()
        assert before.dtype == np.float32 and before.shape == (3, 400)
        assert np.abs(before).max() <= 1 and before.std() > 0.1
        scene.advance(7 / rate)  # 7 samples arrive
        after = scene.ordered()
        assert np.array_equal(after[:, :-7], before[:, 7:])
        assert not np.array_equal(after[:, -7:], before[:, -7:])
        scene.advance(7 / rate)  # nothing new
        assert np.array_equal(scene.ordered(), after)
        scene.advance(100.0)
        assert scene.clock == int(100.0 * rate)
        refilled = scene.ordered()
        assert np.abs(refilled).max() <= 1
        assert not np.isin(after[:, -7:], refilled).any()  # none of the old samples left
    finally:
        scene.release()


def test_signal_plot_indices_and_static_vertices() -> None:
    mod = load_example("signal_plot")
    r = 0xFFFFFFFF
    assert mod.strip_indices(2, 3).tolist() == [0, 1, 2, r, 3, 4, 5, r]
    verts = mod.static_vertices(2, 3)
    assert verts.dtype == mod.STATIC.dtype and len(verts) == 6
    assert verts["in_base"][:, 0].tolist() == [0, 0.5, 1, 0, 0.5, 1]
    assert verts["in_base"][:, 1].tolist() == [0.25, 0.25, 0.25, 0.75, 0.75, 0.75]
    colours = mod.lane_colors(2)
    assert np.array_equal(verts["in_color"], np.repeat(colours, 3, axis=0))
    assert len({tuple(c) for c in mod.lane_colors(64)}) == 64  # one colour per signal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--signals", "0"], "--signals must be >= 1; got 0"),
        (["--samples", "1"], "--samples must be >= 2; got 1"),
        (["--samples", "many"], "--samples must be an integer >= 2; got 'many'"),
    ],
)
def test_signal_plot_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    proc = run_example("signal_plot", *args, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("signal_plot.py: error:")
    assert message in lines[0]
    assert proc.stdout == ""


# -- every example: options, fallback, window -----------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("scene_hud", ["--stars", "many"], "--stars must be an integer >= 0; got 'many'"),
        ("scene_hud", ["--size", "big"], "--size must look like 1280x720; got 'big'"),
        ("sprites", ["--sprites", "-1"], "--sprites must be >= 0; got -1"),
        ("sprites", ["--out", "/nonexistent-folder/x.png"], "must name a PNG file"),
        ("line_plot", ["--series", "0"], "--series must be >= 1; got 0"),
        ("line_plot", ["--points", "1"], "--points must be >= 2; got 1"),
        ("line_plot", ["--width", "nan"], "--width must be 0.5..50 pixels; got 'nan'"),
        ("line_plot", ["--frames", "0"], "--frames must be >= 1; got 0"),
    ],
)
def test_bad_options_exit_2_with_one_line(name: str, args: list[str], message: str) -> None:
    proc = run_example(name, *args, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{name}.py: error:")
    assert message in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize("name", ["scene_hud", "sprites", "line_plot"])
def test_no_display_falls_back_to_headless_in_one_line(tmp_path: Path, name: str) -> None:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    small = {"sprites": ["--sprites", "50"], "line_plot": ["--points", "100"]}.get(name, [])
    proc = run_example(name, "--frames", "1", "--size", "48x48", *small, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "no display could be opened: running headless"
    assert read_png(tmp_path / f"{name}.png").shape == (48, 48, 4)  # the default --out


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_scene_hud_in_a_window_under_xvfb(tmp_path: Path) -> None:
    out = tmp_path / "window.png"
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = run_example(
        "scene_hud", "--frames", "5", "--no-vsync", "--size", "256x192", "--out", str(out),
        env=env, wrap=["xvfb-run", "-a", "-s", "-screen 0 640x480x24"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "running headless" not in proc.stdout  # a real window this time
    assert "closed after 5 frames" in proc.stdout
    img = read_png(out)
    assert img.shape == (192, 256, 4)
    # Stars drawn with the program's point size show in the window too.
    sky = rgb_of(img)[int(0.8 * 192) :]
    assert np.all(sky >= 120, axis=-1).sum() > 10
