"""A minimal PNG writer (zlib + struct): RGB or RGBA, 8 bits per channel."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["read_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png(path: str | Path, pixels: npt.NDArray[Any]) -> None:
    """Write ``pixels`` (uint8, shape (height, width, 3 or 4), top row first) to ``path``."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(
            f"write_png: expected uint8 pixels of shape (height, width, 3|4); got "
            f"{arr.dtype} {arr.shape}."
        )
    height, width, channels = arr.shape
    if height == 0 or width == 0:
        raise ValueError(f"write_png: the image is empty ({width}x{height}).")
    color_type = 6 if channels == 4 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" for every scanline
    rows[:, 1:] = arr.reshape(height, width * channels)
    data = zlib.compress(rows.tobytes(), 6)
    Path(path).write_bytes(
        _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    )


def read_png(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read a PNG written by :func:`write_png` (8-bit RGB/RGBA, no interlace, filter 0)."""
    blob = Path(path).read_bytes()
    if not blob.startswith(_SIGNATURE):
        raise ValueError(f"read_png: {path} is not a PNG file.")
    pos = len(_SIGNATURE)
    idat = b""
    width = height = channels = 0
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        data = blob[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if depth != 8 or color_type not in (2, 6) or interlace:
                raise ValueError(f"read_png: unsupported PNG format in {path}.")
            channels = 4 if color_type == 6 else 3
        elif kind == b"IDAT":
            idat += data
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    if np.any(rows[:, 0] != 0):
        raise ValueError(f"read_png: {path} uses scanline filters this reader does not handle.")
    out: npt.NDArray[np.uint8] = rows[:, 1:].reshape(height, width, channels).copy()
    return out
