"""The messages between the functions and a runner (fiddle_protocol/messages.py): each reads back
what it wrote, a message of another protocol version is refused with a sentence that says so, bad
input of every kind is a ProtocolError (never another exception), and each limit's sentence is
written from the policy's numbers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.messages import (
    PROTOCOL_VERSION,
    CompileError,
    Limit,
    ProtocolError,
    RunnerInfo,
    RunRequest,
    RunResult,
)
from fiddle_protocol.options import FiddleOptions
from fiddle_protocol.versions import BuildInfo
from runner_vm.policy import load_policy

LIMITS = load_policy().limits
REQUEST = RunRequest(
    "u", "print(1)", FiddleOptions(width=64, text_only=True), b"\x89PNG",
    build="2025-06-08T01:46:56Z-87.9", compare_png=b"\x89PNG2",
)  # fmt: skip
RESULT = RunResult(
    "u", "r", (CompileError("bad", 1, 2),), "memory limit of 1 GiB exceeded", "é\n",
    {"cpu.png": b"\x89PNG", "txt.txt": b"\xc3\xa9\n"}, 4.5, Limit("memory", 1024, "MiB"),
)  # fmt: skip
GPU = GpuStatus(True, "llvmpipe (LLVM 15.0.6, 256 bits)", "4.5 Mesa", "Mesa/X.org", "1.5", 4)
BUILDS = (
    BuildInfo("2026-10-20T09:47:00Z-144.1", "144.1", "2026-10-20T09:47:00Z", True, True, 6),
    BuildInfo("2025-06-08T01:46:56Z-87.9", "87.9", "2025-06-08T01:46:56Z", False, True, 2),
)
INFO = RunnerInfo(
    "r", "144.1", "nspawn", 8, busy=1, waiting=2, turned_away=3, builds=BUILDS, warm_builds=2,
    gpu=GPU,
)
# A run whose PDF pass failed alone: no pdf.pdf, its traceback in output_errors.
PASS_FAILED = RunResult(
    "u", "r", outputs={"cpu.png": b"\x89PNG", "skp.skp": b"skiapict"},
    output_errors={"pdf": 'Traceback (most recent call last):\n  File "draw.py", line 2\nE: é'},
)  # fmt: skip


def test_each_message_reads_back_what_it_wrote() -> None:
    assert RunRequest.from_bytes(REQUEST.to_bytes()) == REQUEST
    assert RunResult.from_bytes(RESULT.to_bytes()) == RESULT
    with_gpu = dataclasses.replace(RESULT, gpu=GPU)
    assert RunResult.from_bytes(with_gpu.to_bytes()) == with_gpu
    assert RunResult.from_bytes(PASS_FAILED.to_bytes()) == PASS_FAILED
    assert PASS_FAILED.succeeded
    assert RunnerInfo.from_json(json.loads(json.dumps(INFO.to_json()))) == INFO
    assert RunRequest.from_json(RunRequest("u", "").to_json()).options == FiddleOptions()


@pytest.mark.parametrize("version", [1, 2, 4, None, "3", True])
@pytest.mark.parametrize("message", [REQUEST.to_json(), RESULT.to_json(), INFO.to_json()])
def test_another_protocol_version_is_refused_saying_so(
    message: dict[str, Any], version: Any
) -> None:
    old = {**message, "protocol": version}
    for parse in (RunRequest.from_json, RunResult.from_json, RunnerInfo.from_json):
        with pytest.raises(ProtocolError) as refused:
            parse(old)
        assert str(refused.value) == (
            f"the message is protocol version {version!r}, this side speaks {PROTOCOL_VERSION}: "
            "the functions and the runners must be deployed together"
        )


def result_with(**fields: Any) -> dict[str, Any]:
    return {**RESULT.to_json(), **fields}


@pytest.mark.parametrize(
    "message, why",
    [
        (b"not json", "the message is not JSON"),
        (b"\xff\xfe", "the message is not JSON"),
        (b"[" * 100_000, "the message is not JSON"),
        (b"[1]", "a protocol message must be a JSON object"),
        (json.dumps(result_with(outputs={"evil.html": ""})).encode(), "unknown outputs"),
        (json.dumps(result_with(outputs={"cpu.png": "*"})).encode(), "invalid base64"),
        (json.dumps(result_with(outputs={"cpu.png": 5})).encode(), "base64 strings"),
        (json.dumps(result_with(limit="memory")).encode(), "limit must be an object"),
        (json.dumps(result_with(limit={"kind": "cpu", "value": "10", "unit": "s", "detail": ""}))
         .encode(), "limit value must be a number"),
        (json.dumps(result_with(limit={"kind": "cpu"})).encode(), "unit must be of type str"),
        (json.dumps(result_with(compile_errors=[{"text": "x", "line": True, "col": 1}])).encode(),
         "line must be of type int"),
        (json.dumps(result_with(duration_ms="1")).encode(), "duration_ms must be a number"),
        (json.dumps(result_with(text=None)).encode(), "text must be of type str"),
        (json.dumps(result_with(gpu=True)).encode(), "gpu must be an object"),
        (json.dumps(result_with(gpu={"available": "yes"})).encode(),
         "gpu.available must be of type bool"),
        (json.dumps(result_with(gpu={"max_samples": True})).encode(),
         "gpu.max_samples must be of type int"),
        (json.dumps(result_with(output_errors=[])).encode(), "output_errors must be an object"),
        (json.dumps(result_with(output_errors={"evil": "x"})).encode(),
         "output_errors name an unknown output 'evil'"),
        (json.dumps(result_with(output_errors={"pdf.pdf": "x"})).encode(),
         "output_errors name an unknown output 'pdf.pdf'"),
        (json.dumps(result_with(output_errors={"pdf": 1})).encode(),
         "output_errors must map output names to strings"),
    ],
)  # fmt: skip
def test_a_malformed_result_is_a_protocol_error(message: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        RunResult.from_bytes(message)


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"task": "mine_bitcoin"}, "unknown task 'mine_bitcoin'"),
        ({"options": []}, "options must be of type dict"),
        ({"options": {"width": "wide"}}, "the options are not valid fiddle options"),
        ({"options": {"width": float("inf")}}, "the options are not valid fiddle options"),
        ({"options": {"height": None}}, "the options are not valid fiddle options"),
        ({"code": 5}, "code must be of type str"),
        ({"source_png": "not base64!"}, "invalid base64"),
        ({"compare_png": "not base64!"}, "invalid base64"),
        ({"build": None}, "build must be of type str"),
        ({"build": 87}, "build must be of type str"),
    ],
)
def test_a_malformed_request_is_a_protocol_error(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        RunRequest.from_json({**REQUEST.to_json(), **fields})


def test_a_runner_that_says_nothing_of_its_gpu_has_none_and_says_why() -> None:
    said = {key: value for key, value in INFO.to_json().items() if key != "gpu"}
    gpu = RunnerInfo.from_json(said).gpu
    assert not gpu.available and gpu.reason == "the runner did not say whether it has a GPU"
    assert gpu.summary == "no GPU on this runner: the runner did not say whether it has a GPU"
    assert GPU.reason == "" and GPU.glinfo == (
        "EGL 1.5\nGL Version: 4.5 Mesa\nGL Vendor: Mesa/X.org\n"
        "GL Renderer: llvmpipe (LLVM 15.0.6, 256 bits)\n"
    )


def test_a_result_of_a_runner_without_output_errors_has_none() -> None:
    """The field is additive (protocol 2 stays): a message without it reads as no failed pass."""
    message = RESULT.to_json()
    del message["output_errors"]
    assert RunResult.from_json(message).output_errors == {}


def test_runner_info_refuses_counts_that_are_not_counts() -> None:
    for key in ("busy", "waiting", "turned_away", "warm_builds"):
        with pytest.raises(ProtocolError, match=f"{key} must be of type int"):
            RunnerInfo.from_json({**INFO.to_json(), key: "1"})


@pytest.mark.parametrize(
    "builds, why",
    [
        ({}, "builds must be of type list"),
        ([5], "a build must be an object"),
        ([{"runid": "r", "skia_python": "1"}], "runid, skia_python and released must be strings"),
        ([{**BUILDS[0].to_json(), "head": "yes"}], "head and warm must be booleans"),
        ([{**BUILDS[0].to_json(), "hosts": 1.5}], "its hosts an integer"),
    ],
)
def test_runner_info_refuses_builds_that_are_not_builds(builds: Any, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        RunnerInfo.from_json({**INFO.to_json(), "builds": builds})


def test_a_runner_info_without_builds_still_reads() -> None:
    """Fields grow with defaults: an answer that names no builds reads as none."""
    older = {k: v for k, v in INFO.to_json().items() if k not in ("builds", "warm_builds")}
    assert RunnerInfo.from_json(older).builds == ()


@pytest.mark.parametrize(
    "limit, sentence",
    [
        (Limit("cpu", LIMITS.cpu_seconds, "s"), "CPU time limit of 10 s exceeded"),
        (Limit("wall", LIMITS.wall_clock_seconds, "s"), "wall-clock limit of 20 s exceeded"),
        (Limit("wall", 2.5, "s"), "wall-clock limit of 2.5 s exceeded"),
        (Limit("memory", LIMITS.address_space_mib, "MiB"), "memory limit of 1 GiB exceeded"),
        (Limit("memory", 1536, "MiB"), "memory limit of 1536 MiB exceeded"),
        (Limit("memory", 2048, "MiB"), "memory limit of 2 GiB exceeded"),
        (Limit("memory", 700, "MiB"), "memory limit of 700 MiB exceeded"),
        (Limit("output", LIMITS.output_mib, "MiB"), "output larger than 32 MiB"),
        (Limit("processes", LIMITS.processes), "too many processes (the limit is 16)"),
        (Limit("syscall", detail="socket"), "forbidden system call: socket"),
        (Limit("syscall"), "forbidden system call"),
        (Limit("crash", detail="the program crashed (SIGSEGV)"), "the program crashed (SIGSEGV)"),
        (Limit("tampered", detail="output x is missing"),
         "the program tampered with its result: output x is missing"),
        (Limit("gpu_hang", detail="30 s"), "the run was stopped (gpu_hang: 30 s)"),
        (Limit("cpu", 10, "s", "the limit covers the whole animation: 61 frames on the CPU"),
         "CPU time limit of 10 s exceeded (the limit covers the whole animation: 61 frames on "
         "the CPU)"),
        (Limit("frames", 601, detail="3601"),
         "the animation has 3601 frames (60 a second, and frame 0), more than the limit of 601"),
        (Limit("frame_pixels", 40_000_000, detail="41,000,000"),
         "the animation has 41,000,000 pixels in all its frames (width x height x frames), more "
         "than the limit of 40,000,000"),
        (Limit("encode", 5, "s"), "encoding the animation took more than the limit of 5 s of CPU"),
    ],
)  # fmt: skip
def test_each_limit_is_said_in_one_sentence_with_its_number(limit: Limit, sentence: str) -> None:
    assert limit.sentence == sentence
    assert Limit.from_json(json.loads(json.dumps(limit.to_json()))) == limit
