"""Shared by the arena tests: the kinds of stack every behaviour runs on, and helpers.

Not a test module. Each test file makes its own ``api`` fixture from :func:`api_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import stagebuf as sb

KIB = 1024
MIB = 1024 * 1024
HUGE = np.dtype([("bytes", np.uint8, 4_194_304)])
ZERO_SIZED = np.dtype([("nothing", np.float32, (0,))])  # itemsize 0


def round64(n: int) -> int:
    return (n + 63) & ~63


def span(view: np.ndarray[Any, Any]) -> tuple[int, int]:
    """The address range a contiguous view covers."""
    start = view.ctypes.data
    return start, start + view.nbytes


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class Api:
    """One kind of stack: the three scopes plus the Stack holding the counters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "thread":
            self.stack = sb.thread_stack()
            self.buffer: Callable[..., Any] = sb.buffer
            self.uninit_slice: Callable[..., Any] = sb.uninit_slice
            self.uninit: Callable[..., Any] = sb.uninit
            return
        self.stack = {
            "locked": lambda: sb.Stack(),
            "unlocked": lambda: sb.Stack(thread_safe=False),
            "checked": lambda: sb.Stack(checked=True),
            "checked_unlocked": lambda: sb.Stack(checked=True, thread_safe=False),
        }[kind]()
        self.buffer = self.stack.buffer
        self.uninit_slice = self.stack.uninit_slice
        self.uninit = self.stack.uninit


KINDS = ["thread", "locked", "unlocked", "checked", "checked_unlocked"]


def api_of(request: pytest.FixtureRequest) -> Iterator[Api]:
    """The body of each file's ``api`` fixture: every test leaves its stack as it found it."""
    a = Api(request.param)
    before = a.stack.bytes_in_use
    yield a
    assert a.stack.bytes_in_use == before, "the test leaked stack memory"


def gen_ints(n: int) -> Iterator[int]:
    """A generator: an iterable of unknown length."""
    yield from range(n)
