"""Recording a frame, with no GL: the layer below the backends.

In data-flow order:

- ``_modes``: draw modes as GL's enum values, which merge.
- ``_programs``: what a program reads (``ProgramInfo``, from a backend), and
  the checks of a draw's options against it.
- ``_streams``: a frame's bytes in arena slices, bump-allocated.
- ``_indices``: index types, the restart index, the check and offset of indices.
- ``_drawlist``: one draw's state, one draw call, layer order, restart splits.
- ``_states``: a range's options checked once into a state (cached on the
  stager), its layer, and the uniforms watched in a stager's first frames.
- ``_frame``: ``Frame`` (reserve*, draw, end/discard) and ``RecordedFrame``, the
  value a backend receives.
- ``_backend`` and ``_fast.c``: the compiled ``Frame.reserve`` (an optional C
  extension) for its common case; the Python method stays the reference and
  runs everything else. ``BACKEND`` says which runs: ``"c"`` or ``"python"``.

Nothing here imports moderngl (tests/test_layers_of_code.py checks it).
"""

from ._frame import BACKEND  # "c" or "python": which Frame.reserve this process runs

__all__ = ["BACKEND"]
