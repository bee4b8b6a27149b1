"""The interactive embed in a real browser: `/iframe/<hash>?code=1` and `<fiddle-embed>` (one
`<script type="module">` loading site/dist/embed.js), both on a page of ANOTHER origin, as a
documentation site embeds them: edit, run, see the new image, reset; the embedded fiddle never
changes; keyboard only; the labels; bad attributes and unknown fiddles; no JavaScript; styles
that neither leak out nor in; screenshots into artifacts/screenshots/."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS, Account, create_token, wait_for_shown_images
from tests.browser.test_pages import BROKEN, RAISES, other_origin, run_and_wait, type_program

pytestmark = pytest.mark.browser

# The embedded fiddle; TAG makes it one of the test's own.
EMBEDDED = """import skia

def draw(canvas):
    canvas.drawCircle(64, 64, 40, skia.Paint(AntiAlias=True, Color=skia.ColorBLUE))
    print("TAG")
"""
# What the visitor writes in the embed instead.
EDITED = """import skia

def draw(canvas):
    canvas.drawRect(skia.Rect.MakeXYWH(16, 16, 96, 48), skia.Paint(Color=skia.ColorGREEN))
    print("TAG edited")
"""
# Typed key by key at the end of the embedded code (closeBrackets skips the closing brackets).
TYPED = "    canvas.drawRect(skia.Rect.MakeXYWH(0, 0, 32, 32), skia.Paint(Color=skia.ColorRED))"
EDITOR_TEXT = "c => [...c.querySelectorAll('.cm-line')].map((l) => l.textContent).join('\\n')"
FOCUSED = "e => e.getRootNode().activeElement === e && document.hasFocus()"
# An image's natural width once it has loaded (0: it failed to).
NATURAL_WIDTH = """i => new Promise((ok) => i.complete ? ok(i.naturalWidth) : (
    i.addEventListener('load', () => ok(i.naturalWidth)),
    i.addEventListener('error', () => ok(0))))"""
# The paths the embeds may call on the service, with the methods: nothing that needs a session.
ANONYMOUS = re.compile(r"^(GET /(iframe|static|e|ai|i|s)/|(POST|OPTIONS) /_/run$)")


@dataclass(frozen=True)
class Fiddle:
    hash: str
    code: str
    json: dict[str, Any]


def store(server: str, code: str) -> Fiddle:
    answer = requests.post(f"{server}/_/run", json={"code": code}, timeout=60)
    assert answer.status_code == 200, answer.text
    digest = answer.json()["fiddleHash"]
    return Fiddle(digest, code, requests.get(f"{server}/e/{digest}", timeout=10).json())


def hash_of(server: str, code: str, options: dict[str, Any]) -> str:
    """The hash /_/run answers for `code` with `options`."""
    answer = requests.post(f"{server}/_/run", json={"code": code, "options": options}, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["fiddleHash"])


@pytest.fixture
def fiddle(server: str) -> Fiddle:
    return store(server, EMBEDDED.replace("TAG", secrets.token_hex(4)))


def host_page(server: str, body: str, head: str = "") -> str:
    """Someone else's documentation page: the script tag, then `body`."""
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Docs</title>{head}"
        f'<script type="module" src="{server}/static/dist/embed.js"></script></head>'
        f"<body><h1>Someone else's documentation</h1>{body}</body></html>"
    )


def both(server: str, reference: str, attribute: str = "hash") -> str:
    """The iframe variant and the element, embedding the same fiddle."""
    return (
        f'<iframe id="frame" src="{server}/iframe/{reference}?code=1" width="600" height="500"'
        f' title="Skia fiddle"></iframe>'
        f'<fiddle-embed id="element" {attribute}="{reference.lstrip("@")}"></fiddle-embed>'
    )


