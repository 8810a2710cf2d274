"""Shared by the arena fault tests: an exception injected at every bytecode.

Not a test module. :class:`Injector` raises at the n-th bytecode the arena's
own frames run (a ``sys.settrace`` opcode hook);
:func:`inject_at_every_bytecode` walks n up until a run completes.
"""

from __future__ import annotations

import dis
import os
import sys
from collections.abc import Callable
from typing import Any

import stagebuf as sb
import stagebuf._arena

ARENA_DIR = os.path.dirname(stagebuf._arena.__file__)


class Injector:
    """Raises ``exc`` at the ``n``-th bytecode run in the arena's own frames (sys.settrace)."""

    def __init__(self, n: int, exc: type[BaseException]) -> None:
        self.n = n
        self.exc = exc
        self.count = 0
        self.where = ""

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "opcode":
            self.count += 1
            if self.count == self.n:
                op = next(
                    (
                        i.opname
                        for i in dis.get_instructions(frame.f_code)
                        if i.offset == frame.f_lasti
                    ),
                    "?",
                )
                if op in ("PUSH_EXC_INFO", "POP_EXCEPT"):
                    # An exception raised by a trace function at either end of
                    # an except block leaves that block's exception on the
                    # thread for good (CPython 3.11: every later exception
                    # in the process got it as __context__). No real interrupt
                    # arrives there (the eval loop checks for them elsewhere),
                    # so the next bytecode takes it instead.
                    self.n += 1
                    return self._local
                self.where = f"{frame.f_code.co_name}:{frame.f_lineno} {op}"
                raise self.exc(f"injected at bytecode {self.n}")
        return self._local

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        # Not in a finalizer: Python reports an exception raised there and
        # drops it (Scope.__del__, which releases a scope dropped live, is
        # the one place where an interrupt still loses a slice).
        if os.path.dirname(frame.f_code.co_filename) == ARENA_DIR and (
            frame.f_code.co_name != "__del__"
        ):
            frame.f_trace_opcodes = True
            return self._local
        return None

    def run(self, action: Callable[[], None]) -> type[BaseException] | None:
        """Run ``action``; the type of the exception that came out (None: none).

        The exception itself is dropped, as a handler up the stack would drop
        it: its traceback would keep the frames, and the scope, alive.
        """
        old = sys.gettrace()
        handled = sys.exc_info()[1]
        sys.settrace(self._global)
        try:
            action()
        except BaseException as err:
            return type(err)
        finally:
            sys.settrace(old)
            # The injection itself must leave the interpreter as it was.
            assert sys.exc_info()[1] is handled, (self.where, sys.exc_info())
        return None


def inject_at_every_bytecode(
    stack: sb.Stack, make: Callable[[], Any], exc: type[BaseException]
) -> int:
    """Enter, write and end a scope from ``make``, with ``exc`` injected at its
    1st, 2nd, ... bytecode until a run completes; return how many runs that took.

    Each run: the exception surfaces as itself (a MemoryError while making a
    chunk as StackOverflowError, the MemoryError that names the request),
    nothing leaks (``bytes_in_use`` as before) and the stack stays usable.
    """
    n = 0
    while True:
        n += 1
        before = stack.bytes_in_use
        injector = Injector(n, exc)

        def action() -> None:
            with make() as view:
                view[...] = view.dtype.type(0) if view.dtype != object else None

        err = injector.run(action)
        assert err is None or err is exc or (exc is MemoryError and err is sb.StackOverflowError), (
            n,
            injector.where,
            err,
        )
        assert stack.bytes_in_use == before, f"leaked at bytecode {n} ({injector.where})"
        with make():  # still usable
            pass
        assert stack.bytes_in_use == before
        if err is None:
            return n
