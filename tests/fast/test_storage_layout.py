"""The names of stored objects (functions/storage/layout.py): spelled out here, because every
object already stored keeps its name; a change to the layout module must fail this test."""

from __future__ import annotations

import pytest

from functions.storage import layout

HASH = "0123456789abcdef0123456789abcdef"
RUNID = "2024-01-01T00:00:00Z-87.5"


def test_every_name_is_spelled_as_stored() -> None:
    assert layout.code(HASH) == f"fiddle/{HASH}/draw.py"
    assert layout.fiddle_prefix(HASH) == f"fiddle/{HASH}/"
    assert layout.run_prefix(HASH, RUNID) == f"fiddle/{HASH}/{RUNID}/"
    assert layout.output(HASH, RUNID, "cpu.png") == f"fiddle/{HASH}/{RUNID}/cpu.png"
    assert layout.run_marker(HASH, RUNID) == f"fiddle/{HASH}/{RUNID}/run.json"
    assert layout.source(7) == "source/7"
    assert layout.LAST_SOURCE_ID == "source/lastid.txt"
    assert layout.thumbnail(7, 64) == "thumbnail/7/64.png"
    assert layout.named("green_dot") == "named/green_dot"
    assert layout.alias(HASH) == f"alias/{HASH}"
    assert layout.WITHDRAWN == "withdrawn"
    assert layout.SOURCE_USES == "source_uses"
    assert layout.source_use_id(7, HASH, RUNID) == f"7-{HASH}-{RUNID}"


def test_a_code_object_reads_back() -> None:
    assert layout.parse_code_object(layout.code(HASH)) == HASH
    for other in (
        layout.run_marker(HASH, RUNID),
        f"fiddle/{HASH.upper()}/draw.py",
        f"fiddle/{HASH}/draw.py/x",
        f"alias/{HASH}",
        "fiddle/draw.py",
    ):
        assert layout.parse_code_object(other) is None, other


def test_a_run_object_reads_back() -> None:
    marker = layout.parse_run_object(layout.run_marker(HASH, RUNID))
    assert marker == layout.RunObject(HASH, RUNID, "run.json") and marker.is_marker
    output = layout.parse_run_object(layout.output(HASH, RUNID, "pdf.pdf"))
    assert output == layout.RunObject(HASH, RUNID, "pdf.pdf") and not output.is_marker


@pytest.mark.parametrize(
    "key",
    [
        f"fiddle/{HASH}/draw.py",
        f"fiddle/{HASH}/",
        f"fiddle/{HASH}/{RUNID}/",
        f"fiddle/{HASH.upper()}/{RUNID}/cpu.png",
        f"fiddle/abc/{RUNID}/cpu.png",
        f"source/{HASH}/{RUNID}/cpu.png",
        "source/7",
        "named/x",
        "",
    ],
)
def test_anything_else_is_no_run_object(key: str) -> None:
    assert layout.parse_run_object(key) is None


def test_an_object_deeper_in_a_run_directory_belongs_to_that_run() -> None:
    """Left by another writer: found (so a deletion withdraws it), but never a marker."""
    found = layout.parse_run_object(f"fiddle/{HASH}/odd runid/sub/run.json")
    assert found == layout.RunObject(HASH, "odd runid", "sub/run.json")
    assert not found.is_marker
