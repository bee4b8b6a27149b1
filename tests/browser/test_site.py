"""The pages' HTML without a browser: the API address setting, no inline code, the assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from functions import cli, sitebuild
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


def test_pages_may_load_from_an_api_elsewhere_and_nothing_more(client: Any) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://api.example.test;" in policy
    assert "img-src 'self' data: https://api.example.test;" in policy
    assert "frame-ancestors 'none'" in policy
    assert (
        "api.example.test" in client.get("/iframe/" + "0" * 32).headers["Content-Security-Policy"]
    )


def test_the_anonymous_api_answers_any_origin_without_credentials(client: Any) -> None:
    preflight = client.options("/_/run", headers={"Origin": "https://cdn.example.test"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert client.get("/_/sources").headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/e/" + "0" * 32).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/_/name", "/_/upload", "/_/source/1", "/admin/", "/signin"])
def test_what_needs_a_session_is_never_opened_to_other_origins(client: Any, path: str) -> None:
    for answer in (client.options(path), client.get(path), client.post(path)):
        assert "Access-Control-Allow-Origin" not in answer.headers, (path, answer.status_code)


def test_build_site_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    assert cli.main(["build-site", str(out), "--api-base", "https://api.example.test"]) == 0
    assert "https://api.example.test" in capsys.readouterr().out
    assert 'content="https://api.example.test"' in (out / "index.html").read_text()


def test_build_site_without_the_bundle_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sitebuild, "SITE", tmp_path / "empty-site")
    assert cli.main(["build-site", str(tmp_path / "out")]) == 1
    assert "run scripts/setup" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
