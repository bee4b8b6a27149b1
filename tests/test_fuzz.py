"""Schemathesis against a live `fiddle serve` (a real runner in a real sandbox), driven by the
service's own OpenAPI document: every operation, positive and negative data, and stateful
sequences along the document's links (run, then fetch /e/, /i/, /ai/, the pages; upload, then
fetch and delete the image; name, then fetch and delete the name).

Every answer must conform to the document (status, content type, headers, body schema), never
be a 5xx (but oEmbed's 501 for format=xml, tests/fuzz/schemathesis.toml), reject schema-invalid
requests with a 4xx, and honour its declared authentication. Every JSON error is then
`{"error", "fields"}`, which the document's Error schema says. Not checked: that every
schema-valid request is accepted, since the document cannot say every rule (that a Skia
version exists, that a url parses, that bytes are an image).

Bounded for the suite (FUZZ_EXAMPLES, 10 by default: about 330 cases, 11 to 60 s here);
`nox -s fuzz` runs it long.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions.devserver import free_port, serving

HERE = Path(__file__).parent
CONFIG = HERE / "fuzz" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "st"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
PHASES = os.environ.get("FUZZ_PHASES", "fuzzing,stateful")
# The generous limits of a benchmark: the fuzzer sends far more than a person would, from one
# address (429 answers are still documented and checked when they come).
UNLIMITED = {
    "FIDDLE_RATE_LIMIT_RUN": "1000000/minute",
    "FIDDLE_RATE_LIMIT_UPLOAD": "1000000/minute",
    "FIDDLE_RATE_LIMIT_NAME": "1000000/minute",
    "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT": "0",
    "FIDDLE_QUOTA_BYTES_PER_HOUR": "0",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
               "--data-dir", str(data_dir), "--sandbox", "auto", "--no-examples"]  # fmt: skip
    env = {**os.environ, **UNLIMITED}
    with serving(command, f"http://127.0.0.1:{port}", env, stderr=subprocess.DEVNULL) as url:
        yield url


@pytest.fixture(scope="module")
def admin_token(server: str, data_dir: Path) -> str:
    """An administrator's API token, so that the fuzzer reaches past sign-in everywhere (and
    checks that each operation declaring authentication refuses to work without it)."""
    fiddle = [sys.executable, "-m", "functions.cli", "admin"]
    where = ["--data-dir", str(data_dir)]
    password = "fuzzer-password\n"
    subprocess.run([*fiddle, "create-user", "fuzzer", "--admin", *where],
                   input=password, text=True, check=True, capture_output=True)  # fmt: skip
    made = subprocess.run([*fiddle, "create-token", "fuzzer", *where],
                          text=True, check=True, capture_output=True)  # fmt: skip
    return made.stdout.strip()


def operation_count(server: str) -> int:
    """The document's operations but GET /openapi.json: Schemathesis leaves out the document it
    was loaded from (tests/test_openapi.py fetches it)."""
    spec = requests.get(f"{server}/openapi.json", timeout=10).json()
    return sum(len(item) for path, item in spec["paths"].items() if path != "/openapi.json")


@pytest.mark.slow
def test_every_answer_conforms_to_the_document(
    server: str, admin_token: str, tmp_path: Path
) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed (pip install -e .[test])")
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color", "run",
        f"{server}/openapi.json",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--mode", "all", "--phases", PHASES, "--max-examples", str(EXAMPLES),
        "--header", f"Authorization: Bearer {admin_token}",
        "--workers", "1", "--max-failures", "20", "--output-truncate", "true",
        "--request-timeout", "60",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-20000:]
    tested = re.search(r"Tested:\s+(\d+)", report)
    assert tested and int(tested.group(1)) == operation_count(server), report[-3000:]
    generated = re.search(r"(\d+) generated", report)
    assert generated and int(generated.group(1)) > EXAMPLES, report[-3000:]
    print(report[report.find("SUMMARY") :])
