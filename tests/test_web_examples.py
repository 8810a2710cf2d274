"""Every example and the demo with ``--web``: the scene drawn in headless chromium
equals its moderngl render, and the command line serves pages and stops.

The examples draw arbitrary geometry (float coordinates, rotated sprites,
mipmapped textures, thin lines), which each driver rasterises with its own
subpixel precision and filtering: a few edge pixels differ, so the check is
that the two images agree on average within 3 levels and that fewer than 3%
of the pixels differ by more than 16 levels (a missing draw, a wrong colour,
texture or uniform breaks both by far).
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
import urllib.request
from typing import Any

import numpy as np
import pytest
from test_examples import EXAMPLES, load_example

from stagebuf import demo, web
from stagebuf._gl import create_headless_context

pytestmark = pytest.mark.gl

W, H = 320, 180
# example -> the scene factory its main() runs
SCENES = {
    "triangles": None,  # the demo's own scene
    "sprites": "SpriteScene",
    "scene_hud": "SceneHud",
    "line_plot": "LinePlot",
    "signal_plot": "SignalPlot",
}


def _factory(name: str) -> Any:
    module = load_example(name)
    source = (EXAMPLES / f"{name}.py").read_text()
    found = re.search(r"run_main\(APP, (\w+), ", source)
    if found is None:
        return demo._Scene, demo.parse_args
    return getattr(module, found.group(1)), module.parse_args


@pytest.mark.parametrize("name", list(SCENES))
def test_example_in_a_page_equals_its_moderngl_render(browser: Any, name: str) -> None:
    factory, parse = _factory(name)
    opts = parse(["--size", f"{W}x{H}"])
    gl = create_headless_context()
    try:
        fbo = gl.framebuffer(color_attachments=[gl.renderbuffer((W, H), 4)])
        fbo.use()
        scene = factory(gl, opts)
        scene.set_viewport(W, H)
        scene.draw(0.5)
        expected = np.frombuffer(fbo.read(components=4), np.uint8).reshape(H, W, 4)
        scene.release()
    finally:
        gl.release()
    with web.Context(port=0, size=(W, H)) as ctx:
        scene = factory(ctx, opts)
        scene.set_viewport(W, H)
        scene.draw(0.5)
        page = browser.open(ctx.url)
        try:
            page.wait_for(f"window.stagebuf.drawnSeq >= {ctx.frames_published}", timeout=60)
            shot = page.evaluate("window.stagebuf.readPixels()")
            assert not page.evaluate("window.stagebuf.errors"), page.console
        finally:
            page.close()
            scene.release()
    actual = np.frombuffer(base64.b64decode(shot["rgba"]), np.uint8).reshape(H, W, 4)
    diff = np.abs(actual.astype(int) - expected.astype(int))[..., :3]
    far = (diff.max(axis=2) > 16).mean()
    assert diff.mean() < 3.0, f"{name}: mean difference {diff.mean():.2f} levels"
    assert far < 0.03, f"{name}: {far:.1%} of pixels differ by more than 16 levels"
    assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 10  # a scene, not a clear


def test_demo_command_line_serves_pages_until_its_frames_are_done(browser: Any) -> None:
    """`stagebuf-demo --web --port 0` prints its URL, a page draws its frames, it ends."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "triangles.py"),
            "--web",
            "--port",
            "0",
            "--frames",
            "120",
            "--triangles",
            "2000",
            "--size",
            "160x90",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"open (http://\S+) in a browser", line)
            url = found.group(1) if found else None
        assert url is not None, process.stderr.read() if process.stderr else ""
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"renderer.js" in response.read()
        page = browser.open(url)
        page.wait_for("window.stagebuf.drawn >= 3", timeout=60)
        page.close()
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "served 120 frames" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--web", "--headless"], "pick one"),
        (["--web", "--out", "x.png"], "draws in the browser"),
        (["--web", "--strategy", "ring"], "--web sends frames"),
        (["--web", "--port", "70000"], "--port must be 0 to 65535"),
    ],
)
def test_demo_web_options_are_checked(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "triangles.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
