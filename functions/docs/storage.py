"""docs/storage.md: the blob keys (functions/storage/layout.py), the document collections, and
how the fiddle hash is made (functions/hashing.py), with examples computed by the code itself."""

from __future__ import annotations

from fiddle_protocol import outputs
from fiddle_protocol.options import FiddleOptions
from functions import hashing
from functions.docs.markdown import (
    block,
    body,
    code,
    doc,
    first_paragraph,
    page,
    partial,
    prose,
    table,
)
from functions.storage import layout

TITLE = "Storage"
SUMMARY = "the blob keys, the document collections, how the fiddle hash is made"
HASH = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
RUNID = "2025-11-18T00:00:00Z-144.1"
OTHER_RUNID = "2025-06-08T01:46:56Z-87.9"
RASTER = outputs.RASTER.stored


def render() -> str:
    return page(
        TITLE,
        partial("storage-intro"),
        "## Blob keys",
        prose(body(doc(layout))),
        "For example:",
        table(["written by", "key"], [[code(call), code(key)] for call, key in key_examples()]),
        "## Document collections",
        table(
            ["collection", "one document"],
            [[code(name), what] for name, what in layout.COLLECTIONS.items()],
        ),
        "## The fiddle hash",
        _hash(),
    )


def key_examples() -> list[tuple[str, str]]:
    """Each name of the layout, spelled by the layout module for an example fiddle and run."""
    return [
        ("layout.fiddle_prefix(hash)", layout.fiddle_prefix(HASH)),
        ("layout.code(hash)", layout.code(HASH)),
        ("layout.run_prefix(hash, runid)", layout.run_prefix(HASH, RUNID)),
        (f'layout.output(hash, runid, "{RASTER}")', layout.output(HASH, RUNID, RASTER)),
        ("layout.run_marker(hash, runid)", layout.run_marker(HASH, RUNID)),
        ("layout.failure(hash, runid)", layout.failure(HASH, RUNID)),
        ("layout.diff(hash, runid, other_runid)", layout.diff(HASH, RUNID, OTHER_RUNID)),
        ("layout.source(7)", layout.source(7)),
        ("layout.LAST_SOURCE_ID", layout.LAST_SOURCE_ID),
        ("layout.thumbnail(7, 64)", layout.thumbnail(7, 64)),
        ('layout.named("green_dot")', layout.named("green_dot")),
        ("layout.alias(skia_hash)", layout.alias(OTHER)),
        ("layout.source_use_id(7, hash, runid)", layout.source_use_id(7, HASH, RUNID)),
    ]


def _hash() -> str:
    from functions.routes.pages import DEFAULT_CODE

    every_line = FiddleOptions(
        width=128, height=64, source=2, srgb=True, f16=True, text_only=True, animated=True,
        duration=1.5, offscreen=True, offscreen_texturable=True, offscreen_mipmap=True,
        source_mipmap=True,
    )  # fmt: skip
    options = FiddleOptions()
    return "\n\n".join(
        [
            prose(body(doc(hashing))),
            f"{first_paragraph(hashing.option_lines)} With every option set:",
            block("\n".join(hashing.option_lines(every_line))),
            "Then the code, numbered as the form says (FIDDLE_HASH names the forms):",
            table(
                ["form", "numbering"],
                [
                    [code(hashing.FIDDLE1), first_paragraph(hashing.number_lines)],
                    [code(hashing.SKIA), first_paragraph(hashing.number_once)],
                ],
            ),
            f"The hash: {first_paragraph(hashing.hash_in_form)} The source id is packed after"
            " the text as a little-endian 64-bit integer, as Go's binary.Write does.",
            "The program a new fiddle starts with, with a new fiddle's options, is hashed from"
            " this text in fiddle 1.0's form:",
            block(hashing.hash_text(DEFAULT_CODE, options, hashing.FIDDLE1)),
            "and from this one in Skia's:",
            block(hashing.hash_text(DEFAULT_CODE, options, hashing.SKIA)),
            f"Its hashes: {code(hashing.fiddle_hash(DEFAULT_CODE, options))} (fiddle 1.0's, the"
            f" canonical one) and {code(hashing.skia_hash(DEFAULT_CODE, options))} (Skia's,"
            f" stored as {code(layout.alias('<skia hash>'))}).",
        ]
    )
