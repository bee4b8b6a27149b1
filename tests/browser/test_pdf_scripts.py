"""PDFs with JavaScript in Chromium's viewer (issue 19, item 6).

Chromium runs a PDF's JavaScript in its own viewer whatever the response's Content-Security-Policy
says, even `sandbox`: only a download keeps it from running. So the service serves a stored PDF
that carries actions as an attachment (the runner no longer stores any), and a PDF Skia made
inline, as before.
"""

from __future__ import annotations

import contextlib
import http.server
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fiddle_protocol.options import FiddleOptions
from functions.fiddles import FiddleRepository
from functions.storage.local import LocalBlobStore
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, http_server

PlaywrightError = pytest.importorskip("playwright.sync_api").Error

pytestmark = pytest.mark.browser

SCRIPT_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>\nendobj\n"
    b"4 0 obj\n<< /Type /Action /S /JavaScript /JS (app.alert('pdf script ran')) >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
RUNID = "2026-01-01T00:00:00Z-144.1"
# How long the viewer gets to run the document's open action.
VIEWER_SECONDS = 2.0


@pytest.fixture
def context(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, accept_downloads=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


def visit(context: Any, url: str) -> dict[str, Any]:
    """Open `url`; what happened: the dialogs its scripts opened, whether it was downloaded."""
    page = context.new_page()
    seen: dict[str, Any] = {"dialogs": [], "downloads": []}
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("download", lambda download: seen["downloads"].append(download.suggested_filename))
    try:
        page.goto(url)
    except Exception as error:  # Playwright's goto fails when the answer is a download
        assert "Download is starting" in str(error), error
    time.sleep(VIEWER_SECONDS)
    page.close()
    return seen


def test_chromium_runs_pdf_scripts_despite_a_sandbox_csp(browser: Any) -> None:
    """Why the service does not rely on a CSP: the script runs under `sandbox` all the same.

    In a browser of its own: headless Chromium reports the viewer's alert only as the page closes,
    and then goes down (it would take the other browser tests with it)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Security-Policy", "sandbox; default-src 'none'")
            self.send_header("Content-Length", str(len(SCRIPT_PDF)))
            self.end_headers()
            self.wfile.write(SCRIPT_PDF)

        def log_message(self, *_args: Any) -> None:
            pass

    dialogs: list[str] = []
    own = browser.browser_type.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
    try:
        with http_server(Handler) as url:
            page = own.new_page()
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            page.goto(f"{url}/sandboxed.pdf")
            time.sleep(VIEWER_SECONDS)
            with contextlib.suppress(PlaywrightError):
                page.close()
            time.sleep(0.5)
    finally:
        with contextlib.suppress(PlaywrightError):
            own.close()
    assert dialogs == ["pdf script ran"]


def test_a_stored_pdf_with_a_script_is_downloaded_not_run(
    context: Any, server: str, server_data: Path
) -> None:
    fiddles = FiddleRepository(LocalBlobStore(server_data / "blobs"))
    digest = uuid.uuid4().hex
    fiddles.save_code(digest, "def draw(canvas):\n    pass\n", FiddleOptions())
    fiddles.save_run(digest, RUNID, {"pdf.pdf": SCRIPT_PDF}, "")
    for path in (f"/i/{digest}.pdf", f"/ai/{RUNID}/{digest}.pdf"):
        assert visit(context, path) == {"dialogs": [], "downloads": ["fiddle.pdf"]}


def test_a_pdf_skia_made_opens_in_the_viewer(context: Any, server: str) -> None:
    code = "def draw(canvas):\n    canvas.drawCircle(64, 64, 40, skia.Paint())\n"
    answer = requests.post(f"{server}/_/run", json={"code": code, "options": {}}, timeout=60)
    assert answer.status_code == 200, answer.text
    page = context.new_page()
    downloads: list[str] = []
    page.on("download", lambda download: downloads.append(download.suggested_filename))
    response = page.goto(f"/i/{answer.json()['fiddleHash']}.pdf")
    assert response is not None and response.status == 200
    assert page.evaluate("document.contentType") == "application/pdf"
    time.sleep(VIEWER_SECONDS)
    assert downloads == []
