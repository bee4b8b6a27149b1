"""Browser tests: Playwright driving Debian's Chromium against a `fiddle serve` on loopback.

Never downloads a browser: Chromium is /usr/bin/chromium (Debian's `chromium`, installed by
scripts/setup). Tests skip, saying why, when it or the `playwright` package is missing.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions.devserver import free_port, serve_command, serving
from functions.storage.local import LocalBlobStore

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
# The editor's bundle and the interactive embed's (`npm run build` makes both).
BUNDLES = (ROOT / "site" / "dist" / "editor.js", ROOT / "site" / "dist" / "embed.js")
# Shown images (not those inside a closed <details>, which Chromium hides with content-visibility)
# start loading now, even lazy ones below the fold, since screenshots take the full page.
LOAD_SHOWN_IMAGES = """() => {
    const shown = [...document.images].filter((i) => i.checkVisibility());
    for (const image of shown) image.loading = "eager";
    return shown.every((i) => i.complete);
}"""


def wait_for_shown_images(page: Any) -> None:
    """Waits until every image a full-page screenshot would show has loaded (or failed)."""
    page.wait_for_function(LOAD_SHOWN_IMAGES)


@pytest.fixture(scope="package")
def server_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the browser tests' server (its store, users and session key)."""
    return tmp_path_factory.mktemp("browser-data")


@pytest.fixture(scope="package")
def server(server_data: Path) -> Iterator[str]:
    """The whole service on a free loopback port, with its own empty store."""
    data_dir = server_data
    port = free_port()
    with serving(serve_command(port, data_dir), f"http://127.0.0.1:{port}") as url:
        yield url


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing (pip install -e .[test])"
    )
    for bundle in BUNDLES:
        if not bundle.exists():
            pytest.fail(f"{bundle} is missing: build the site with `npm ci && npm run build`")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass(frozen=True)
class Account:
    name: str
    password: str


@contextlib.contextmanager
def http_server(handler: Callable[..., Any]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port (another origin than the service's),
    answering with `handler` until the block ends."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def create_user(data_dir: Path, name: str, password: str, *, admin: bool = False) -> Account:
    """A user made the way an operator makes one: `fiddle admin create-user`, password on stdin."""
    command = [sys.executable, "-m", "functions.cli", "admin", "create-user", name]
    command += ["--admin"] if admin else []
    command += ["--data-dir", str(data_dir)]
    subprocess.run(command, input=f"{password}\n", text=True, check=True, capture_output=True)
    return Account(name, password)


@pytest.fixture(scope="package")
def users(server: str, server_data: Path) -> dict[str, Account]:
    """A user and an administrator of the browser tests' server."""
    return {
        "user": create_user(server_data, "alice", "correct horse battery"),
        "admin": create_user(server_data, "boss", "staple of the realm", admin=True),
    }


def sign_in(page: Any, account: Account, path: str = "/signin") -> None:
    """Sign in through the sign-in page (at `path`, which may carry ?next=); waits for the
    redirect that follows."""
    if path:
        page.goto(path)
    page.get_by_label("Name").fill(account.name)
    page.get_by_label("Password").fill(account.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("button", name="Sign out").is_visible()


def create_token(data_dir: Path, name: str) -> str:
    """An API token for `name` (`fiddle admin create-token`), for set-up through the JSON API."""
    command = [sys.executable, "-m", "functions.cli", "admin", "create-token", name]
    command += ["--data-dir", str(data_dir)]
    done = subprocess.run(command, text=True, check=True, capture_output=True)
    return done.stdout.strip()


def stored_outputs(data_dir: Path, digest: str, runid: str) -> dict[str, bytes]:
    """The outputs a run stored (name -> bytes), read from a server's own blob store."""
    store = LocalBlobStore(data_dir / "blobs")
    prefix = f"fiddle/{digest}/{runid}/"
    names = [info.name for info in store.list(prefix) if not info.name.endswith("/run.json")]
    return {name.removeprefix(prefix): store.read(name).data for name in names}
