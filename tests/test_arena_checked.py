"""Checked mode: poison, escaped views, quarantine, stale views.

Module: stagebuf._arena._checked. Pure CPU.
"""

from __future__ import annotations

import gc
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from arena_kinds import overlaps, span

import stagebuf as sb

# --------------------------------------------------------------------------
# Checked mode


def test_checked_mode_poisons_released_memory() -> None:
    stack = sb.Stack(checked=True)
    with stack.uninit_slice(16, np.float64) as fresh:
        assert np.isnan(fresh).all()  # new memory is poisoned too
        fresh[:] = 1.0
        stale = fresh
    assert np.isnan(stale).all()
    with stack.uninit_slice(8, np.int32) as ints:
        ints[:] = 5
        stale_ints = ints
    assert (stale_ints == -1).all()


def test_checked_mode_poisons_out_of_order_endings() -> None:
    stack = sb.Stack(checked=True)
    a = stack.uninit_slice(8, np.float32)
    va = a.__enter__()
    va[:] = 1
    with stack.uninit_slice(8, np.float32) as vb:
        vb[:] = 2
        a.__exit__(None, None, None)
        assert np.isnan(va).all()
        assert (vb == 2).all()


@pytest.mark.parametrize(
    ("scope", "escape"),
    [
        ("slice", lambda v: v),
        ("slice", lambda v: v[2:]),
        ("slice2d", lambda v: v[1:]),
        ("slice2d", lambda v: v.T),
        ("buffer", lambda v: v),
        ("buffer", lambda v: v[2:]),
        ("uninit", lambda v: v),
    ],
)
def test_checked_mode_reports_escaped_views_and_quarantines_them(
    scope: str, escape: Callable[[Any], Any]
) -> None:
    stack = sb.Stack(checked=True)
    run = {
        "slice": lambda fn: stack.uninit_slice(16, np.float64, fn=fn),
        "slice2d": lambda fn: stack.uninit_slice((4, 4), np.float64, fn=fn),
        "buffer": lambda fn: stack.buffer(np.arange(16, dtype=np.float64), fn=fn),
        "uninit": lambda fn: stack.uninit(np.dtype((np.float64, 16)), fn=fn),
    }[scope]
    with pytest.warns(sb.EscapedViewWarning, match="escaped the closure scope") as record:
        escaped = run(escape)
    assert record[0].filename == __file__  # points at the caller, not at stagebuf
    escaped[...] = 5.0
    for _ in range(3):  # later slices never get the escaped view's memory
        with stack.uninit_slice(64, np.float64) as later, stack.buffer(range(64)) as more:
            later[:] = 9.0
            assert not overlaps(span(later), span(escaped))
            assert not overlaps(span(more), span(escaped))
    assert (escaped == 5.0).all()
    held = stack.bytes_in_use
    assert held > 0
    del escaped, record
    gc.collect()
    with stack.uninit_slice(1, np.uint8):  # the next request reclaims it
        pass
    assert stack.bytes_in_use == 0


def test_checked_mode_stays_quiet_when_nothing_escapes() -> None:
    stack = sb.Stack(checked=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sb.EscapedViewWarning)
        assert stack.uninit_slice(16, np.float64, fn=lambda v: v.fill(1.0) or 3) == 3
        assert stack.buffer(range(10), fn=lambda v: int(v[2:].sum())) == 44
        assert stack.uninit(np.float64, fn=lambda v: v.shape) == ()
    assert stack.bytes_in_use == 0


def test_unchecked_stacks_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", sb.EscapedViewWarning)
        kept = sb.Stack().uninit_slice(4, np.float32, fn=lambda v: v)
    assert kept.shape == (4,)


# -- stale views (moved from test_reliability) --------------------------------------------------


def test_stale_view_with_form_unchecked_sees_reused_bytes() -> None:
    stack = sb.Stack()
    with stack.uninit_slice(16, np.float32) as s:
        s[:] = 1.5
        kept = s
    assert np.all(kept == 1.5)  # nothing marks it stale...
    with stack.uninit_slice(16, np.float32) as t:
        t[:] = 7.0
        assert np.shares_memory(kept, t)
    assert np.all(kept == 7.0)  # ...and it silently shows the next slice's bytes


def test_stale_view_with_form_checked_is_poisoned() -> None:
    stack = sb.Stack(checked=True)
    with stack.uninit_slice(16, np.float32) as s:
        s[:] = 1.5
        kept = s
        ints = s.view(np.int32)
    assert np.all(np.isnan(kept))  # poisoned on release: stale reads stand out
    assert np.all(kept.view(np.uint8) == 0xFF)
    assert np.all(ints == -1)


def test_stale_view_closure_form_checked_warns_and_quarantines() -> None:
    stack = sb.Stack(checked=True)

    def leak(s: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        s[:] = 1.5
        return s[2:]  # a derived view escapes too

    with pytest.warns(sb.EscapedViewWarning, match=r"escaped the closure scope of .*leak"):
        kept = stack.uninit_slice(16, np.float32, fn=leak)
    with stack.uninit_slice(16, np.float32) as t:
        t[:] = 7.0
        assert not np.shares_memory(kept, t)  # quarantined while the view lives
    assert np.all(kept == 1.5)
    del kept
    gc.collect()
    stack.trim()  # reclaims the quarantined region now the view is gone
    assert stack.bytes_in_use == 0


def test_stale_view_closure_form_unchecked_is_silent() -> None:
    stack = sb.Stack()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        kept = stack.uninit_slice(16, np.float32, fn=lambda s: (s.fill(1.5), s)[1])
    with stack.uninit_slice(16, np.float32) as t:
        t[:] = 7.0
    assert np.all(kept == 7.0)


def test_checked_env_makes_thread_stacks_poison(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sb.CHECKED_ENV, "1")
    out: dict[str, Any] = {}

    def run() -> None:  # a fresh thread: its default stack is made now, under the env
        with sb.uninit_slice(8, np.float64) as s:
            s[:] = 2.0
            kept = s
        out["checked"] = sb.thread_stack().checked
        out["nan"] = bool(np.all(np.isnan(kept)))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert out == {"checked": True, "nan": True}
