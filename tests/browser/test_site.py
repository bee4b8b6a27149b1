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
from functions.services import services

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


# --- the interactive embed: /iframe/<hash>?code=1 and site/dist/embed.js ----------------------

# Printed markup in the code must arrive as text in the server-rendered fallback.
EMBEDDED_CODE = 'def draw(canvas):\n    print("<b>bold</b> & </pre>")\n'


def stored_fiddle(client: Any, code: str = EMBEDDED_CODE) -> str:
    """A fiddle written straight into the app's store (this app has no runner), never run."""
    from fiddle_protocol.options import FiddleOptions

    digest = "ab" * 16
    services(client.application).fiddles.save_code(digest, code, FiddleOptions())
    return digest


def test_the_interactive_iframe_is_the_embed_element_over_its_server_rendering(
    client: Any,
) -> None:
    digest = stored_fiddle(client)
    page = client.get(f"/iframe/{digest}?code=1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    found = inventory(html)
    assert found.inline == []
    assert "/static/dist/embed.js" in found.assets
    # The element names the fiddle and the API; inside it, the code and result without script.
    assert f'<fiddle-embed hash="{digest}" api="https://api.example.test">' in html
    assert "print(&#34;&lt;b&gt;bold&lt;/b&gt; &amp; &lt;/pre&gt;&#34;)" in html
    assert f'href="/c/{digest}" target="_blank"' in html
    # Any site may frame it; its script may reach the API, and nothing else on another host.
    policy = page.headers["Content-Security-Policy"]
    assert policy == (
        "default-src 'self'; connect-src 'self' https://api.example.test; "
        "img-src 'self' https://api.example.test"
    )
    assert "X-Frame-Options" not in page.headers
    for plain in (f"/iframe/{digest}", f"/iframe/{digest}?code=0"):
        html = client.get(plain).get_data(as_text=True)
        assert "fiddle-embed" not in html and "embed.js" not in html


@pytest.mark.parametrize("value", ["", "2", "yes", "true", "1 ", "01"])
def test_a_bad_code_parameter_is_refused_with_a_sentence(client: Any, value: str) -> None:
    digest = stored_fiddle(client)
    answer = client.get(f"/iframe/{digest}", query_string={"code": value})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert (
        "The code parameter is 1 (the code in an editor with Run) or 0 (the result only)." in text
    )
    assert "Traceback" not in text


def test_an_unknown_fiddle_in_the_interactive_iframe_is_a_404_page(client: Any) -> None:
    answer = client.get("/iframe/" + "0" * 32 + "?code=1")
    assert answer.status_code == 404
    assert "There is nothing at this address." in answer.get_data(as_text=True)


def test_only_the_embed_script_may_be_loaded_by_other_origins(client: Any) -> None:
    for path in ("/static/dist/embed.js", "/static/dist/embed.js.map"):
        headers = client.get(path, headers={"Origin": "https://docs.example.test"}).headers
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in headers
    for path in ("/static/dist/editor.js", "/static/style.css", "/iframe/" + "0" * 32):
        headers = client.get(path, headers={"Origin": "https://docs.example.test"}).headers
        assert "Access-Control-Allow-Origin" not in headers, path


CUSTOM_PROPERTY = re.compile(r"(--[a-z0-9-]+):\s*([^;]+);")


def _block(css: str, selector: str) -> str:
    start = css.index(selector + " {")
    return css[start : css.index("\n}", start)]


def test_the_embed_defines_every_colour_it_uses_as_the_site_does() -> None:
    """The embed's shadow root takes no custom property from the host page: every var() its
    style sheet and the editor theme use is defined on .fiddle, with the site's values."""
    embed = (SITE / "src" / "embed.css").read_text()
    defined = dict(CUSTOM_PROPERTY.findall(_block(embed, ".fiddle")))
    site = dict(CUSTOM_PROPERTY.findall(_block((SITE / "style.css").read_text(), ":root")))
    used = set()
    for source in (embed, (SITE / "src" / "editorTheme.js").read_text()):
        used |= set(re.findall(r"var\((--[a-z0-9-]+)", source))
    assert used - set(defined) == set()
    shared = set(defined) & set(site)
    assert {name: defined[name] for name in shared} == {name: site[name] for name in shared}
    assert len(shared) >= 25
