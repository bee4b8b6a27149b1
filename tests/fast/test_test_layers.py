"""Where tests and tools may reach: the fast layer starts no real runner, sandbox, emulator or
browser (so `nox -s quick` needs none), and nothing under scripts/ depends on the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What only the slow layer (tests/ beside tests/fast) may use: each needs root, a sandbox, an
# emulator or a browser.
SLOW_ONLY = {
    "runner_url": "a real runner process",
    "runner_process": "a real runner process",
    "started_runner": "a runner service on a sandbox backend",
    "firestore_emulator": "the Firestore emulator",
    "gcs_server": "fake-gcs-server",
    "playwright": "a browser",
}
IMPORTS_TESTS = re.compile(r"^\s*(?:from|import)\s+tests\b", re.MULTILINE)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "tests" / "fast").glob("*.py")), ids=lambda p: p.name
)
def test_the_fast_layer_uses_nothing_of_the_slow_one(path: Path) -> None:
    text = path.read_text()
    used = [name for name in SLOW_ONLY if re.search(rf"\b{name}\b", text)]
    if path.name in ("conftest.py", Path(__file__).name):
        used = []  # the conftest fails runner_url on purpose; this file names them all
    assert not used, (
        f"tests/fast/{path.name} uses {', '.join(f'{n} ({SLOW_ONLY[n]})' for n in used)}: "
        "move the test to tests/ (the slow layer), or use tests/fast/fakes.py instead"
    )


def test_nothing_under_scripts_imports_the_tests() -> None:
    scripts = [path for path in (ROOT / "scripts").iterdir() if path.is_file()]
    importing = [p.name for p in scripts if IMPORTS_TESTS.search(p.read_text(errors="replace"))]
    assert not importing, (
        f"these scripts import tests/: scripts/{', scripts/'.join(importing)}; move what they "
        "share into a package module (as functions/devserver.py holds the launch helpers)"
    )
