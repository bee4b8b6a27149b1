"""The smoke render a build must pass before it is recorded as good: one fiddle, run by a real
sandbox host of that build, in the same container, seccomp filter and limits as every run.

It checks what a broken or mixed-up build would get wrong: that the host starts at all (a build
whose Skia the runner's own warm-up cannot use would not), that the program's skia is the build's
(not another on some path), that numpy and Pillow import at their pinned versions inside the
sandbox, and that every output the run produces passes its check.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import IO

from fiddle_protocol import outputs
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.messages import RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.host.exchange import RunHeader
from runner_vm.policy import Policy
from runner_vm.sandbox.base import SandboxBackend
from runner_vm.service.pool import HostDied, HostProcess

SMOKE_CODE = """import numpy, PIL, PIL.Image
print(skia.__version__, numpy.__version__, PIL.__version__)

def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorBLUE)
    canvas.drawCircle(32, 24, 20, paint)
    canvas.drawString("smoke", 4, 44, skia.Font(None, 12), paint)
"""
SMOKE_OPTIONS = FiddleOptions(width=64, height=48)
# The host's own messages kept to say why it failed to start.
_STDERR_TAIL = 600


class SmokeFailed(RuntimeError):
    """The build failed its smoke render; the message says how."""


def smoke_render(
    backend: SandboxBackend, policy: Policy, build_dir: Path, expected: dict[str, str]
) -> RunResult:
    """Run the smoke fiddle in a host of the build in `build_dir`; `expected` are the versions
    its program must print (skia-python, numpy, Pillow). Raises SmokeFailed."""
    with tempfile.TemporaryFile() as stderr:
        try:
            host = HostProcess(backend, policy, 0, build_dir, stderr=stderr)
        except HostDied as died:
            raise SmokeFailed(f"{died}{_said(stderr)}") from died
        try:
            result = _run(host)
        except HostDied as died:
            raise SmokeFailed(f"{died}{_said(stderr)}") from died
        finally:
            host.stop()
    _check(result, expected)
    return result


def _run(host: HostProcess) -> RunResult:
    request = RunRequest(f"smoke-{uuid.uuid4()}", SMOKE_CODE, SMOKE_OPTIONS)
    _, body = host.run(RunHeader.of(request, "smoke"), request.to_bytes())
    return RunResult.from_bytes(body)


def _check(result: RunResult, expected: dict[str, str]) -> None:
    if result.compile_errors or result.runtime_error:
        why = result.runtime_error or result.compile_errors[0].text
        raise SmokeFailed(f"the smoke fiddle failed: {why.strip().splitlines()[-1]}")
    printed = result.text.split()
    wanted = [expected["skia-python"], expected["numpy"], expected["pillow"]]
    if printed != wanted:
        raise SmokeFailed(
            "inside the sandbox the fiddle saw skia-python, numpy and Pillow "
            f"{' '.join(printed) or '(nothing)'}, not {' '.join(wanted)}"
        )
    if result.output_errors:
        failed = ", ".join(sorted(result.output_errors))
        raise SmokeFailed(f"the smoke fiddle's {failed} pass failed")
    facts = RunFacts(SMOKE_OPTIONS, result.text, gpu=result.gpu)
    problem = outputs.problem(outputs.DRAW, facts, result.outputs, True)
    if problem:
        raise SmokeFailed(f"the smoke fiddle's {problem}")


def _said(stderr: IO[bytes]) -> str:
    """What the host wrote on stderr, the end of it, to say why it failed."""
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip() and "Fontconfig" not in line]
    said = "\n".join(lines)[-_STDERR_TAIL:]
    return f"; the host said:\n{said}" if said else ""
