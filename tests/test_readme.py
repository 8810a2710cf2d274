"""The README's Python snippets run as written (given the two names they leave open).

Blocks tagged ``python`` run; the one tagged ``py`` needs a window library and a
display (moderngl-window, pyglet), so it is shown, not run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_snippets() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(index: int, gl_ctx: object) -> None:
    # `n` triangles and their positions `xy` are the reader's; everything else is defined.
    env = {"n": 10, "xy": np.zeros((30, 2), np.float32)}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), env)
    gl_ctx.__enter__()  # type: ignore[attr-defined]  # a snippet made its own context
