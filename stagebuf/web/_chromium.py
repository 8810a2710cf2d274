"""A headless Chromium driven over the DevTools protocol, for the web backend's tests
and benchmark.

The browser is started with ``--remote-debugging-pipe``: it reads protocol commands
from its fd 3 and writes replies and events to its fd 4, each message a JSON text
ended by a NUL byte. No port is opened and nothing but the standard library is used.

One reader thread owns fd 4: it files replies by their ``id`` and hands events to
the page (DevTools session) they belong to. Callers wait on one condition variable
with a deadline, so every call has a timeout, and a browser that dies wakes every
waiter at once with a :class:`BrowserError` instead of leaving it hanging.

Usage::

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8000/")
        page.wait_for("window.frames_drawn > 10")
        print(page.evaluate("document.title"), page.console)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Browser", "BrowserError", "Page", "find_chromium"]

# The names tried on PATH, in order, after $STAGEBUF_CHROMIUM.
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# The child's ends of the two pipes: fixed by --remote-debugging-pipe.
_CHILD_COMMAND_FD = 3
_CHILD_REPLY_FD = 4

# How long close() waits for Browser.close to end the process before it signals it.
_GRACEFUL_EXIT_S = 5.0
_LOG_TAIL_CHARS = 2000


def find_chromium() -> str | None:
    """The Chromium to drive: ``$STAGEBUF_CHROMIUM`` when set, else the first of
    chromium, chromium-browser and google-chrome on PATH; ``None`` when there is none.

    A ``$STAGEBUF_CHROMIUM`` that names no executable is returned as it is, so that
    :class:`Browser` reports the bad value instead of quietly using another browser.
    """
    chosen = os.environ.get("STAGEBUF_CHROMIUM")
    if chosen:
        return shutil.which(chosen) or chosen
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Any failure of the driven browser: it did not start, a call timed out, the
    page's JavaScript threw (the message carries the exception's text), or the
    browser died."""


def _chromium_flags(profile_dir: str, window_size: tuple[int, int]) -> list[str]:
    width, height = window_size
    return [
        "--headless",
        "--remote-debugging-pipe",
        f"--user-data-dir={profile_dir}",
        f"--window-size={width},{height}",
        # WebGL2 on the CPU: the same renderer on every machine, GPU or not.
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--ignore-gpu-blocklist",
        # Containers run as root and without user namespaces.
        "--no-sandbox",
        "--disable-gpu-sandbox",
        "--disable-dev-shm-usage",
        # A fresh profile each time: no first-run pages, prompts or extensions.
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-popup-blocking",
        "--disable-prompt-on-repost",
        "--disable-hang-monitor",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--password-store=basic",
        "--use-mock-keychain",
        "--mute-audio",
        # A headless tab is never visible: without these its timers and
        # requestAnimationFrame are throttled or stopped.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        "--disable-ipc-flooding-protection",
        # Pixels read back are the pixels drawn: no colour management, no scrollbars.
        "--force-color-profile=srgb",
        "--hide-scrollbars",
        "about:blank",
    ]


