"""The messages between the Python process and its pages.

To a page, one binary message per frame::

    b"SBW1" | header length (uint32, little-endian) | header (UTF-8 JSON) |
    zero padding to 8 bytes | data blocks, each padded to 8 bytes

The header holds ``seq`` (the frame's number), ``size`` (the canvas),
``defs`` (objects the page lacks or holds an older version of: programs,
textures, buffers, recorded frames; each names its blocks as ``[offset,
length]`` in the data), ``deletes`` (ids of released objects the page still
holds) and ``commands`` (clears and renders, in order).

From a page, small JSON text messages: ``{"type": "drawn", "seq": N}`` once it
has drawn frame N, ``{"type": "error", "text": "..."}`` when WebGL refused
something (a shader that does not compile). Anything else closes that page's
connection.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._objects import Wire

__all__ = ["MAGIC", "PageMessageError", "Snapshot", "encode", "read_page_message"]

MAGIC = b"SBW1"
MAX_PAGE_MESSAGE = 4096  # bytes: a page says little
_ALIGN = 8


@dataclass(frozen=True)
class Snapshot:
    """A complete frame to show: the commands since the frame began and the objects
    they use (each at the version the commands drew with)."""

    seq: int
    size: tuple[int, int]
    commands: tuple[dict[str, Any], ...]
    needed: tuple[Wire, ...]


def encode(snapshot: Snapshot, have: dict[int, int], alive: Any) -> bytes:
    """The message bringing a page that holds ``have`` (id -> version) to ``snapshot``;
    ``have`` is updated to what the page holds once it reads it. ``alive(id)`` says
    whether an object still exists (the page frees the others)."""
    defs = []
    blocks: list[Any] = []
    offset = 0
    for wire in snapshot.needed:
        if have.get(wire.id) == wire.version:
            continue
        spans = []
        for blob in wire.blobs:
            length = memoryview(blob).nbytes
            spans.append([offset, length])
            blocks.append(blob)
            pad = -length % _ALIGN
            if pad:
                blocks.append(bytes(pad))
            offset += length + pad
        defs.append({**wire.header, "id": wire.id, "version": wire.version, "blocks": spans})
        have[wire.id] = wire.version
    # An object released since this frame named it is still drawn by it: it goes
    # with a later frame that no longer needs it.
    needed = {wire.id for wire in snapshot.needed}
    deletes = [oid for oid in have if oid not in needed and not alive(oid)]
    for oid in deletes:
        del have[oid]
    content = {
        "seq": snapshot.seq,
        "size": list(snapshot.size),
        "defs": defs,
        "deletes": deletes,
        "commands": list(snapshot.commands),
    }
    try:
        text = json.dumps(content, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or an infinity (a uniform, a clear colour): JSON has none
        text = json.dumps(_spelled(content), separators=(",", ":"), allow_nan=False)
    header = text.encode()
    head = MAGIC + struct.pack("<I", len(header)) + header
    return b"".join(_parts(head, blocks))


def _spelled(value: Any) -> Any:
    """``value`` with each non-finite float as the string the page reads back with
    ``Number()`` ("NaN", "Infinity", "-Infinity"), as GL takes them from moderngl."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _spelled(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_spelled(item) for item in value]
    return value


def _parts(head: bytes, blocks: list[Any]) -> Iterable[Any]:
    yield head
    yield bytes(-len(head) % _ALIGN)
    yield from blocks


class PageMessageError(ValueError):
    """A message from a page that breaks the protocol (its connection is closed)."""


def read_page_message(message: object) -> dict[str, Any]:
    """A page's message, validated: ``{"type": "drawn", "seq": int}`` or
    ``{"type": "error", "text": str}``."""
    if not isinstance(message, str):
        raise PageMessageError("pages send JSON text, not binary messages")
    if len(message) > MAX_PAGE_MESSAGE:
        raise PageMessageError(
            f"a message of {len(message)} characters (at most {MAX_PAGE_MESSAGE})"
        )
    try:
        data = json.loads(message)
    except ValueError:
        raise PageMessageError("a message that is not JSON") from None
    if not isinstance(data, dict):
        raise PageMessageError("a message that is not a JSON object")
    kind = data.get("type")
    if kind == "drawn" and set(data) == {"type", "seq"}:
        seq = data["seq"]
        if type(seq) is int and seq >= 0:
            return data
    elif kind == "error" and set(data) == {"type", "text"} and isinstance(data["text"], str):
        return data
    raise PageMessageError(f"an unknown message {message[:80]!r}")
