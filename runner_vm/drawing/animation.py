"""Animated fiddles: draw(canvas) once per frame, encoded as a VP9 WebM (the registry's
"animation", and on a runner with a GPU "gpu_animation"), inside the child with PyAV's FFmpeg
and libvpx.

Frames, as in Skia Fiddle: 60 a second, frames 0 to n = int(60 x duration) inclusive, the global
`frame` going from 0 to 1 (i / n) and `duration` holding the seconds. Each video is drawn on one
surface, frame after frame, and each frame is encoded as soon as it is drawn (no frame is kept).

What an animation may cost is the policy's (infra/sandbox/policy.toml [animation]): its frame
count and its pixels x frames are refused before anything is drawn (`refusal`, which the host
checks before it starts a child); a small one is encoded losslessly (4:4:4 planar RGB, the exact
pixels), a larger one lossy (crf 30, 4:2:0); the CPU time spent encoding both videos is held to
max_encode_seconds. All of it counts against the run's one CPU limit.

The video has no alpha channel: a frame is its premultiplied pixels, so what is transparent is
black. Colour: frames are read back as 8-bit sRGB (an f16 canvas is converted from linear).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from typing import Any

import skia

from fiddle_protocol.messages import Limit
from fiddle_protocol.options import FiddleOptions
from runner_vm.drawing import gpu, render
from runner_vm.policy import AnimationLimits

FPS = 60
CODEC = "libvpx-vp9"
LOSSLESS = {"lossless": "1", "deadline": "realtime", "cpu-used": "8"}
LOSSY = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}

# The policy's limits; the host sets them before the zygote is forked (configure).
_limits = AnimationLimits()


class EncoderMissing(RuntimeError):
    """This runner's build has no PyAV: animations cannot be encoded (its run says so)."""


class AnimationLimitHit(Exception):
    """An animation ran into one of the policy's limits; `limit` says which, with its number."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(limit.sentence)
        self.limit = limit


def configure(limits: AnimationLimits) -> None:
    global _limits
    _limits = limits


def frame_count(options: FiddleOptions) -> int:
    """Frames 0 to int(60 x duration), inclusive."""
    return int(FPS * options.duration) + 1


def progress(options: FiddleOptions) -> Iterator[float]:
    """The `frame` global of each frame: 0 to 1."""
    last = frame_count(options) - 1
    for index in range(last + 1):
        yield index / last if last else 0.0


def refusal(options: FiddleOptions, limits: AnimationLimits) -> Limit | None:
    """The limit an animated fiddle's options exceed before anything is drawn, or None."""
    if not options.animated or options.text_only:
        return None
    frames = frame_count(options)
    if frames > limits.max_frames:
        return Limit("frames", limits.max_frames, detail=str(frames))
    pixel_frames = options.width * options.height * frames
    if pixel_frames > limits.max_pixel_frames:
        return Limit("frame_pixels", limits.max_pixel_frames, detail=f"{pixel_frames:,}")
    return None


def lossless(options: FiddleOptions, limits: AnimationLimits) -> bool:
    return options.width * options.height * frame_count(options) <= limits.lossless_max_pixel_frames


def cpu_webm(program: render.Program, options: FiddleOptions) -> bytes:
    _check(options)
    program.begin_pass(options)
    surface = skia.Surface.MakeRaster(render.image_info(options))
    return _animate(program, options, surface, lambda: surface.makeImageSnapshot())


def gpu_webm(program: render.Program, options: FiddleOptions) -> bytes:
    _check(options)
    context = gpu.require_context()
    surface = gpu.render_target(context, options)
    program.begin_pass(options, context)
    return _animate(program, options, surface, lambda: gpu.read_back(context, surface))


def _check(options: FiddleOptions) -> None:
    refused = refusal(options, _limits)
    if refused is not None:
        raise AnimationLimitHit(refused)


def _animate(program: render.Program, options: FiddleOptions, surface: Any, snapshot: Any) -> bytes:
    encoder = Encoder(*options.size, lossless(options, _limits), program)
    for frame in progress(options):
        program.draw_on(surface.getCanvas(), frame)
        encoder.add(frame_pixels(snapshot(), options))
    return encoder.finish()


def frame_pixels(image: Any, options: FiddleOptions) -> Any:
    """A frame as height x width x 4 bytes of premultiplied RGBA, in sRGB when the canvas has a
    colour space."""
    space = skia.ColorSpace.MakeSRGB() if options.srgb else None
    return image.toarray(
        colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kPremul_AlphaType, colorSpace=space
    )


def load_encoder(options: FiddleOptions) -> None:
    """Import PyAV in a child that will encode (runner_vm/child/imports.py then lets a fiddle import
    only the documented packages, and PyAV is the runner's, not the fiddle's). A build without it
    is told apart later, by the Encoder, with its sentence."""
    if options.animated and not options.text_only:
        with contextlib.suppress(ImportError):
            import av  # noqa: F401


class Encoder:
    """One VP9 WebM in memory, one frame at a time, with its CPU time held to the policy's."""

    def __init__(self, width: int, height: int, exact: bool, program: render.Program) -> None:
        try:
            import av
        except ImportError as error:
            raise EncoderMissing(
                "animations cannot be encoded on this runner: its Skia build has no PyAV (av)"
            ) from error

        self._av = av
        self._program = program
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="webm")
        stream: Any = self._container.add_stream(CODEC, rate=FPS)  # a VideoStream
        stream.width, stream.height = width, height
        stream.pix_fmt = "gbrp" if exact else "yuv420p"
        stream.options = dict(LOSSLESS if exact else LOSSY)
        stream.codec_context.thread_count = 1  # threads would count against RLIMIT_NPROC
        self._stream = stream

    def add(self, rgba: Any) -> None:
        frame = self._av.VideoFrame.from_ndarray(rgba, format="rgba")
        self._timed(lambda: self._mux(self._stream.encode(frame)))

    def finish(self) -> bytes:
        self._timed(lambda: self._mux(self._stream.encode(None)))
        self._container.close()
        return self._buffer.getvalue()

    def _mux(self, packets: Any) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _timed(self, work: Any) -> None:
        started = time.process_time()
        try:
            work()
        finally:
            self._program.encode_seconds += time.process_time() - started
        if self._program.encode_seconds > _limits.max_encode_seconds:
            raise AnimationLimitHit(Limit("encode", _limits.max_encode_seconds, "s"))


def warm_up() -> None:
    """Read frames back as a video takes them (toarray, colour conversion), on the CPU and the
    GPU, before forking. PyAV itself is imported only by a child that encodes: its import
    brings in `threading`, whose fork handlers would cost every child of the zygote about 130
    page faults (measured), still fiddles included; a child imports it in about 55 ms of CPU."""
    options = FiddleOptions(width=16, height=16, animated=True, duration=1 / FPS, srgb=True)
    surface = skia.Surface.MakeRaster(render.image_info(options))
    surface.getCanvas().clear(skia.ColorRED)
    frame_pixels(surface.makeImageSnapshot(), options)
    context = gpu.gl.direct_context()
    if context is not None:
        target = gpu.render_target(context, options)
        target.getCanvas().clear(skia.ColorRED)
        frame_pixels(gpu.read_back(context, target), options)
