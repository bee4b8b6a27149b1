"""Every output of issue 16 in Chromium: the GPU image, the animations with their player, a
text-only fiddle; through /i/ and /ai/, the page and the iframe, with screenshots saved to
artifacts/screenshots/ (outputs-*.png) to look at."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS, wait_for_shown_images
from tests.browser.test_pages import page  # noqa: F401  -- the page fixture

pytestmark = pytest.mark.browser

GPU_CIRCLE = """
def draw(canvas):
    canvas.drawCircle(64, 64, 48, skia.Paint(AntiAlias=True, Color=skia.ColorMAGENTA))
"""
ANIMATION = """
def draw(canvas):
    x = 8 + 96 * frame
    canvas.drawCircle(x, 64, 20, skia.Paint(AntiAlias=True, Color=skia.ColorBLUE))
"""
TEXT_ONLY = """
def draw(canvas):
    print("a text-only fiddle")
    print("prints its result")
"""


def run(server: str, code: str, **options: Any) -> dict[str, Any]:
    answer = requests.post(
        f"{server}/_/run", json={"code": code, "options": options}, timeout=120
    ).json()
    assert answer["runtime_error"] == "", answer
    return dict(answer)


def check_addresses(tab: Any, server: str, answer: dict[str, Any]) -> None:
    """Every listed output through /i/ and /ai/ in the browser, with its registry type."""
    for item in answer["outputList"]:
        newest = f"{server}/i/{answer['fiddleHash']}{item['suffix']}"
        for url in (newest, f"{server}{item['url']}"):
            response = tab.request.get(url)
            assert response.ok, url
            assert response.headers["content-type"] == item["mime"], url


def shoot(tab: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    wait_for_shown_images(tab)
    tab.screenshot(path=str(SCREENSHOTS / f"outputs-{name}.png"), full_page=True)


def test_the_gpu_image_on_the_page_and_in_the_iframe(page: Any, server: str) -> None:  # noqa: F811
    answer = run(server, GPU_CIRCLE, width=128, height=128)
    digest = answer["fiddleHash"]
    check_addresses(page, server, answer)
    page.goto(f"/c/{digest}")
    gpu = page.locator('#results figure[data-output="gpu"] img.output-image')
    gpu.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('figure[data-output=gpu] img');"
        " return i.complete && i.naturalWidth === 128; }"
    )
    caption = page.locator('figure[data-output="gpu"] figcaption').inner_text()
    assert caption.startswith("GPU raster, 128 \u00d7 128 px (llvmpipe")
    shoot(page, "gpu-page")
    page.goto(f"/iframe/{digest}")
    page.locator('figure[data-output="gpu"] img').wait_for()
    assert page.locator("img.output-image").count() == 2
    shoot(page, "gpu-iframe")


def test_the_animation_plays_loops_changes_speed_and_scrubs_by_keyboard(
    page: Any,  # noqa: F811
    server: str,
) -> None:
    answer = run(server, ANIMATION, width=128, height=128, animated=True, duration=1.0)
    digest = answer["fiddleHash"]
    assert {"cpu.webm", "gpu.webm"} <= set(answer["outputs"])
    check_addresses(page, server, answer)
    page.goto(f"/c/{digest}")
    page.wait_for_selector("html.editor-ready")
    videos = page.locator("#results video.output-video")
    assert videos.count() == 2
    first = page.locator('figure[data-output="animation"]')
    video = first.locator("video")
    # preload="metadata": a browser need load no frame before Play, only the size and duration
    # (HAVE_METADATA); waiting for a frame (HAVE_CURRENT_DATA) failed when this test ran alone.
    page.wait_for_function(
        "() => document.querySelector('figure[data-output=animation] video').readyState >= 1"
    )
    assert video.evaluate("v => v.videoWidth") == 128
    controls = first.get_by_role("group", name="Animation controls")
    play = controls.get_by_role("button", name="Play")
    # Keyboard only: Tab to the play button, Enter plays; Enter again pauses.
    play.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => !document.querySelector('figure[data-output=animation] video').paused"
    )
    assert controls.get_by_role("button", name="Pause").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('figure[data-output=animation] video').paused"
    )
    loop = controls.get_by_role("checkbox", name="Loop")
    assert loop.is_checked() and video.evaluate("v => v.loop")
    loop.focus()
    page.keyboard.press("Space")
    assert not loop.is_checked() and not video.evaluate("v => v.loop")
    speed = controls.get_by_role("combobox", name="Speed")
    speed.select_option("0.5")
    assert video.evaluate("v => v.playbackRate") == 0.5
    scrubber = controls.get_by_role("slider", name="Frame")
    assert scrubber.get_attribute("max") == "60"
    scrubber.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    # Thirty seeks in a row, each a range request to the service: slow on a busy machine.
    page.wait_for_function(
        "() => { const v = document.querySelector('figure[data-output=animation] video');"
        " return !v.seeking && Math.abs(v.currentTime - 30.5 / 60) < 0.01; }",
        timeout=30_000,
    )
    assert controls.locator("output").inner_text() == "Frame 30 of 60"
    # On the video itself, "." steps one frame.
    video.focus()
    page.keyboard.press(".")
    page.wait_for_function(
        "() => document.querySelector('figure[data-output=animation] output')"
        ".textContent === 'Frame 31 of 60'"
    )
    shoot(page, "animation-page")
    page.goto(f"/iframe/{digest}")
    page.locator("video.output-video").first.wait_for()
    assert page.locator("video.output-video").count() == 2
    assert page.locator("video.output-video").first.get_attribute("controls") is not None
    shoot(page, "animation-iframe")


def test_a_text_only_fiddle_shows_its_text_as_the_result(page: Any, server: str) -> None:  # noqa: F811
    answer = run(server, TEXT_ONLY, textOnly=True)
    assert list(answer["outputs"]) == ["txt.txt"]
    check_addresses(page, server, answer)
    page.goto(f"/c/{answer['fiddleHash']}")
    main = page.locator("#results .main-text")
    assert main.locator("pre").inner_text() == "a text-only fiddle\nprints its result\n"
    assert page.locator("#results img, #results video").count() == 0
    assert page.locator("#results [data-kind=no-gpu]").count() == 0
    shoot(page, "text-only-page")
    page.goto(f"/iframe/{answer['fiddleHash']}")
    assert "prints its result" in page.locator(".main-text pre").inner_text()
    shoot(page, "text-only-iframe")
