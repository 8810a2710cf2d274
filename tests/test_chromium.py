"""The headless-browser driver (stagebuf.web._chromium) against pages served from a
temporary directory by http.server: values back from JavaScript, errors with their
text, timeouts that name what timed out, WebGL2 pixels, reloads, the console, and a
browser that leaves nothing behind."""

from __future__ import annotations

import http.server
import math
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# stagebuf/web/ may not be a regular package yet (its __init__.py comes with the web
# backend): until then it imports as a namespace package, which is all this needs.
from stagebuf.web._chromium import Browser, BrowserError, Page, find_chromium

INDEX = """<!doctype html>
<title>driver test</title>
<script>
  window.frames_drawn = 0;
  (function tick() { window.frames_drawn += 1; requestAnimationFrame(tick); })();
</script>
<body>index</body>
"""

OTHER = "<!doctype html><title>other</title><body>other</body>"


class _Site:
    """A directory served over HTTP on 127.0.0.1, counting the requests per path."""

    def __init__(self, root: Path) -> None:
        self.requests: dict[str, int] = {}
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                site.requests[self.path] = site.requests.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows what a failure needs

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/index.html") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Site]:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(INDEX)
    (root / "other.html").write_text(OTHER)
    served = _Site(root)
    yield served
    served.close()


@pytest.fixture
def page(browser: Browser, site: _Site) -> Iterator[Page]:
    """A fresh tab on the index page, closed after the test."""
    tab = browser.open(site.url())
    yield tab
    tab.close()


