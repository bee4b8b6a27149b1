"""Runners take runs only from their functions: HMAC-signed bodies, or loopback without a secret."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from unittest import mock

import pytest
import requests

from fiddle_protocol.messages import RunRequest
from fiddle_protocol.options import FiddleOptions
from fiddle_protocol.signing import HmacSigner, HmacVerifier, LoopbackOnly
from tests.conftest import runner_process

SECRET = "s3cret-for-tests"
BODY = json.dumps(
    RunRequest("r", "def draw(c): pass\n", FiddleOptions(width=8, height=8)).to_json()
).encode()


@pytest.fixture(scope="module")
def signed_runner() -> Iterator[str]:
    with (
        mock.patch.dict(os.environ, {"FIDDLE_RUNNER_SECRET": SECRET}),
        runner_process(hosts=1, max_waiting=8) as url,
    ):
        yield url


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/run", data=body, timeout=30,
                         headers={"Content-Type": "application/json", **headers})  # fmt: skip


def test_a_signed_run_is_taken(signed_runner: str) -> None:
    answer = post(signed_runner, BODY, HmacSigner(SECRET).headers(BODY))
    assert answer.status_code == 200 and answer.json()["runtime_error"] == ""


@pytest.mark.parametrize(
    "headers",
    [
        {},
        HmacSigner("wrong secret").headers(BODY),
        {**HmacSigner(SECRET).headers(BODY), "X-Fiddle-Signature": "0" * 64},
        HmacSigner(SECRET).headers(BODY + b" "),
    ],
    ids=["unsigned", "wrong secret", "forged signature", "signature of another body"],
)
def test_anything_else_is_401(signed_runner: str, headers: dict[str, str]) -> None:
    answer = post(signed_runner, BODY, headers)
    assert answer.status_code == 401 and "error" in answer.json()


def test_old_signatures_expire() -> None:
    verifier = HmacVerifier(SECRET)
    headers = HmacSigner(SECRET).headers(BODY)
    assert verifier.verify(headers, BODY, "10.0.0.1")
    with mock.patch("time.time", return_value=time.time() + 3600):
        assert not verifier.verify(headers, BODY, "10.0.0.1")
    lower = {key.lower(): value for key, value in headers.items()}
    assert verifier.verify(lower, BODY, "10.0.0.1")


def test_without_a_secret_only_loopback_may_ask() -> None:
    verifier = LoopbackOnly()
    assert verifier.verify({}, BODY, "127.0.0.1")
    assert not verifier.verify({}, BODY, "10.1.2.3")


def test_the_client_ignores_proxies_from_the_environment(signed_runner: str) -> None:
    """A signed run goes straight to the runner, never through an HTTP_PROXY of the environment
    (here one nothing listens on)."""
    from functions.runner_client import HttpRunnerClient

    client = HttpRunnerClient((signed_runner,), 30.0, HmacSigner(SECRET))
    proxies = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    with mock.patch.dict(os.environ, proxies):
        os.environ.pop("NO_PROXY", None)
        os.environ.pop("no_proxy", None)
        result = client.run(
            RunRequest("p", "def draw(c): pass\n", FiddleOptions(width=8, height=8))
        )
    assert result.runtime_error == "" and result.compile_errors == ()
