"""Every example the editor offers runs without errors through POST /_/run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.examples import Example, load_examples

EXAMPLES = Path(__file__).resolve().parents[2] / "site" / "examples"
INDEX = json.loads((EXAMPLES / "index.json").read_text())["examples"]
# What the issue asks the examples to cover, as words in their titles.
TOPICS = [
    "Shapes", "Paths", "Strokes", "Text and fonts", "Gradients", "Shaders", "Image filters",
    "Blend modes", "Transforms", "Clipping", "Source image", "Animation",
]  # fmt: skip


def test_the_index_lists_every_example_and_covers_every_topic() -> None:
    listed = [example["file"] for example in INDEX]
    assert sorted(listed) == sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert len(listed) >= 12
    titles = " ".join(example["title"] for example in INDEX)
    assert [topic for topic in TOPICS if topic not in titles] == []
    for example in INDEX:
        assert example["title"] and example["description"]


@pytest.mark.parametrize("example", INDEX, ids=[example["file"] for example in INDEX])
def test_the_example_runs_without_errors(server: str, example: dict[str, Any]) -> None:
    code = (EXAMPLES / example["file"]).read_text()
    options = example.get("options", {})
    answer = requests.post(f"{server}/_/run", json={"code": code, "options": options}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["compile_errors"] == [] and body["runtime_error"] == ""
    stored = requests.get(f"{server}/e/{body['fiddleHash']}", timeout=10).json()
    assert stored["code"] == code
    if options.get("textOnly"):
        expected = {"txt.txt"}
    elif options.get("animated"):  # videos instead of the PDF and SKP, as in Skia Fiddle
        expected = {"cpu.png", "cpu.webm", "gpu.webm"}
    else:
        expected = {"cpu.png", "gpu.png", "pdf.pdf", "skp.skp"}
    assert expected <= set(stored["outputs"])
    if options.get("textOnly"):
        assert body["text"]


@pytest.mark.parametrize("example", load_examples(), ids=lambda example: example.file)
def test_the_listed_hash_is_the_fiddle_hash(example: Example) -> None:
    assert example.listed_hash == example.computed_hash(), (
        f"{example.file}: update site/examples/index.json with python -m functions.examples"
    )
