"""The runner's OpenGL context: made once in the sandbox host before the zygote is forked, and
inherited by every child, which renders the GPU outputs with Skia's own GPU backend on it.

The context is EGL without a window (Mesa's surfaceless platform), with the desktop GL API bound:
on a machine without a GPU that is Mesa's software rasteriser, llvmpipe; on one with a GPU whose
driver Mesa or a glvnd vendor provides, that GPU. Three things make it safe to fork and to use
under the child's seccomp filter, all measured (README, "GPU output"):

- `LP_NUM_THREADS=0`: llvmpipe rasterises on the calling thread. With its default threads a child
  deadlocks on its first flush, waiting for threads fork() did not copy; and naming its threads
  would need prctl, which the filter traps.
- `MESA_SHADER_CACHE_DISABLE=true`: no on-disk shader cache, which would look the user up
  (a socket to nscd) and write under $HOME; the sandbox root is read-only anyway.
- Both are in the environment before Mesa loads (the sandbox backends set them, and `GL_ENVIRONMENT`
  is applied to os.environ before the first EGL call for the `none` backend and benchmarks).

With them, making the context, drawing, reading back and encoding need no syscall beyond the
policy's allowlist (infra/sandbox/policy.toml says so). Anything that fails on the way (no
libEGL, no vendor, no display, no context, Skia refusing the interface) leaves the runner without
a GPU, with the reason in `GpuStatus`, never a half-made context.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any

from fiddle_protocol.gpu import GpuStatus

# Set before Mesa loads; see the module's docstring for why each is needed.
GL_ENVIRONMENT = {"LP_NUM_THREADS": "0", "MESA_SHADER_CACHE_DISABLE": "true"}
# The runner's switches (runner_vm/cli.py reads them from its environment and hands them to each
# host as flags, HOST_FLAGS): a runner without a GPU (tests of the no-GPU path, operators), and a
# GL context made in every child instead of the host's warm one (only to measure what the warm
# context saves, scripts/bench.py).
DISABLE_VARIABLE = "FIDDLE_NO_GPU"
COLD_VARIABLE = "FIDDLE_GL_COLD"
NO_GPU_FLAG, GL_COLD_FLAG = "--no-gpu", "--gl-cold"


@dataclass(frozen=True)
class Switches:
    disabled: bool = False
    cold: bool = False


_switches = Switches()


def configure(flags: list[str]) -> None:
    """Take the runner's switches from the host's command-line flags."""
    global _switches
    _switches = Switches(disabled=NO_GPU_FLAG in flags, cold=GL_COLD_FLAG in flags)


def host_flags(disabled: bool, cold: bool) -> tuple[str, ...]:
    """The flags that hand the runner's switches to a host."""
    return (*((NO_GPU_FLAG,) if disabled else ()), *((GL_COLD_FLAG,) if cold else ()))

_EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
_EGL_OPENGL_API = 0x30A2
_GL_VENDOR, _GL_RENDERER, _GL_VERSION = 0x1F00, 0x1F01, 0x1F02


class GlUnavailable(RuntimeError):
    """This runner has no working GL; the message says why, in one sentence."""


@dataclass
class GlContext:
    """An EGL display and current context, and the Skia GrDirectContext made on it."""

    display: int
    context: int
    skia: Any  # skia.GrDirectContext
    status: GpuStatus


_current: GlContext | None = None
_status: GpuStatus | None = None
NOT_SET_UP = GpuStatus(available=False, reason="the sandbox host did not set up a GL context")


def apply_environment() -> None:
    """Put GL_ENVIRONMENT into this process's environment, unless the operator set other values."""
    for key, value in GL_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def set_up() -> GpuStatus:
    """Make the context once (later calls answer the first outcome). Never raises."""
    global _current, _status
    if _status is not None:
        return _status
    try:
        _current = _make_context()
        _status = _current.status
    except GlUnavailable as why:
        _status = GpuStatus(available=False, reason=str(why))
    return _status


def status() -> GpuStatus:
    return _status or NOT_SET_UP