@pytest.fixture
def context(browser: Any, server: str) -> Iterator[Any]:
    """A browser context with a cookie for the service's host (which the embeds must never send);
    fails the test on script errors and Content-Security-Policy violations, and on any request
    to the service that is not the anonymous API, its pages for the iframe, or its files."""
    context = browser.new_context(viewport={"width": 1000, "height": 1400})
    context.set_default_timeout(20_000)
    context.add_cookies([{"name": "probe", "value": "must-not-be-sent", "url": server}])
    problems: list[str] = []
    calls: list[Any] = []

    def watch(page: Any) -> None:
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )

    context.on("page", watch)
    context.on("request", lambda r: calls.append(r) if r.url.startswith(server) else None)
    try:
        yield context
        assert problems == []
        for call in calls:
            path = urlsplit(call.url).path
            assert ANONYMOUS.match(f"{call.method} {path}"), (call.method, call.url)
            if call.resource_type in ("fetch", "xhr"):
                assert "cookie" not in call.all_headers(), call.url
    finally:
        context.close()


def open_host(context: Any, html: str) -> Iterator[Any]:
    with other_origin(html) as url:
        page = context.new_page()
        page.goto(url)
        yield page


@pytest.fixture
def embedded_twice(context: Any, server: str, fiddle: Fiddle) -> Iterator[Any]:
    """Another origin's page with the fiddle in both embeds, both loaded."""
    yield from open_host(context, host_page(server, both(server, fiddle.hash)))


def scopes(page: Any) -> dict[str, Any]:
    """Where each embed's markup is: the iframe's document, the element's shadow root."""
    return {"iframe": page.frame_locator("#frame"), "element": page.locator("#element")}


def editor(scope: Any) -> Any:
    return scope.get_by_role("textbox", name="Code")


def editor_text(scope: Any) -> str:
    return str(editor(scope).evaluate(EDITOR_TEXT))


def shown_image(scope: Any, digest: str) -> Any:
    """Waits until the embed shows fiddle `digest`'s raster, loaded; the image."""
    image = scope.locator(f'.results img.output-image[src*="/{digest}_raster.png"]')
    image.wait_for()
    assert image.evaluate(NATURAL_WIDTH) > 0
    return image


def replace_code(page: Any, scope: Any, code: str) -> None:
    editor(scope).click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)  # not typed: no auto-indentation or bracket closing
    assert editor_text(scope) == code


def wait_until_idle(scope: Any) -> None:
    """Waits for the run under way (Run has aria-busy while it lasts) to end."""
    scope.locator("button.run:not([aria-busy])").wait_for()


def run(page: Any, scope: Any, *, keys: bool = False) -> None:
    if keys:
        editor(scope).press("Control+Enter")
    else:
        scope.get_by_role("button", name="Run").click()
    wait_until_idle(scope)


def status(scope: Any) -> str:
    return str(scope.get_by_role("status").inner_text())


def test_a_page_on_another_origin_edits_and_runs_both_embeds(
    embedded_twice: Any, server: str, fiddle: Fiddle
) -> None:
    page = embedded_twice
    host_url = page.url
    edited = EDITED.replace("TAG", secrets.token_hex(4))
    expected = hash_of(server, edited, fiddle.json["options"])
    for name, scope in scopes(page).items():
        original = shown_image(scope, fiddle.hash)
        assert original.evaluate("i => i.naturalWidth") == 256
        assert editor_text(scope) == fiddle.code
        reset = scope.get_by_role("button", name="Reset to the original code")
        assert reset.is_disabled()

        replace_code(page, scope, edited)
        assert reset.is_enabled()
        run(page, scope)
        image = shown_image(scope, expected)
        assert str(image.get_attribute("src")).startswith(f"{server}/ai/"), name
        assert image.evaluate("i => i.naturalWidth") == 256
        assert re.match(r"(Ran|Done) in \d", status(scope)), status(scope)
        printed = scope.locator(".results .text-output").inner_text()
        assert printed == edited.split('print("')[1].split('")')[0] + "\n"
        link = scope.get_by_role("link", name="Open in the editor (new tab)")
        assert link.get_attribute("href") == f"{server}/c/{expected}"
        assert link.get_attribute("target") == "_blank"
        page.screenshot(path=str(SCREENSHOTS / f"embed-run-{name}.png"), full_page=True)

        # Reset: the original code and result again, and the focus back in the editor.
        reset.click()
        shown_image(scope, fiddle.hash)
        assert editor_text(scope) == fiddle.code
        assert reset.is_disabled()
        assert editor(scope).evaluate(FOCUSED)
        assert link.get_attribute("href") == f"{server}/c/{fiddle.hash}"

    # Only the embeds changed: the page's address, the iframe's, the element's attribute and
    # the embedded fiddle as the service has it are what they were.
    assert page.url == host_url
    assert page.locator("#frame").get_attribute("src") == f"{server}/iframe/{fiddle.hash}?code=1"
    assert page.locator("#element").get_attribute("hash") == fiddle.hash
    assert requests.get(f"{server}/e/{fiddle.hash}", timeout=10).json() == fiddle.json


