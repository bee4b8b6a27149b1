"""The editor, fiddle and iframe pages in a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import contextlib
import http.server
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from functions.examples import load_examples
from tests.browser.conftest import (
    SCREENSHOTS,
    http_server,
    stored_outputs,
    wait_for_shown_images,
)

pytestmark = pytest.mark.browser

CIRCLE = """import skia

def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorBLUE)
    canvas.drawCircle(64, 64, 40, paint)
    print("circle drawn")
"""
SQUARE = """import skia

def draw(canvas):
    canvas.drawRect(skia.Rect.MakeXYWH(10, 10, 60, 60), skia.Paint(Color=skia.ColorGREEN))
"""
# Line 4 never closes its bracket: a compile error reported on line 4.
BROKEN = """import skia

def draw(canvas):
    paint = skia.Paint(Color=skia.ColorRED
    canvas.drawCircle(64, 64, 40, paint)
"""
RAISES = """import skia

def draw(canvas):
    x = 1
    canvas.noSuchMethod()
"""
# Reading pixels back works on the raster canvas only: the PDF and SKP passes fail on line 5.
READS_BACK = """import skia

def draw(canvas):
    canvas.drawCircle(64, 64, 40, skia.Paint(Color=skia.ColorBLUE))
    print(canvas.toarray().shape)
"""
# Printed text is the author's: its markup must be shown, never obeyed.
PRINTS_MARKUP = """def draw(canvas):
    print("<script>alert(1)</script> <b>bold</b> </pre><img src=x onerror=nothere()> &amp;")
"""
HASH_URL = re.compile(r".*/c/([0-9a-f]{32})$")
# The results area's markup, and the same HTML as the browser parses it on its own.
SHOWN_AND_PARSED = """html => {
    const template = document.createElement("template");
    template.innerHTML = html;
    return [document.querySelector("#results").innerHTML, template.innerHTML];
}"""


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh desktop-sized page; fails the test on script errors, CSP violations or any
    request to another host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            problems.append(f"request to another host: {request.url}")
            if urlsplit(request.url).hostname not in ("127.0.0.1", None)
            and not request.url.startswith(("data:", "blob:"))
            else None
        ),
    )
    yield page
    context.close()
    assert problems == []


def editor(page: Any) -> Any:
    return page.get_by_role("textbox", name="Code")


def type_program(page: Any, code: str) -> None:
    box = editor(page)
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # insert_text, not type(): typing would trigger auto-indentation and bracket closing.
    page.keyboard.insert_text(code)
    assert editor_text(page) == code


def editor_text(page: Any) -> str:
    return str(
        page.evaluate(
            "() => [...document.querySelector('#editor').shadowRoot"
            ".querySelectorAll('.cm-line')].map((l) => l.textContent).join('\\n')"
        )
    )


def run_and_wait(page: Any, *, click: bool = True) -> str:
    """Run the program in the editor; the hash the address changed to."""
    before = page.url
    if click:
        page.get_by_role("button", name="Run").click()
    else:
        editor(page).press("Control+Enter")
    page.wait_for_url(lambda url: url != before and HASH_URL.match(url) is not None)
    page.wait_for_function("() => !document.querySelector('#run').hasAttribute('aria-busy')")
    match = HASH_URL.match(page.url)
    assert match
    return match.group(1)


def wait_for_image(page: Any, digest: str, width: int = 256) -> None:
    image = page.locator("#results img.output-image").first
    image.wait_for()
    assert digest in str(image.get_attribute("src"))
    page.wait_for_function(
        "() => { const i = document.querySelector('#results img.output-image');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert image.evaluate("i => i.naturalWidth") == width


def test_the_editor_is_a_textbox_and_run_is_a_button(page: Any) -> None:
    page.goto("/")
    box = editor(page)
    assert box.is_visible() and box.get_attribute("contenteditable") == "true"
    run = page.get_by_role("button", name="Run")
    assert run.is_visible() and run.is_enabled()
    assert "def draw(canvas):" in editor_text(page)
    # Tab indents in the editor; Escape then Tab leaves it for the Run button.
    box.click()
    page.keyboard.press("Tab")
    assert box.evaluate("e => e.getRootNode().activeElement === e")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "run"
    # Every form control has a label or another accessible name.
    page.locator("#options-panel > summary").click()
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, summary')]
            .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
            .filter((e) => !(e.labels?.length || e.getAttribute('aria-label')
                             || e.textContent.trim()))
            .map((e) => e.outerHTML)"""
    )
    assert unnamed == []


