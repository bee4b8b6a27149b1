"""Accounts in a real browser: sign in, name a fiddle, upload and pick a source image, and the
admin deleting it; screenshots of the sign-in, named and admin pages."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import skia

from tests.browser.conftest import (
    SCREENSHOTS,
    Account,
    create_token,
    sign_in,
    wait_for_shown_images,
)
from tests.browser.test_pages import (
    SIZES,
    editor,
    editor_text,
    run_and_wait,
    type_program,
    wait_for_image,
)

pytestmark = pytest.mark.browser

# Draws the source image at the top left of a white canvas.
DRAW_IMAGE = """import skia

def draw(canvas):
    canvas.clear(skia.ColorWHITE)
    canvas.drawImage(image, 0, 0)
    print(f"image {image.width()} x {image.height()}")
"""
# A fiddle of its own (TAG is replaced with something random), so that its hash is new.
RED_DOT = """import skia

def draw(canvas):
    print("TAG")
    canvas.drawCircle(128, 128, 60, skia.Paint(Color=skia.ColorRED))
"""
# The natural width of an image, once it has loaded.
NATURAL_WIDTH = (
    "i => new Promise((ok) => i.complete ? ok(i.naturalWidth)"
    " : i.addEventListener('load', () => ok(i.naturalWidth)))"
)
MAGENTA = [255, 0, 255, 255]
WHITE = [255, 255, 255, 255]


def png(width: int, height: int, color: int) -> bytes:
    surface = skia.Surface(width, height)
    with surface as canvas:
        canvas.clear(color)
        paint = skia.Paint(AntiAlias=True, Color=skia.ColorWHITE)
        canvas.drawCircle(width / 2, height / 2, min(width, height) / 4, paint)
    return bytes(surface.makeImageSnapshot().encodeToData())


def solid_png(width: int, height: int, color: int) -> bytes:
    surface = skia.Surface(width, height)
    with surface as canvas:
        canvas.clear(color)
    return bytes(surface.makeImageSnapshot().encodeToData())


@pytest.fixture
def context(browser: Any, server: str) -> Iterator[Any]:
    """A fresh desktop-sized browser context (its own cookies); fails the test on script errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    context.set_default_timeout(15_000)
    problems: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda e: problems.append(str(e))))
    yield context
    context.close()
    assert problems == []


def signed_in(context: Any, account: Account, path: str = "/signin") -> Any:
    page = context.new_page()
    sign_in(page, account, path)
    return page


def pixel(page: Any, x: int, y: int) -> list[int]:
    """The colour of one pixel of the shown raster output (same origin, so readable)."""
    return list(
        page.locator("#results img.output-image").first.evaluate(
            """(img, [x, y]) => {
                const c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const g = c.getContext('2d');
                g.drawImage(img, 0, 0);
                return [...g.getImageData(x, y, 1, 1).data];
            }""",
            [x, y],
        )
    )


