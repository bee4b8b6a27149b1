"""Compile and run one fiddle, in whatever process calls it (the confined child, or a benchmark).

User code is compiled under the file name `draw.py`, so its tracebacks can be cut down to the
user's own lines: the runner's frames are never shown.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, TracebackType
from typing import Any

from runner_vm import cuts, images, render
from runner_vm.outputs import canvas_size
from runner_vm.protocol import CompileError, RunRequest
from runner_vm.refusals import ForbiddenCall

USER_FILENAME = "draw.py"
MAX_FRAMES = 50


class _CappedText(io.TextIOBase):
    """What the program prints, kept up to cuts.TEXT_LIMIT (UTF-8 bytes) and counted beyond, so
    that the cut can say how much was printed."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: list[bytes] = []
        self._room = cuts.TEXT_LIMIT
        self.printed = 0

    def write(self, text: str) -> int:
        data = cuts.utf8(text)
        self.printed += len(data)
        if self._room > 0:
            self._kept.append(data[: self._room])
            self._room -= len(self._kept[-1])
        return len(text)

    def getvalue(self) -> str:
        text = cuts.head(b"".join(self._kept), cuts.TEXT_LIMIT)
        if self.printed > cuts.TEXT_LIMIT:
            text += cuts.printed_note(self.printed)
        return text


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@dataclass
class Outcome:
    """What running the program produced; turned into a RunResult by the caller."""

    compile_errors: tuple[CompileError, ...] = ()
    runtime_error: str = ""
    text: str = ""
    outputs: dict[str, bytes] | None = None


def compile_user_code(code: str) -> CodeType | CompileError:
    try:
        return compile(code, USER_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as error:
        message = f"{type(error).__name__}: {error.msg}"
        return compile_error(message, error.lineno or 0, error.offset or 0)
    except (ValueError, MemoryError, RecursionError) as error:
        return compile_error(f"the program could not be compiled: {error}", 0, 0)


def compile_error(message: str, line: int, col: int) -> CompileError:
    """A compile error whose text reads as a compiler prints one, `draw.py:LINE:COL: error:
    MESSAGE` (just `draw.py: error: MESSAGE` without a position): Skia's fiddle-sk recognises a
    compile error by its `error:`, and editors and terminals link the position."""
    where = f"{USER_FILENAME}:{line}:{col}" if line else USER_FILENAME
    return CompileError(text=f"{where}: error: {message}", line=line, col=col)


def run(request: RunRequest) -> Outcome:
    if request.task == "decode_image":
        return decode_image(request)
    compiled = compile_user_code(request.code)
    if isinstance(compiled, CompileError):
        return Outcome(compile_errors=(compiled,))
    linecache.cache[USER_FILENAME] = (
        len(request.code),
        None,
        request.code.splitlines(True),
        USER_FILENAME,
    )
    text = _CappedText()
    try:
        with contextlib.redirect_stdout(text):
            outputs = _run_compiled(compiled, request)
    except BaseException as error:  # the user's program may raise anything, SystemExit included
        return Outcome(runtime_error=describe_error(error), text=text.getvalue())
    return Outcome(text=text.getvalue(), outputs=_with_text(outputs, text.getvalue()))


def decode_image(request: RunRequest) -> Outcome:
    try:
        return Outcome(outputs=images.decode_upload(request.source_png or b""))
    except images.ImageRejected as rejected:
        return Outcome(runtime_error=str(rejected))
    except MemoryError:
        return Outcome(runtime_error="The image needs more memory to decode than is allowed.")


def _with_text(outputs: dict[str, bytes], text: str) -> dict[str, bytes]:
    if text:
        outputs["txt.txt"] = cuts.utf8(text)
    return outputs


def _run_compiled(compiled: CodeType, request: RunRequest) -> dict[str, bytes]:
    options = request.options
    namespace = _globals(request)
    exec(compiled, namespace)
    draw = namespace.get("draw")
    if not callable(draw):
        raise _NoDrawFunction()
    return _render_all(draw, options)


class _NoDrawFunction(Exception):
    def __str__(self) -> str:
        return "the program does not define a draw(canvas) function"


def _globals(request: RunRequest) -> dict[str, Any]:
    import skia

    image, bitmap = (None, None)
    if request.source_png is not None:
        image, bitmap = render.decode_source(request.source_png)
    return {
        "__name__": "__fiddle__",
        "__builtins__": __builtins__,
        "skia": skia,
        "image": image,
        "source": bitmap,
        "duration": float(request.options.get("duration", 0.0)),
        "frame": 0.0,
    }


def _render_all(draw: Callable[[Any], object], options: dict[str, Any]) -> dict[str, bytes]:
    width, height = canvas_size(options)
    if options.get("textOnly"):
        render.discard(draw, width, height)
        return {}
    srgb, f16 = bool(options.get("srgb")), bool(options.get("f16"))
    outputs = {"cpu.png": render.raster_png(draw, width, height, srgb=srgb, f16=f16)}
    # The text output is what one call of draw() prints, not one copy per output format.
    with contextlib.redirect_stdout(_Discard()):
        outputs["pdf.pdf"] = render.pdf(draw, width, height)
        outputs["skp.skp"] = render.skp(draw, width, height)
    return outputs


def describe_error(error: BaseException) -> str:
    """Name the limit the program ran into, or show its traceback."""
    if isinstance(error, MemoryError):
        return "memory limit of 1 GiB exceeded"
    if isinstance(error, ForbiddenCall):
        return str(error)
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return "too many processes"
    if isinstance(error, BlockingIOError):
        return "too many processes"
    return user_traceback(error)


def user_traceback(error: BaseException) -> str:
    """Format the exception showing only frames of the user's draw.py."""
    if isinstance(error, _NoDrawFunction):
        return str(error)
    frames = _user_frames(error)
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip("\n")


def _user_frames(error: BaseException) -> traceback.StackSummary:
    """The user's frames, at most the last MAX_FRAMES: a runaway recursion leaves a million, and
    formatting them all would cost more than the CPU limit."""
    walked = traceback.walk_tb(_tb(error))
    user = [(frame, line) for frame, line in walked if frame.f_code.co_filename == USER_FILENAME]
    return traceback.StackSummary.extract(iter(user[-MAX_FRAMES:]))


def _tb(error: BaseException) -> TracebackType | None:
    return error.__traceback__
