"""The page server: HTTP for the page's own files and a websocket for its frames,
on one port, run by an asyncio loop in a thread of its own.

The render loop never waits on it: :meth:`Server.publish` hands the newest
frame over and returns. Each page has one pending frame; a newer one replaces
it, so a slow page skips frames and a page that never reads holds one frame
and its socket's buffer, nothing more. Nothing a request names reaches the
file system: the page's files are read once, at start, into a fixed table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._messages import PageMessageError, Snapshot, encode, read_page_message

__all__ = ["Asset", "PageStats", "Server"]

# websockets logs each refused handshake and closed connection; the Context's own
# errors say what matters.
logging.getLogger("websockets").setLevel(logging.CRITICAL)

_MAX_INCOMING = 4096  # bytes: what a page may send in one message
_IN_FLIGHT = 2  # frames sent to a page and not yet drawn there: more would only queue
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Asset:
    """One file of the page: its bytes and content type."""

    body: bytes
    content_type: str


@dataclass
class PageStats:
    """What the pages were sent and what they drew (counted by the server's thread)."""

    pages: int = 0
    """Pages connected now."""
    connections: int = 0
    """Pages that ever connected (reloads count again)."""
    frames_sent: int = 0
    """Frame messages sent, all pages together."""
    frames_skipped: int = 0
    """Frames a page never got because a newer one replaced it (the page was slow)."""
    frames_drawn: int = 0
    """Frames the pages said they drew."""
    bytes_sent: int = 0
    errors: list[str] = field(default_factory=list)
    """WebGL errors the pages reported (the newest 20)."""


class _Page:
    """One connected page: what it holds and the frame waiting for it."""

    __slots__ = ("drawn", "have", "pending", "unacked", "wake", "ws")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.have: dict[int, int] = {}  # object id -> version the page holds
        self.pending: Snapshot | None = None
        self.wake = asyncio.Event()
        self.drawn = -1
        self.unacked: list[int] = []  # frames sent and not yet drawn, by seq


class Server:
    """Serves ``assets`` and streams frames to every page that connects."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None,
        assets: dict[str, Asset],
        page: Callable[[str], bytes],
        alive: Callable[[int], bool],
    ) -> None:
        self.host = host
        self.token = token
        self.assets = assets
        self.page = page  # the index page, made for the token it is served with
        self.alive = alive
        self.stats = PageStats()
        self.latest: Snapshot | None = None
        self.port = 0
        self._pages: set[_Page] = set()
        self._loop = asyncio.new_event_loop()
        self._stopped = False
        self._server: Any = None
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(port, ready, failure), name="stagebuf-web", daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"web.Context: the server did not start within {_START_TIMEOUT} s.")
        if failure:
            self._thread.join(_STOP_TIMEOUT)
            raise failure[0]

    # -- the render loop's side (any thread) ----------------------------------

    def publish(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the frame every page gets next; never waits."""
        if self._stopped:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed since the check
            self._loop.call_soon_threadsafe(self._publish, snapshot)

    def stop(self) -> None:
        """Close every page's connection and the port; wait for the thread."""
        if self._stopped:
            return
        self._stopped = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            future.result(_STOP_TIMEOUT)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_TIMEOUT)

    # -- the server's thread ------------------------------------------------------

    def _run(self, port: int, ready: threading.Event, failure: list[BaseException]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start(port))
        except BaseException as err:
            failure.append(_start_error(err, self.host, port))
            ready.set()
            self._loop.close()
            return
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _start(self, port: int) -> None:
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._connection,
            self.host,
            port,
            process_request=self._request,
            max_size=_MAX_INCOMING,
            compression=None,  # frames are mostly floats: deflate costs more than it saves
            ping_interval=20,
            ping_timeout=20,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        """Stop listening and say goodbye to every page, briefly (a page that never
        reads cannot answer), then drop every connection still open."""
        server = self._server
        if server is None:
            return
        server.close()  # stops accepting; pages get 1001, handshakes in flight 503
        try:
            await asyncio.wait_for(asyncio.shield(server.wait_closed()), 1.0)
        except asyncio.TimeoutError:
            for connection in list(server.all_connections):
                connection.transport.abort()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(server.wait_closed()), 1.0)
        # Tasks still running (a connection being accepted as the port closed) end on
        # their own, closing their sockets; only then is the loop stopped.
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        if others:
            _, pending = await asyncio.wait(others, timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def _publish(self, snapshot: Snapshot) -> None:
        self.latest = snapshot
        for page in self._pages:
            if page.pending is not None:
                self.stats.frames_skipped += 1
            page.pending = snapshot
            page.wake.set()

    async def _connection(self, ws: Any) -> None:
        page = _Page(ws)
        self._pages.add(page)
        self.stats.pages = len(self._pages)
        self.stats.connections += 1
        page.pending = self.latest  # a page that connects later sees the frame on screen
        if page.pending is not None:
            page.wake.set()
        sender = asyncio.create_task(self._send(page))
        try:
            async for message in ws:
                try:
                    data = read_page_message(message)
                except PageMessageError as err:
                    await ws.close(1008, f"stagebuf: {err}"[:120])
                    break
                if data["type"] == "drawn":
                    seq = data["seq"]
                    if seq not in page.unacked and seq > page.drawn:
                        # Only frames sent to this page can be drawn by it.
                        await ws.close(1008, "stagebuf: drawn a frame it was not sent")
                        break
                    if seq > page.drawn:
                        page.drawn = seq
                        self.stats.frames_drawn += 1
                        page.unacked = [s for s in page.unacked if s > seq]
                        page.wake.set()  # room for the next frame
                else:
                    errors = self.stats.errors
                    errors.append(data["text"])
                    del errors[:-20]
        except Exception:
            pass
        finally:
            sender.cancel()
            self._pages.discard(page)
            self.stats.pages = len(self._pages)

    async def _send(self, page: _Page) -> None:
        """Send the page its newest frame whenever there is one and the page has drawn
        all but one of those sent before: a page slower than the loop (or a socket
        that backs up) lets newer frames replace the pending one meanwhile, so it
        skips frames instead of queueing them."""
        try:
            while True:
                await page.wake.wait()
                page.wake.clear()
                if page.pending is None or len(page.unacked) >= _IN_FLIGHT:
                    continue
                snapshot, page.pending = page.pending, None
                page.unacked.append(snapshot.seq)
                message = encode(snapshot, page.have, self.alive)
                await page.ws.send(message)
                self.stats.frames_sent += 1
                self.stats.bytes_sent += len(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            return

    # -- HTTP -------------------------------------------------------------------

    def _request(self, connection: Any, request: Any) -> Any:
        """Answer plain HTTP requests with the page's files; let websocket handshakes
        to /ws through. Wrong host, token or origin: 403."""
        parts = urlsplit(request.path)
        if not self._host_allowed(request.headers.get("Host", "")):
            return _response(connection, 403, "stagebuf: unexpected Host header\n")
        if self.token is not None:
            given = parse_qs(parts.query).get("token", [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return _response(connection, 403, "stagebuf: this page needs its token\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if parts.path != "/ws":
                return _response(connection, 404, "stagebuf: not found\n")
            origin = request.headers.get("Origin")
            host = request.headers.get("Host", "")
            if origin is not None and urlsplit(origin).netloc != host:
                # Another site's page in the user's browser: it may not watch the frames.
                return _response(connection, 403, "stagebuf: cross-origin connection refused\n")
            return None
        if request.path == "/" or parts.path in ("/", "/index.html"):
            return _response(
                connection, 200, self.page(self.token or ""), "text/html; charset=utf-8"
            )
        asset = self.assets.get(parts.path.lstrip("/"))
        if asset is None:
            return _response(connection, 404, "stagebuf: not found\n")
        return _response(connection, 200, asset.body, asset.content_type)

    def _host_allowed(self, host: str) -> bool:
        """A loopback server answers loopback names only (no DNS rebinding); one bound
        elsewhere is reached by any name, its token guards it."""
        if self.token is not None:
            return True
        name = urlsplit(f"//{host}").hostname or ""
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False


def _response(connection: Any, status: int, body: str | bytes, content_type: str = "") -> Any:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    data = body.encode() if isinstance(body, str) else body
    reason = {200: "OK", 403: "Forbidden", 404: "Not Found"}[status]
    headers = Headers()
    headers["Content-Type"] = content_type or "text/plain; charset=utf-8"
    headers["Content-Length"] = str(len(data))
    headers["Cache-Control"] = "no-store"
    headers["X-Content-Type-Options"] = "nosniff"
    # The page loads its own files only, and talks to this server only.
    headers["Content-Security-Policy"] = (
        "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:"
    )
    headers["Connection"] = "close"
    return Response(status, reason, headers, data)


def _start_error(err: BaseException, host: str, port: int) -> BaseException:
    if isinstance(err, OSError):
        return OSError(
            err.errno,
            f"web.Context: cannot serve on {host}:{port} ({err.strerror or err}); pass "
            f"another port=, or port=0 for any free one",
        )
    return err
