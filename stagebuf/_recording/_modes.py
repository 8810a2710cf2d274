"""Draw modes: the GL enum values (the same in desktop GL 3.3+ and WebGL2), their
names for messages, and which modes' draws may merge. No GL import: these are
the numbers moderngl's constants hold."""

from __future__ import annotations

import operator

__all__ = ["MERGEABLE", "MODES", "PATCHES", "TRIANGLES", "check_mode"]

POINTS, LINES, LINE_LOOP, LINE_STRIP = 0x0000, 0x0001, 0x0002, 0x0003
TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 0x0004, 0x0005, 0x0006
PATCHES = 0x000E

MODES = {
    POINTS: "POINTS",
    LINES: "LINES",
    LINE_LOOP: "LINE_LOOP",
    LINE_STRIP: "LINE_STRIP",
    TRIANGLES: "TRIANGLES",
    TRIANGLE_STRIP: "TRIANGLE_STRIP",
    TRIANGLE_FAN: "TRIANGLE_FAN",
    0x000A: "LINES_ADJACENCY",
    0x000B: "LINE_STRIP_ADJACENCY",
    0x000C: "TRIANGLES_ADJACENCY",
    0x000D: "TRIANGLE_STRIP_ADJACENCY",
    PATCHES: "PATCHES",
}
"""GL draw modes by value, with their names for messages."""

# Modes whose draws can be merged when ranges sit back to back: drawing
# [a, b) then [b, c) is the same as drawing [a, c) when each range holds
# whole primitives (points; line pairs; triangles). Strips, loops and fans
# join their ranges' ends, so they are never merged.
MERGEABLE = {POINTS: 1, LINES: 2, TRIANGLES: 3}


def check_mode(mode: object, where: str) -> int:
    """``mode`` if it is a GL draw mode (numpy ints too); ValueError naming it otherwise."""
    if type(mode) is int and mode in MODES:
        return mode
    if not isinstance(mode, bool):
        try:
            value = operator.index(mode)  # type: ignore[arg-type]
        except TypeError:
            value = -1
        if value in MODES:
            return value
    raise ValueError(
        f"{where}: mode {mode!r} is not a GL draw mode; expected one of moderngl."
        + ", moderngl.".join(MODES.values())
        + "."
    )