def test_a_named_fiddle_stays_where_its_name_points(
    context: Any, server: str, server_data: Path, users: dict[str, Account], fiddle: Fiddle
) -> None:
    name = f"embedded_{secrets.token_hex(4)}"
    bearer = {"Authorization": f"Bearer {create_token(server_data, users['user'].name)}"}
    named = requests.post(
        f"{server}/_/name", json={"name": name, "hash": fiddle.hash}, headers=bearer, timeout=10
    )
    assert named.status_code == 200, named.text
    before = requests.get(f"{server}/e/@{name}", timeout=10).json()
    for page in open_host(context, host_page(server, both(server, f"@{name}", "name"))):
        for scope in scopes(page).values():
            shown_image(scope, fiddle.hash)
            assert scope.get_by_role("region", name=f"Skia fiddle @{name}").is_visible()
            replace_code(page, scope, EDITED.replace("TAG", secrets.token_hex(4)))
            run(page, scope)
            assert re.match(r"(Ran|Done) in \d", status(scope)), status(scope)
            link = scope.get_by_role("link", name="Open in the editor (new tab)")
            assert link.get_attribute("href") != f"{server}/c/@{name}"
            scope.get_by_role("button", name="Reset to the original code").click()
            assert link.get_attribute("href") == f"{server}/c/@{name}"
    assert requests.get(f"{server}/e/@{name}", timeout=10).json() == before


def test_two_embeds_of_one_fiddle_on_a_page_are_independent(
    context: Any, server: str, fiddle: Fiddle
) -> None:
    body = "".join(f'<fiddle-embed id="e{i}" hash="{fiddle.hash}"></fiddle-embed>' for i in (1, 2))
    edited = EDITED.replace("TAG", secrets.token_hex(4))
    for page in open_host(context, host_page(server, body)):
        first, second = page.locator("#e1"), page.locator("#e2")
        shown_image(second, fiddle.hash)
        replace_code(page, first, edited)
        run(page, first, keys=True)
        shown_image(first, hash_of(server, edited, fiddle.json["options"]))
        assert editor_text(second) == fiddle.code
        shown_image(second, fiddle.hash)
        assert status(second) == ""
        assert second.get_by_role("button", name="Reset to the original code").is_disabled()


