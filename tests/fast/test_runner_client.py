"""The functions' client of runners reads each answer once, as the protocol says, and refuses a
runner that speaks another protocol version, saying so in its log. The runner here is a stand-in
HTTP server at the edge, answering as a runner of protocol 1 would."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify

from fiddle_protocol.messages import PROTOCOL_VERSION, RunRequest
from functions.runner_client import HttpRunnerClient, RunnerUnavailable
from tests.helpers import served

OLD_INFO = {"protocol": 1, "runid": "r", "skia_python": "87.9", "sandbox": "nspawn", "hosts": 1}
OLD_RESULT = {
    "protocol": 1, "run_uuid": "u", "runid": "r", "compile_errors": [], "runtime_error": "",
    "text": "", "outputs": {}, "duration_ms": 1.0,
}  # fmt: skip


@pytest.fixture
def old_runner() -> Iterator[str]:
    app = Flask("old-runner")
    app.add_url_rule("/version", "version", lambda: jsonify(OLD_INFO))
    app.add_url_rule("/healthz", "healthz", lambda: jsonify(status="ok", **OLD_INFO))
    app.add_url_rule("/run", "run", lambda: jsonify(OLD_RESULT), methods=["POST"])
    with served(app) as url:
        yield url


def refused(caplog: pytest.LogCaptureFixture, action: Any) -> str:
    with (
        caplog.at_level(logging.ERROR, logger="functions.runner_client"),
        pytest.raises(RunnerUnavailable) as error,
    ):
        action()
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert f"the message is protocol version 1, this side speaks {PROTOCOL_VERSION}" in logged
    return str(error.value)


def test_a_runner_of_another_protocol_is_not_used(
    old_runner: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = HttpRunnerClient((old_runner,))
    assert refused(caplog, client.describe) == "no runner is reachable"


def test_an_answer_of_another_protocol_is_refused(
    old_runner: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = HttpRunnerClient((old_runner,))
    why = refused(caplog, lambda: client.run(RunRequest("u", "")))
    assert why == f"runner {old_runner} sent a malformed answer"


FORGED_OUTPUTS = {
    "an HTML page posing as the raster": {"cpu.png": b"<html><script>alert(1)</script>"},
    "an output the run never renders": {"gpu.png": b"\x89PNG\r\n\x1a\n"},
    "a raster of another size and no PDF": {"cpu.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 40},
}


@pytest.fixture
def forging_runner(request: pytest.FixtureRequest) -> Iterator[str]:
    """A runner of this protocol whose answers carry forged outputs (a compromised host)."""
    import base64

    forged = {name: base64.b64encode(data).decode() for name, data in request.param.items()}
    result = {**OLD_RESULT, "protocol": PROTOCOL_VERSION, "outputs": forged}
    info = {**OLD_INFO, "protocol": PROTOCOL_VERSION}
    app = Flask("forging-runner")
    app.add_url_rule("/version", "version", lambda: jsonify(info))
    app.add_url_rule("/run", "run", lambda: jsonify(result), methods=["POST"])
    with served(app) as url:
        yield url


@pytest.mark.parametrize(
    "forging_runner", FORGED_OUTPUTS.values(), ids=list(FORGED_OUTPUTS), indirect=True
)
def test_outputs_that_fail_their_checks_are_refused_by_the_functions_too(
    forging_runner: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = HttpRunnerClient((forging_runner,))
    code = "def draw(canvas):\n    pass\n"
    with (
        caplog.at_level(logging.ERROR, logger="functions.runner_client"),
        pytest.raises(RunnerUnavailable) as error,
    ):
        client.run(RunRequest("u", code))
    assert str(error.value).startswith("the runner's answer failed its checks: output ")
    assert "fail their checks" in caplog.text
