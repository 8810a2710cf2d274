"""The other arena backend's measurements, taken in a child process.

The backend is fixed when stagebuf is imported, so a process that runs the
compiled arena measures the pure-Python one in a child started with
``STAGEBUF_PURE_PYTHON=1``: ``python -m stagebuf.bench._arena_worker``.

The child speaks JSON lines. Once warmed up it writes a hello,
``{"backend": "python"}``; then for each request line
``{"case": "small_scope", "quick": false}`` on its stdin it runs that case
(:func:`._arena_cases.measure`) and writes one reply line, ``{"case": ...,
"samples": {op: [seconds per op, ...]}}`` or ``{"case": ..., "error": "..."}``.
It ends at the end of its stdin. The parent waits for each reply before it
goes on, so the two processes never time at once (the machine may have two
cores only) and their cases interleave.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import traceback
from types import TracebackType
from typing import Any, TextIO

import stagebuf as sb

from ._arena_cases import measure, warm_up

__all__ = ["Worker", "WorkerError", "parse_hello", "parse_reply", "serve"]


class WorkerError(RuntimeError):
    """The child process failed, ended early or wrote something that is not a reply."""


def _decode(line: str, what: str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except json.JSONDecodeError as err:
        raise WorkerError(f"The bench child wrote {line[:200]!r}, not a JSON {what}.") from err
    if not isinstance(message, dict):
        raise WorkerError(f"The bench child wrote {line[:200]!r}, not a JSON object ({what}).")
    return message


def parse_hello(line: str) -> str:
    """The backend a child's hello line names ("c" or "python")."""
    backend = _decode(line, "hello").get("backend")
    if backend not in ("c", "python"):
        raise WorkerError(f"The bench child's hello names backend {backend!r}; expected c/python.")
    return str(backend)


def parse_reply(line: str, case: str) -> dict[str, list[float]]:
    """The samples of a child's reply to ``case``; WorkerError for anything else."""
    reply = _decode(line, "reply")
    if reply.get("case") != case:
        raise WorkerError(f"The bench child answered case {reply.get('case')!r}, not {case!r}.")
    if "error" in reply:
        raise WorkerError(f"The bench child failed in case {case!r}:\n{reply['error']}")
    samples = reply.get("samples")
    if not isinstance(samples, dict) or not all(
        isinstance(op, str)
        and isinstance(figures, list)
        and figures
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in figures)
        for op, figures in samples.items()
    ):
        raise WorkerError(
            f"The bench child's reply to {case!r} holds no samples (op -> list of seconds): "
            f"{line[:200]!r}."
        )
    return {op: [float(x) for x in figures] for op, figures in samples.items()}


def serve(requests: TextIO, replies: TextIO) -> None:
    """The child's loop: warm up, say hello, then answer each request line."""
    warm_up()
    replies.write(json.dumps({"backend": sb.ARENA_BACKEND}) + "\n")
    replies.flush()
    for line in requests:
        request = json.loads(line)
        case = request["case"]
        try:
            answer = {"case": case, "samples": measure(case, bool(request["quick"]))}
        except Exception:  # sent to the parent, which raises it there
            answer = {"case": case, "error": traceback.format_exc()}
        replies.write(json.dumps(answer) + "\n")
        replies.flush()


class Worker:
    """A child process running the arena bench's cases on the pure-Python arena."""

    def __init__(self) -> None:
        env = {**os.environ, sb.PURE_PYTHON_ENV: "1"}
        # stderr is inherited: the child's tracebacks and warnings reach the terminal.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        backend = parse_hello(self._read("its hello"))
        if backend != "python":
            self.close(kill=True)
            raise WorkerError(
                f"The bench child runs the {backend!r} arena despite {sb.PURE_PYTHON_ENV}=1."
            )
        self.backend = backend

    def measure(self, case: str, quick: bool) -> dict[str, list[float]]:
        """Run ``case`` in the child and wait for its samples."""
        stdin = self._proc.stdin
        assert stdin is not None  # made with stdin=PIPE
        stdin.write(json.dumps({"case": case, "quick": quick}) + "\n")
        stdin.flush()
        return parse_reply(self._read(f"its reply to {case!r}"), case)

    def _read(self, what: str) -> str:
        stdout = self._proc.stdout
        assert stdout is not None  # made with stdout=PIPE
        line = stdout.readline()
        if not line:
            status = self._proc.wait()
            raise WorkerError(
                f"The bench child ended (exit status {status}) before {what}; its stderr is above."
            )
        return line

    def close(self, *, kill: bool = False) -> None:
        """End the child (the end of its stdin; ``kill``: at once) and wait for it."""
        if kill:
            self._proc.kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # it may have ended already
                self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(kill=err is not None)  # on an error, do not wait for a case to finish


def main() -> int:
    """The child's entry point: JSON on the real stdout, anything else printed on stderr."""
    replies = sys.stdout
    sys.stdout = sys.stderr  # a stray print must not corrupt the replies
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
