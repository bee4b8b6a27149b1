"""The static site (`fiddle build-site`) served as plain files from another origin, the way a
bucket behind a CDN serves it, talking only to the JSON API of a `fiddle serve`."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from functions.sitebuild import build_site
from tests.browser.conftest import http_server
from tests.browser.test_pages import CIRCLE, editor_text, run_and_wait, type_program, wait_for_image

pytestmark = pytest.mark.browser


class PlainFiles(SimpleHTTPRequestHandler):
    """A file server that, like the CDN's rewrite, answers /c/<anything> with index.html."""

    def translate_path(self, path: str) -> str:
        if urlsplit(path).path.startswith("/c/"):
            path = "/index.html"
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory, server: str) -> Iterator[str]:
    out = tmp_path_factory.mktemp("static-site")
    build_site(out, api_base=server)
    with http_server(functools.partial(PlainFiles, directory=str(out))) as url:
        yield url


def test_the_build_writes_a_page_and_its_assets(tmp_path: Path) -> None:
    written = build_site(tmp_path, api_base="https://api.example.test")
    page = (tmp_path / "index.html").read_text()
    assert '<meta name="fiddle-api" content="https://api.example.test">' in page
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert (tmp_path / asset.lstrip("/")).is_file(), asset
    assert tmp_path / "static" / "dist" / "editor.js" in written
    assert tmp_path / "static" / "dist" / "embed.js" in written  # the interactive embed's script
    assert not (tmp_path / "static" / "src").exists()  # sources stay out of the bucket


def test_the_plain_page_runs_fiddles_against_the_api(
    browser: Any, server: str, static_site: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    origins: set[str] = set()
    problems: list[str] = []
    context.on("request", lambda r: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(r.url))))
    context.on("page", lambda p: p.on("pageerror", lambda e: problems.append(str(e))))
    try:
        page = context.new_page()
        page.goto(f"{static_site}/")
        page.wait_for_selector("html.editor-ready")
        type_program(page, CIRCLE)
        digest = run_and_wait(page)
        assert page.url == f"{static_site}/c/{digest}"
        wait_for_image(page, digest, width=256)
        image = page.locator("#results img.output-image").first.get_attribute("src")
        assert str(image).startswith(f"{server}/")  # the outputs come from the API
        links = page.get_by_role("list", name="Downloads").get_by_role("link").all()
        hrefs = [str(link.get_attribute("href")) for link in links]
        assert len(hrefs) == 6 and all(href.startswith(f"{server}/ai/") for href in hrefs)
        assert all(requests.get(href, timeout=10).ok for href in hrefs)
        pdf = page.locator("#results object.pdf-view").get_attribute("data")
        assert str(pdf).startswith(f"{server}/ai/")

        # Opened afresh at its address, the plain page loads the fiddle from /e/ and shows it.
        page.goto(f"{static_site}/c/{digest}")
        page.wait_for_selector("html.editor-ready")
        page.wait_for_function(
            "h => document.querySelector('#fiddle-hash').textContent === h", arg=digest
        )
        assert editor_text(page) == CIRCLE
        wait_for_image(page, digest, width=256)
        assert page.locator("#results .text-output").inner_text() == "circle drawn\n"
    finally:
        context.close()
    assert problems == []
    assert origins == {static_site, server}