def test_type_a_program_run_it_and_see_the_image(page: Any, server: str) -> None:
    page.goto("/")
    type_program(page, CIRCLE)
    digest = run_and_wait(page)
    wait_for_image(page, digest)
    assert page.locator("#status").inner_text().startswith("Ran in")
    assert page.locator("#results .text-output").inner_text() == "circle drawn\n"
    assert page.locator("#problems").is_hidden()
    # The link and embed snippet point at the new fiddle; the downloads are there.
    assert page.locator("#share-link").input_value() == f"{server}/c/{digest}"
    assert f'src="{server}/iframe/{digest}"' in page.locator("#share-embed").input_value()
    interactive = page.locator("#share-embed-code").input_value()
    assert f'src="{server}/iframe/{digest}?code=1" width="600" height="556"' in interactive
    assert page.locator("#share-embed-script").input_value() == (
        f'<script type="module" src="{server}/static/dist/embed.js"></script>\n'
        f'<fiddle-embed hash="{digest}"></fiddle-embed>'
    )
    downloads = page.get_by_role("list", name="Downloads")
    assert [link.text_content() for link in downloads.get_by_role("link").all()] == [
        "PNG download", "GPU PNG download", "PDF download", "SKP download", "Text download",
        "GL info download",
    ]  # fmt: skip
    skp = downloads.get_by_role("link", name="SKP download").get_attribute("href")
    assert requests.get(f"{server}{skp}", timeout=10).ok
    # Ctrl+Enter runs too: the same fiddle again, now answered from storage.
    editor(page).press("Control+Enter")
    page.wait_for_function(
        "() => /from storage/.test(document.querySelector('#status').textContent)"
    )


def test_the_results_area_is_what_the_results_route_serves(
    page: Any, server: str, server_data: Path
) -> None:
    page.goto("/")
    type_program(page, CIRCLE)
    digest = run_and_wait(page)
    wait_for_image(page, digest)
    served = requests.get(f"{server}/e/{digest}/results", timeout=10)
    assert served.status_code == 200
    shown, parsed = page.evaluate(SHOWN_AND_PARSED, served.text)
    assert shown == parsed
    # Its downloads are exactly the outputs the run stored, byte for byte.
    runid = requests.get(f"{server}/e/{digest}", timeout=10).json()["runid"]
    stored = stored_outputs(server_data, digest, runid)
    links = page.get_by_role("list", name="Downloads").get_by_role("link").all()
    hrefs = [str(link.get_attribute("href")) for link in links]
    assert all(href.startswith(f"/ai/{runid}/{digest}") for href in hrefs)
    downloaded = [requests.get(f"{server}{href}", timeout=10).content for href in hrefs]
    assert sorted(downloaded) == sorted(stored.values())
    # The raster, the GPU image and its GL info, the PDF, the SKP and the printed text.
    assert len(stored) == 6


def test_printed_markup_is_shown_as_text(page: Any) -> None:
    page.goto("/")
    type_program(page, PRINTS_MARKUP)
    run_and_wait(page)
    printed = page.locator("#results .text-output")
    printed.wait_for()
    assert printed.inner_text() == (
        "<script>alert(1)</script> <b>bold</b> </pre><img src=x onerror=nothere()> &amp;\n"
    )
    assert page.locator("#results script, #results b, #results img:not(.output-image)").count() == 0


