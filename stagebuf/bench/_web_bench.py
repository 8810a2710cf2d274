"""The web suite: frames a Python render loop delivers to a headless chromium page.

A stager stages the demo's triangles every frame as fast as it can; a
``web.Context`` sends each frame to one page (WebGL2 on SwiftShader, no GPU)
through a websocket on 127.0.0.1. The table gives the bytes of one frame's
message, the frames staged and sent per second in Python, the frames the page
drew per second and the megabytes per second it received. The newest frame
wins: a page slower than the loop skips frames, and the loop never waits.
"""

from __future__ import annotations

import time
from typing import Any

from .._gl import load_program
from .._layout import VertexLayout
from .._scene import TriangleField
from .._stager import Stager
from ._progress import Progress

__all__ = ["run"]

LAYOUT = VertexLayout(in_pos="2f", in_color="4f1")
SIZE = (640, 360)


def run(*, quick: bool) -> None:
    """Print the web table (one line saying why, where there is no chromium)."""
    from ..web import Context
    from ..web._chromium import Browser, find_chromium

    print()
    print("== web: frames delivered to a headless chromium page (WebGL2, SwiftShader)")
    if find_chromium() is None:
        print("skipped: no chromium here (apt-get install -y chromium)")
        return
    seconds = 1.5 if quick else 4.0
    cases = [10_000, 100_000]
    progress = Progress("web", len(cases) + 1)
    print(
        f"{'triangles':>10} {'bytes/frame':>12} {'staged/s':>9} {'drawn/s':>8} "
        f"{'MB/s':>7} {'skipped':>8}"
    )
    with Browser() as browser, Context(port=0, size=SIZE) as ctx:
        page = browser.open(ctx.url)
        page.wait_for("window.stagebuf.connected", timeout=30)
        program = load_program(ctx)
        with progress.case("the demo's frames at 60 fps"):
            demo = _demo_frames(ctx, page, program)
        for triangles in cases:
            with progress.case(f"{triangles} triangles"):
                row = _unthrottled(ctx, page, program, triangles, seconds)
            print(
                f"{triangles:>10,} {row['bytes']:>12,.0f} {row['staged']:>9.1f} "
                f"{row['drawn']:>8.1f} {row['mbps']:>7.1f} {row['skipped']:>7.0%}"
            )
        print(
            f"the demo (20,000 triangles, 60 frames/s): {demo['bytes']:,.0f} bytes per frame "
            f"({demo['payload']:,} of vertices, {demo['bytes'] - demo['payload']:,.0f} of draw "
            f"list and header); the first frame also carried the program ({demo['first']:,.0f} "
            f"bytes in all); the page drew {demo['drawn']:.0f} of {demo['sent']} frames"
        )
        page.close()
        program.release()


def _unthrottled(
    ctx: Any, page: Any, program: Any, triangles: int, seconds: float
) -> dict[str, float]:
    field = TriangleField(triangles, seed=7)
    with Stager(ctx, LAYOUT, program) as stager:
        _frame(ctx, stager, field, 0.0)  # the program and the first frame go out
        page.wait_for(f"window.stagebuf.drawnSeq >= {ctx.frames_published}", timeout=60)
        stats = ctx.stats
        sent0, bytes0, skipped0 = stats.frames_sent, stats.bytes_sent, stats.frames_skipped
        drawn0, received0 = page.evaluate("[window.stagebuf.drawn, window.stagebuf.bytes]")
        start = time.perf_counter()
        frames = 0
        while time.perf_counter() - start < seconds:
            _frame(ctx, stager, field, frames / 60)
            frames += 1
        elapsed = time.perf_counter() - start
        drawn, received = page.evaluate("[window.stagebuf.drawn, window.stagebuf.bytes]")
        sent = max(stats.frames_sent - sent0, 1)
        return {
            "bytes": (stats.bytes_sent - bytes0) / sent,
            "staged": frames / elapsed,
            "drawn": (drawn - drawn0) / elapsed,
            "mbps": (received - received0) / elapsed / 1e6,
            "skipped": (stats.frames_skipped - skipped0) / frames,
        }


def _demo_frames(ctx: Any, page: Any, program: Any) -> dict[str, Any]:
    """The demo's default load, paced at 60 frames a second as ``--web`` runs it."""
    field = TriangleField(20_000, seed=7)
    frames = 60
    with Stager(ctx, LAYOUT, program) as stager:
        stats = ctx.stats
        bytes0, sent0 = stats.bytes_sent, stats.frames_sent
        drawn0 = page.evaluate("window.stagebuf.drawn")
        _frame(ctx, stager, field, 0.0)
        page.wait_for(f"window.stagebuf.drawnSeq >= {ctx.frames_published}", timeout=60)
        first = stats.bytes_sent - bytes0
        bytes1, sent1 = stats.bytes_sent, stats.frames_sent
        next_frame = time.perf_counter()
        for i in range(1, frames):
            _frame(ctx, stager, field, i / 60)
            next_frame += 1 / 60
            time.sleep(max(0.0, next_frame - time.perf_counter()))
        page.wait_for(f"window.stagebuf.drawnSeq >= {ctx.frames_published}", timeout=60)
        sent = max(stats.frames_sent - sent1, 1)
        return {
            "bytes": (stats.bytes_sent - bytes1) / sent,
            "payload": 20_000 * 3 * LAYOUT.stride,
            "first": first,
            "drawn": page.evaluate("window.stagebuf.drawn") - drawn0,
            "sent": stats.frames_sent - sent0,
        }


def _frame(ctx: Any, stager: Stager, field: TriangleField, t: float) -> None:
    with stager.frame() as frame:
        field.fill(frame.reserve(3 * field.n), t)
    ctx.clear(0.015, 0.015, 0.04, 1.0)
    stager.render()
