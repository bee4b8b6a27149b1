"""A render target that is not a texture: a GL framebuffer with a renderbuffer as its colour
attachment, wrapped by Skia (Skia Fiddle's non-texturable offscreen target, `offscreen_texturable`
false). Made with a few GL calls through EGL's function table, on the context every child
inherits; Skia is told afterwards that the GL state changed behind its back.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import skia

_FRAMEBUFFER, _RENDERBUFFER, _COLOR_ATTACHMENT0 = 0x8D40, 0x8D41, 0x8CE0
_FRAMEBUFFER_COMPLETE = 0x8CD5
_RGBA8, _RGBA16F = 0x8058, 0x881A
_UINT, _INT, _POINTER = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p


def surface(context: Any, info: Any, samples: int) -> Any | None:
    """A skia.Surface drawing into a new renderbuffer of info's size, or None if GL refuses."""
    f16 = info.colorType() == skia.kRGBA_F16_ColorType
    internal_format = _RGBA16F if f16 else _RGBA8
    framebuffer = _framebuffer(info.width(), info.height(), samples, internal_format)
    context.resetContext()
    if framebuffer is None:
        return None
    target = skia.GrBackendRenderTarget(
        info.width(), info.height(), samples, 0,
        skia.GrGLFramebufferInfo(framebuffer, internal_format),
    )  # fmt: skip
    color_type = skia.kRGBA_F16_ColorType if f16 else skia.kRGBA_8888_ColorType
    return skia.Surface.MakeFromBackendRenderTarget(
        context, target, skia.kTopLeft_GrSurfaceOrigin, color_type, info.refColorSpace(), None
    )


def _framebuffer(width: int, height: int, samples: int, internal_format: int) -> int | None:
    framebuffer, renderbuffer = _UINT(), _UINT()
    _gl("glGenFramebuffers", None, _INT, _POINTER)(1, ctypes.byref(framebuffer))
    _gl("glBindFramebuffer", None, _UINT, _UINT)(_FRAMEBUFFER, framebuffer.value)
    _gl("glGenRenderbuffers", None, _INT, _POINTER)(1, ctypes.byref(renderbuffer))
    _gl("glBindRenderbuffer", None, _UINT, _UINT)(_RENDERBUFFER, renderbuffer.value)
    storage = _gl("glRenderbufferStorageMultisample", None, _UINT, _INT, _UINT, _INT, _INT)
    storage(_RENDERBUFFER, samples, internal_format, width, height)
    attach = _gl("glFramebufferRenderbuffer", None, _UINT, _UINT, _UINT, _UINT)
    attach(_FRAMEBUFFER, _COLOR_ATTACHMENT0, _RENDERBUFFER, renderbuffer.value)
    complete = _gl("glCheckFramebufferStatus", _UINT, _UINT)(_FRAMEBUFFER)
    return framebuffer.value if complete == _FRAMEBUFFER_COMPLETE else None


# The GL functions, looked up once in the host before the zygote is forked (prepare): looked up
# first in a forked child, glvnd hands out entry points that do nothing (measured: the
# framebuffer never completes).
_functions: dict[str, Callable[..., Any]] = {}
_SIGNATURES: dict[str, tuple[Any, ...]] = {
    "glGenFramebuffers": (None, _INT, _POINTER),
    "glBindFramebuffer": (None, _UINT, _UINT),
    "glGenRenderbuffers": (None, _INT, _POINTER),
    "glBindRenderbuffer": (None, _UINT, _UINT),
    "glRenderbufferStorageMultisample": (None, _UINT, _INT, _UINT, _INT, _INT),
    "glFramebufferRenderbuffer": (None, _UINT, _UINT, _UINT, _UINT),
    "glCheckFramebufferStatus": (_UINT, _UINT),
}


def prepare(get_proc_address: Callable[[bytes], int | None]) -> None:
    """Look up every GL function this module calls, with the context current."""
    for name, (result, *arguments) in _SIGNATURES.items():
        address = get_proc_address(name.encode("ascii"))
        if not address:
            raise RuntimeError(f"GL has no {name}")
        _functions[name] = ctypes.CFUNCTYPE(result, *arguments)(address)


def _gl(name: str, *_signature: Any) -> Callable[..., Any]:
    return _functions[name]