def tab_until(page: Any, target: Any, limit: int = 40) -> int:
    """Presses Tab until `target` has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.evaluate(FOCUSED):
            return presses
    raise AssertionError(f"Tab never reached {target}")


def test_keyboard_only_tab_to_the_editor_type_tab_to_run_and_enter(
    embedded_twice: Any, server: str, fiddle: Fiddle
) -> None:
    page = embedded_twice
    expected = hash_of(server, fiddle.code + TYPED, fiddle.json["options"])
    for name, scope in scopes(page).items():
        shown_image(scope, fiddle.hash)
        tab_until(page, editor(scope))
        page.keyboard.press("Control+End")
        page.keyboard.type(TYPED)
        assert editor_text(scope) == fiddle.code + TYPED
        page.keyboard.press("Tab")  # leaves the editor: Tab does not indent here
        run_button = scope.get_by_role("button", name="Run")
        assert run_button.evaluate(FOCUSED), name
        # The focus is visible: the embed's own outline, not the browser's default.
        outline = run_button.evaluate("b => getComputedStyle(b).outlineStyle")
        assert outline == "solid"
        page.keyboard.press("Enter")
        wait_until_idle(scope)
        shown_image(scope, expected)
        assert run_button.evaluate(FOCUSED)  # the focus stays on Run
        page.screenshot(path=str(SCREENSHOTS / f"embed-keyboard-{name}.png"), full_page=True)
    assert requests.get(f"{server}/e/{fiddle.hash}", timeout=10).json() == fiddle.json


def test_the_embeds_are_labelled_as_the_editor_is(embedded_twice: Any, fiddle: Fiddle) -> None:
    page = embedded_twice
    for scope in scopes(page).values():
        shown_image(scope, fiddle.hash)
        assert scope.get_by_role("region", name=f"Skia fiddle {fiddle.hash}").is_visible()
        assert editor(scope).get_attribute("contenteditable") == "true"
        hint = editor(scope).evaluate(
            "e => e.getRootNode().getElementById(e.getAttribute('aria-describedby')).textContent"
        )
        assert "Ctrl+Enter" in hint and "Tab leaves the editor" in hint
        run_button = scope.get_by_role("button", name="Run")
        assert run_button.get_attribute("aria-keyshortcuts") == "Control+Enter Meta+Enter"
        live = scope.get_by_role("status")
        assert live.count() == 1 and live.get_attribute("aria-live") == "polite"
        assert scope.get_by_role("button", name="Reset to the original code").count() == 1
        assert scope.get_by_role("link", name="Open in the editor (new tab)").count() == 1
        assert scope.get_by_role("region", name="Result").is_visible()
        # Every control shown has an accessible name.
        unnamed = scope.locator(".fiddle").evaluate(
            """f => [...f.querySelectorAll('button, a, [contenteditable]')]
                .filter((e) => e.checkVisibility())
                .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim()))
                .map((e) => e.outerHTML)"""
        )
        assert unnamed == []


def test_errors_are_listed_and_marked_on_their_lines(embedded_twice: Any, fiddle: Fiddle) -> None:
    page = embedded_twice
    for name, scope in scopes(page).items():
        shown_image(scope, fiddle.hash)
        replace_code(page, scope, BROKEN)
        run(page, scope, keys=True)  # Ctrl+Enter in the editor
        assert status(scope).startswith("1 compile error")
        problems = scope.get_by_role("region", name="Problems").get_by_role("listitem")
        assert problems.count() == 1
        jump = problems.get_by_role("button")
        assert str(jump.get_attribute("aria-label")).startswith("Line 4")
        assert "never closed" in jump.inner_text()
        marked = scope.locator(".cm-error-line")
        assert marked.count() == 1
        assert marked.inner_text() == "    paint = skia.Paint(Color=skia.ColorRED"
        no_run = scope.locator(".results [data-kind=no-run]")
        assert no_run.inner_text().endswith("The problems are listed under the editor.")
        assert scope.locator(".results img").count() == 0
        page.screenshot(path=str(SCREENSHOTS / f"embed-errors-{name}.png"), full_page=True)
        # A click on the problem puts the cursor on its line.
        jump.click()
        assert scope.locator(".cm-activeLine").inner_text() == marked.inner_text()

        replace_code(page, scope, RAISES)
        run(page, scope)
        assert status(scope).startswith("The fiddle raised an error")
        assert scope.locator(".cm-error-line").inner_text() == "    canvas.noSuchMethod()"
        assert "AttributeError" in scope.locator(".problems .traceback").inner_text()


# Bad attributes: element id -> its attributes, and what its status says.
BAD_ELEMENTS = {
    "unknown": ('hash="' + "0" * 32 + '"', "There is no fiddle “" + "0" * 32 + "” at SERVER."),
    "unnamed": ('name="no_such_name_here"', "There is no fiddle “@no_such_name_here” at SERVER."),
    "not-a-hash": ('hash="../_/run"', "“../_/run” is not a fiddle's hash"),
    "bad-name": ('name="a b"', "“a b” is not a fiddle's name"),
    "nothing": ("", "Say which fiddle to show"),
    "both": ('hash="' + "0" * 32 + '" name="x"', "not both"),
    "bad-api": ('hash="' + "0" * 32 + '" api="javascript:alert(1)"', "The api attribute must be"),
}


def test_bad_attributes_and_unknown_fiddles_say_so(context: Any, server: str) -> None:
    body = "".join(
        f'<fiddle-embed id="{key}" {attrs}></fiddle-embed>'
        for key, (attrs, _) in BAD_ELEMENTS.items()
    )
    asked: list[str] = []
    context.on("request", lambda r: asked.append(urlsplit(r.url).path) if "/e/" in r.url else None)
    for page in open_host(context, host_page(server, body)):
        for key, (_, message) in BAD_ELEMENTS.items():
            scope = page.locator(f"#{key}")
            said = scope.get_by_role("status")
            page.wait_for_function(
                "s => s.textContent && !s.textContent.startsWith('Loading')",
                arg=said.element_handle(),
            )
            assert message.replace("SERVER", server) in said.inner_text(), key
            assert scope.locator(".status[data-kind=error]").count() == 1
            # No broken image, no editor, nothing to run.
            assert scope.locator("img, .cm-editor").count() == 0
            assert scope.get_by_role("button").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "embed-bad-attributes.png"), full_page=True)
    # Only the well-formed references were looked up.
    assert sorted(set(asked)) == sorted(
        {f"/e/{'0' * 32}", f"/e/{'0' * 32}/results"}
        | {"/e/@no_such_name_here", "/e/@no_such_name_here/results"}
    )


def test_an_unknown_fiddle_in_the_iframe_variant_is_the_404_page(context: Any, server: str) -> None:
    unknown = "0" * 32
    answer = requests.get(f"{server}/iframe/{unknown}?code=1", timeout=10)
    assert answer.status_code == 404
    assert "There is nothing at this address." in answer.text
    html = f'<iframe id="frame" src="{server}/iframe/{unknown}?code=1"></iframe>'
    for page in open_host(context, host_page(server, html)):
        frame = page.frame_locator("#frame")
        assert frame.get_by_role("heading", name="404").is_visible()
        assert frame.locator("fiddle-embed, img").count() == 0


def test_the_iframe_variant_without_javascript_shows_the_code_and_the_result(
    browser: Any, server: str, fiddle: Fiddle
) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 600, "height": 500})
    try:
        page = context.new_page()
        page.goto(f"{server}/iframe/{fiddle.hash}?code=1")
        assert page.get_by_label("Code").inner_text().rstrip("\n") == fiddle.code.rstrip("\n")
        image = page.locator("img.output-image").first
        assert fiddle.hash in str(image.get_attribute("src"))
        page.wait_for_function(
            "() => document.querySelector('img.output-image').naturalWidth === 256"
        )
        link = page.get_by_role("link", name=re.compile("Open this fiddle"))
        assert link.get_attribute("href") == f"/c/{fiddle.hash}"
        page.screenshot(path=str(SCREENSHOTS / "embed-iframe-no-javascript.png"), full_page=True)
    finally:
        context.close()


# Someone else's styles, as hostile as they come: none of them may reach inside the embed.
HOSTILE_STYLE = """<style>
* { color: rgb(255, 0, 0) !important; font-family: cursive !important; }
:root { --fg: rgb(255, 0, 0); --accent: rgb(255, 0, 0); --code-size: 40px; }
button { background: rgb(0, 255, 0); }
.run, .status, .results, .cm-editor { display: none; }
fiddle-embed { font-size: 40px; line-height: 5; text-align: right; letter-spacing: 4px; }
</style>"""
HOST_CONTROLS = (
    '<button class="run" id="host-run">The host page\'s own button</button>'
    '<p class="status" id="host-status">Host text</p>'
)
STYLE_OF = "(e, names) => names.map((n) => getComputedStyle(e)[n])"


def test_styles_neither_leak_into_the_page_nor_come_from_it(
    context: Any, server: str, fiddle: Fiddle
) -> None:
    body = HOST_CONTROLS + f'<fiddle-embed id="element" hash="{fiddle.hash}"></fiddle-embed>'
    for page in open_host(context, host_page(server, body, head=HOSTILE_STYLE)):
        scope = page.locator("#element")
        shown_image(scope, fiddle.hash)
        run_button = scope.get_by_role("button", name="Run")
        assert run_button.is_visible() and editor(scope).is_visible()
        names = ["color", "backgroundColor", "fontFamily", "letterSpacing"]
        colour, background, family, spacing = run_button.evaluate(STYLE_OF, names)
        assert (colour, background) == ("rgb(255, 255, 255)", "rgb(26, 95, 208)")
        assert "cursive" not in family and spacing == "normal"
        code_size = editor(scope).evaluate("e => getComputedStyle(e).fontSize")
        assert code_size == "13px"
        # The host's own elements with the embed's class names keep the host's styles only.
        host_run = page.locator("#host-run").evaluate(STYLE_OF, ["backgroundColor", "display"])
        assert host_run == ["rgb(0, 255, 0)", "none"]
        # Nothing was added to the host document's style sheets.
        added = page.evaluate(
            "() => [document.styleSheets.length, document.adoptedStyleSheets.length]"
        )
        assert added == [1, 0]
        page.screenshot(path=str(SCREENSHOTS / "embed-hostile-styles.png"), full_page=True)


DOCS_STYLE = "<style>body { max-width: 720px; margin: 2rem auto; font-family: serif; }</style>"


def test_screenshots_of_the_embeds(browser: Any, server: str, fiddle: Fiddle) -> None:
    """The iframe variant at 600x500 and the element on a documentation page, light and dark."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    body = (
        "<p>Draw a circle with <code>drawCircle</code>:</p>"
        f'<fiddle-embed hash="{fiddle.hash}"></fiddle-embed>'
        "<p>Text after the embed.</p>"
    )
    html = host_page(
        server,
        body,
        head=DOCS_STYLE,
    )
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 600, "height": 500}, color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(f"{server}/iframe/{fiddle.hash}?code=1")
            shown_image(page, fiddle.hash)
            wait_for_shown_images(page)
            page.screenshot(path=str(SCREENSHOTS / f"embed-iframe-600x500-{scheme}.png"))
            # It fits: the editor, Run and the link are in the frame without scrolling the page.
            assert page.evaluate("document.documentElement.scrollHeight") <= 500
            for name in ("Run", "Reset to the original code"):
                assert page.get_by_role("button", name=name).bounding_box()["y"] < 500  # type: ignore[index]
            with other_origin(html) as url:
                host = context.new_page()
                host.set_viewport_size({"width": 900, "height": 1000})
                host.goto(url)
                shown_image(host.locator("fiddle-embed"), fiddle.hash)
                wait_for_shown_images(host)
                shot = SCREENSHOTS / f"embed-element-desktop-{scheme}.png"
                host.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()


SNIPPETS = ["share-embed", "share-embed-code", "share-embed-script"]


def test_the_share_panel_offers_the_snippets_and_they_work(
    browser: Any, context: Any, server: str, fiddle: Fiddle
) -> None:
    """The snippets the fiddle page renders are those its script writes after a run, and pasted
    into someone else's page they embed the fiddle with its code."""
    editor_context = browser.new_context(base_url=server)
    try:
        page = editor_context.new_page()
        page.goto(f"/c/{fiddle.hash}")
        rendered = [page.locator(f"#{name}").input_value() for name in SNIPPETS]
        page.goto("/")
        type_program(page, fiddle.code)
        assert run_and_wait(page) == fiddle.hash
        written = [page.locator(f"#{name}").input_value() for name in SNIPPETS]
        assert written == rendered
    finally:
        editor_context.close()
    frame_snippet = rendered[1].replace("<iframe ", '<iframe id="frame" ')
    for page in open_host(
        context, f"<!doctype html><title>Docs</title>{frame_snippet}{rendered[2]}"
    ):
        for scope in (page.frame_locator("#frame"), page.locator("fiddle-embed")):
            shown_image(scope, fiddle.hash)
            assert editor_text(scope) == fiddle.code
