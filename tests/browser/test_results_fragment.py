"""GET /e/<hash>/results: the results area alone, as the server renders it
(templates/_results.html), which the editor's script shows after a run; and the one list of
outputs that rendering uses.

Against the browser tests' `fiddle serve` (a real runner in its sandbox) over HTTP; the checks of
the output list and of the sources read files only.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests

from fiddle_protocol.outputs import DRAW_OUTPUTS, Kind
from tests.browser.conftest import stored_outputs

ROOT = Path(__file__).resolve().parents[2]
DRAW = (
    "def draw(canvas):\n"
    "    canvas.drawCircle(30, 30, 20, skia.Paint(Color=skia.ColorRED))\n"
    "    print('a red circle')\n"  # printed text: a txt.txt output too
)
# Printed text is the fiddle author's: markup, quotes and ampersands must arrive as text.
HOSTILE_TEXT = "<script>alert('x')</script> & \"quoted\" <b>bold</b> </pre><img src=x onerror=y>"
PRINTS_HOSTILE = f"def draw(canvas):\n    print({HOSTILE_TEXT!r})\n"
BROKEN = "def draw(canvas):\n    canvas.drawCircle(\n"
# The results area of the fiddle page, up to the empty-state template that follows it.
RESULTS_AREA = r'<div id="results"[^>]*>(.*)</div>\s*<template id="results-empty">'
NOTHING_HERE = {"error": "There is nothing at this address.", "fields": {}}


class Fragment(HTMLParser):
    """The parts of a results fragment the tests look at: the download links (attributes and
    label), the printed text, the elements used, and the no-run notice."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.printed: str | None = None
        self.kinds: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        if "data-kind" in values:
            self.kinds.append(values["data-kind"])
        if tag == "a" and "download" in values:
            self.links.append({**values, "label": ""})
            self._in = "link"
        elif tag == "pre" and values.get("class") == "text-output":
            self.printed, self._in = "", "pre"

    def handle_endtag(self, tag: str) -> None:
        if (tag, self._in) in (("a", "link"), ("pre", "pre")):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "link" and not self.links[-1]["label"]:
            self.links[-1]["label"] = data  # the visible label, before the hidden " download"
        elif self._in == "pre":
            self.printed = (self.printed or "") + data


