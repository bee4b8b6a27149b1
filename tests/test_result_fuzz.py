"""Fuzzing what the runner makes of a child's result (issue 19, item 1).

A program holds the pipe its result leaves by and may end in any way, so the host's verdict on it
(`verdict.judge`, with its check of the outputs, `outputs.problem`) gets arbitrary input: random
bytes, truncated and huge frames, JSON nested deeply, fields of the wrong type, any wait status.
Neither may raise; whatever is not a genuine result reads as a clear runtime_error, and what the
host answers is a RunResult the functions can read.

The last test drives a real sandbox host over its pipe the same way: hostile programs (in the
real sandbox, behind the attack suite's isolation guard) write random bytes to their result pipe
and end by a random exit status or signal; the host must answer every run and never be replaced.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiddle_protocol import outputs as registry
from fiddle_protocol.checks import RunFacts
from fiddle_protocol.messages import ProtocolError, RunRequest, RunResult
from fiddle_protocol.options import FiddleOptions
from runner_vm.host.collect import ChildReport
from runner_vm.host.exchange import RunHeader
from runner_vm.host.verdict import judge
from runner_vm.policy import load_policy

POLICY = load_policy()
LIMITS = POLICY.limits
HEADER = RunHeader("u", "r", "draw", FiddleOptions(width=8, height=8))
MIB = 1 << 20
CAPPED = (64 << 10) + 200  # the runtime_error cap and its note
NOT_SO_DEEP = 500

json_leaves = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
)  # fmt: skip
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
outputs = st.dictionaries(
    st.sampled_from(["cpu.png", "pdf.pdf", "txt.txt", "gpu.png", "source.png", "x", ""]),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()) | json_values,
    max_size=4,
)
output_errors = st.dictionaries(
    st.sampled_from(["pdf", "skp", "raster", "gpu", "text", "pdf.pdf", ""]),
    st.text(max_size=40) | json_values,
    max_size=3,
)
compile_errors = st.lists(
    st.fixed_dictionaries({"text": st.text(max_size=20), "line": json_leaves, "col": json_leaves}),
    max_size=3,
)
# Fields of the right type and of any type, present or not.
messages = st.fixed_dictionaries(
    {},
    optional={
        "compile_errors": compile_errors | json_values,
        "runtime_error": st.text(max_size=80) | json_values,
        "text": st.text(max_size=80) | json_values,
        "outputs": outputs | json_values,
        "output_errors": output_errors | json_values,
        "limit": json_values,
    },
)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


child_bytes = st.one_of(
    st.binary(max_size=2048),
    messages.map(lambda m: frame(encoded(m))),
    json_values.map(lambda v: frame(encoded(v))),
    st.tuples(messages.map(lambda m: frame(encoded(m))), st.floats(0, 1)).map(lambda t: _cut(*t)),
    st.integers(1, 200_000).map(lambda n: frame(b"[" * n)),
    st.integers(1, 50_000).map(lambda n: frame(b'{"text":' * n)),
    st.binary(max_size=40).map(lambda tail: b"\x00SIGSYS " + tail),
    st.integers().map(lambda n: b"\x00SIGSYS %d\n" % n),
    st.binary(max_size=200).map(lambda b: frame(b'{"text": "' + b + b'"}')),
)
# The marks a child writes before each pass, genuine and not.
pass_marks = st.lists(
    st.sampled_from(
        [b'{"pass":"raster"}', b'{"pass":"pdf"}', b'{"pass":"<x>"}', b'{"pass":1}']
    ).map(frame)
    | st.binary(max_size=12),
    max_size=20,
).map(b"".join)
child_bytes = child_bytes | st.tuples(child_bytes, child_bytes).map(lambda pair: b"".join(pair))
child_bytes = child_bytes | st.tuples(pass_marks, child_bytes).map(lambda pair: b"".join(pair))
statuses = st.one_of(
    st.integers(0, 255).map(lambda code: code << 8),  # exited with a code
    st.integers(1, 64),  # killed by a signal
    st.integers(1, 64).map(lambda signo: signo | 0x80),  # killed, with a core
    st.integers(-(1 << 31), (1 << 31) - 1),  # any status at all
)


def judged(data: bytes, status: int = 0, limit: str = "", cpu: float = 0.0) -> RunResult:
    return judge(ChildReport(data, status, limit, cpu, 32), HEADER, POLICY)


def assert_a_result(result: RunResult) -> None:
    """What the host answers is a result the functions can read, within its caps."""
    assert RunResult.from_bytes(result.to_bytes()) == result
    assert len(result.runtime_error.encode()) <= CAPPED
    assert len(result.text.encode()) <= MIB + 512
    if result.limit:  # every failure says what it was, in the limit's own words
        assert result.runtime_error == result.limit.sentence != ""
    if result.outputs or result.output_errors:
        assert result.succeeded and result.limit is None
    for error in result.output_errors.values():
        assert len(error.encode()) <= CAPPED


@settings(max_examples=600, deadline=None)
@given(
    data=child_bytes,
    status=statuses,
    limit=st.sampled_from(["", "", "wall", "output", "junk"]),
    cpu=st.floats(0, 100, allow_nan=False),
)
def test_any_child_reads_as_a_result(data: bytes, status: int, limit: str, cpu: float) -> None:
    assert_a_result(judged(data, status, limit, cpu))


@pytest.mark.parametrize(
    "data",
    [
        frame(b"[" * 100_000),
        frame(b"[" * (30 * MIB)),
        frame(encoded({"text": "x" * (30 * MIB)})),
        frame(encoded({"runtime_error": "e" * (30 * MIB)})),
        frame(encoded({"compile_errors": [{"text": "e" * (20 * MIB), "line": 1, "col": 1}]})),
        frame(encoded({"outputs": {"cpu.png": "A" * (30 * MIB) + "\u00e9"}})),
        os.urandom(40 * MIB),
        struct.pack(">I", 64 * MIB) + b"{}",
        frame(encoded({"text": "\ud800" * 1000})),
        frame(encoded("[" * NOT_SO_DEEP + "]" * NOT_SO_DEEP)),
    ],
    ids=[
        "deep", "deep-30MiB", "text-30MiB", "error-30MiB", "compile-error-20MiB",
        "non-ascii-base64-30MiB", "random-40MiB", "claims-64MiB", "surrogates", "json-in-a-string",
    ],
)  # fmt: skip
def test_huge_and_deep_frames_read_as_results(data: bytes) -> None:
    for status in (0, 9, 40, 159 << 8):
        assert_a_result(judged(data, status))


def test_a_cut_says_how_much_there_was() -> None:
    text = judged(frame(encoded({"text": "x" * (30 * MIB)}))).text
    assert text.endswith("\n[output cut at 1 MiB: the program printed 30.0 MiB]")
    error = judged(frame(encoded({"runtime_error": "e" * MIB})))
    note = "\n[error cut at 64 KiB: it was 1.0 MiB; its middle is left out]\n"
    assert error.runtime_error == "e" * (32 << 10) + note + "e" * (32 << 10)


@settings(max_examples=300, deadline=None)
@given(
    options=st.dictionaries(st.sampled_from(["width", "height", "textOnly", "srgb"]), json_values)
)
def test_any_options_are_read_or_refused_as_a_protocol_error(options: dict[str, Any]) -> None:
    message = {**RunRequest("u", "").to_json(), "options": options}
    try:
        request = RunRequest.from_json(message)
    except ProtocolError:
        return
    assert isinstance(request.options.width, int) and isinstance(request.options.text_only, bool)


@settings(max_examples=300, deadline=None)
@given(
    options=st.builds(
        FiddleOptions,
        width=st.integers(1, 300),
        height=st.integers(1, 300),
        text_only=st.booleans(),
    ),
    task=st.sampled_from(["draw", "decode_image"]),
    produced=st.dictionaries(
        st.sampled_from(["cpu.png", "pdf.pdf", "skp.skp", "txt.txt", "source.png", "thumb64.png"]),
        st.binary(max_size=300)
        | st.binary(max_size=100).map(lambda b: b"\x89PNG\r\n\x1a\n" + b)
        | st.binary(max_size=100).map(lambda b: b"%PDF-" + b),
    ),
    text=st.text(max_size=20),
    failed=st.frozensets(st.sampled_from(["raster", "pdf", "skp", "gpu", "text", "source", "x"])),
    succeeded=st.booleans(),
)
def test_any_outputs_are_judged_without_raising(
    options: FiddleOptions,
    task: str,
    produced: dict[str, bytes],
    text: str,
    failed: frozenset[str],
    succeeded: bool,
) -> None:
    facts = RunFacts(options, text, failed)
    found = registry.problem(task, facts, produced, succeeded)
    assert found is None or isinstance(found, str)
    if found is None:
        expected = registry.expected_outputs(task, facts) if succeeded else ()
        assert set(produced) == {output.stored for output in expected}
        # Only outputs that stand alone failed, each one the run would otherwise render.
        assert all(registry.by_name(name, task).stands_alone for name in failed)  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# The real host, over its pipe


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("skia")
    from tests.conftest import started_runner
    from tests.test_attacks import guard

    state = Path(tmp_path_factory.mktemp("fuzz"))
    with started_runner("auto", load_policy(), state, pool_size=1) as sandboxed:
        guard(sandboxed)  # hostile programs run only where isolation is proven
        yield sandboxed


def hostile(data: bytes, ending: str) -> str:
    return (
        "import base64, os\n"
        f"data = base64.b64decode({base64.b64encode(data).decode()!r})\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        "    if int(fd) > 2:\n"
        "        try:\n"
        "            os.write(int(fd), data)\n"
        "        except OSError:\n"
        "            pass\n"
        f"{ending}\n"
    )


endings = st.one_of(
    st.integers(0, 255).map(lambda code: f"os._exit({code})"),
    st.sampled_from([1, 3, 6, 9, 10, 11, 14, 15, 32, 34, 40, 50, 64]).map(
        lambda signo: f"os.kill(os.getpid(), {signo})"
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=child_bytes.filter(lambda d: len(d) < 300_000), ending=endings)
def test_the_host_survives_any_bytes_on_its_pipe(runner: Any, data: bytes, ending: str) -> None:
    replaced = runner.pool.replaced
    request = RunRequest(uuid.uuid4().hex, hostile(data, ending), FiddleOptions(width=8, height=8))
    result = runner.run(request)
    assert result.runtime_error, result
    assert not result.outputs
    assert runner.pool.replaced == replaced, "the sandbox host died"


def test_after_the_fuzzing_the_host_still_draws(runner: Any) -> None:
    code = "def draw(canvas):\n    canvas.drawCircle(4, 4, 3, skia.Paint())\n"
    result = runner.run(RunRequest(uuid.uuid4().hex, code, FiddleOptions(width=8, height=8)))
    assert result.succeeded and result.outputs["cpu.png"].startswith(b"\x89PNG")
    assert runner.pool.replaced == 0
