"""The compiled arena agrees with its reference, the pure-Python one, call for call.

Module: stagebuf._arena (both backends). Pure CPU. One probe runs in two child
processes, one per backend (``STAGEBUF_PURE_PYTHON``), and reports what each
call did: a signature, a result, or the exception's type and message. The
two reports must be equal. Parity is tested, not assumed: the compiled
``uninit_slice``, ``SliceScope.__enter__`` and ``__exit__`` are C functions
whose signatures, keywords and messages could drift from the Python ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

import stagebuf as sb

pytestmark = pytest.mark.skipif(
    sb.ARENA_BACKEND != "c" and os.environ.get(sb.PURE_PYTHON_ENV, "") != "1",
    reason="the compiled arena is not built: nothing to compare",
)

PROBE = r"""
import copy, inspect, json, threading
import numpy as np
import stagebuf as sb
from stagebuf._arena._scopes import SliceScope

report = {}


def outcome(fn):
    try:
        result = fn()
    except BaseException as err:
        return [type(err).__name__, str(err)]
    return ["returned", repr(result)]


def signature(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as err:
        return ["no signature", str(err)]
    return [[p.name, str(p.kind), repr(p.default)] for p in sig.parameters.values()]


stack = sb.thread_stack()
scope = sb.uninit_slice(4, "f4")
report["signature uninit_slice"] = signature(sb.uninit_slice)
report["signature __enter__"] = signature(scope.__enter__)
report["signature __exit__"] = signature(scope.__exit__)
report["SliceScope.__exit__ is a data-less method"] = callable(SliceScope.__exit__)

# __exit__ by keyword, and mixed, ends the slice as the with statement does.
for name, call in [
    ("keywords", lambda s: s.__exit__(et=None, ev=None, tb=None)),
    ("mixed", lambda s: s.__exit__(None, None, tb=None)),
    ("positional", lambda s: s.__exit__(None, None, None)),
]:
    s = sb.uninit_slice(4, "f4")
    s.__enter__()
    report[f"exit by {name}"] = [outcome(lambda: call(s)), stack.bytes_in_use]

# Bad calls: each refused before it changes anything (the slice stays live,
# and a proper exit then ends it).
BAD_EXITS = {
    "no arguments": lambda s: s.__exit__(),
    "one": lambda s: s.__exit__(None),
    "two": lambda s: s.__exit__(None, None),
    "four": lambda s: s.__exit__(None, None, None, None),
    "unknown keyword": lambda s: s.__exit__(None, None, None, x=1),
    "a keyword twice": lambda s: s.__exit__(None, None, None, et=None),
    "keywords, one missing": lambda s: s.__exit__(et=None, tb=None),
}
for name, call in BAD_EXITS.items():
    s = sb.uninit_slice(4, "f4")
    s.__enter__()
    got = outcome(lambda: call(s))
    live = stack.bytes_in_use
    s.__exit__(None, None, None)
    report[f"bad exit: {name}"] = [got, live, stack.bytes_in_use]
for name, call in {
    "an argument": lambda s: s.__enter__(1),
    "a keyword": lambda s: s.__enter__(x=1),
}.items():
    s = sb.uninit_slice(4, "f4")
    report[f"bad enter: {name}"] = [outcome(lambda: call(s)), stack.bytes_in_use]

# The life cycle's misuse.
s = sb.uninit_slice(4, "f4")
report["exit before enter"] = outcome(lambda: s.__exit__(None, None, None))
s = sb.uninit_slice(4, "f4")
s.__enter__()
report["enter twice"] = outcome(s.__enter__)
s.__exit__(None, None, None)
report["exit twice"] = outcome(lambda: s.__exit__(None, None, None))
report["a copy"] = outcome(lambda: copy.copy(sb.uninit_slice(4, "f4")).__enter__())

# Bad input, through every entry point.
BAD = {
    "negative count": (-1, "f4"),
    "float count": (1.5, "f4"),
    "bool count": (True, "f4"),
    "a negative dimension": ((2, -1), "f4"),
    "a count past memory": (2**70, "f4"),
    "no dtype": (4, None),
    "not a dtype": (4, "nope"),
    "objects mixed with data": (4, [("a", object), ("b", "f4")]),
    "too large a dtype": (1, ("u1", 2**31)),
    "huge padding": (1, {"names": ["a"], "formats": ["u1"], "offsets": [0], "itemsize": 2**31}),
    "65 dimensions": ((1,) * 65, "f4"),
}
if hasattr(np.dtypes, "StringDType"):
    BAD["StringDType"] = (4, np.dtypes.StringDType())
for name, (shape, dtype) in BAD.items():
    report[f"uninit_slice: {name}"] = outcome(lambda: sb.uninit_slice(shape, dtype).__enter__())
    report[f"fn=: {name}"] = outcome(lambda: sb.uninit_slice(shape, dtype, fn=len))
    report[f"owned: {name}"] = outcome(lambda: sb.Stack().uninit_slice(shape, dtype).__enter__())
report["uninit: too large"] = outcome(lambda: sb.uninit(("u1", 2**31)))
report["buffer: too large"] = outcome(lambda: sb.buffer([], dtype=("u1", 2**31)))
report["a capped stack"] = outcome(
    lambda: sb.Stack(max_capacity=4096).uninit_slice(8192, "u1").__enter__()
)

# Another thread's default stack: refused by the methods that check.
other = []
t = threading.Thread(target=lambda: other.append(sb.thread_stack()))
t.start()
t.join()
got = outcome(lambda: other[0].uninit_slice(4, "f4"))
report["another thread's stack"] = [got[0], "each thread has its own" in got[1]]
report["in use at the end"] = stack.bytes_in_use
print(json.dumps(report, indent=1, sort_keys=True))
"""


def _report(pure_python: bool) -> dict[str, Any]:
    env = {**os.environ, sb.PURE_PYTHON_ENV: "1" if pure_python else ""}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.fixture(scope="module")
def reports() -> tuple[dict[str, Any], dict[str, Any]]:
    compiled, python = _report(pure_python=False), _report(pure_python=True)
    return compiled, python


def test_the_probe_ran_on_each_backend() -> None:
    assert _report(pure_python=True)["in use at the end"] == 0


def test_compiled_and_python_answer_every_probe_alike(
    reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    compiled, python = reports
    assert compiled.keys() == python.keys()
    differ = {k: (compiled[k], python[k]) for k in compiled if compiled[k] != python[k]}
    assert not differ, json.dumps(differ, indent=1)


def test_exit_by_keyword_ends_the_slice_and_bad_calls_change_nothing(
    reports: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    compiled, _ = reports
    assert compiled["exit by keywords"] == [["returned", "None"], 0]
    assert compiled["exit by mixed"] == [["returned", "None"], 0]
    for key, (got, live, after) in ((k, v) for k, v in compiled.items() if "bad exit" in k):
        assert got[0] == "TypeError" and "SliceScope.__exit__()" in got[1], key
        assert live > 0 and after == 0, key  # refused with the slice live, then ended
    assert compiled["bad exit: a keyword twice"][0][1] == (
        "SliceScope.__exit__() got multiple values for argument 'et'"
    )
    assert compiled["signature __exit__"] == [
        [name, "POSITIONAL_OR_KEYWORD", "<class 'inspect._empty'>"] for name in ("et", "ev", "tb")
    ]
