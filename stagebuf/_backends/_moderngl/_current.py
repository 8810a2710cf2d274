"""Run GL calls on one moderngl context and put back whatever was current before.

``with on(ctx): ...`` makes ``ctx`` current for the block and, on the way
out (normal exit, exception, KeyboardInterrupt), makes current again exactly
the native context, display and draw/read surfaces that were current when the
block began, or none when none was. When ``ctx`` is already current (the
single-context program) the block costs one native query and switches nothing.

Why not moderngl's own ``with ctx:``: moderngl forwards ``__enter__`` and
``__exit__`` to its glcontext backend, and those differ:

- glcontext's EGL backend (``create_context(standalone=True, backend="egl")``)
  switches on enter, but its exit makes *no* context current instead of the
  previous one;
- glcontext's X11/GLX backend (standalone, or ``detect``/``share`` contexts of a
  window) saves the previous context in one slot per context: a nested enter of
  the same context overwrites it, so the outer exit restores the wrong one;
- the loader moderngl uses for ``moderngl.create_context()`` in a glfw, pyglet
  or moderngl-window window (``_moderngl.DefaultLoader``) does nothing at all
  on enter or exit: such a context cannot be made current by moderngl.

So this module switches with moderngl's enter (only moderngl knows the
context's display and surfaces) and restores with its own record of what was
current, read through EGL's and GLX's ``GetCurrent*`` functions (ctypes, on
the libraries glcontext loads: ``libEGL`` and ``libGL``, honouring glcontext's
``GLCONTEXT_LINUX_LIBEGL`` / ``GLCONTEXT_LINUX_LIBGL``). It then checks that the
native context current after the switch *is* ``ctx``'s: if not (a window
context while another window's context is current, a switch the driver
refused), it raises :class:`StagerError` before any GL call is made, rather
than letting the caller write into another context's objects.

How ``ctx``'s native context is known: a context whose backend switches (EGL,
GLX) is made current once, from no current context, and the native handle
read back. A context that cannot switch (``DefaultLoader``) is identified by
the native context current when stagebuf first meets it: :func:`remember` at
the creation of a stager or a mesh (the application has just made the
context, or is drawing with it, so its window is current), else the first
:func:`on`. A window context first met while another window's context is
current is taken for that one: nothing in GL tells two such contexts apart.

Nesting and threads: what to restore is kept per ``with`` block, so blocks
nest (the same context or others) and each thread restores its own current
context. An exception or KeyboardInterrupt during the switch itself (before
the block runs) restores too.

Cost (EGL on llvmpipe, GLX under Xvfb; CPython 3.11): about 0.65 us per block
when ``ctx`` is already current (one ``eglGetCurrentContext`` or
``glXGetCurrentContext`` through ctypes); about 4-5 us when it switches and
switches back. :func:`is_current` is about 0.45 us and answers False for a
context whose native handle is not known yet.

Off Linux (WGL, CGL), or where neither library can be loaded, ``on`` falls
back to moderngl's own ``__enter__``/``__exit__`` pair and checks nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import weakref
from ctypes.util import find_library
from typing import Any

from ..._errors import StagerError

__all__ = ["CurrentContext", "NativeState", "current_native", "is_current", "on", "remember"]

# eglGetCurrentSurface's argument: the draw or the read surface.
_EGL_DRAW = 0x3059
_EGL_READ = 0x305A

_VOIDP = ctypes.c_void_p


class _Api:
    """One native window-system API (EGL or GLX) through ctypes: what is current, and
    making a saved state current again. Loaded lazily, only from a library the
    process has already loaded (nothing of that API can be current otherwise)."""

    __slots__ = ("_funcs", "_libname", "_names", "name")

    def __init__(self, name: str, env: str, lib: str) -> None:
        self.name = name
        self._names = (env, lib)
        self._libname: str | None = None
        self._funcs: tuple[Any, ...] = ()

    def loaded(self, *, load: bool = False) -> bool:
        """Whether the library is loaded in this process (then its functions are);
        ``load`` loads it when it is not (for a context known to use this API)."""
        if self._funcs:
            return True
        if not sys.platform.startswith("linux"):
            return False
        if self._libname is None:
            env, lib = self._names
            # The names glcontext dlopens; find_library runs ldconfig: once per process.
            self._libname = os.environ.get(env) or find_library(lib) or ""
        if not self._libname:
            return False
        mode = os.RTLD_LOCAL if load else os.RTLD_NOLOAD | os.RTLD_LOCAL
        try:
            dll = ctypes.CDLL(self._libname, mode=mode)
        except OSError:
            return False  # not loaded (yet): nothing of this API can be current
        self._funcs = self._bind(dll)
        return True

    def _bind(self, dll: Any) -> tuple[Any, ...]:
        raise NotImplementedError

    def context(self) -> int:
        """The native context current on this thread (0 when none)."""
        raise NotImplementedError

    def state(self) -> NativeState | None:
        """What is current on this thread (None when no context of this API is)."""
        raise NotImplementedError

    def make_current(self, state: NativeState) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        """Make no context of this API current on this thread."""
        raise NotImplementedError


class _Egl(_Api):
    __slots__ = ()

    def _bind(self, dll: Any) -> tuple[Any, ...]:
        get_context = dll.eglGetCurrentContext
        get_context.restype, get_context.argtypes = _VOIDP, []
        get_display = dll.eglGetCurrentDisplay
        get_display.restype, get_display.argtypes = _VOIDP, []
        get_surface = dll.eglGetCurrentSurface
        get_surface.restype, get_surface.argtypes = _VOIDP, [ctypes.c_int]
        make_current = dll.eglMakeCurrent
        make_current.restype = ctypes.c_uint
        make_current.argtypes = [_VOIDP, _VOIDP, _VOIDP, _VOIDP]
        return get_context, get_display, get_surface, make_current

    def context(self) -> int:
        return self._funcs[0]() or 0

    def state(self) -> NativeState | None:
        get_context, get_display, get_surface, _ = self._funcs
        context = get_context()
        if not context:
            return None
        draw, read = get_surface(_EGL_DRAW), get_surface(_EGL_READ)
        return NativeState(self, get_display(), draw, read, context)

    def make_current(self, state: NativeState) -> bool:
        return bool(self._funcs[3](state.display, state.draw, state.read, state.context))

    def release(self) -> None:
        _, get_display, _, make_current = self._funcs
        display = get_display()
        if display:
            make_current(display, None, None, None)


class _Glx(_Api):
    __slots__ = ()

    def _bind(self, dll: Any) -> tuple[Any, ...]:
        get_context = dll.glXGetCurrentContext
        get_context.restype, get_context.argtypes = _VOIDP, []
        get_display = dll.glXGetCurrentDisplay
        get_display.restype, get_display.argtypes = _VOIDP, []
        get_draw = dll.glXGetCurrentDrawable
        get_draw.restype, get_draw.argtypes = ctypes.c_ulong, []
        get_read = dll.glXGetCurrentReadDrawable  # GLX 1.3
        get_read.restype, get_read.argtypes = ctypes.c_ulong, []
        make_current = dll.glXMakeContextCurrent
        make_current.restype = ctypes.c_int
        make_current.argtypes = [_VOIDP, ctypes.c_ulong, ctypes.c_ulong, _VOIDP]
        return get_context, get_display, get_draw, get_read, make_current

    def context(self) -> int:
        return self._funcs[0]() or 0

    def state(self) -> NativeState | None:
        get_context, get_display, get_draw, get_read, _ = self._funcs
        context = get_context()
        if not context:
            return None
        return NativeState(self, get_display(), get_draw(), get_read(), context)

    def make_current(self, state: NativeState) -> bool:
        return bool(self._funcs[4](state.display, state.draw, state.read, state.context))

    def release(self) -> None:
        _, get_display, _, _, make_current = self._funcs
        display = get_display()
        if display:
            make_current(display, 0, 0, None)


EGL = _Egl("EGL", "GLCONTEXT_LINUX_LIBEGL", "EGL")
GLX = _Glx("GLX", "GLCONTEXT_LINUX_LIBGL", "GL")
_APIS = (EGL, GLX)


class NativeState:
    """What was current on a thread: the API, display, draw and read surfaces, context."""

    __slots__ = ("api", "context", "display", "draw", "read")

    def __init__(self, api: _Api, display: Any, draw: Any, read: Any, context: int) -> None:
        self.api = api
        self.display = display
        self.draw = draw
        self.read = read
        self.context = context

    def __repr__(self) -> str:
        return f"<{self.api.name} context 0x{self.context:x}>"


def current_native() -> NativeState | None:
    """What is current on this thread (EGL or GLX), or None when no context is."""
    for api in _APIS:
        if api.loaded():
            state = api.state()
            if state is not None:
                return state
    return None


# glcontext's backends whose __enter__ makes their own context current, by module.
_SWITCHING = {"egl": EGL, "glcontext.egl": EGL, "x11": GLX, "glcontext.x11": GLX}


class CurrentContext:
    """How to make one moderngl context current (one per context, see :func:`on`).

    ``api`` is the native API (EGL, GLX; None off Linux), ``switches`` whether
    moderngl's ``__enter__`` really switches to the context, ``handle`` its
    native context once known (0 before).
    """

    __slots__ = ("api", "handle", "switches")

    def __init__(self, ctx: Any) -> None:
        backend = getattr(getattr(ctx, "mglo", None), "_context", None)
        api = _SWITCHING.get(type(backend).__module__)
        self.switches = api is not None
        self.api: _Api | None = api if api is not None and api.loaded(load=True) else None
        self.handle = 0

    def describe(self, ctx: Any) -> str:
        if self.switches:
            return f"the moderngl context {ctx!r} ({self.api.name if self.api else '?'})"
        return (
            f"the moderngl context {ctx!r}, a window context moderngl detected "
            f"(moderngl.create_context() in a window)"
        )

    def refusal(self, ctx: Any, now: int) -> str:
        """Why ``ctx`` is not current after the switch (``now``: the native context that is)."""
        api = self.api.name if self.api is not None else "GL"
        now_name = hex(now) if now else "none"
        which = f"the current {api} context is {now_name}, not its own (0x{self.handle:x})"
        if self.switches:
            return (
                f"cannot make {self.describe(ctx)} current: after the switch {which}. "
                f"Nothing was staged or drawn."
            )
        return (
            f"{self.describe(ctx)[0].upper()}{self.describe(ctx)[1:]} is not current and "
            f"cannot be made current (moderngl's __enter__ does nothing for it): {which}. "
            f"Nothing was staged or drawn; make its window's context current first "
            f"(glfw.make_context_current(window), window.switch_to() in pyglet), or use "
            f"moderngl.create_context(standalone=True) for a context of your own."
        )

    def learn(self, ctx: Any) -> None:
        """Find the native context of ``ctx`` (see the module docstring)."""
        if self.switches:
            # Enter from nothing current, so that a refused switch reads 0, not the
            # context that was current before.
            saved = current_native()
            try:
                if saved is not None:
                    saved.api.release()
                ctx.__enter__()
                self.handle = self.api.context() if self.api is not None else 0
            finally:
                _restore(saved, self.api)
            if not self.handle:
                raise StagerError(
                    f"cannot make {self.describe(ctx)} current: the driver refused the "
                    f"switch (no context is current after it)."
                )
            return
        state = current_native()
        if state is None:
            raise StagerError(
                f"no GL context is current, so {self.describe(ctx)} cannot be identified: "
                f"make its window's context current first (glfw.make_context_current(window), "
                f"window.switch_to() in pyglet)."
            )
        self.api, self.handle = state.api, state.context


_KNOWN: weakref.WeakKeyDictionary[Any, CurrentContext] = weakref.WeakKeyDictionary()


def _info(ctx: Any) -> CurrentContext:
    try:
        return _KNOWN[ctx]
    except KeyError:
        pass
    if type(getattr(ctx, "mglo", None)).__name__ == "InvalidObject":
        raise StagerError(f"the moderngl context {ctx!r} was released.") from None
    info = _KNOWN[ctx] = CurrentContext(ctx)
    return info


def remember(ctx: Any) -> None:
    """Record which native context ``ctx`` is, while the application has it current.

    Call when a stager or mesh is made. Needed only for window contexts that
    moderngl cannot switch (the others are found by switching to them); cheap
    and harmless for every context. When no context at all is current it does
    nothing: the first :func:`on` then identifies the context, or says why not.
    """
    info = _info(ctx)
    if not info.switches and not info.handle and current_native() is not None:
        info.learn(ctx)


def _linux_apis() -> bool:
    return any(api.loaded() for api in _APIS)


def is_current(ctx: Any) -> bool:
    """Whether ``ctx``'s native context is current on this thread (False if unknown)."""
    info = _info(ctx)
    return info.api is not None and info.handle != 0 and info.api.context() == info.handle