class _ProtocolError(BrowserError):
    """The browser refused a command (a protocol-level error reply)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.reason = str(error.get("message", error))
        detail = f" ({error['data']})" if "data" in error else ""
        super().__init__(f"{method} failed: {self.reason}{detail}")


class _ContextLostError(BrowserError):
    """An evaluation found its JavaScript context gone: the page navigated meanwhile."""


class _NoReplyError(BrowserError):
    """A command got no reply within its timeout."""


class _Process:
    """The browser process: spawned in its own session (so its helpers, which share
    its process group, can be killed with it), reaped exactly once."""

    def __init__(self, argv: list[str], command_fd: int, reply_fd: int, log_path: str) -> None:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            # posix_spawn's dup2 actions put the pipes at fds 3 and 4 in the child
            # without running Python between fork and exec (preexec_fn is unsafe
            # with threads, and Popen's pass_fds keeps the parent's numbers). The
            # sources are first moved above 4 so that no dup2 overwrites another's
            # source; they are close-on-exec, so only the copies at 3 and 4 survive.
            high_command = _fd_above(command_fd, 10)
            high_reply = _fd_above(reply_fd, 10)
            try:
                self.pid = os.posix_spawn(
                    argv[0],
                    argv,
                    dict(os.environ),
                    file_actions=[
                        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (os.POSIX_SPAWN_DUP2, log_fd, 1),
                        (os.POSIX_SPAWN_DUP2, log_fd, 2),
                        (os.POSIX_SPAWN_DUP2, high_command, _CHILD_COMMAND_FD),
                        (os.POSIX_SPAWN_DUP2, high_reply, _CHILD_REPLY_FD),
                    ],
                    setsid=True,
                )
            finally:
                os.close(high_command)
                os.close(high_reply)
        finally:
            os.close(log_fd)
        self.log_path = log_path
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that
        signal), else ``None``."""
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # reaped elsewhere: nothing more to learn
                    self.returncode = -1
                else:
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.returncode

    def kill_group(self, sig: int) -> None:
        """Signal the browser and every helper process it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - _LOG_TAIL_CHARS))
                return log.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


def _fd_above(fd: int, lowest: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)


class _SessionState:
    """What the reader thread records for one page: its console, its load events,
    and whether it is gone. Guarded by the connection's condition."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.loads = 0
        self.gone: str | None = None  # why the page can no longer be used

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self.loads += 1
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(_describe(arg) for arg in params.get("args", []))
            self.console.append(f"{params.get('type', 'log')}: {text}")
        elif method == "Runtime.exceptionThrown":
            self.console.append(f"error: {_exception_text(params.get('exceptionDetails', {}))}")
        elif method == "Inspector.targetCrashed":
            self.gone = "the page crashed"


class _Connection:
    """The protocol over the two pipes: numbered commands out, replies and events in."""

    def __init__(self, process: _Process, write_fd: int, read_fd: int) -> None:
        self._process = process
        self._write_fd = write_fd
        self._read_fd = read_fd
        self._write_lock = threading.Lock()
        self.cond = threading.Condition()
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.sessions: dict[str, _SessionState] = {}
        self.dead: str | None = None  # why the connection ended, once it has
        self._reader = threading.Thread(
            target=self._read_forever, name=f"chromium-{process.pid}-reader", daemon=True
        )
        self._reader.start()

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply's ``result``."""
        with self.cond:
            self._raise_if_dead()
            self._next_id += 1
            call_id = self._next_id
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        self._send(message)
        deadline = time.monotonic() + timeout
        with self.cond:
            while call_id not in self._replies:
                self._raise_if_dead()
                if session_id is not None:
                    self._raise_if_session_gone(session_id)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _NoReplyError(f"{method} got no reply within {timeout:g} s")
                self.cond.wait(remaining)
            reply = self._replies.pop(call_id)
        if "error" in reply:
            raise _ProtocolError(method, reply["error"])
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_until(
        self, ready: Callable[[], bool], what: str, *, session_id: str, timeout: float
    ) -> None:
        """Wait until ``ready()`` (called under the condition) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not ready():
                self._raise_if_dead()
                self._raise_if_session_gone(session_id)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserError(f"{what}: not within {timeout:g} s")
                self.cond.wait(remaining)

    def _raise_if_dead(self) -> None:
        if self.dead is not None:
            raise BrowserError(self.dead)

    def _raise_if_session_gone(self, session_id: str) -> None:
        state = self.sessions.get(session_id)
        if state is None:
            raise BrowserError(f"the page (session {session_id}) is closed")
        if state.gone is not None:
            raise BrowserError(state.gone)

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._write_fd, view) :]
            except OSError as err:  # BrokenPipeError: the browser has gone
                self._mark_dead(f"cannot send {message['method']} to chromium: {err}")
                with self.cond:
                    self._raise_if_dead()

    def _read_forever(self) -> None:
        buffer = bytearray()
        reason = "chromium closed its protocol pipe"
        try:
            while True:
                chunk = os.read(self._read_fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while (end := buffer.find(b"\0")) >= 0:
                    message = json.loads(buffer[:end])
                    del buffer[: end + 1]
                    self._dispatch(message)
        except Exception as err:  # a closed fd at shutdown, or a message not JSON
            reason = f"reading chromium's protocol pipe failed: {err!r}"
        self._mark_dead(reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self.cond:
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                method = message.get("method", "")
                params = message.get("params", {})
                state = self.sessions.get(message.get("sessionId", ""))
                if state is not None:
                    state.on_event(method, params)
                elif method == "Target.detachedFromTarget":
                    detached = self.sessions.get(params.get("sessionId", ""))
                    if detached is not None and detached.gone is None:
                        detached.gone = "the page was closed (detached from its target)"
            self.cond.notify_all()

    def _mark_dead(self, reason: str) -> None:
        # The pipe ends a moment before the process does: give it that moment, so
        # the message can say how the browser ended.
        status = self._process.wait(0.5)
        ended = "is still running" if status is None else f"exited with status {status}"
        tail = self._process.log_tail()
        with self.cond:
            if self.dead is None:
                self.dead = f"{reason}; chromium {ended}" + (
                    f"; the end of its log:\n{tail}" if tail else ""
                )
            self.cond.notify_all()

    def close_pipes(self) -> None:
        """Close both pipe ends (the reader then ends) and wait for the reader."""
        for fd in (self._write_fd, self._read_fd):
            with contextlib.suppress(OSError):  # already closed
                os.close(fd)
        if self._reader is not threading.current_thread():
            self._reader.join(2.0)


class _Owned:
    """What a Browser has to undo: its temporary directory, and once started, its
    process and the connection's pipes and reader thread."""

    def __init__(self, temp_dir: str) -> None:
        self.temp_dir = temp_dir
        self.process: _Process | None = None
        self.connection: _Connection | None = None