def test_a_syntax_error_is_marked_on_its_line(page: Any) -> None:
    page.goto("/")
    type_program(page, BROKEN)
    run_and_wait(page)
    marked = page.locator("#editor .cm-error-line")
    assert marked.count() == 1
    assert marked.inner_text() == "    paint = skia.Paint(Color=skia.ColorRED"
    assert page.locator("#editor .cm-lintRange-error").count() == 1
    problem = page.locator("#problem-list button.problem-jump")
    assert problem.count() == 1
    assert problem.inner_text().startswith("Line 4, column 23")
    assert "never closed" in problem.inner_text()
    # Clicking the problem moves the cursor to it, in the editor.
    page.keyboard.press("Control+Home")
    problem.click()
    assert page.locator("#editor .cm-activeLine").inner_text() == marked.inner_text()
    assert editor(page).evaluate("e => e.getRootNode().activeElement === e")
    no_run = page.locator("#results [data-kind=no-run]")
    assert no_run.is_visible()
    assert no_run.inner_text().endswith("The problems are listed under the editor.")


def test_a_runtime_error_is_marked_on_its_line(page: Any) -> None:
    page.goto("/")
    type_program(page, RAISES)
    run_and_wait(page, click=False)
    assert page.locator("#editor .cm-error-line").inner_text() == "    canvas.noSuchMethod()"
    problem = page.locator("#problem-list button.problem-jump")
    assert problem.inner_text().startswith("Line 5")
    assert "AttributeError" in page.locator("#problem-list .traceback").inner_text()


def test_an_error_in_one_pass_is_shown_beside_its_output(page: Any) -> None:
    page.goto("/")
    type_program(page, READS_BACK)
    digest = run_and_wait(page)
    wait_for_image(page, digest)  # the raster rendered, and is shown
    status = page.locator("#status")
    assert re.fullmatch(
        r"Ran in \d+ ms; the pdf and skp passes raised errors, so their outputs are missing\.",
        status.inner_text(),
    ), status.inner_text()
    # Each failed output in its place, with its traceback and line; the PDF has no viewer.
    for title in ("PDF", "SKP"):
        failed = page.get_by_role("region", name=f"{title} not rendered")
        assert failed.is_visible()
        assert f"while drawing the {title}, at line 5" in failed.inner_text()
        assert "RuntimeError: Unsupported color type" in failed.locator(".traceback").inner_text()
    assert page.locator("#results object.pdf-view").count() == 0
    downloads = page.get_by_role("list", name="Downloads").get_by_role("link")
    # What rendered: the raster and the text, and where the runner has a GPU (a GPU canvas has
    # pixels to read back) the GPU image and its GL info.
    stored = requests.get(f"{page.url.split('/c/')[0]}/e/{digest}", timeout=10).json()
    assert {"raster", "text"} <= {o["name"] for o in stored["outputList"]}
    assert [" ".join(t.split()) for t in downloads.all_inner_texts()] == [
        f"{output['label']} download" for output in stored["outputList"]
    ]
    # Listed under the editor by pass, and marked on line 5.
    problems = page.locator("#problem-list button.problem-jump")
    assert problems.all_inner_texts()[0].startswith("Line 5 (pdf pass)")
    assert problems.all_inner_texts()[1].startswith("Line 5 (skp pass)")
    assert page.locator("#editor .cm-error-line").inner_text() == (
        "    print(canvas.toarray().shape)"
    )
    # The help under the options says why, and what to test.
    help_panel = page.locator("#program-help")
    help_panel.locator("summary").click()
    assert 'test fiddle_pass == "raster" first' in help_panel.inner_text()
    assert "numpy, PIL (Pillow) and Python's standard library" in help_panel.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "output-errors-desktop-light.png"), full_page=True)


