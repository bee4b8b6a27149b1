"""The fiddle page's Skia builds in a real browser: the build picker, the builds a fiddle ran at,
the compare view with its difference image, with JavaScript off and on, against a `fiddle serve`
whose runner has the default builds (m87, m138, m144)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.devserver import free_port, serving
from tests.browser.conftest import SCREENSHOTS, wait_for_shown_images
from tests.browser.test_pages import editor, run_and_wait, type_program

pytestmark = pytest.mark.browser

M87, M144 = "2025-06-08T01:46:56Z-87.9", "2026-10-20T09:47:00Z-144.1"
STAR = """import math

def draw(canvas):
    path = skia.Path()
    for i in range(5):
        a = -math.pi / 2 + i * 4 * math.pi / 5
        x, y = 128 + 100 * math.cos(a), 128 + 100 * math.sin(a)
        (path.moveTo if i == 0 else path.lineTo)(x, y)
    path.close()
    canvas.drawPath(path, skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=3))
"""
SAMPLING = """def draw(canvas):
    surface = skia.Surface(8, 8)
    surface.getCanvas().clear(skia.ColorRED)
    image = surface.makeImageSnapshot()
    sampling = skia.SamplingOptions(skia.FilterMode.kLinear)
    canvas.drawImageRect(image, skia.Rect(0, 0, 256, 256), sampling)
"""


@pytest.fixture(scope="module")
def builds_server(default_builds: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("builds-pages")
    port = free_port()
    command = [
        sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
        "--data-dir", str(data_dir), "--builds-dir", str(default_builds), "--no-examples",
    ]  # fmt: skip
    with serving(command, f"http://127.0.0.1:{port}") as url:
        yield url


def page_of(browser: Any, server: str, *, javascript: bool, width: int = 1280) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        base_url=server,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def run_at_all(server: str, code: str) -> str:
    answer = requests.post(f"{server}/_/run", json={"code": code, "versions": "all"}, timeout=120)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["fiddleHash"])


def test_without_javascript_pick_a_build_and_compare_two(browser: Any, builds_server: str) -> None:
    digest = run_at_all(builds_server, STAR)
    page = page_of(browser, builds_server, javascript=False)
    page.goto(f"/c/{digest}")
    builds = page.get_by_role("list", name="Builds this fiddle has run at")
    assert [item.get_attribute("data-status") for item in builds.get_by_role("listitem").all()] == [
        "outputs", "outputs", "outputs",
    ]  # fmt: skip
    # Show m87's outputs.
    page.get_by_label("Skia build", exact=True).select_option(M87)
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "version=" in page.url
    image = page.locator('#results figure[data-output="raster"] img.output-image')
    assert f"/ai/{M87}/{digest}" in str(image.get_attribute("src"))
    assert "Rendered with Skia m87 (87.9)" in page.locator("#results .runid").inner_text()
    # Compare m87 with m144.
    page.get_by_label("Compare", exact=True).select_option(M87)
    page.get_by_label("with", exact=True).select_option(M144)
    with page.expect_navigation():
        page.get_by_role("button", name="Compare").click()
    compare = page.locator("#compare")
    assert compare.locator(".diff-count").inner_text() == (
        "1,915 of 65,536 pixels changed (2.92%)."
    )
    wait_for_shown_images(page)
    widths = compare.locator("img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths == [256, 256, 256]  # both builds and the difference
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "compare-desktop-light.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_without_javascript_a_failed_build_shows_its_error(
    browser: Any, builds_server: str
) -> None:
    digest = run_at_all(builds_server, SAMPLING)
    page = page_of(browser, builds_server, javascript=False, width=390)
    page.goto(f"/c/{digest}?compare=m87,HEAD")
    compare = page.locator("#compare")
    assert "no attribute 'SamplingOptions'" in compare.locator(".build-error").inner_text()
    assert (
        "At m87 (87.9) the fiddle failed" in compare.locator('[data-kind="no-diff"]').inner_text()
    )
    page.goto(f"/c/{digest}?version=m87")
    failure = page.locator('#results [data-kind="failed-build"]')
    assert "At Skia m87 (87.9) the fiddle failed" in failure.inner_text()
    assert page.locator("#results img").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "failed-build-phone-light.png"), full_page=True)
    page.context.close()


def test_run_at_the_picked_build_in_the_editor(browser: Any, builds_server: str) -> None:
    page = page_of(browser, builds_server, javascript=True)
    page.goto("/")
    page.get_by_label("Skia build", exact=True).select_option(M87)
    type_program(page, SAMPLING)
    digest = run_and_wait(page)
    problems = page.locator("#problem-list")
    problems.wait_for()
    assert "no attribute 'SamplingOptions'" in problems.inner_text()
    page.locator('#results [data-kind="failed-build"]').wait_for()
    item = page.locator(f'#builds li[data-runid="{M87}"]')
    item.wait_for()
    assert item.get_attribute("data-status") == "failed"
    # At HEAD the same fiddle (the same hash) renders.
    page.get_by_label("Skia build", exact=True).select_option("HEAD")
    editor(page).press("Control+Enter")
    raster = page.locator('#results figure[data-output="raster"] img.output-image')
    raster.wait_for()
    assert f"/ai/{M144}/{digest}" in str(raster.get_attribute("src"))
    page.locator(f'#builds li[data-runid="{M144}"][data-status="outputs"]').wait_for()
    assert page.errors == []
    page.context.close()
