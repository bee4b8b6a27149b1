"""Browser tests: Playwright driving Debian's Chromium against a `fiddle serve` on loopback.

Never downloads a browser: Chromium is /usr/bin/chromium (Debian's `chromium`, installed by
scripts/setup). Tests skip, saying why, when it or the `playwright` package is missing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, wait_until_healthy

CHROMIUM = Path(os.environ.get("FIDDLE_CHROMIUM", "/usr/bin/chromium"))
# Flags this machine needs: no sandbox as root, no GPU, and no background traffic to Google's
# hosts (the network is closed). Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BUNDLE = ROOT / "site" / "dist" / "editor.js"


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole service on a free loopback port, with its own empty store."""
    data_dir = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    command = [
        sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, 120)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing (pip install -e .[test])"
    )
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: build the site with `npm ci && npm run build`")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
