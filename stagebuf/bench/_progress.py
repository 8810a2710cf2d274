"""Progress of a long bench run: one short line per case on stderr.

stdout carries the tables only, so ``python -m stagebuf.bench > figures.txt``
keeps them clean while the terminal still shows what is running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts a suite's cases and reports each as it starts and ends.

    ``stream`` defaults to the ``sys.stderr`` of the moment each line is
    written (so pytest's capture sees it).
    """

    def __init__(self, suite: str, total: int, *, stream: TextIO | None = None) -> None:
        self.suite = suite
        self.total = total
        self.done = 0
        self._stream = stream

    @contextmanager
    def case(self, label: str) -> Iterator[None]:
        """Report ``label`` as the next case: one line as it starts, one as it ends."""
        self.done += 1
        tag = f"{self.suite} [{self.done}/{self.total}] {label}"
        self._write(f"{tag} ...")
        start = time.perf_counter()
        yield
        self._write(f"{tag}: {time.perf_counter() - start:.1f} s")

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        print(line, file=stream, flush=True)
