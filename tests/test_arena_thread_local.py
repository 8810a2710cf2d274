"""The thread-local functions: one default stack per thread, STAGEBUF_CHECKED.

Module: stagebuf._arena._thread_local. Pure CPU.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import stagebuf as sb


def run_in_fresh_thread(fn: Callable[[], Any]) -> Any:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # pragma: no cover - reported below
            out["error"] = err

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_env_var_makes_thread_stacks_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> tuple[bool, bool, bool]:
        with sb.uninit_slice(8, np.float64) as s:
            s[:] = 1.0
            stale = s
        return (
            sb.thread_stack().checked,
            bool(np.isnan(stale).all()),
            bool(sb.thread_stack() is sb.thread_stack()),
        )

    monkeypatch.setenv(sb.CHECKED_ENV, "1")
    assert sb.CHECKED_ENV == "STAGEBUF_CHECKED"
    assert run_in_fresh_thread(probe) == (True, True, True)

    def escapes() -> int:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            sb.uninit_slice(4, np.float32, fn=lambda v: v)
        return sum(issubclass(w.category, sb.EscapedViewWarning) for w in record)

    assert run_in_fresh_thread(escapes) == 1
    monkeypatch.setenv(sb.CHECKED_ENV, "0")
    assert run_in_fresh_thread(probe)[:2] == (False, False)
    monkeypatch.delenv(sb.CHECKED_ENV)
    assert run_in_fresh_thread(probe)[0] is False


def test_each_thread_has_its_own_default_stack() -> None:
    main = sb.thread_stack()
    assert sb.thread_stack() is main
    other = run_in_fresh_thread(sb.thread_stack)
    assert other is not main
    assert isinstance(other, sb.Stack)
