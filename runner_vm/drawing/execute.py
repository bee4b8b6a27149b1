"""Compile and run one fiddle, in whatever process calls it (the confined child, or a benchmark).

User code is compiled under the file name `draw.py`, so its tracebacks can be cut down to the
user's own lines: the runner's frames are never shown. The module runs once; its draw(canvas) is
then called once per output pass (passes.py), with `fiddle_pass` naming the pass. An exception
in a pass whose output stands alone is that output's error; in the raster pass it is the run's.
A limit the program runs into inside the child (memory, processes, a refused process start), in
any pass, is reported by kind; the host writes its sentence with the policy's numbers
(fiddle_protocol/messages.py, Limit).
"""

from __future__ import annotations

import contextlib
import io
import linecache
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, TracebackType
from typing import Any

from fiddle_protocol import outputs
from fiddle_protocol.checks import RunFacts, printed_bytes
from fiddle_protocol.messages import CompileError, Limit, RunRequest
from fiddle_protocol.options import FiddleOptions
from runner_vm import cuts
from runner_vm.child.refusals import ForbiddenCall
from runner_vm.drawing import animation, compare, gl, gpu, images, passes, render

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
        data = printed_bytes(text)
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
    """What running the program produced; the child reports it (runner_vm/child/main.py)."""

    compile_errors: tuple[CompileError, ...] = ()
    runtime_error: str = ""
    limit: Limit | None = None  # by kind only: the host fills in the policy's number
    text: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    # Output name -> the user's traceback, for each pass that failed alone (passes.py).
    output_errors: dict[str, str] = field(default_factory=dict)


def _no_mark(_pass_name: str) -> None:
    pass


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


def run(request: RunRequest, mark_pass: Callable[[str], None] = _no_mark) -> Outcome:
    """Run the request. `mark_pass` is told each pass's name before it starts, so that a crash
    can be placed in its pass (the child writes it down its result pipe)."""
    if request.task == outputs.DECODE_IMAGE:
        return decode_image(request)
    if request.task == outputs.DIFF_IMAGES:
        return diff_images(request)
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
            rendered = _run_compiled(compiled, request, mark_pass)
    except BaseException as error:  # the user's program may raise anything, SystemExit included
        runtime_error, limit = describe_error(error)
        return Outcome(runtime_error=runtime_error, limit=limit, text=text.getvalue())
    return Outcome(
        text=text.getvalue(),
        outputs=_with_text(rendered.outputs, text.getvalue()),
        output_errors=rendered.errors,
    )


def decode_image(request: RunRequest) -> Outcome:
    try:
        return Outcome(outputs=images.decode_upload(request.source_png or b""))
    except images.ImageRejected as rejected:
        return Outcome(runtime_error=str(rejected))
    except MemoryError:
        return Outcome(runtime_error="The image needs more memory to decode than is allowed.")


def diff_images(request: RunRequest) -> Outcome:
    try:
        return Outcome(outputs=compare.diff(request.source_png or b"", request.compare_png or b""))
    except compare.NotComparable as refused:
        return Outcome(runtime_error=str(refused))


def _with_text(rendered: dict[str, bytes], text: str) -> dict[str, bytes]:
    if text:
        rendered[outputs.TEXT.stored] = printed_bytes(text)
    return rendered


@dataclass
class _Rendered:
    outputs: dict[str, bytes] = field(default_factory=dict)  # stored name -> bytes
    errors: dict[str, str] = field(default_factory=dict)  # output name -> traceback


def _run_compiled(
    compiled: CodeType, request: RunRequest, mark_pass: Callable[[str], None]
) -> _Rendered:
    namespace = _globals(request)
    exec(compiled, namespace)
    draw = namespace.get("draw")
    if not callable(draw):
        raise _NoDrawFunction()
    return _render_all(render.Program(draw, namespace), request.options, mark_pass)


class _NoDrawFunction(Exception):
    def __str__(self) -> str:
        return "the program does not define a draw(canvas) function"


def _globals(request: RunRequest) -> dict[str, Any]:
    import skia

    image, bitmap = (None, None)
    if request.source_png is not None:
        image, bitmap = render.decode_source(request.source_png, request.options.source_mipmap)
    return {
        "__name__": "__fiddle__",
        "__builtins__": __builtins__,
        "skia": skia,
        "image": image,
        "source": bitmap,
        "duration": request.options.duration,
        "frame": 0.0,
        "offscreen": None,
        passes.PASS_GLOBAL: None,  # while the program loads, no pass is drawing
    }


def _render_all(
    program: render.Program, options: FiddleOptions, mark_pass: Callable[[str], None]
) -> _Rendered:
    """Every output the registry says these options produce on this runner, each by its pass,
    and the GL info of the GPU they were drawn on. A pass whose output stands alone may fail
    without failing the others."""
    rendered = _Rendered()
    facts = RunFacts(options, gpu=gl.status())
    steps = passes.for_run(facts)
    if not steps:
        _enter(program, passes.TEXT_ONLY_PASS, mark_pass)
        render.discard(program, options)
        return rendered
    for index, (step, output) in enumerate(steps):
        _enter(program, step.name, mark_pass)
        try:
            rendered.outputs[output.stored] = _quiet_after_first(index, step, program, options)
        except BaseException as error:
            if not output.stands_alone or _is_limit(error):
                raise
            rendered.errors[output.name] = describe_error(error)[0]
    if outputs.GLINFO.produced_by(facts):
        rendered.outputs[outputs.GLINFO.stored] = facts.gpu.glinfo.encode("utf-8")
    return rendered


def _enter(program: render.Program, name: str, mark_pass: Callable[[str], None]) -> None:
    mark_pass(name)
    program.globals[passes.PASS_GLOBAL] = name


def _quiet_after_first(
    index: int, step: passes.Pass, program: render.Program, options: FiddleOptions
) -> bytes:
    """The text output is what the first pass's call of draw() prints, not one copy per pass."""
    if index == 0:
        return step.render(program, options)
    with contextlib.redirect_stdout(_Discard()):
        return step.render(program, options)


def describe_error(error: BaseException) -> tuple[str, Limit | None]:
    """The limit the program ran into, or else what went wrong: the runner's own sentence for a
    GPU or encoder that failed, the program's traceback for anything else."""
    limit = limit_of(error)
    if limit:
        return "", limit
    if isinstance(error, gpu.GpuFailed | animation.EncoderMissing):
        return str(error), None
    return user_traceback(error), None


def limit_of(error: BaseException) -> Limit | None:
    """The limit an exception means the program ran into (a limit ends the run in any pass)."""
    if isinstance(error, MemoryError):
        return Limit("memory")
    if isinstance(error, ForbiddenCall):
        return Limit("syscall", detail=error.call)
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return Limit("processes")
    if isinstance(error, BlockingIOError):
        return Limit("processes")
    if isinstance(error, animation.AnimationLimitHit):
        return Limit(error.limit.kind)
    return None


def _is_limit(error: BaseException) -> bool:
    return limit_of(error) is not None


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
