"""The pages' HTML without a browser: the API address setting, no inline code, the assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.config import Settings

SITE = Path(__file__).resolve().parents[2] / "site"


class Inventory(HTMLParser):
    """What the CSP cares about: inline scripts, style attributes and elements, asset URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.assets: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if "style" in values:
            self.inline.append(f"style attribute on <{tag}>")
        self.inline += [f"{name} handler on <{tag}>" for name in values if name.startswith("on")]
        for name in ("src", "href"):
            if tag in ("script", "link", "img") and values.get(name):
                self.assets.append(str(values[name]))
        if tag == "meta" and values.get("name"):
            self.meta[str(values["name"])] = str(values.get("content") or "")


@pytest.fixture
def client(tmp_path: Path) -> Any:
    # The pages never call the runner; an address nothing listens on will do.
    settings = Settings(
        data_dir=tmp_path, runners=("http://127.0.0.1:9",), api_base="https://api.example.test"
    )
    app = create_app(settings)
    app.testing = True
    return app.test_client()


def inventory(html: str) -> Inventory:
    parser = Inventory()
    parser.feed(html)
    return parser


def test_the_api_address_is_the_one_setting(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert inventory(page.get_data(as_text=True)).meta["fiddle-api"] == "https://api.example.test"


@pytest.mark.parametrize("path", ["/", "/no/such/page"])
def test_pages_have_no_inline_code_and_every_asset_exists(client: Any, path: str) -> None:
    found = inventory(client.get(path).get_data(as_text=True))
    assert found.inline == []
    for asset in found.assets:
        assert asset.startswith("/static/"), asset  # nothing from another host
        if not asset.startswith("/static/dist/"):  # the bundle is built by scripts/setup
            assert (SITE / asset.removeprefix("/static/")).is_file(), asset


def test_the_sources_never_name_another_host() -> None:
    """No stylesheet, script or example refers to an address on another host."""
    pattern = re.compile(r"https?://(?!127\.0\.0\.1|localhost)[a-z0-9.-]+", re.IGNORECASE)
    files = [SITE / "style.css", SITE / "theme.js", SITE / "admin.js", *SITE.glob("src/*.js")]
    files += sorted((Path(__file__).resolve().parents[2] / "templates").glob("*.html"))
    for path in files:
        assert pattern.findall(path.read_text()) == [], path
