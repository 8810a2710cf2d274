"""The few GL functions moderngl does not expose, loaded through ctypes: persistent
mapping (GL 4.4 / ARB_buffer_storage) and fences (GL 3.2).

moderngl offers no buffer mapping and no fences, so the ``"mapped"`` strategy
calls GL itself, on the buffer names moderngl reports (``Buffer.glo``). The
functions come from the context's own loader (glcontext's
``load_opengl_function``, the one moderngl loaded its own functions with) or,
for a context without one (``moderngl.create_context()`` in a window), from the
platform's ``GetProcAddress``: ``eglGetProcAddress`` (libEGL),
``glXGetProcAddressARB`` (libGL), ``wglGetProcAddress`` (opengl32, Windows).
This is the only module that calls GL through ctypes.

Every call here must run with the context current (the uploader's ``on(ctx)``).
Buffers are bound to ``GL_COPY_WRITE_BUFFER``, a target that no vertex array
records and that moderngl re-binds before each use, so nothing of moderngl's
state is disturbed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes.util import find_library
from typing import Any

__all__ = ["NO_MAPPED_ENV", "GlFuncs", "load"]

NO_MAPPED_ENV = "STAGEBUF_NO_MAPPED"
"""``STAGEBUF_NO_MAPPED=1`` in the environment turns the ``"mapped"`` strategy off
(the default strategy is then ``"ring"``), read when a stager is made."""

_COPY_WRITE_BUFFER = 0x8F37
_MAP_WRITE = 0x0002
_MAP_PERSISTENT = 0x0040
_MAP_COHERENT = 0x0080
_DYNAMIC_STORAGE = 0x0100  # glBufferSubData stays allowed: a growth copies with Buffer.write
_SYNC_GPU_COMMANDS_COMPLETE = 0x9117
_SYNC_FLUSH_COMMANDS = 0x0001
_ALREADY_SIGNALED = 0x911A
_CONDITION_SATISFIED = 0x911C
_TIMEOUT_EXPIRED = 0x911B
_WAIT_FAILED = 0x911D
_WAIT_NS = 1_000_000_000  # one wait's timeout; a frame waits again until the GPU is done

# Coherent and write-only: the upload needs no call at all (an explicit flush would be
# one glFlushMappedBufferRange per buffer per frame). On llvmpipe both are plain CPU
# memory; explicit flushing was not measured against it on a discrete GPU.
STORAGE_FLAGS = _MAP_WRITE | _MAP_PERSISTENT | _MAP_COHERENT | _DYNAMIC_STORAGE
MAP_FLAGS = _MAP_WRITE | _MAP_PERSISTENT | _MAP_COHERENT

_VOIDP = ctypes.c_void_p
_SIZE = ctypes.c_ssize_t  # GLsizeiptr / GLintptr
_UINT = ctypes.c_uint
_FUNCTYPE: Any = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)  # stdcall on Windows

# name -> (restype, argtypes)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "glBindBuffer": (None, [_UINT, _UINT]),
    "glBufferStorage": (None, [_UINT, _SIZE, _VOIDP, _UINT]),
    "glMapBufferRange": (_VOIDP, [_UINT, _SIZE, _SIZE, _UINT]),
    "glUnmapBuffer": (ctypes.c_ubyte, [_UINT]),
    "glFenceSync": (_VOIDP, [_UINT, _UINT]),
    "glClientWaitSync": (_UINT, [_VOIDP, _UINT, ctypes.c_uint64]),
    "glDeleteSync": (None, [_VOIDP]),
}


class GlFuncs:
    """The functions of one context, typed; ``problem`` says why mapping cannot run."""

    __slots__ = ("funcs", "problem")

    def __init__(self, funcs: dict[str, Any], problem: str | None) -> None:
        self.funcs = funcs
        self.problem = problem

    def storage(self, glo: int, size: int) -> int:
        """Give buffer ``glo`` immutable storage of ``size`` bytes and map all of it
        persistently; return the address (0 when GL refused)."""
        f = self.funcs
        f["glBindBuffer"](_COPY_WRITE_BUFFER, glo)
        try:
            f["glBufferStorage"](_COPY_WRITE_BUFFER, size, None, STORAGE_FLAGS)
            return int(f["glMapBufferRange"](_COPY_WRITE_BUFFER, 0, size, MAP_FLAGS) or 0)
        finally:
            f["glBindBuffer"](_COPY_WRITE_BUFFER, 0)

    def unmap(self, glo: int) -> None:
        """Unmap buffer ``glo`` (deleting it would too; unmapping first says it is done)."""
        f = self.funcs
        f["glBindBuffer"](_COPY_WRITE_BUFFER, glo)
        f["glUnmapBuffer"](_COPY_WRITE_BUFFER)
        f["glBindBuffer"](_COPY_WRITE_BUFFER, 0)

    def fence(self) -> int:
        """A fence after the commands issued so far."""
        return int(self.funcs["glFenceSync"](_SYNC_GPU_COMMANDS_COMPLETE, 0) or 0)

    def wait(self, fence: int) -> bool:
        """Block until ``fence`` is signalled; return whether it had not been yet."""
        wait = self.funcs["glClientWaitSync"]
        status = wait(fence, _SYNC_FLUSH_COMMANDS, 0)
        if status in (_ALREADY_SIGNALED, _CONDITION_SATISFIED):
            return False
        while status == _TIMEOUT_EXPIRED:
            status = wait(fence, _SYNC_FLUSH_COMMANDS, _WAIT_NS)
        # WAIT_FAILED (a lost context): nothing the GPU does can be waited for any more.
        return True

    def delete_fence(self, fence: int) -> None:
        self.funcs["glDeleteSync"](fence)


def load(ctx: Any) -> GlFuncs:
    """The functions for ``ctx`` (current), or a :class:`GlFuncs` whose ``problem``
    names what is missing: GL 4.4 or ARB_buffer_storage, a function, or the switch."""
    version = int(ctx.version_code)
    if version < 440 and "GL_ARB_buffer_storage" not in ctx.extensions:
        return GlFuncs({}, f"it needs GL 4.4 or GL_ARB_buffer_storage; this context is {version}")
    proc = _loader(ctx)
    if proc is None:
        return GlFuncs({}, "no GL function loader was found for this context")
    funcs = {}
    for name, (restype, argtypes) in _SIGNATURES.items():
        address = proc(name)
        if not address:
            return GlFuncs({}, f"the context's loader has no {name}")
        funcs[name] = _FUNCTYPE(restype, *argtypes)(address)
    # Switched off, the functions are still loaded: buffers mapped before the switch
    # (a stager made earlier) are unmapped with them.
    switch = os.environ.get(NO_MAPPED_ENV, "")
    return GlFuncs(funcs, None if switch in ("", "0") else f"{NO_MAPPED_ENV}={switch} is set")


def _loader(ctx: Any) -> Any:
    """``name -> address`` for ``ctx``: glcontext's own loader, else the platform's."""
    own = getattr(
        getattr(getattr(ctx, "mglo", None), "_context", None), "load_opengl_function", None
    )
    if own is not None:
        return lambda name: int(own(name) or 0)
    try:
        if sys.platform.startswith("win"):
            lib = ctypes.WinDLL("opengl32.dll")  # type: ignore[attr-defined]
            get = lib.wglGetProcAddress
        elif sys.platform.startswith("linux"):
            from ._current import current_native

            state = current_native()
            if state is not None and state.api.name == "GLX":
                get = ctypes.CDLL(find_library("GL") or "libGL.so.1").glXGetProcAddressARB
            else:
                get = ctypes.CDLL(find_library("EGL") or "libEGL.so.1").eglGetProcAddress
        else:
            return None  # macOS stops at GL 4.1: no buffer storage
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = _VOIDP, [ctypes.c_char_p]
    return lambda name: int(get(name.encode()) or 0)