def test_back_returns_to_the_previous_fiddle(page: Any) -> None:
    page.goto("/")
    type_program(page, CIRCLE)
    first = run_and_wait(page)
    wait_for_image(page, first)
    type_program(page, SQUARE)
    second = run_and_wait(page)
    wait_for_image(page, second)
    assert first != second

    page.go_back()
    page.wait_for_url(f"**/c/{first}")
    page.wait_for_function("code => document.querySelector('#code').value === code", arg=CIRCLE)
    assert editor_text(page) == CIRCLE
    wait_for_image(page, first)
    assert page.locator("#fiddle-hash").inner_text() == first

    page.go_back()  # to the new fiddle the page opened with
    page.wait_for_url(lambda url: url.endswith("/"))
    page.wait_for_function("() => document.querySelector('#fiddle-hash').hidden")
    assert "drawLine" in editor_text(page)
    assert page.locator("#results [data-kind=empty]").is_visible()
    assert page.locator("#zoom-control").is_hidden()

    page.go_forward()
    page.wait_for_url(f"**/c/{first}")
    page.go_forward()
    page.wait_for_url(f"**/c/{second}")
    page.wait_for_function("code => document.querySelector('#code').value === code", arg=SQUARE)
    wait_for_image(page, second)


def test_an_example_loads_and_runs(page: Any) -> None:
    page.goto("/")
    page.get_by_text("Examples", exact=True).click()
    page.get_by_role("button", name=re.compile("^Gradients")).click()
    page.wait_for_url(HASH_URL)
    digest = HASH_URL.match(page.url).group(1)  # type: ignore[union-attr]
    wait_for_image(page, digest)
    assert "GradientShader" in editor_text(page)
    # The example is the stored fiddle its index entry names.
    listed = {example.file: example.listed_hash for example in load_examples()}
    assert digest == listed["gradients.py"]


def test_options_change_the_fiddle(page: Any) -> None:
    page.goto("/")
    type_program(page, SQUARE)
    page.locator("#options-panel > summary").click()
    page.get_by_label("Width", exact=True).first.fill("96")
    page.get_by_label("Height", exact=True).first.fill("64")
    assert page.get_by_label("F16 pixels").is_disabled()
    page.get_by_label("sRGB colour space").check()
    assert page.get_by_label("F16 pixels").is_enabled()
    digest = run_and_wait(page)
    wait_for_image(page, digest, width=96)
    assert "96 \u00d7 64 \u00b7 sRGB" in page.locator("#options-summary").inner_text()
    # A bad value is reported, not sent.
    page.get_by_label("Width", exact=True).first.fill("1")
    page.get_by_role("button", name="Run").click()
    assert "not valid" in page.locator("#status").inner_text()


def test_zoom_and_theme(page: Any) -> None:
    page.goto("/")
    type_program(page, SQUARE)
    digest = run_and_wait(page)
    wait_for_image(page, digest)
    page.get_by_label("Zoom").select_option("4")
    assert page.locator("#results img.output-image").first.evaluate("i => i.width") == 1024

    toggle = page.get_by_role("button", name="Dark theme")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.get_by_role("button", name="Dark theme").get_attribute("aria-pressed") == "true"


# The page's background and text colours (--bg and --fg) in each theme.
LIGHT = ("rgb(246, 247, 249)", "rgb(29, 31, 35)")
DARK = ("rgb(21, 23, 27)", "rgb(230, 232, 236)")


@pytest.mark.parametrize(
    "system, choice, colours",
    [
        ("light", None, LIGHT),
        ("dark", None, DARK),
        ("dark", "light", LIGHT),
        ("light", "dark", DARK),
    ],
)
def test_the_colours_follow_the_system_unless_the_visitor_chose(
    browser: Any, server: str, system: str, choice: str | None, colours: tuple[str, str]
) -> None:
    context = browser.new_context(base_url=server, color_scheme=system)
    try:
        page = context.new_page()
        page.goto("/")
        if choice:
            page.evaluate("choice => localStorage.setItem('fiddle-theme', choice)", choice)
            page.reload()
        shown = page.locator("body").evaluate(
            "body => [getComputedStyle(body).backgroundColor, getComputedStyle(body).color]"
        )
        assert tuple(shown) == colours
    finally:
        context.close()