def direct_context() -> Any | None:
    """The GrDirectContext every GPU output renders with, or None without a GPU."""
    global _current, _cold
    if _current is not None and _cold and _switches.cold:
        _cold = False  # once per process: a child makes its own, the host's is left unused
        _current = _make_context()
    return _current.skia if _current is not None else None


def mark_forked() -> None:
    """Called in each child: with COLD_VARIABLE set, its first GPU output makes a new context."""
    global _cold
    _cold = True


_cold = False


def _make_context() -> GlContext:
    if _switches.disabled:
        raise GlUnavailable(f"the GPU was turned off with {DISABLE_VARIABLE}")
    apply_environment()
    egl = _load_egl()
    display = _display(egl)
    version = _initialize(egl, display)
    context = _context(egl, display)
    skia_context = _skia_context()
    strings = _gl_strings(egl)
    _prepare_renderbuffers(egl)
    status = GpuStatus(
        available=True,
        renderer=strings[_GL_RENDERER],
        version=strings[_GL_VERSION],
        vendor=strings[_GL_VENDOR],
        egl_version=version,
        max_samples=_max_samples(skia_context),
    )
    return GlContext(display, context, skia_context, status)


def _load_egl() -> Any:
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError as error:
        raise GlUnavailable(f"libEGL.so.1 cannot be loaded ({error})") from error
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    egl.eglGetError.restype = ctypes.c_int
    return egl


def _display(egl: Any) -> int:
    address = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT") or egl.eglGetProcAddress(
        b"eglGetPlatformDisplay"
    )
    if not address:
        raise GlUnavailable("EGL has no eglGetPlatformDisplay (no EGL vendor library installed)")
    get_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)
    display = get_display(address)(_EGL_PLATFORM_SURFACELESS_MESA, None, None)
    if not display:
        raise GlUnavailable(
            "EGL has no surfaceless display (is Mesa's EGL vendor, libegl-mesa0, installed?)"
        )
    return int(display)


def _initialize(egl: Any, display: int) -> str:
    egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    major, minor = ctypes.c_int(), ctypes.c_int()
    if not egl.eglInitialize(ctypes.c_void_p(display), ctypes.byref(major), ctypes.byref(minor)):
        raise GlUnavailable(f"eglInitialize failed (EGL error {egl.eglGetError():#x})")
    if not egl.eglBindAPI(_EGL_OPENGL_API):
        raise GlUnavailable(f"EGL cannot bind the OpenGL API (EGL error {egl.eglGetError():#x})")
    return f"{major.value}.{minor.value}"


def _context(egl: Any, display: int) -> int:
    egl.eglCreateContext.restype = ctypes.c_void_p
    egl.eglCreateContext.argtypes = [ctypes.c_void_p] * 4
    context = egl.eglCreateContext(ctypes.c_void_p(display), None, None, None)
    if not context:
        raise GlUnavailable(f"EGL cannot create a GL context (EGL error {egl.eglGetError():#x})")
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    if not egl.eglMakeCurrent(ctypes.c_void_p(display), None, None, ctypes.c_void_p(context)):
        raise GlUnavailable(f"EGL cannot make its context current ({egl.eglGetError():#x})")
    return int(context)


def _skia_context() -> Any:
    import skia

    interface = skia.GrGLInterface.MakeEGL()
    context = skia.GrDirectContext.MakeGL(interface) if interface is not None else None
    if context is None:
        raise GlUnavailable("Skia cannot make a GrDirectContext on the GL context")
    return context


def _gl_strings(egl: Any) -> dict[int, str]:
    address = egl.eglGetProcAddress(b"glGetString")
    get_string = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_uint)(address)
    found = {}
    for name in (_GL_VENDOR, _GL_RENDERER, _GL_VERSION):
        value = get_string(name)
        found[name] = value.decode("utf-8", "replace") if value else ""
    return found


def _prepare_renderbuffers(egl: Any) -> None:
    from runner_vm.drawing import renderbuffer

    try:
        renderbuffer.prepare(egl.eglGetProcAddress)
    except RuntimeError as error:
        raise GlUnavailable(f"the GL context lacks framebuffer objects ({error})") from error


def _max_samples(context: Any) -> int:
    import skia

    return int(context.maxSurfaceSampleCountForColorType(skia.kRGBA_8888_ColorType))
