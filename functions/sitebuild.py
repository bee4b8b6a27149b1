"""The static copy of the site: the editor page as a plain `index.html` beside its assets.

In production the site bucket serves it through the CDN (as the bucket's main page), and the
editor talks only to the JSON API (`/_/run`, `/e/`, `/i/`, `/ai/`, `/_/sources`) at `api_base`;
`fiddle serve` renders the very same page itself. The page is rendered by the same app and
templates as the server-rendered one, for an anonymous visitor, so the two never drift apart.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fiddle_protocol.messages import RunnerInfo, RunRequest, RunResult
from fiddle_protocol.versions import BuildInfo
from functions.config import Settings
from functions.runner_client import RunnerClient

SITE = Path(__file__).resolve().parent.parent / "site"
# What a browser needs; the editor's sources (src/) are bundled into dist/ by `npm run build`.
ASSETS = ("style.css", "theme.js", "admin.js", "favicon.svg", "dist", "examples")


class SiteBuildError(Exception):
    """The static site cannot be built (most often: the editor bundle was never built)."""


def build_site(out: Path, api_base: str = "") -> list[Path]:
    """Writes `out/index.html` and `out/static/...`; returns the files written."""
    if not (SITE / "dist" / "editor.js").is_file():
        raise SiteBuildError("The editor bundle site/dist/editor.js is missing: run scripts/setup.")
    out.mkdir(parents=True, exist_ok=True)
    _copy_assets(out / "static")
    index = out / "index.html"
    _write_atomically(index, render_editor_page(api_base))
    return [index, *sorted(p for p in (out / "static").rglob("*") if p.is_file())]


def render_editor_page(api_base: str) -> str:
    """The front page exactly as `GET /` answers an anonymous visitor."""
    from functions.app import create_app

    with tempfile.TemporaryDirectory(prefix="fiddle-site-") as scratch:
        # The page reads no data; the app only needs somewhere to keep its (empty) stores.
        settings = Settings(data_dir=Path(scratch), api_base=api_base, secret_key="unused")
        app = create_app(settings, runner=_NoRunner())
        with app.test_request_context("/"):
            return str(app.view_functions["pages.index"]())


def _copy_assets(static: Path) -> None:
    static.mkdir(parents=True, exist_ok=True)
    for name in ASSETS:
        source, target = SITE / name, static / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, target)


def _write_atomically(path: Path, text: str) -> None:
    # A CDN or a browser reading during a rebuild sees the old page or the new one, never half.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


class _NoRunner(RunnerClient):
    """Rendering a page never runs a fiddle; this says so loudly if that ever changes."""

    def run(self, request: RunRequest) -> RunResult:
        raise RuntimeError("the static site build does not run fiddles")

    def describe(self) -> RunnerInfo:
        raise RuntimeError("the static site build asks no runner")

    def builds(self) -> list[BuildInfo]:
        """None: the static page has no build picker (builds come and go; its Run runs at
        HEAD), and the server-rendered pages have one."""
        return []