def _browser_processes(temp_dir: str) -> list[int]:
    """Every process whose command line names the browser's temporary directory (the
    browser and its helpers all carry --user-data-dir)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if temp_dir.encode() in cmdline.read():
                    found.append(int(entry))
        except OSError:  # exited while we looked
            continue
    return found


def test_evaluate_returns_javascript_values_as_python_values(page: Page) -> None:
    assert page.evaluate("1 + 2") == 3
    assert page.evaluate("0.5") == 0.5
    assert page.evaluate("'stage' + 'buf'") == "stagebuf"
    assert page.evaluate("[1, 'two', [3], null]") == [1, "two", [3], None]
    assert page.evaluate("({a: 1, b: {c: [true, false]}})") == {"a": 1, "b": {"c": [True, False]}}
    assert page.evaluate("undefined") is None
    assert page.evaluate("document.title") == "driver test"
    assert math.isnan(page.evaluate("NaN"))
    assert page.evaluate("-Infinity") == -math.inf
    assert page.evaluate("2n ** 70n") == 2**70
    # A promise is awaited.
    assert page.evaluate("new Promise(r => setTimeout(() => r('later'), 20))") == "later"


def test_a_javascript_exception_raises_browser_error_with_its_text(page: Page) -> None:
    with pytest.raises(BrowserError, match="RangeError: out of stage"):
        page.evaluate("throw new RangeError('out of stage')")
    with pytest.raises(BrowserError, match="TypeError: Cannot read properties of null"):
        page.evaluate("null.x")
    with pytest.raises(BrowserError, match="rejected on purpose"):
        page.evaluate("Promise.reject(new Error('rejected on purpose'))")
    assert page.evaluate("'still usable'") == "still usable"


def test_evaluate_times_out_and_the_page_stays_usable(page: Page) -> None:
    started = time.monotonic()
    with pytest.raises(BrowserError, match=r"Runtime\.evaluate got no reply within 0\.2 s"):
        page.evaluate("new Promise(() => {})", timeout=0.2)
    assert time.monotonic() - started < 2
    assert page.evaluate("40 + 2") == 42


def test_wait_for_returns_the_first_truthy_value(page: Page) -> None:
    page.evaluate("setTimeout(() => { window.ready = {frames: 3}; }, 100)")
    assert page.wait_for("window.ready", timeout=5) == {"frames": 3}


def test_wait_for_times_out_naming_the_expression(page: Page) -> None:
    started = time.monotonic()
    with pytest.raises(BrowserError) as caught:
        page.wait_for("window.never_set === 1", timeout=0.3)
    elapsed = time.monotonic() - started
    assert "wait_for('window.never_set === 1')" in str(caught.value)
    assert "0.3 s" in str(caught.value) and "last value: False" in str(caught.value)
    assert 0.3 <= elapsed < 2


def test_wait_for_raises_at_once_when_the_expression_throws(page: Page) -> None:
    started = time.monotonic()
    with pytest.raises(BrowserError, match="ReferenceError: no_such_name is not defined"):
        page.wait_for("no_such_name > 1", timeout=10)
    assert time.monotonic() - started < 2


def test_animation_frames_keep_coming_in_the_headless_tab(page: Page) -> None:
    before = page.evaluate("window.frames_drawn")
    page.wait_for(f"window.frames_drawn >= {before + 20}", timeout=10)


def test_webgl2_draws_and_reads_back_a_pixel(page: Page) -> None:
    assert page.evaluate("document.createElement('canvas').getContext('webgl2') !== null")
    rgba = page.evaluate(
        """(() => {
            const canvas = document.createElement('canvas');
            canvas.width = 4; canvas.height = 4;
            const gl = canvas.getContext('webgl2');
            gl.clearColor(0.2, 0.4, 0.6, 1.0);
            gl.clear(gl.COLOR_BUFFER_BIT);
            const pixel = new Uint8Array(4);
            gl.readPixels(1, 1, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
            if (gl.getError() !== gl.NO_ERROR) throw new Error('GL error ' + gl.getError());
            return Array.from(pixel);
        })()"""
    )
    assert rgba == [51, 102, 153, 255]


def test_the_viewport_is_the_window_size_at_one_pixel_per_css_pixel(
    site: _Site, browser: Browser
) -> None:
    with Browser(browser.executable, window_size=(320, 240)) as small:
        tab = small.open(site.url())
        assert tab.evaluate("[innerWidth, innerHeight, devicePixelRatio]") == [320, 240, 1]


def test_reload_loads_the_page_again(page: Page, site: _Site) -> None:
    served_before = site.requests.get("/index.html", 0)
    page.evaluate("window.left_over = 1")
    page.reload()
    assert page.evaluate("typeof window.left_over") == "undefined"
    assert page.evaluate("document.body.textContent.trim()") == "index"
    assert site.requests["/index.html"] == served_before + 1


def test_navigate_and_a_failed_navigation(page: Page, site: _Site) -> None:
    page.navigate(site.url("/other.html"))
    assert page.evaluate("document.title") == "other"
    # A port nobody listens on: bound a moment ago, and closed.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = f"http://127.0.0.1:{closed_port}/"
    with pytest.raises(BrowserError, match=f"navigating to '{refused}' failed: net::ERR_CONN"):
        page.navigate(refused)


def test_console_messages_and_uncaught_exceptions_are_collected(page: Page) -> None:
    page.evaluate("console.log('frame', 7, {kind: 'quad'}); console.error('bad frame')")
    page.evaluate("setTimeout(() => { throw new Error('thrown later'); }, 0)")
    page.wait_for("true")  # let the timer run
    deadline = time.monotonic() + 5
    while len(page.console) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert page.console[0] == "log: frame 7 {kind: quad}"
    assert page.console[1] == "error: bad frame"
    assert page.console[2].startswith("error: Error: thrown later")


def test_two_pages_at_once_are_separate(browser: Browser, site: _Site) -> None:
    first = browser.open(site.url())
    second = browser.open(site.url("/other.html"))
    try:
        first.evaluate("window.mine = 'first'; console.log('from first')")
        second.evaluate("window.mine = 'second'; console.log('from second')")
        assert first.evaluate("window.mine + ' ' + document.title") == "first driver test"
        assert second.evaluate("window.mine + ' ' + document.title") == "second other"
        assert first.console == ["log: from first"]
        assert second.console == ["log: from second"]
        second.close()
        second.close()  # idempotent
        with pytest.raises(BrowserError, match="the page is closed"):
            second.evaluate("1")
        assert first.evaluate("window.mine") == "first"
    finally:
        first.close()
        second.close()


def test_close_ends_the_browser_and_removes_its_files(browser: Browser, site: _Site) -> None:
    own = Browser(browser.executable)
    own.open(site.url())
    temp_dir = own.temp_dir
    assert os.path.isdir(own.profile_dir)
    assert own.returncode is None and own.pid in _browser_processes(temp_dir)
    own.close()
    assert own.returncode is not None
    assert not os.path.exists(temp_dir)
    assert _browser_processes(temp_dir) == []
    own.close()  # idempotent
    with pytest.raises(BrowserError, match="the browser is closed"):
        own.open(site.url())


def test_a_killed_browser_raises_promptly_instead_of_hanging(browser: Browser, site: _Site) -> None:
    with Browser(browser.executable) as own:
        tab = own.open(site.url())
        os.kill(own.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(BrowserError, match="chromium exited with status -9"):
            tab.evaluate("new Promise(() => {})", timeout=20)
        assert time.monotonic() - started < 5
        with pytest.raises(BrowserError, match="exited"):
            own.open(site.url())
        tab.close()  # the tab went with the browser: nothing to do, nothing raised
    assert not os.path.exists(own.temp_dir)
    assert _browser_processes(own.temp_dir) == []


def test_a_bad_executable_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-chromium"
    with pytest.raises(BrowserError, match=f"{missing}.*is not an executable file"):
        Browser(str(missing))


def test_find_chromium_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("STAGEBUF_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("STAGEBUF_CHROMIUM")
    assert find_chromium() is None
    (tmp_path / "chromium-browser").symlink_to(fake)
    assert find_chromium() == str(tmp_path / "chromium-browser")


def test_a_browser_that_exits_at_once_is_reported_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "broken-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display: none here' >&2\nexit 3\n")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(BrowserError) as caught:
        Browser(str(fake), timeout=20)
    assert "exited with status 3" in str(caught.value)
    assert "cannot open display: none here" in str(caught.value)
    assert time.monotonic() - started < 5


def test_a_browser_that_never_answers_times_out_and_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "silent-chromium"
    pid_file = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    fake.chmod(0o755)
    own_temp = tmp_path / "tmp"
    own_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_temp))  # where its profile goes
    started = time.monotonic()
    with pytest.raises(
        BrowserError, match=r"did not start: Browser\.getVersion got no reply within 0\.5 s"
    ):
        Browser(str(fake), timeout=0.5)
    assert time.monotonic() - started < 5
    assert list(own_temp.iterdir()) == []
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid_file.read_text()), 0)