def _shut_down(owned: _Owned) -> None:
    """Kill what is left of the browser and remove its files. Run by close(), and by
    the finalizer when a Browser is collected or the interpreter exits unclosed."""
    process = owned.process
    if process is not None:
        if process.poll() is None:
            process.kill_group(signal.SIGTERM)
            if process.wait(2.0) is None:
                process.kill_group(signal.SIGKILL)
                process.wait(5.0)
        # Helpers that outlived the browser process (same process group) go too.
        process.kill_group(signal.SIGKILL)
    if owned.connection is not None:
        owned.connection.close_pipes()
    _remove_tree(owned.temp_dir)


def _remove_tree(path: str) -> None:
    # A helper exiting may still be writing into the profile: retry briefly.
    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.05)


class Browser:
    """A headless Chromium with a fresh profile, driven over its DevTools pipe.

    ``timeout`` bounds every protocol call and page load (seconds); ``window_size``
    is the (width, height) of the window and of each new tab. Use it as a context
    manager or call :meth:`close`; an unclosed browser is killed when the object is
    collected or the interpreter exits.
    """

    def __init__(
        self,
        executable: str | None = None,
        *,
        timeout: float = 30.0,
        window_size: tuple[int, int] = (1024, 768),
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        width, height = window_size
        if not (width > 0 and height > 0):
            raise ValueError(
                f"window_size must be two positive (width, height), not {window_size!r}"
            )
        chosen = executable or find_chromium()
        if chosen is None:
            raise BrowserError(
                "no chromium found: set $STAGEBUF_CHROMIUM or put chromium, chromium-browser "
                "or google-chrome on PATH (Debian: apt-get install -y chromium)"
            )
        resolved = shutil.which(chosen)
        if resolved is None:
            raise BrowserError(f"the chromium executable {chosen!r} is not an executable file")
        self.executable = resolved
        self.timeout = float(timeout)
        self.window_size = (int(width), int(height))
        self._closed = False
        self._pages: list[Page] = []
        self.version = ""  # "Chrome/<version>", once it has answered

        self.temp_dir = tempfile.mkdtemp(prefix="stagebuf-chromium-")
        # What must be undone, filled in as it is made. The finalizer holds it, not
        # the Browser, so an unclosed Browser is still cleaned up when collected or
        # at interpreter exit.
        self._owned = _Owned(self.temp_dir)
        self._finalizer = weakref.finalize(self, _shut_down, self._owned)
        self.profile_dir = os.path.join(self.temp_dir, "profile")
        started = time.monotonic()
        try:
            self._launch()
            # The first reply proves the pipes are wired and the browser is up.
            try:
                version = self._connection.call("Browser.getVersion", timeout=self.timeout)
            except BrowserError as err:
                raise BrowserError(f"{self.executable} did not start: {err}") from err
        except BaseException:  # KeyboardInterrupt too: never leave a browser behind
            self._finalizer()
            raise
        self.version = str(version.get("product", ""))
        self.startup_s = time.monotonic() - started

    def _launch(self) -> None:
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            argv = [self.executable, *_chromium_flags(self.profile_dir, self.window_size)]
            log_path = os.path.join(self.temp_dir, "chromium.log")
            try:
                self._owned.process = _Process(argv, command_read, reply_write, log_path)
            except OSError as err:
                raise BrowserError(f"cannot start {self.executable!r}: {err}") from err
        finally:
            # The child has its copies; keeping ours would hide its death (no EOF).
            os.close(command_read)
            os.close(reply_write)
            if self._owned.process is None:
                os.close(command_write)
                os.close(reply_read)
        self._process = self._owned.process
        self._connection = self._owned.connection = _Connection(
            self._process, command_write, reply_read
        )

    @property
    def pid(self) -> int:
        """The browser process's id."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The browser's exit status once it has exited, else ``None``."""
        return self._process.poll()

    def open(self, url: str) -> Page:
        """A new tab showing ``url``, once its load event has fired."""
        self._raise_if_closed()
        width, height = self.window_size
        target = self._call(
            "Target.createTarget",
            {"url": "about:blank", "newWindow": True, "width": width, "height": height},
        )
        target_id: str = target["targetId"]
        session_id: str | None = None
        try:
            attached = self._call("Target.attachToTarget", {"targetId": target_id, "flatten": True})
            session_id = str(attached["sessionId"])
            state = _SessionState()
            with self._connection.cond:
                self._connection.sessions[session_id] = state
            page = Page(self, target_id, session_id, state)
            # The viewport is exactly window_size at one device pixel per CSS pixel,
            # whatever the window's frame takes: canvas sizes and read-backs match.
            page._call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            page._call("Page.enable")
            page._call("Runtime.enable")
            page.navigate(url)
        except BaseException:
            with self._connection.cond:
                self._connection.sessions.pop(session_id or "", None)
            with contextlib.suppress(BrowserError):  # the first failure is the one to see
                self._call("Target.closeTarget", {"targetId": target_id})
            raise
        self._pages.append(page)
        return page

    def close(self) -> None:
        """Close the browser (Browser.close, then signals if it lingers) and remove
        its temporary profile. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._process.poll() is None and self._connection.dead is None:
                # Dying before it replied is fine: it is what was asked.
                with contextlib.suppress(BrowserError):
                    self._connection.call("Browser.close", timeout=_GRACEFUL_EXIT_S)
                self._process.wait(_GRACEFUL_EXIT_S)
        finally:
            self._finalizer()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self.pid}"
        return f"<Browser {self.version or self.executable} ({state})>"

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise BrowserError("the browser is closed")

    def _call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        self._raise_if_closed()
        return self._connection.call(
            method,
            params,
            session_id=session_id,
            timeout=self.timeout if timeout is None else timeout,
        )


class Page:
    """One tab of a :class:`Browser` (a flattened DevTools session on its target).

    ``console`` collects the page's console messages as ``"<type>: <text>"``
    (``"log: ..."``, ``"error: ..."``) and its uncaught exceptions as ``"error: ..."``,
    for test failure messages.
    """

    def __init__(
        self, browser: Browser, target_id: str, session_id: str, state: _SessionState
    ) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self._state = state
        self._closed = False

    @property
    def console(self) -> list[str]:
        return self._state.console

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """The value of the JavaScript ``expression`` (a promise is awaited), as JSON
        gives it back (``undefined`` is ``None``; NaN, the infinities and -0 are floats,
        a BigInt an int). A thrown exception raises :class:`BrowserError` with its text.
        """
        try:
            result = self._call(
                "Runtime.evaluate",
                {"expression": expression, "awaitPromise": True, "returnByValue": True},
                timeout=timeout,
            )
        except _ProtocolError as err:
            # "Execution context was destroyed", "Cannot find context with specified id"
            if "context" in err.reason.lower():
                raise _ContextLostError(f"evaluating {expression!r}: {err.reason}") from err
            raise
        details = result.get("exceptionDetails")
        if details is not None:
            raise BrowserError(f"{expression!r} threw: {_exception_text(details)}")
        return _value_of(result.get("result", {}))

    def wait_for(self, expression: str, *, timeout: float = 30.0, interval: float = 0.02) -> Any:
        """Evaluate ``expression`` every ``interval`` seconds until its value is truthy,
        and return that value. Raises :class:`BrowserError` when ``timeout`` seconds
        pass first, or at once when the expression throws."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(
                    f"wait_for({expression!r}): still not truthy after {timeout:g} s "
                    f"(last value: {last!r})"
                )
            try:
                last = self.evaluate(expression, timeout=remaining)
            except _NoReplyError as err:
                # The evaluation had what was left of the timeout and used it up.
                raise BrowserError(
                    f"wait_for({expression!r}): still not truthy after {timeout:g} s "
                    f"(the last evaluation got no answer; last value: {last!r})"
                ) from err
            except _ContextLostError:
                # A navigation or reload during a poll swaps the page's JavaScript
                # context: poll again in the new one rather than fail.
                pass
            else:
                if last:
                    return last
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def navigate(self, url: str) -> None:
        """Load ``url`` in this tab and wait for its load event."""
        loads = self._loads()
        result = self._call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url!r} failed: {result['errorText']}")
        self._wait_for_load_after(loads, f"loading {url!r}")

    def reload(self) -> None:
        """Reload the page (bypassing the cache) and wait for its load event."""
        loads = self._loads()
        self._call("Page.reload", {"ignoreCache": True})
        self._wait_for_load_after(loads, "reloading the page")

    def close(self) -> None:
        """Close the tab. Calling it again, or after the browser closed, does nothing."""
        if self._closed:
            return
        self._closed = True
        # A closed or dead browser took its tabs with it: nothing to send.
        if not self.browser._closed and self.browser._connection.dead is None:
            try:
                self.browser._call("Target.closeTarget", {"targetId": self.target_id})
            finally:
                connection = self.browser._connection
                with connection.cond:
                    connection.sessions.pop(self.session_id, None)
                if self in self.browser._pages:
                    self.browser._pages.remove(self)

    def __repr__(self) -> str:
        return f"<Page {self.target_id}{' (closed)' if self._closed else ''}>"

    def _call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        if self._closed:
            raise BrowserError(f"the page is closed ({method} not sent)")
        return self.browser._call(method, params, session_id=self.session_id, timeout=timeout)

    def _loads(self) -> int:
        with self.browser._connection.cond:
            return self._state.loads

    def _wait_for_load_after(self, loads_before: int, what: str) -> None:
        self.browser._connection.wait_until(
            lambda: self._state.loads > loads_before,
            what,
            session_id=self.session_id,
            timeout=self.browser.timeout,
        )


