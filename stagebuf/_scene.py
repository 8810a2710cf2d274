"""The demo's procedural scene: a swirling galaxy of spinning triangles.

Numpy only. :class:`TriangleField` keeps a few per-triangle constants and,
for a time ``t``, writes three vertices per triangle (2-D position, RGBA
colour as normalised bytes) into views the caller provides, with every
temporary taken from the second stack (no per-frame allocation once warm).
The same maths is available allocation-style in :meth:`TriangleField.naive`,
the way one would write it without preallocated memory (the benchmark's
baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ._arena import Stack, thread_stack
from ._pack import attribute_words, write_attribute

__all__ = ["TriangleField"]

F4 = np.float32
NDArray = npt.NDArray[Any]

_TAU = np.float32(2 * np.pi)
_ARMS = 3
_CORNERS = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3], dtype=F4)  # equilateral corners
_HUE_STEP = np.array([0.0, 0.06, 0.12], dtype=F4)  # a small hue gradient across each triangle
_CHANNEL_PHASE = np.array([0.0, 1 / 3, 2 / 3], dtype=F4)  # cosine palette, R G B
_ALPHA = 96  # the demo blends additively: overlapping triangles glow


def _check_verts(verts: NDArray, n: int, who: str) -> None:
    names = verts.dtype.names or ()
    if verts.shape != (3 * n,) or "in_pos" not in names or "in_color" not in names:
        raise ValueError(
            f"{who}.fill: expected a structured array of 3n={3 * n} vertices with in_pos "
            f"and in_color fields; got shape {verts.shape}, fields {names}."
        )


class _Field:
    """What both scenes share: temporaries, validation, the fill entry point."""

    n: int

    def _scratch_specs(self) -> list[tuple[Any, Any]]:
        """(shape, dtype) of each temporary :meth:`_compute` takes, in order."""
        raise NotImplementedError

    # (verts, t, *temporaries in _scratch_specs order) -> None, per scene.
    _compute: Callable[..., None]

    def scratch(self) -> tuple[NDArray, ...]:
        """Preallocated temporaries for :meth:`fill` (the hand-written style)."""
        return tuple(np.empty(shape, dt) for shape, dt in self._scratch_specs())

    def fill(
        self,
        verts: NDArray,
        t: float,
        *,
        stack: Stack | None = None,
        scratch: tuple[NDArray, ...] | None = None,
    ) -> None:
        """Write the ``3n`` vertices at time ``t`` (seconds) into ``verts``.

        ``verts`` is a structured array of ``3n`` vertices with ``in_pos`` (2
        float32) and ``in_color`` (4 uint8). Temporaries come from ``scratch``
        (see :meth:`scratch`) when given, else from ``stack`` (the thread's
        stack by default).
        """
        _check_verts(verts, self.n, type(self).__name__)
        if self.n == 0:
            return
        if scratch is not None:
            self._compute(verts, F4(t), *scratch)
            return
        st = stack if stack is not None else thread_stack()
        # The scopes are entered and ended by hand, newest first: contextlib.ExitStack
        # costs more than the three slices themselves at 10k triangles.
        scopes = [st.uninit_slice(shape, dt) for shape, dt in self._scratch_specs()]
        tmp: list[NDArray] = []
        try:
            for scope in scopes:
                tmp.append(scope.__enter__())
            self._compute(verts, F4(t), *tmp)
        finally:
            for scope in reversed(scopes[: len(tmp)]):
                scope.__exit__(None, None, None)


class TriangleField(_Field):
    """``n`` animated triangles in a galaxy of ``_ARMS`` spiral arms, radius ~1."""

    def __init__(self, n: int, *, seed: int = 7) -> None:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"TriangleField: n must be a non-negative int; got {n!r}.")
        self.n = n = int(n)
        rng = np.random.default_rng(seed)
        radius = np.sqrt(rng.random(n, dtype=F4)) * F4(0.95) + F4(0.03)
        arm = rng.integers(0, _ARMS, n).astype(F4)
        self.radius = radius
        # Arms wind outwards; scatter grows with the radius.
        self.angle0 = (
            arm * (_TAU / _ARMS) + radius * F4(5.0) + rng.normal(0, 0.55, n).astype(F4) * radius
        ).astype(F4)
        self.omega = (F4(0.15) + F4(0.9) * (F4(1.0) - radius)).astype(F4)  # inner turns faster
        self.size = (F4(0.006) + F4(0.03) * rng.random(n, dtype=F4) * (F4(1.2) - radius)).astype(F4)
        self.spin = rng.normal(0, 2.0, n).astype(F4)
        self.phase = (rng.random(n, dtype=F4) * _TAU).astype(F4)
        self.hue = (radius * F4(0.8) + rng.random(n, dtype=F4) * F4(0.15)).astype(F4)

    def _scratch_specs(self) -> list[tuple[Any, Any]]:
        n = self.n
        return [
            (n, F4),
            (n, F4),
            (n, F4),
            (n, F4),
            ((n, 3), F4),
            ((n, 3, 2), F4),
            ((n, 3, 4), np.uint8),
        ]

    def _compute(
        self,
        verts: NDArray,
        tt: np.float32,
        a: NDArray,
        cx: NDArray,
        cy: NDArray,
        s: NDArray,
        v: NDArray,
        p: NDArray,
        c: NDArray,
    ) -> None:
        # Centre: differential rotation around the origin.
        np.multiply(self.omega, tt, out=a)
        a += self.angle0
        np.cos(a, out=cx)
        np.sin(a, out=cy)
        cx *= self.radius
        cy *= self.radius
        # Size pulses; each triangle spins about its centre.
        np.add(self.phase, tt * F4(3.0), out=s)
        np.sin(s, out=s)
        s *= F4(0.35)
        s += F4(1.0)
        s *= self.size
        np.multiply(self.spin, tt, out=a)
        np.add(a[:, None], _CORNERS, out=v)
        np.cos(v, out=p[:, :, 0])
        p[:, :, 0] *= s[:, None]
        p[:, :, 0] += cx[:, None]
        np.sin(v, out=p[:, :, 1])
        p[:, :, 1] *= s[:, None]
        p[:, :, 1] += cy[:, None]
        # Colour: a cosine palette cycling over time, brighter towards the core.
        np.multiply(tt, F4(0.05), out=a)
        a += self.hue
        for ch in range(3):
            np.add(a[:, None], _HUE_STEP + _CHANNEL_PHASE[ch], out=v)
            v *= _TAU
            np.cos(v, out=v)
            v *= F4(110.0)
            v += F4(140.0)
            np.copyto(c[:, :, ch], v, casting="unsafe")
        c[:, :, 3] = _ALPHA
        # Contiguous temporaries, then one word-wide copy per attribute.
        write_attribute(verts, "in_pos", p.reshape(-1, 2))
        write_attribute(verts, "in_color", c.reshape(-1, 4))

    def naive(self, t: float) -> tuple[NDArray, NDArray]:
        """The same vertices, computed the allocation-heavy way: fresh arrays everywhere.

        Returns ``(pos (3n, 2) float32, color (3n, 4) uint8)``.
        """
        n = self.n
        tt = F4(t)
        a = self.angle0 + self.omega * tt
        cx = np.cos(a) * self.radius
        cy = np.sin(a) * self.radius
        s = (np.sin(self.phase + tt * F4(3.0)) * F4(0.35) + F4(1.0)) * self.size
        v = (self.spin * tt)[:, None] + _CORNERS
        px = np.cos(v) * s[:, None] + cx[:, None]
        py = np.sin(v) * s[:, None] + cy[:, None]
        pos = np.stack([px, py], axis=-1).reshape(3 * n, 2).astype(F4)
        h = (self.hue + tt * F4(0.05))[:, None, None] + _HUE_STEP[None, :, None] + _CHANNEL_PHASE
        rgb = np.cos(h * _TAU) * F4(110.0) + F4(140.0)
        alpha = np.full((n, 3, 1), _ALPHA, dtype=np.uint8)
        color = np.concatenate([rgb.astype(np.uint8), alpha], axis=-1).reshape(3 * n, 4)
        return pos, color


class ParticleField(_Field):
    """``n`` triangles drifting in straight lines across the view (wrapping at the edges).

    Light per-vertex maths, so a frame's cost is mostly packing and upload: the
    staging benchmark's packing-bound workload (the galaxy is its maths-bound one).
    Same interface as :class:`TriangleField`.
    """

    def __init__(self, n: int, *, seed: int = 11) -> None:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"ParticleField: n must be a non-negative int; got {n!r}.")
        self.n = n = int(n)
        rng = np.random.default_rng(seed)
        self.start = rng.uniform(-1, 1, (n, 2)).astype(F4)
        self.velocity = rng.normal(0, 0.2, (n, 2)).astype(F4)
        size = rng.uniform(0.005, 0.02, (n, 1, 1)).astype(F4)
        angle = rng.uniform(0, 2 * np.pi, (n, 1)).astype(F4) + _CORNERS
        self.corners = (np.stack([np.cos(angle), np.sin(angle)], axis=-1) * size).astype(F4)
        self.color = rng.integers(64, 256, (n, 1, 4), dtype=np.uint8)
        self.color[..., 3] = 255
        # The fast path works on x + iy as complex64 (one element per 2-D point),
        # corner by corner, so numpy's loops run over n elements, not 2 or 3.
        self._start_c = self.start.view(np.complex64).reshape(n)
        self._velocity_c = self.velocity.view(np.complex64).reshape(n)
        self._corners_c = np.ascontiguousarray(
            self.corners.view(np.complex64).reshape(n, 3).T
        )  # (3, n): one contiguous row per corner
        # Per-vertex colours, contiguous: copied one 4-byte word per vertex.
        self._vertex_colors = np.ascontiguousarray(np.repeat(self.color, 3, axis=1)).reshape(
            3 * n, 4
        )

    def _scratch_specs(self) -> list[tuple[Any, Any]]:
        n = self.n
        return [(n, np.complex64), (2 * n, F4), ((n, 3), np.complex64)]

    def _compute(
        self, verts: NDArray, tt: np.float32, centre: NDArray, wrap: NDArray, p: NDArray
    ) -> None:
        np.multiply(self._velocity_c, tt, out=centre)
        centre += self._start_c
        # Wrap into [-1, 1): c - 2 * floor((c + 1) / 2), on x and y alike.
        xy = centre.view(F4)
        np.add(xy, F4(1.0), out=wrap)
        wrap *= F4(0.5)
        np.floor(wrap, out=wrap)
        wrap *= F4(2.0)
        xy -= wrap
        # A 2f position is 8 bytes, like one complex64: write x + iy straight into
        # the vertices when the layout allows it, else through `p`.
        words = attribute_words(verts, "in_pos")
        direct = words is not None and words.dtype.itemsize == 8
        out = words.view(np.complex64).reshape(self.n, 3) if direct else p  # type: ignore[union-attr]
        for k in range(3):
            np.add(centre, self._corners_c[k], out=out[:, k])
        if not direct:
            write_attribute(verts, "in_pos", p.view(F4).reshape(-1, 2))
        write_attribute(verts, "in_color", self._vertex_colors)

    def naive(self, t: float) -> tuple[NDArray, NDArray]:
        """The same vertices with fresh arrays: ``(pos (3n, 2) float32, color (3n, 4) uint8)``."""
        centre = self.start + self.velocity * F4(t)
        centre = centre - F4(2.0) * np.floor((centre + F4(1.0)) * F4(0.5))
        pos = (centre[:, None, :] + self.corners).reshape(-1, 2)
        color = np.repeat(self.color, 3, axis=1).reshape(-1, 4)
        return pos, color
