"""stagebuf.web in a real browser: each draw-list feature drawn by headless chromium
(WebGL2 on SwiftShader) equals the moderngl render of the same frame (llvmpipe).

Both rasterisers follow GL's rules for triangles, so triangle edges match
exactly; the geometry keeps line ends and edges off pixel centres, and colours
are compared within 1 level (the two drivers round blends and interpolated
colours their own way).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import moderngl
import numpy as np
import pytest
from conftest import FBO_SIZE

import stagebuf as sb
from stagebuf import web

pytestmark = pytest.mark.gl

LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
HUD = sb.VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1")
SIZE = FBO_SIZE

Draw = Callable[[Any], list[Any]]  # draws one frame on a context; returns what to release


@pytest.fixture(scope="module")
def web_ctx() -> Iterator[Any]:
    with web.Context(port=0, size=(SIZE, SIZE)) as ctx:
        yield ctx


@pytest.fixture(scope="module")
def page(browser: Any, web_ctx: Any) -> Iterator[Any]:
    opened = browser.open(web_ctx.url)
    opened.wait_for("window.stagebuf && window.stagebuf.connected", timeout=30)
    yield opened
    opened.close()


def page_pixels(page: Any, ctx: Any) -> np.ndarray[Any, Any]:
    """The page's canvas once it drew the context's newest frame (rows bottom-up)."""
    seq = ctx.frames_published
    try:
        page.wait_for(f"window.stagebuf.drawnSeq >= {seq}", timeout=30)
    except Exception as err:
        errors = page.evaluate("window.stagebuf.errors")
        raise AssertionError(f"the page did not draw frame {seq}: {errors} {page.console}") from err
    shot = page.evaluate("window.stagebuf.readPixels()")
    data = np.frombuffer(base64.b64decode(shot["rgba"]), np.uint8)
    return data.reshape(shot["height"], shot["width"], 4)


def gl_pixels(fbo: Any) -> np.ndarray[Any, Any]:
    data = fbo.read(components=4, alignment=1)
    return np.frombuffer(data, np.uint8).reshape(SIZE, SIZE, 4)


def compare(
    gl_ctx: Any,
    fbo: Any,
    web_ctx: Any,
    page: Any,
    draw: Draw,
    line_ends: list[tuple[float, float]] = (),  # type: ignore[assignment]
) -> np.ndarray[Any, Any]:
    """Draw the frame on both contexts; assert the pixels agree; return the page's.

    ``line_ends`` (pixels) are where lines end at a pixel centre: GL leaves the
    pixel at a line's end to the implementation (llvmpipe's diamond-exit rule
    leaves it unlit, SwiftShader lights it), so those pixels are not compared."""
    made = draw(gl_ctx)
    expected = gl_pixels(fbo)
    for obj in made:
        obj.release()
    made = draw(web_ctx)
    actual = page_pixels(page, web_ctx)
    for obj in made:
        obj.release()
    errors = page.evaluate("window.stagebuf.errors")
    assert not errors, errors
    diff = np.abs(actual.astype(int) - expected.astype(int))
    for x, y in line_ends:
        diff[int(y), int(x)] = 0
    where = np.argwhere(diff.max(axis=2) > 1)
    assert not where.size, (
        f"{len(where)} pixels differ by more than 1 level; first at (row {where[0][0]}, "
        f"col {where[0][1]}): page {actual[tuple(where[0])]} vs moderngl "
        f"{expected[tuple(where[0])]}"
    )
    assert len(np.unique(expected[..., :3].reshape(-1, 3), axis=0)) > 1  # more than a clear
    return actual


def quad(frame: Any, x0: float, y0: float, x1: float, y1: float, rgba: Any, **options: Any) -> Any:
    """Two triangles covering a rectangle in clip space."""
    v = frame.reserve(6, **options)
    v["in_pos"] = [(x0, y0), (x1, y0), (x1, y1), (x0, y0), (x1, y1), (x0, y1)]
    v["in_color"] = rgba
    return v


def ndc(x: float, y: float) -> tuple[float, float]:
    """Clip-space coordinates of a point in pixels (origin bottom-left)."""
    return x / (SIZE / 2) - 1.0, y / (SIZE / 2) - 1.0


def reserve_blank(frame: Any, count: int) -> np.ndarray[Any, Any]:
    """``count`` vertices of zeros, for frames that only carry bytes. The module's
    page draws every frame, and uninitialised vertices (the arena's old bytes) can
    be screen-sized triangles: minutes of SwiftShader work that every later
    readPixels waits on. Zeros draw nothing."""
    v = frame.reserve(count)
    v[...] = 0
    return v


def program_of(ctx: Any, name: str = "triangles") -> Any:
    program = sb.load_program(ctx, name)
    if "u_scale" in program:
        program["u_scale"].value = (1.0, 1.0)
    return program


# -- draw-list features ----------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        moderngl.TRIANGLES,
        moderngl.TRIANGLE_STRIP,
        moderngl.TRIANGLE_FAN,
        moderngl.LINES,
        moderngl.LINE_STRIP,
        moderngl.LINE_LOOP,
    ],
)
def test_modes(ctx: Any, fbo: Any, web_ctx: Any, page: Any, mode: int) -> None:
    # Vertices sit on pixel corners for triangles and on pixel centres for lines, so
    # no pixel centre lies a rounding error away from an edge: both rasterisers'
    # rules (top-left fill, diamond exit) then light the same pixels.
    corners = [(8, 10), (56, 10), (56, 53), (8, 53)]
    if mode in (moderngl.LINES, moderngl.LINE_STRIP, moderngl.LINE_LOOP):
        corners = [(8.5, 10.5), (55.5, 10.5), (55.5, 52.5), (8.5, 52.5)]
    points = [ndc(x, y) for x, y in corners]

    def draw(c: Any) -> list[Any]:
        program = program_of(c)
        stager = sb.Stager(c, LAYOUT, program, mode=mode)
        with stager.frame() as frame:
            v = frame.reserve(len(points))
            v["in_pos"] = points
            v["in_color"] = [
                (255, 0, 0, 255),
                (0, 255, 0, 255),
                (0, 0, 255, 255),
                (255, 255, 0, 255),
            ]
        c.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        return [stager, program]

    lines = mode in (moderngl.LINES, moderngl.LINE_STRIP, moderngl.LINE_LOOP)
    compare(ctx, fbo, web_ctx, page, draw, corners if lines else [])


def test_programs_uniforms_and_layers(ctx: Any, fbo: Any, web_ctx: Any, page: Any) -> None:
    def draw(c: Any) -> list[Any]:
        tri = program_of(c)
        plot = program_of(c, "plot")  # pixels, origin top-left: its own u_screen
        plot["u_screen"].value = (SIZE, SIZE)
        stager = sb.Stager(c, LAYOUT, tri)
        with stager.frame() as frame:
            # Drawn last (layer 1) although staged first: it covers the others.
            quad(frame, -0.25, -0.25, 0.25, 0.25, (255, 255, 255, 255), layer=1)
            quad(frame, -1.0, -1.0, 0.5, 0.5, (200, 0, 0, 255), uniforms={"u_scale": (0.5, 0.5)})
            quad(frame, 0.0, 0.0, 1.0, 1.0, (0, 200, 0, 255))
            v = frame.reserve(6, program=plot, layer=-1)  # under everything
            v["in_pos"] = [(0, 0), (32, 0), (32, 32), (0, 0), (32, 32), (0, 32)]
            v["in_color"] = (0, 0, 200, 255)
        c.clear(0.1, 0.1, 0.1, 1.0)
        stager.render()
        return [stager, tri, plot]

    pixels = compare(ctx, fbo, web_ctx, page, draw)
    assert tuple(pixels[32, 32, :3]) == (255, 255, 255)  # the layer-1 quad on top


def test_textures_per_range(ctx: Any, fbo: Any, web_ctx: Any, page: Any) -> None:
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (8, 8, 4), dtype=np.uint8) for _ in range(2)]
    for image in images:
        image[..., 3] = 255

    def draw(c: Any) -> list[Any]:
        program = program_of(c, "hud")
        program["u_screen"].value = (SIZE, SIZE)
        textures = []
        for image in images:
            texture = c.texture((8, 8), 4, image.tobytes())
            texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
            textures.append(texture)
        stager = sb.Stager(c, HUD, program)
        with stager.frame() as frame:
            for i, texture in enumerate(textures):
                x = 32 * i
                v = frame.reserve(6, textures={0: texture})
                v["in_pos"] = [(x, 0), (x + 32, 0), (x + 32, 64), (x, 0), (x + 32, 64), (x, 64)]
                v["in_uv"] = [(0, 0), (1, 0), (1, 1), (0, 0), (1, 1), (0, 1)]
                v["in_color"] = (255, 255, 255, 255)
        c.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        return [stager, program, *textures]

    compare(ctx, fbo, web_ctx, page, draw)


@pytest.mark.parametrize("index_dtype", ["u2", "u4"])
def test_indices_with_restart(
    ctx: Any, fbo: Any, web_ctx: Any, page: Any, index_dtype: str
) -> None:
    restart = np.iinfo(np.dtype(index_dtype)).max

    def draw(c: Any) -> list[Any]:
        program = program_of(c)
        stager = sb.Stager(c, LAYOUT, program, index_dtype=index_dtype)
        with stager.frame() as frame:
            quad(
                frame, -1.0, 0.55, -0.55, 1.0, (90, 90, 90, 255)
            )  # vertices before the indexed range
            v, i = frame.reserve_indexed(8, 9, mode=moderngl.TRIANGLE_STRIP)
            v["in_pos"] = [
                (-0.9, -0.9), (-0.1, -0.9), (-0.9, -0.1), (-0.1, -0.1),
                (0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9),
            ]  # fmt: skip
            v["in_color"] = [(255, 0, 0, 255)] * 4 + [(0, 0, 255, 255)] * 4
            i[:] = [0, 1, 2, 3, restart, 4, 5, 6, 7]
        c.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        return [stager, program]

    pixels = compare(ctx, fbo, web_ctx, page, draw)
    assert tuple(pixels[32, 32, :3]) == (0, 0, 0)  # no triangle joins the two strips


def test_meshes_instances_and_streamed_attributes(
    ctx: Any, fbo: Any, web_ctx: Any, page: Any
) -> None:
    corners = np.array([(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)], "f4")
    signal = sb.VertexLayout(in_base="2f", in_color="4f1")
    ys = sb.VertexLayout(in_y="1f")

    def draw(c: Any) -> list[Any]:
        sprites = program_of(c, "sprites")
        sprites["u_screen"].value = (SIZE, SIZE)
        white = c.texture((1, 1), 4, b"\xff\xff\xff\xff")
        quad_mesh = sb.Mesh(
            c, corners, layout=sb.VertexLayout(in_corner="2f"), mode=moderngl.TRIANGLE_STRIP
        )
        instance = sb.VertexLayout(in_offset="2f", in_color="4f1", in_size="1f", in_angle="1f")
        plot = program_of(c, "signal")
        plot["u_screen"].value = (SIZE, SIZE)
        plot["u_rect"].value = (0.0, 0.0, SIZE, SIZE)
        plot["u_amp"].value = 1.0
        base = np.zeros(6, signal.dtype)
        # Three lanes a quarter apart; ends and rows off pixel centres.
        base["in_base"] = [
            (0.05, 0.25),
            (0.95, 0.25),
            (0.05, 0.5),
            (0.95, 0.5),
            (0.05, 0.75),
            (0.95, 0.75),
        ]
        base["in_color"] = (0, 255, 255, 255)
        lines = sb.Mesh(c, base, indices=[0, 1, 2, 3, 4, 5], mode=moderngl.LINES, layout=signal)
        tri = program_of(c)
        triangle = np.zeros(3, LAYOUT.dtype)
        triangle["in_pos"] = [ndc(40, 40), ndc(62, 40), ndc(62, 62)]
        triangle["in_color"] = (255, 128, 0, 255)
        solid = sb.Mesh(c, triangle, layout=LAYOUT)
        stager = sb.Stager(c, LAYOUT, tri)
        with stager.frame() as frame:
            quad(frame, -1.0, -1.0, -0.8, -0.8, (50, 50, 50, 255))  # records before the instances
            records = frame.reserve_instances(
                quad_mesh, 3, layout=instance, program=sprites, textures={0: white}
            )
            records["in_offset"] = [(12, 12), (32, 20), (52, 12)]
            records["in_color"] = [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)]
            records["in_size"] = [10.0, 12.0, 10.0]
            records["in_angle"] = 0.0
            streamed = frame.reserve_attributes(lines, layout=ys, program=plot)
            streamed["in_y"] = [0.2, 0.2, -0.2, -0.2, 0.3, 0.3]
            frame.draw(solid)  # a retained mesh on its own
        c.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        return [stager, quad_mesh, lines, solid, sprites, plot, tri, white]

    pixels = compare(ctx, fbo, web_ctx, page, draw)
    colours = {tuple(p) for p in pixels[..., :3].reshape(-1, 3)}
    # Each kind of draw left its colour: instances, streamed lines, the mesh, the quad.
    for colour in [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (0, 255, 255),
        (255, 128, 0),
        (50, 50, 50),
    ]:
        assert colour in colours, colour


def test_blending_viewport_and_render_mode(ctx: Any, fbo: Any, web_ctx: Any, page: Any) -> None:
    def draw(c: Any) -> list[Any]:
        program = program_of(c)
        stager = sb.Stager(c, LAYOUT, program)
        with stager.frame() as frame:
            quad(frame, -0.8, -0.8, 0.4, 0.4, (255, 0, 0, 128))
            quad(frame, -0.4, -0.4, 0.8, 0.8, (0, 0, 255, 128))  # merged with the first
        c.clear(0.0, 0.2, 0.0, 1.0)
        c.enable(moderngl.BLEND)
        c.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        stager.render()
        c.viewport = (0, 0, SIZE // 2, SIZE // 2)
        c.blend_func = moderngl.ONE, moderngl.ONE
        stager.render(mode=moderngl.LINE_LOOP)  # each merged range outlined on its own
        c.viewport = (0, 0, SIZE, SIZE)
        c.disable(moderngl.BLEND)
        return [stager, program]

    # The outlines' corners, in the half-size viewport's pixels.
    corners = [
        ((x + 1) * SIZE / 4, (y + 1) * SIZE / 4)
        for x in (-0.8, 0.4, -0.4, 0.8)
        for y in (-0.8, 0.4, -0.4, 0.8)
    ]
    compare(ctx, fbo, web_ctx, page, draw, corners)


def test_several_stagers_in_one_frame(ctx: Any, fbo: Any, web_ctx: Any, page: Any) -> None:
    def draw(c: Any) -> list[Any]:
        program = program_of(c)
        first = sb.Stager(c, LAYOUT, program)
        second = sb.Stager(c, LAYOUT, program)
        with first.frame() as frame:
            quad(frame, -1.0, -1.0, 0.0, 0.0, (255, 128, 0, 255))
        with second.frame() as frame:
            quad(frame, 0.0, 0.0, 1.0, 1.0, (0, 128, 255, 255))
        c.clear(0.0, 0.0, 0.0, 1.0)
        first.render()
        second.render()
        return [first, second, program]

    compare(ctx, fbo, web_ctx, page, draw)


# -- transport -------------------------------------------------------------------


def _stage_quad(stager: Any, shade: int) -> None:
    with stager.frame() as frame:
        quad(frame, -1.0, -1.0, 1.0, 1.0, (shade, 0, 0, 255))


def test_static_data_is_sent_once(web_ctx: Any, page: Any) -> None:
    program = program_of(web_ctx, "sprites")
    program["u_screen"].value = (SIZE, SIZE)
    mesh_vertices = np.zeros(50_000, sb.VertexLayout(in_corner="2f").dtype)
    mesh = sb.Mesh(web_ctx, mesh_vertices, mode=moderngl.POINTS)
    instance = sb.VertexLayout(in_offset="2f", in_color="4f1", in_size="1f", in_angle="1f")
    stager = sb.Stager(web_ctx, instance, program)
    sent = [web_ctx.stats.bytes_sent]
    for i in range(3):
        with stager.frame() as frame:
            records = frame.reserve_instances(mesh, 1)
            records["in_offset"] = (i, i)
            records["in_size"] = 1.0
        web_ctx.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        page_pixels(page, web_ctx)
        sent.append(web_ctx.stats.bytes_sent)
    first = sent[1] - sent[0]
    steady = sent[3] - sent[2]
    assert mesh_vertices.nbytes < first  # the mesh went out with the first frame
    assert steady < 4096  # later frames carry their 20 bytes of records and the draw list
    for obj in (stager, mesh, program):
        obj.release()


def test_a_page_that_connects_later_gets_everything(browser: Any, web_ctx: Any, page: Any) -> None:
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    _stage_quad(stager, 77)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    late = browser.open(web_ctx.url)
    try:
        pixels = page_pixels(late, web_ctx)
        assert tuple(pixels[10, 10]) == (77, 0, 0, 255)
        late.reload()  # a reload is a new connection: it is sent everything again
        assert tuple(page_pixels(late, web_ctx)[10, 10]) == (77, 0, 0, 255)
        assert tuple(page_pixels(page, web_ctx)[10, 10]) == (77, 0, 0, 255)
    finally:
        late.close()
        stager.release()
        program.release()


def test_released_objects_are_freed_in_the_page(web_ctx: Any, page: Any) -> None:
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    _stage_quad(stager, 10)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    page_pixels(page, web_ctx)
    count = page.evaluate("window.stagebuf.objects")
    stager.release()
    program.release()
    other_program = program_of(web_ctx)
    other = sb.Stager(web_ctx, LAYOUT, other_program)
    _stage_quad(other, 20)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    other.render()
    page_pixels(page, web_ctx)
    assert page.evaluate("window.stagebuf.objects") <= count  # the old ones went
    other.release()
    other_program.release()


def test_newest_frame_wins_with_a_page_that_never_reads(web_ctx: Any) -> None:
    """A client that connects and never reads: the render loop goes on, the server
    keeps one pending frame for it, and memory stays bounded."""
    import resource
    import socket

    from websockets.sync.client import connect

    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    client = connect(f"ws://127.0.0.1:{web_ctx.port}/ws", max_size=None, legacy=True)
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    skipped = web_ctx.stats.frames_skipped
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(200):
        with stager.frame() as frame:
            v = reserve_blank(frame, 30_000)  # 360 kB a frame: 72 MB in all
            v["in_color"] = (i % 256, 0, 0, 255)
        web_ctx.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert web_ctx.stats.frames_skipped - skipped > 150  # it got a few, the newest won
    assert grown_mb < 40, f"memory grew {grown_mb:.0f} MB for a page that never reads"
    client.close()
    stager.release()
    program.release()


def test_a_bad_message_closes_that_connection_only(web_ctx: Any, page: Any) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    for bad in ['{"type": "drawn", "seq": "x"}', "not json", b"\x00binary", "x" * 10_000]:
        with connect(f"ws://127.0.0.1:{web_ctx.port}/ws") as client:
            client.send(bad)
            with pytest.raises(ConnectionClosed):
                while True:
                    client.recv(timeout=10)
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    _stage_quad(stager, 99)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    assert tuple(page_pixels(page, web_ctx)[5, 5]) == (99, 0, 0, 255)  # the page goes on
    stager.release()
    program.release()


# -- security --------------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


def test_only_the_pages_own_files_are_served(web_ctx: Any) -> None:
    base = f"http://127.0.0.1:{web_ctx.port}"
    assert _get(base + "/")[0] == 200
    assert _get(base + "/renderer.js")[0] == 200
    for path in (
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/page/renderer.js",
        "/_context.py",
        "//etc/passwd",
        "/renderer.js/../../__init__.py",
    ):
        status, body = _get(base + path)
        assert status == 404, (path, status)
        assert b"root:" not in body
    # A loopback server answers loopback names only (DNS rebinding).
    assert _get(base + "/", {"Host": "evil.example:80"})[0] == 403


def test_another_sites_page_cannot_watch(web_ctx: Any) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{web_ctx.port}/ws"
    with pytest.raises(InvalidStatus), connect(url, origin="http://evil.example"):  # type: ignore[arg-type]
        pass


def test_a_server_on_another_address_needs_its_token() -> None:
    with web.Context(port=0, host="0.0.0.0", size=(8, 8)) as ctx:
        assert ctx.token and f"token={ctx.token}" in ctx.url
        base = f"http://127.0.0.1:{ctx.port}"
        assert _get(base + "/")[0] == 403
        assert _get(base + "/?token=wrong")[0] == 403
        assert _get(base + "/renderer.js")[0] == 403
        status, body = _get(f"{base}/?token={ctx.token}")
        assert status == 200 and f"renderer.js?token={ctx.token}".encode() in body
        assert _get(f"{base}/renderer.js?token={ctx.token}")[0] == 200


def test_the_server_stopping_leaves_the_page_waiting(browser: Any) -> None:
    ctx = web.Context(port=0, size=(8, 8))
    opened = browser.open(ctx.url)
    try:
        opened.wait_for("window.stagebuf.connected", timeout=30)
        ctx.release()
        opened.wait_for("!window.stagebuf.connected", timeout=30)
        assert not opened.evaluate("window.stagebuf.errors")
    finally:
        opened.close()
        ctx.release()


# -- what WebGL2 cannot do: a clear error at the call ---------------------------


def test_what_webgl2_cannot_do_is_refused_in_python(web_ctx: Any) -> None:
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    with stager.frame() as frame:
        with pytest.raises(sb.StagerError, match="WebGL2 cannot draw mode LINES_ADJACENCY"):
            frame.reserve(4, mode=moderngl.LINES_ADJACENCY)
        doubles = sb.VertexLayout(in_pos="2f8", in_color="4f1 4x")
        with pytest.raises((sb.StagerError, sb.LayoutMismatchError)):
            frame.reserve(3, layout=doubles)
        quad(frame, -1, -1, 1, 1, (1, 2, 3, 255))  # the frame goes on
    assert stager.draw_list == [("plain", moderngl.TRIANGLES, 0, 6)]
    with pytest.raises(web.WebGLUnsupportedError, match="geometry shader"):
        web_ctx.program(
            vertex_shader="#version 330\nvoid main(){}", fragment_shader="", geometry_shader="x"
        )
    with pytest.raises(web.WebGLUnsupportedError, match="framebuffer"):
        web_ctx.framebuffer()
    with pytest.raises(ValueError, match="dtype 'f4'"):
        web_ctx.texture((2, 2), 4, dtype="f4")
    with pytest.raises(web.ShaderError, match="double"):
        web_ctx.program(
            vertex_shader="#version 330 core\nin double x;\nvoid main(){gl_Position=vec4(x);}",
            fragment_shader="#version 330 core\nout vec4 c;\nvoid main(){c=vec4(1);}",
        )
    with pytest.raises(sb.StagerError, match="WebGL2 cannot draw mode PATCHES"):
        sb.Stager(web_ctx, LAYOUT, program, mode=0x000E)
    stager.release()
    program.release()


def test_a_page_that_does_not_draw_gets_two_frames_and_then_the_newest(web_ctx: Any) -> None:
    """Frames go to a page once it drew all but one of those it was sent: a page
    that reads but never draws holds two, then gets the newest as it catches up."""
    import json

    from websockets.sync.client import connect

    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    with connect(f"ws://127.0.0.1:{web_ctx.port}/ws", max_size=None) as client:

        def seq_of(message: Any) -> int:
            length = int.from_bytes(message[4:8], "little")
            return int(json.loads(message[8 : 8 + length])["seq"])

        sent = []
        for shade in range(2):
            _stage_quad(stager, shade)
            web_ctx.clear(0.0, 0.0, 0.0, 1.0)
            stager.render()
            sent.append(seq_of(client.recv(timeout=10)))  # sent at once: the page has room
        for shade in range(2, 20):
            _stage_quad(stager, shade)
            web_ctx.clear(0.0, 0.0, 0.0, 1.0)
            stager.render()
        with pytest.raises(TimeoutError):
            client.recv(timeout=1.0)  # two frames not drawn yet: the rest wait, newest wins
        client.send(json.dumps({"type": "drawn", "seq": sent[-1]}))
        assert seq_of(client.recv(timeout=10)) == web_ctx.frames_published  # the newest
    stager.release()
    program.release()


def test_a_page_closing_in_the_middle_of_a_frame(browser: Any, web_ctx: Any, page: Any) -> None:
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    leaving = browser.open(web_ctx.url)
    leaving.wait_for("window.stagebuf.connected", timeout=30)
    with stager.frame() as frame:
        reserve_blank(frame, 400_000)  # 4.8 MB: still being sent as the tab closes
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    leaving.close()
    _stage_quad(stager, 123)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    assert tuple(page_pixels(page, web_ctx)[7, 7]) == (123, 0, 0, 255)  # the other page goes on
    stager.release()
    program.release()


def test_the_page_loads_nothing_from_elsewhere(web_ctx: Any) -> None:
    import urllib.request
    from importlib import resources

    page_dir = resources.files("stagebuf.web").joinpath("page")
    for name in ("index.html", "renderer.js"):
        text = page_dir.joinpath(name).read_text()
        assert "https://" not in text and "cdn" not in text.lower(), name
        assert "import " not in text.replace("import.meta", ""), name  # no module imports
    with urllib.request.urlopen(f"http://127.0.0.1:{web_ctx.port}/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy


def test_the_web_path_needs_no_gl_driver_and_no_glfw() -> None:
    """A stager on a web Context in a process where making a GL context fails."""
    import subprocess
    import sys

    code = """
import sys, moderngl
def refuse(*args, **kwargs):
    raise RuntimeError("no GL driver in this process")
moderngl.create_context = refuse
import stagebuf as sb
from stagebuf import web
with web.Context(port=0, size=(8, 8)) as ctx:
    program = sb.load_program(ctx)
    with sb.Stager(ctx, sb.VertexLayout(in_pos="2f", in_color="4f1"), program) as stager:
        with stager.frame() as frame:
            frame.reserve(3)
        ctx.clear(0, 0, 0, 1)
        stager.render()
        assert stager.strategy == "send" and stager.vertex_buffer is None
assert "glfw" not in sys.modules and "glcontext" not in sys.modules, sorted(sys.modules)
print("ok")
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_nan_uniform_does_not_stop_the_page(web_ctx: Any, page: Any) -> None:
    """JSON has no NaN or infinity: they travel as strings and GL gets them as numbers."""
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    _stage_quad(stager, 50)
    for value in (float("nan"), float("inf"), 1.0):
        program["u_scale"].value = (value, 1.0)
        web_ctx.clear(float("-inf") if value != 1.0 else 0.0, 0.0, 0.0, 1.0)
        stager.render()
        page_pixels(page, web_ctx)  # drawn: the page went on
    assert tuple(page_pixels(page, web_ctx)[5, 5]) == (50, 0, 0, 255)
    assert not page.evaluate("window.stagebuf.errors")
    stager.release()
    program.release()


def test_one_stager_staged_and_rendered_twice_in_a_frame(
    ctx: Any, fbo: Any, web_ctx: Any, page: Any
) -> None:
    def draw(c: Any) -> list[Any]:
        program = program_of(c)
        stager = sb.Stager(c, LAYOUT, program)
        c.clear(0.0, 0.0, 0.0, 1.0)
        with stager.frame() as frame:
            quad(frame, -1.0, -1.0, 0.0, 1.0, (255, 0, 0, 255))
        stager.render()
        with stager.frame() as frame:
            quad(frame, 0.0, -1.0, 1.0, 1.0, (255, 160, 0, 255))
        stager.render()
        return [stager, program]

    pixels = compare(ctx, fbo, web_ctx, page, draw)
    assert tuple(pixels[32, 10, :3]) == (255, 0, 0) and tuple(pixels[32, 50, :3]) == (255, 160, 0)


def test_objects_released_after_their_frame_are_freed_in_the_page(web_ctx: Any, page: Any) -> None:
    """A texture and a stager made and released every frame: the page's objects stay few."""
    program = program_of(web_ctx, "hud")
    program["u_screen"].value = (SIZE, SIZE)
    counts = []
    for k in range(30):
        texture = web_ctx.texture((1, 1), 4, bytes([k * 8, 0, 0, 255]))
        stager = sb.Stager(web_ctx, HUD, program)
        with stager.frame() as frame:
            v = frame.reserve(3, textures={0: texture})
            v["in_pos"] = [(0, 0), (64, 0), (0, 64)]
        web_ctx.clear(0.0, 0.0, 0.0, 1.0)
        stager.render()
        stager.release()
        texture.release()
        page_pixels(page, web_ctx)
        counts.append(page.evaluate("window.stagebuf.objects"))
    assert max(counts[5:]) <= 6, counts  # the program and the newest frame's few objects
    program.release()


def test_moderngl_state_the_page_does_not_apply_is_refused(web_ctx: Any) -> None:
    for name, value in [
        ("depth_func", ">"),
        ("cull_face", "front"),
        ("wireframe", True),
        ("scissor", (0, 0, 1, 1)),
        ("point_size", 4.0),
    ]:
        with pytest.raises(web.WebGLUnsupportedError, match=name):
            setattr(web_ctx, name, value)
    with pytest.raises(web.WebGLUnsupportedError, match="vertex_array"):
        web_ctx.vertex_array(program=None, content=[])


def test_a_page_saying_it_drew_a_frame_it_was_never_sent_is_closed(web_ctx: Any) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{web_ctx.port}/ws", max_size=None) as client:
        client.send(json.dumps({"type": "drawn", "seq": 10**300}))
        with pytest.raises(ConnectionClosed):
            while True:
                client.recv(timeout=10)


def test_a_thousand_renders_without_a_clear_say_what_to_do(web_ctx: Any) -> None:
    program = program_of(web_ctx)
    stager = sb.Stager(web_ctx, LAYOUT, program)
    _stage_quad(stager, 1)
    web_ctx.clear(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(web.WebGLUnsupportedError, match=r"ctx.present\(\)"):
        for _ in range(2000):
            stager.render()
    for _ in range(2000):  # an app that draws its own background presents each frame
        web_ctx.present()
        stager.render()
    stager.release()
    program.release()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: web.Context(port=-1), ValueError, "port must be a non-negative int; got -1"),
        (lambda: web.Context(port=70000), ValueError, "0 \\(any free port\\) to 65535; got 70000"),
        (lambda: web.Context(port="x"), TypeError, "port must be a non-negative int; got 'x'"),
        (lambda: web.Context(size=(0, 5)), ValueError, "size \\(0, 5\\) is outside 1x1..8192x8192"),
        (lambda: web.Context(size="big"), TypeError, "size must be \\(width, height\\)"),
    ],
)
def test_bad_context_arguments_are_named(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_bad_texture_and_buffer_arguments_are_named(web_ctx: Any) -> None:
    with pytest.raises(ValueError, match="components must be 1 to 4; got 5"):
        web_ctx.texture((2, 2), 5)
    with pytest.raises(
        ValueError, match="holds 3 bytes; a 2x2 texture of 4 'f1' components takes 16"
    ):
        web_ctx.texture((2, 2), 4, b"abc")
    with pytest.raises(ValueError, match="reserve must be a non-negative int; got -4"):
        web_ctx.buffer(reserve=-4)
    buffer = web_ctx.buffer(b"\0" * 8)
    with pytest.raises(ValueError, match="4 bytes at offset 6 run past the buffer's 8 bytes"):
        buffer.write(b"abcd", offset=6)
    assert buffer.read() == b"\0" * 8  # nothing written
    buffer.release()