def _value_of(remote: dict[str, Any]) -> Any:
    """A Runtime.RemoteObject returned by value, as a Python value."""
    if "value" in remote:
        return remote["value"]
    special = remote.get("unserializableValue")
    if special is None:
        return None  # undefined (or a value JSON cannot carry, such as a function)
    if special.endswith("n"):  # BigInt
        return int(special[:-1])
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}.get(
        special, special
    )


def _describe(remote: dict[str, Any]) -> str:
    """One console argument as text, the way the console would print it."""
    if "value" in remote:
        value = remote["value"]
        return value if isinstance(value, str) else json.dumps(value)
    preview = remote.get("preview")
    if preview is not None and "properties" in preview:  # objects and arrays
        items = [
            prop.get("value", "?")
            if preview.get("subtype") == "array"
            else f"{prop.get('name')}: {prop.get('value', '?')}"
            for prop in preview["properties"]
        ]
        more = ", ..." if preview.get("overflow") else ""
        opening, closing = "[]" if preview.get("subtype") == "array" else "{}"
        return f"{opening}{', '.join(items)}{more}{closing}"
    for key in ("unserializableValue", "description"):
        if key in remote:
            return str(remote[key])
    return str(remote.get("type", "?"))


def _exception_text(details: dict[str, Any]) -> str:
    """The text of a Runtime.ExceptionDetails: the exception's description (message
    and stack) when there is one, else the protocol's short text."""
    exception = details.get("exception") or {}
    text = exception.get("description")
    if text is None and "value" in exception:
        text = f"{details.get('text', 'Uncaught')} {json.dumps(exception['value'])}"
    return str(text or details.get("text", "unknown exception"))
