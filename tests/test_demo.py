"""The demo app: headless PNG output, the windowed run under Xvfb, bad options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stagebuf as sb
from stagebuf._png import read_png, write_png
from stagebuf._scene import TriangleField
from stagebuf.demo import BACKGROUND, parse_args

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "triangles.py"


def run_demo(
    *args: str,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    cwd: Path | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(wrap or []), sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def no_display_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def test_headless_demo_writes_a_busy_colourful_png(tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    proc = run_demo(
        "--headless",
        "--frames",
        "12",
        "--triangles",
        "20000",
        "--size",
        "320x200",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    img = read_png(out)
    assert img.shape == (200, 320, 4)
    rgb = img[:, :, :3].reshape(-1, 3)
    background = np.round(np.array(BACKGROUND[:3]) * 255).astype(np.uint8)
    bg_share = np.all(np.abs(rgb.astype(int) - background) <= 1, axis=1).mean()
    assert 0.2 < bg_share < 0.75, bg_share  # a galaxy, neither empty nor a wash
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 500
    # Hues all round the wheel: strongly red, green and blue pixels all occur.
    r, g, b = (rgb[:, i].astype(int) for i in range(3))
    assert ((r > g + 60) & (r > b + 60)).sum() > 50
    assert ((g > r + 60) & (g > b + 60)).sum() > 50
    assert ((b > r + 30) & (b > g + 30)).sum() > 50


def test_frames_change_over_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out, frames in ((a, "2"), (b, "30")):
        proc = run_demo(
            "--headless",
            "--frames",
            frames,
            "--triangles",
            "3000",
            "--size",
            "160x120",
            "--out",
            str(out),
        )
        assert proc.returncode == 0, proc.stderr
    changed = np.any(read_png(a) != read_png(b), axis=-1).mean()
    assert changed > 0.05


def test_no_display_falls_back_to_headless_in_one_line(tmp_path: Path) -> None:
    proc = run_demo(
        "--frames", "2", "--triangles", "100", "--size", "64x64", env=no_display_env(), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"stagebuf {sb.__version__}, arena: ")  # which arena runs
    assert lines[1] == "no display could be opened: running headless"
    assert (tmp_path / "stagebuf-frame.png").is_file()


@pytest.mark.parametrize("strategy", ["ring", "orphan", "write"])
def test_every_strategy_runs_headless(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / f"{strategy}.png"
    proc = run_demo(
        "--headless",
        "--frames",
        "3",
        "--triangles",
        "500",
        "--size",
        "64x64",
        "--strategy",
        strategy,
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"| {strategy}" in proc.stdout
    assert read_png(out).std() > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--triangles", "-5"], "--triangles must be >= 0; got -5"),
        (["--frames", "0"], "--frames must be >= 1; got 0"),
        (["--frames", "ten"], "--frames must be an integer >= 1; got 'ten'"),
        (["--strategy", "fastest"], "invalid choice: 'fastest'"),
        (["--size", "big"], "--size must look like 1280x720; got 'big'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--seed", "-1"], "--seed must be >= 0; got -1"),
        (["--out", "/nonexistent-folder/x.png"], "must name a PNG file in an existing folder"),
        (["--out", "/tmp"], "must name a PNG file in an existing folder"),
    ],
)
def test_bad_options_exit_nonzero_with_one_line(args: list[str], message: str) -> None:
    proc = run_demo(*args, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stagebuf-demo: error:")
    assert message in lines[0]
    assert proc.stdout == ""


def test_parse_args_defaults() -> None:
    opts = parse_args([])
    assert opts.triangles == 20_000 and opts.frames is None and opts.vsync
    # No strategy: the stager's default ("mapped" where GL can, else "ring").
    assert opts.strategy is None and not opts.headless and opts.size == (1280, 720)
    assert not opts.web and opts.port == 8765 and opts.host == "127.0.0.1"
    opts = parse_args(["--no-vsync", "--headless", "--triangles", "0", "--size", "10x20"])
    assert not opts.vsync and opts.headless and opts.triangles == 0 and opts.size == (10, 20)


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_windowed_demo_runs_under_xvfb(tmp_path: Path) -> None:
    out = tmp_path / "window.png"
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = run_demo(
        "--frames",
        "20",
        "--triangles",
        "5000",
        "--no-vsync",
        "--size",
        "320x240",
        "--out",
        str(out),
        env=env,
        wrap=["xvfb-run", "-a", "-s", "-screen 0 1024x768x24"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "running headless" not in proc.stdout  # a real window this time
    assert "closed after 20 frames" in proc.stdout
    img = read_png(out)
    assert img.shape == (240, 320, 4)
    assert len(np.unique(img.reshape(-1, 4), axis=0)) > 100


def test_png_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for channels in (3, 4):
        img = rng.integers(0, 256, (7, 5, channels), dtype=np.uint8)
        write_png(tmp_path / "x.png", img)
        assert np.array_equal(read_png(tmp_path / "x.png"), img)
    with pytest.raises(ValueError, match=r"expected uint8 pixels of shape \(height, width, 3\|4\)"):
        write_png(tmp_path / "bad.png", np.zeros((4, 4), dtype=np.uint8))


def test_scene_fill_matches_the_naive_maths() -> None:
    field = TriangleField(500)
    verts = np.empty(1500, dtype=[("in_pos", "f4", 2), ("in_color", "u1", 4)])
    for t in (0.0, 1.25, 40.0):
        field.fill(verts, t)
        pos, color = field.naive(t)
        np.testing.assert_allclose(verts["in_pos"], pos, atol=1e-6)
        assert np.abs(verts["in_color"].astype(int) - color).max() <= 1
    with pytest.raises(ValueError, match=r"expected a structured array of 3n=1500 vertices"):
        field.fill(verts[:3], 0.0)