def run(server: str, code: str) -> dict[str, Any]:
    answer = requests.post(f"{server}/_/run", json={"code": code}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def fragment(server: str, reference: str) -> requests.Response:
    return requests.get(f"{server}/e/{reference}/results", timeout=10)


def essence(mime: str) -> str:
    """The type without its parameters (the served .txt repeats its charset)."""
    return mime.split(";")[0]


def test_the_fragment_is_the_results_area_of_the_fiddle_page(server: str) -> None:
    digest = run(server, DRAW)["fiddleHash"]
    answer = fragment(server, digest)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    page = requests.get(f"{server}/c/{digest}", timeout=10).text
    area = re.search(RESULTS_AREA, page, re.S)
    assert area, "the page has a results area"
    assert area.group(1).strip() == answer.text.strip()
    assert f"/{digest}_raster.png" in answer.text


def test_the_downloads_are_the_outputs_the_run_stored(server: str, server_data: Path) -> None:
    answer = run(server, DRAW)
    digest, runid = answer["fiddleHash"], answer["runid"]
    stored = stored_outputs(server_data, digest, runid)
    links = Fragment(fragment(server, digest).text).links
    assert len(links) == len(stored) >= 4
    registry = {output.stored: output for output in DRAW_OUTPUTS}
    assert [link["label"] for link in links] == [
        o.label for o in DRAW_OUTPUTS if o.stored in stored
    ]
    for link in links:
        served = requests.get(f"{server}{link['href']}", timeout=10)
        name = next(name for name, data in stored.items() if data == served.content)
        assert link["href"] == f"/ai/{runid}/{digest}{registry[name].suffix}"
        assert link["download"] == f"{digest}{registry[name].suffix}"
        assert link["type"] == registry[name].mime
        assert essence(served.headers["Content-Type"]) == essence(link["type"])
        assert link["label"] == registry[name].label


def test_printed_text_arrives_as_text(server: str) -> None:
    digest = run(server, PRINTS_HOSTILE)["fiddleHash"]
    html = fragment(server, digest).text
    parsed = Fragment(html)
    assert parsed.printed == HOSTILE_TEXT + "\n"
    assert not {"script", "b"} & set(parsed.tags)
    assert parsed.tags.count("img") == 2  # the raster and the GPU outputs
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in html


def test_a_fiddle_without_a_stored_run_says_so_and_offers_nothing(server: str) -> None:
    answer = run(server, BROKEN)
    assert answer["compile_errors"]
    parsed = Fragment(fragment(server, answer["fiddleHash"]).text)
    assert parsed.kinds == ["no-run"]
    assert parsed.links == [] and "img" not in parsed.tags


@pytest.mark.parametrize(
    "reference",
    [
        "0" * 32,  # a well-formed hash nothing is stored under
        "F" * 32,  # upper case
        "0" * 31,
        "0" * 33,
        "xyz",
        "@no_such_name",
        "@bad-name!",
        "@",
        "a.b",
        "%00",
        "<script>",
        "a" * 5000,
    ],
)
def test_a_bad_reference_is_a_plain_404(server: str, reference: str) -> None:
    answer = fragment(server, reference)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == NOTHING_HERE
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_other_paths_and_methods_below_it_are_refused_plainly(server: str) -> None:
    digest = run(server, DRAW)["fiddleHash"]
    for path in (f"/e/{digest}/results/", f"/e/{digest}/results/x", f"/e/{digest}/result"):
        answer = requests.get(f"{server}{path}", timeout=10)
        assert (answer.status_code, answer.json()) == (404, NOTHING_HERE), path
    posted = requests.post(f"{server}/e/{digest}/results", data="x", timeout=10)
    assert posted.status_code == 405
    assert "Traceback" not in posted.text and set(posted.json()) == {"error", "fields"}
    assert requests.get(f"{server}/healthz", timeout=10).ok  # still up


def test_any_origin_may_read_it_without_credentials(server: str) -> None:
    digest = run(server, DRAW)["fiddleHash"]
    answer = requests.get(
        f"{server}/e/{digest}/results", headers={"Origin": "https://cdn.example.test"}, timeout=10
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert answer.headers["X-Frame-Options"] == "DENY"  # fetched, never framed
    # The Cloud Functions target that serves /e/<hash> serves it too.
    from functions import main

    assert main.target_for(f"/e/{digest}/results") == "pages"
    assert main.target_for(f"/e/{digest}") == "pages"


# --- the one list of outputs ------------------------------------------------------------------


def test_every_output_is_listed_once_with_its_suffix_and_type() -> None:
    for field in ("name", "stored", "suffix", "label"):
        assert len({getattr(o, field) for o in DRAW_OUTPUTS}) == len(DRAW_OUTPUTS), field
    for output in DRAW_OUTPUTS:
        assert output.label and output.title and output.mime and output.kind in set(Kind)


def output_words() -> list[str]:
    """What would give away a second list of outputs: stored names, URL suffixes, MIME types."""
    return [word for o in DRAW_OUTPUTS for word in (o.stored, o.suffix, essence(o.mime))]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "site" / "src").glob("*.js")) + sorted((ROOT / "templates").glob("*.html")),
    ids=lambda path: path.name,
)
def test_no_script_or_template_keeps_its_own_list_of_outputs(path: Path) -> None:
    # The upload field's list of accepted image types is about source images, not outputs.
    text = re.sub(r'accept="[^"]*"', "", path.read_text())
    assert [word for word in output_words() if word in text] == []
    if path.suffix == ".js":  # nor the labels, as strings
        labels = [o.label for o in DRAW_OUTPUTS]
        assert [label for label in labels if re.search(f"[\"'`]{label}[\"'`]", text)] == []