def test_the_pdf_is_shown_inline(browser: Any, server: str) -> None:
    digest = requests.post(f"{server}/_/run", json={"code": CIRCLE}, timeout=60).json()[
        "fiddleHash"
    ]
    context = browser.new_context(base_url=server)
    try:
        page = context.new_page()
        page.goto(f"/c/{digest}")
        page.locator("#results details.pdf summary").click()
        # Outputs may be framed by their own origin (SAMEORIGIN), so the PDF viewer loads inline.
        for _ in range(50):
            if any(frame.url.endswith(f"{digest}.pdf") for frame in page.frames):
                break
            page.wait_for_timeout(100)
        assert any(frame.url.endswith(f"{digest}.pdf") for frame in page.frames)
    finally:
        context.close()


def test_the_fiddle_page_works_without_javascript(browser: Any, server: str) -> None:
    digest = requests.post(f"{server}/_/run", json={"code": CIRCLE}, timeout=60).json()[
        "fiddleHash"
    ]
    context = browser.new_context(java_script_enabled=False, base_url=server)
    try:
        page = context.new_page()
        page.goto(f"/c/{digest}")
        assert page.locator("textarea#code").input_value() == CIRCLE
        image = page.locator("img.output-image").first
        page.wait_for_function(
            "() => document.querySelector('img.output-image').naturalWidth === 256"
        )
        assert digest in str(image.get_attribute("src"))
        assert page.get_by_label("Width", exact=True).first.input_value() == "256"
        assert page.get_by_role("link", name="PDF download").is_visible()
        assert "circle drawn" in page.locator(".text-output").inner_text()
        assert page.get_by_role("button", name="Run").is_disabled()
    finally:
        context.close()


@contextlib.contextmanager
def other_origin(html: str) -> Iterator[str]:
    """A tiny HTTP server on another loopback port that serves one page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(Handler) as url:
        yield f"{url}/"


def test_the_iframe_renders_inside_a_page_from_another_origin(browser: Any, server: str) -> None:
    digest = requests.post(f"{server}/_/run", json={"code": CIRCLE}, timeout=60).json()[
        "fiddleHash"
    ]
    html = (
        "<!doctype html><title>Embedder</title><h1>Someone else's page</h1>"
        f'<iframe id="embed" src="{server}/iframe/{digest}" width="300" height="340"></iframe>'
        f'<iframe id="page" src="{server}/c/{digest}" width="300" height="200"></iframe>'
    )
    with other_origin(html) as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(url)
            embed = page.frame_locator("#embed")
            image = embed.locator("img.output-image").first
            image.wait_for()
            assert image.evaluate("i => i.complete && i.naturalWidth") == 256
            link = embed.get_by_role("link", name=re.compile("Open this fiddle"))
            assert link.get_attribute("href") == f"/c/{digest}"
            assert embed.locator("textarea, .cm-editor").count() == 0
            # Every other page refuses to be framed by another site.
            page.wait_for_timeout(200)
            framed_page = page.frame(url=re.compile(f"/c/{digest}$"))
            assert framed_page is None or framed_page.locator("textarea").count() == 0
        finally:
            context.close()


SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def test_screenshots_of_every_page(browser: Any, server: str) -> None:
    """Desktop and phone widths, light and dark: saved to artifacts/screenshots/ to look at."""
    answer = requests.post(
        f"{server}/_/run", json={"code": CIRCLE.replace("64, 64, 40", "128, 128, 90")}, timeout=60
    ).json()
    digest = answer["fiddleHash"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=server)
    try:
        page = context.new_page()
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for size, (width, height) in SIZES.items():
                page.set_viewport_size({"width": width, "height": height})
                for name, path in [
                    ("index", "/"), ("fiddle", f"/c/{digest}"), ("iframe", f"/iframe/{digest}")
                ]:  # fmt: skip
                    page.goto(path)
                    if name != "iframe":
                        page.wait_for_selector("html.editor-ready")
                    wait_for_shown_images(page)
                    shot = SCREENSHOTS / f"{name}-{size}-{scheme}.png"
                    page.screenshot(path=str(shot), full_page=True)
                # The editor showing a compile error.
                page.goto("/")
                page.wait_for_selector("html.editor-ready")
                type_program(page, BROKEN)
                run_and_wait(page)
                shot = SCREENSHOTS / f"errors-{size}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert len(list(SCREENSHOTS.glob("*-*-*.png"))) >= 16