def test_sign_in_name_a_fiddle_and_open_it_by_name(
    context: Any, server: str, users: dict[str, Account]
) -> None:
    code = RED_DOT.replace("TAG", secrets.token_hex(4))
    digest = requests.post(f"{server}/_/run", json={"code": code}, timeout=60).json()["fiddleHash"]
    name = f"red_dot_{secrets.token_hex(3)}"

    # Anonymous: a link to sign in and come back.
    page = context.new_page()
    page.goto(f"/c/{digest}")
    page.wait_for_selector("html.editor-ready")
    link = page.get_by_role("link", name="Sign in to name this fiddle")
    assert link.get_attribute("href") == f"/signin?next=/c/{digest}"
    assert page.locator("#name-form").count() == 0
    assert page.locator('meta[name="csrf-token"]').count() == 0
    link.click()
    page.wait_for_url(re.compile(r"/signin\?next="))
    assert page.get_by_role("heading", name="Sign in").is_visible()

    # A wrong password is refused with a sentence, on the sign-in page.
    page.get_by_label("Name").fill(users["user"].name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The name or password is wrong."

    sign_in(page, users["user"], path="")
    page.wait_for_url(f"**/c/{digest}")
    page.wait_for_selector("html.editor-ready")
    assert page.locator('meta[name="csrf-token"]').count() == 1

    box = page.get_by_role("textbox", name="Name", exact=True)
    status = page.locator("#name-status")
    # A bad name is caught before it is sent.
    box.fill("no spaces please")
    page.get_by_role("button", name="Save name").click()
    assert "letters, digits and underscores" in status.inner_text()
    assert box.get_attribute("aria-invalid") == "true"

    box.fill(name)
    page.get_by_role("button", name="Save name").click()
    named_link = status.get_by_role("link")
    named_link.wait_for()
    assert named_link.inner_text() == f"{server}/c/@{name}"
    assert status.get_attribute("data-kind") == "ok"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#share").screenshot(path=str(SCREENSHOTS / "name-form-desktop-light.png"))
    # Again: taken, unless the creator moves it on purpose.
    page.get_by_role("button", name="Save name").click()
    page.wait_for_function("() => document.querySelector('#name-status').dataset.kind === 'error'")
    assert status.inner_text() == f"The name {name} is already taken."
    page.get_by_label("Move the name here if it exists").check()
    page.get_by_role("button", name="Save name").click()
    status.get_by_role("link").wait_for()

    status.get_by_role("link").click()
    page.wait_for_url(f"**/c/@{name}")
    page.wait_for_selector("html.editor-ready")
    assert page.locator("#fiddle-hash").inner_text() == digest
    assert editor_text(page) == code
    wait_for_image(page, digest)
    # The page of a named fiddle offers its name back in the form.
    assert box.input_value() == name

    page.get_by_role("link", name="Named", exact=True).click()
    page.wait_for_url("**/named/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"@{name}"))
    assert users["user"].name in row.inner_text()
    assert digest in row.inner_text()


def test_upload_a_source_run_with_it_and_the_admin_deletes_it(
    context: Any, browser: Any, server: str, users: dict[str, Account]
) -> None:
    page = signed_in(context, users["user"], "/signin?next=/")
    page.wait_for_url(f"{server}/")
    page.wait_for_selector("html.editor-ready")
    page.locator("#options-panel > summary").click()
    assert page.get_by_role("radio", name="None").is_checked()
    assert page.get_by_label("Mipmapped source").is_disabled()

    page.get_by_label("Upload an image").set_input_files(
        {"name": "magenta.png", "mimeType": "image/png", "buffer": solid_png(40, 30, 0xFFFF00FF)}
    )
    source_status = page.locator("#source-status")
    page.wait_for_function(
        "() => document.querySelector('#source-status').dataset.kind === 'ok'", timeout=30_000
    )
    match = re.search(r"Uploaded image (\d+)", source_status.inner_text())
    assert match, source_status.inner_text()
    source_id = int(match.group(1))
    choice = page.get_by_role("radio", name=f"Image {source_id}", exact=True)
    assert choice.is_checked()
    assert page.get_by_label("Mipmapped source").is_enabled()
    page.wait_for_function(
        "id => [...document.querySelectorAll('#source-list img')].some("
        "(i) => i.src.endsWith(`/s/${id}?size=64`) && i.complete && i.naturalWidth > 0)",
        arg=source_id,
    )
    # The radio group works from the keyboard: arrow keys move the choice.
    none = page.get_by_role("radio", name="None")
    none.focus()
    page.keyboard.press("ArrowRight")
    assert not none.is_checked()
    page.keyboard.press("ArrowLeft")
    assert none.is_checked()
    assert f"source {source_id}" not in page.locator("#options-summary").inner_text()
    choice.check()
    assert f"source {source_id}" in page.locator("#options-summary").inner_text()

    type_program(page, DRAW_IMAGE)
    digest = run_and_wait(page)
    wait_for_image(page, digest)
    assert page.locator("#results .text-output").inner_text() == "image 40 x 30\n"
    assert pixel(page, 10, 10) == MAGENTA
    assert pixel(page, 100, 100) == WHITE

    # Loaded again, the fiddle shows its source chosen, with and without the script.
    page.goto(f"/c/{digest}")
    page.wait_for_selector("html.editor-ready")
    page.locator("#options-panel > summary").click()
    assert page.get_by_role("radio", name=f"Image {source_id}", exact=True).is_checked()

    # The admin signs in, sees the image and how many fiddles use it, and deletes it.
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    try:
        admin = signed_in(admin_context, users["admin"], "/signin?next=/admin/sources")
        admin.wait_for_url("**/admin/sources")
        image = admin.get_by_role("img", name=f"Source image {source_id}", exact=True)
        image.wait_for()
        assert image.evaluate(NATURAL_WIDTH) == 40  # thumbnails are never enlarged
        row = admin.get_by_role("row").filter(has=image)
        assert "1 fiddle" in row.inner_text()
        assert users["user"].name in row.inner_text()
        questions: list[str] = []
        admin.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
        row.get_by_role("button", name=f"Delete source image {source_id}").click()
        admin.get_by_role("status").get_by_text(f"Deleted source image {source_id}").wait_for()
        job_link = admin.get_by_role("status").get_by_role("link")  # the purge-source job
        assert job_link.get_attribute("href") == "/admin/jobs"
        assert job_link.inner_text().startswith("job ")
        assert questions and questions[0].startswith(f"Delete source image {source_id} and")
        assert admin.get_by_role("img", name=f"Source image {source_id}", exact=True).count() == 0
        admin.get_by_role("link", name="Audit log").click()
        admin.wait_for_url("**/admin/audit")
        newest = admin.locator("table.listing tbody tr").first
        assert "delete_source" in newest.inner_text()
        assert users["admin"].name in newest.inner_text()
        assert digest in newest.inner_text()
    finally:
        admin_context.close()

    # The fiddle's page now says the source image was removed, and shows no broken image.
    page.goto(f"/c/{digest}")
    page.wait_for_selector("html.editor-ready")
    notice = page.locator("#results .notice", has_text="source image")
    assert "removed" in notice.inner_text()
    assert page.locator('#results [data-kind="no-run"]').count() == 0  # not "it failed"
    assert page.locator("#results img").count() == 0
    page.locator("#options-panel > summary").click()
    assert page.get_by_role("radio", name=f"Image {source_id} (removed)").is_checked()
    page.screenshot(path=str(SCREENSHOTS / "source-removed-desktop-light.png"), full_page=True)
    assert requests.get(f"{server}/s/{source_id}", timeout=10).status_code == 404
    # And the editor still runs it, reporting the missing image instead of failing silently.
    editor(page).click()
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("() => document.querySelector('#status').dataset.kind === 'error'")


def test_anonymous_visitors_are_offered_sign_in_for_uploads(context: Any) -> None:
    page = context.new_page()
    page.goto("/")
    page.wait_for_selector("html.editor-ready")
    page.locator("#options-panel > summary").click()
    assert page.locator("#source-upload").count() == 0
    link = page.locator("#source-group").get_by_role("link", name="Sign in")
    assert link.get_attribute("href") == "/signin?next=/"


def test_screenshots_of_the_account_and_admin_pages(
    browser: Any, server: str, server_data: Any, users: dict[str, Account]
) -> None:
    """Sign-in, /named/, /admin/sources, /admin/audit and the signed-in editor with its source
    picker, at desktop and phone widths in both themes, into artifacts/screenshots/."""
    bearer = {"Authorization": f"Bearer {create_token(server_data, users['admin'].name)}"}
    ids = []
    shapes = [(64, 64, 0xFF1A73E8), (200, 120, 0xFFE8710A), (90, 160, 0xFF188038)]
    for width, height, color in shapes:
        answer = requests.post(
            f"{server}/_/upload",
            files={"upload": ("image.png", png(width, height, color), "image/png")},
            headers=bearer,
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["id"])
    run = requests.post(
        f"{server}/_/run",
        json={"code": DRAW_IMAGE, "options": {"source": ids[1]}},
        timeout=60,
    ).json()
    for name in ("orange_card", "shot_example", "to_be_removed"):
        requests.post(
            f"{server}/_/name",
            json={"name": name, "hash": run["fiddleHash"], "overwrite": True},
            headers=bearer,
            timeout=10,
        ).raise_for_status()
    requests.delete(
        f"{server}/_/named/to_be_removed", headers=bearer, timeout=10
    ).raise_for_status()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    anonymous = browser.new_context(base_url=server)
    admin = browser.new_context(base_url=server)
    try:
        signed_in(admin, users["admin"]).close()
        pages = [
            ("signin", anonymous, "/signin"),
            ("named", admin, "/named/"),
            ("admin-sources", admin, "/admin/sources"),
            ("admin-audit", admin, "/admin/audit"),
            ("picker", admin, f"/c/{run['fiddleHash']}"),
        ]
        shots = {context: context.new_page() for context in (anonymous, admin)}
        for scheme in ("light", "dark"):
            for size, (width, height) in SIZES.items():
                for name, context, path in pages:
                    page = shots[context]
                    page.emulate_media(color_scheme=scheme)
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(path)
                    if name == "picker":
                        page.wait_for_selector("html.editor-ready")
                        page.locator("#options-panel > summary").click()
                        page.locator("#source-list img").first.wait_for()
                    wait_for_shown_images(page)
                    page.screenshot(
                        path=str(SCREENSHOTS / f"{name}-{size}-{scheme}.png"), full_page=True
                    )
    finally:
        anonymous.close()
        admin.close()


def test_signing_out_ends_the_session_for_a_copied_cookie_too(
    browser: Any, server: str, users: dict[str, Account]
) -> None:
    """The session cookie copied from a signed-in browser (as malware or a shared machine
    would) opens nothing once its owner signs out; the owner's other browser stays signed in."""
    contexts = [browser.new_context(base_url=server) for _ in range(3)]
    try:
        owner, thief, other_device = contexts
        page = signed_in(owner, users["admin"], "/signin?next=/admin/sources")
        page.wait_for_url("**/admin/sources")
        signed_in(other_device, users["admin"]).close()
        thief.add_cookies(owner.cookies())
        stolen = thief.new_page()
        assert stolen.goto("/admin/sources").status == 200

        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("link", name="Sign in").is_visible()
        answer = stolen.goto("/admin/sources")
        assert answer.status == 401
        assert stolen.get_by_role("link", name="Sign in").is_visible()
        assert other_device.new_page().goto("/admin/sources").status == 200
    finally:
        for context in contexts:
            context.close()