def _restore(saved: NativeState | None, api: _Api | None) -> None:
    """Make ``saved`` current again, or nothing when nothing was (``api``: the one the
    block switched to). A saved context destroyed meanwhile cannot come back:
    then nothing is left current rather than the block's context."""
    if saved is None:
        if api is not None:
            api.release()
        return
    if api is not None and saved.api is not api:
        api.release()  # EGL and GLX cannot both be current (libglvnd refuses it)
    if not saved.api.make_current(saved):
        saved.api.release()


# What the exit of an `on` block does.
_NOTHING, _MODERNGL_EXIT, _RESTORE = 0, 1, 2


class on:  # noqa: N801 - a context manager used as `with on(ctx):`, like a function
    """``with on(ctx):`` runs the block with ``ctx`` current and restores what was.

    Cheap when ``ctx`` is already current: one native query, no switch, nothing
    to restore. Raises :class:`StagerError` (before the block runs) when ``ctx``
    was released or cannot be made current (a released context whose native
    handle was reused by a live one may pass the cheap check: check
    ``is_released`` first, as the stager and mesh do). Nests, also with other contexts.
    The context manager returns ``ctx``.
    """

    __slots__ = ("_ctx", "_exit", "_info", "_saved")

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._info = _info(ctx)
        self._exit = _NOTHING
        self._saved: NativeState | None = None

    def __enter__(self) -> Any:
        ctx, info = self._ctx, self._info
        api = info.api
        if info.handle and api is not None and api.context() == info.handle:
            return ctx  # already current: the common case
        if api is None and (info.switches or not _linux_apis()):
            ctx.__enter__()  # off Linux: moderngl's own pair, unchecked
            self._exit = _MODERNGL_EXIT
            return ctx
        if type(getattr(ctx, "mglo", None)).__name__ == "InvalidObject":
            raise StagerError(f"the moderngl context {ctx!r} was released.")
        if not info.handle:
            info.learn(ctx)
            if not info.switches:
                return ctx  # first sight of a window context: what is current is it
            api = info.api
        saved = current_native()
        try:
            if saved is not None and saved.api is not api:
                saved.api.release()  # EGL and GLX cannot both be current (libglvnd)
            ctx.__enter__()
            now = api.context() if api is not None else 0
            if now != info.handle:
                raise StagerError(info.refusal(ctx, now))
        except BaseException:
            _restore(saved, api)
            raise
        self._saved = saved
        self._exit = _RESTORE
        return ctx

    def __exit__(self, *exc: object) -> None:
        how = self._exit
        if how == _NOTHING:
            return
        self._exit = _NOTHING
        if how == _MODERNGL_EXIT:
            self._ctx.__exit__(None, None, None)
        else:
            _restore(self._saved, self._info.api)
