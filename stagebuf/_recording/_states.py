"""A range's state, checked once: its options (mode, program, layout, uniforms,
textures) against what its program reads, the stager's defaults filled in, and
cached on the stager by those options; the layer; and, in a stager's first
frames, the uniforms a port from immediate mode sets between reserves. No GL
here: the backend describes programs and textures."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import UniformBetweenReservesWarning
from .._layout import VertexLayout
from ._drawlist import State, equal
from ._programs import check_textures, check_uniforms

if TYPE_CHECKING:
    from ._frame import Frame

__all__ = [
    "INSTANCES",
    "STATE_CACHE",
    "STREAMED_VERTICES",
    "VERTICES",
    "check_layer",
    "checked_state",
    "per_instance_message",
    "state_for",
    "watch_uniforms",
]

STATE_CACHE = 256  # checked draw states kept per stager
WATCHED_PROGRAMS = 16  # programs a frame compares uniforms of (in a stager's first frames)

# What a range's layout feeds, for the checks of its state: a vertex range, the
# instances of a mesh, or per-vertex attributes streamed beside a mesh's.
VERTICES, INSTANCES, STREAMED_VERTICES = range(3)


def state_for(
    frame: Frame,
    where: str,
    mode: int | None,
    program: Any,
    layout: VertexLayout | None,
    uniforms: Any,
    textures: Any,
    *,
    reads: int = VERTICES,
) -> State:
    """Check one draw's options and fill in the stager's defaults.

    Checked states are cached on the stager by their options (when those are
    hashable: numbers, tuples, textures), and a draw whose uniforms and
    textures equal the last draw's reuses its state, so reserves that repeat
    their options, in a loop or frame after frame, check them once.
    """
    stager = frame._stager
    states = frame._states
    try:
        key: Any = (mode, program, layout, reads)
        if uniforms or textures:
            key += (
                tuple(uniforms.items()) if uniforms else None,
                tuple(textures.items()) if textures else None,
            )
        state = states.get(key)
    except (TypeError, ValueError, AttributeError):  # unhashable (a writable memoryview:
        # ValueError), or not mappings: checked below
        state = key = None
    if state is not None:
        return state
    base = states.get((mode, program, layout, reads)) if key is not None else None
    if base is None:
        base = checked_state(frame, where, mode, program, layout, reads)
    if not uniforms and not textures:
        return base
    last = frame._last
    if last is not None:
        state = last.state
        if (
            state.mode == base.mode
            and state.program is base.program
            and state.layout is base.layout
            and equal(state.uniforms, uniforms or None)
            and equal(state.textures, textures or None)
        ):
            return state
    backend = stager._backend
    uniforms = check_uniforms(backend.describe(base.program), uniforms, where) if uniforms else None
    textures = (
        check_textures(textures, where, backend.texture_units, backend.texture_problem)
        if textures
        else None
    )
    state = State(base.mode, base.program, base.layout, uniforms, textures)
    if key is not None:  # hashable options hold no mutable values: safe to keep
        if len(states) >= STATE_CACHE:
            states.clear()
        states[key] = state
    return state


def checked_state(
    frame: Frame,
    where: str,
    mode: int | None,
    program: Any,
    layout: VertexLayout | None,
    reads: int,
) -> State:
    stager = frame._stager
    key = (mode, program, layout, reads)
    mode = stager._mode if mode is None else stager._backend.check_mode(mode, where)
    program = stager._program if program is None else stager._own_program(program, where)
    if layout is None:
        layout = stager.layout
    elif not isinstance(layout, VertexLayout):
        raise TypeError(
            f"{where}: layout must be a VertexLayout; got {type(layout).__name__} {layout!r}."
        )
    if reads == VERTICES:
        if layout.usage == "i":
            raise ValueError(per_instance_message(where, layout))
        stager._binding(program, layout, None, where)
    state = State(mode, program, layout, None, None)
    if len(stager._states) >= STATE_CACHE:
        stager._states.clear()  # programs made and dropped per frame: keep it bounded
    stager._states[key] = state
    return state


def watch_uniforms(frame: Frame, state: State, stacklevel: int = 3) -> None:
    """Warn once when a program's uniform changed between two reserves of one frame.

    A draw list reads a program's own uniform values at render(), so every
    range of the frame gets the last value set: the mistake of a port from
    immediate mode, which sets a uniform before each draw. Watched in a
    stager's first frames only (it reads the values back), and stops at the
    first warning.
    """
    watch = frame._watch
    assert watch is not None
    if len(watch) > WATCHED_PROGRAMS:
        return
    stager = frame._stager
    own = stager._backend.uniform_values(state.program)
    if state.uniforms:  # values given to the range are the range's own
        own = {k: v for k, v in own.items() if k not in state.uniforms}
    before = watch.get(state.program)
    watch[state.program] = own
    changed = (
        [] if before is None else [k for k, v in own.items() if not _same(before.get(k, v), v)]
    )
    if changed:
        stager._watch_frames = 0
        frame._watch = None
        warnings.warn(
            f"uniform {changed[0]!r} of a program changed between two of its ranges in "
            f"one frame: a draw list sets uniforms at render(), so every range of the "
            f"frame draws with the last value. Give each range its value instead: "
            f"frame.reserve(..., uniforms={{{changed[0]!r}: value}}) (textures likewise: "
            f"textures={{unit: texture}}). stagebuf says this once.",
            UniformBetweenReservesWarning,
            stacklevel=stacklevel,
        )


def _same(a: Any, b: Any) -> bool:
    """Equal uniform values, NaN equal to itself (a value read back twice)."""
    if a == b:
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    return isinstance(a, float) and isinstance(b, float) and a != a and b != b


def check_layer(layer: object, where: str) -> int:
    """``layer`` as an int (numpy ints too); TypeError naming it otherwise."""
    if type(layer) is int:
        return layer
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        return int(layer)
    raise TypeError(
        f"{where}: layer must be an int (draws run in ascending layer); "
        f"got {type(layer).__name__} {layer!r}."
    )


def per_instance_message(where: str, layout: VertexLayout) -> str:
    return (
        f"{where}: the layout {layout!r} is per instance (/i); per-instance records go to "
        f"frame.reserve_instances(mesh, count, layout=...)."
    )
