"""Which outputs a run may answer, and what each must be: the runner's check of every result.

The program runs in the same process that writes its result, so it can replace that writer and
send any bytes under any output name. The runner (outside the sandbox) therefore accepts only the
outputs the request's task and options produce, each checked to be what it claims: a PNG of the
requested size, a PDF, an SKP, the printed text. Anything else refuses the whole run. The checks
read headers only (no decoder runs outside the sandbox).

`CHECKS` is the one table of output kinds; `expected` says which of them a request produces.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner_vm.cuts import utf8
from runner_vm.protocol import IMAGE_OUTPUT_NAMES, RunRequest, RunResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")
# Bit depths each PNG colour type allows.
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# The largest PNG of w x h pixels: 16-bit RGBA that does not compress (8 bytes a pixel and a
# filter byte a row), plus 1% for deflate's stored blocks and chunk headers, plus room for a
# colour profile.
_PNG_BYTES_PER_PIXEL = 8
_PNG_SLACK = 64 << 10
MAX_SOURCE_DIMENSION = 4096  # images.MAX_DIMENSION, without importing Skia here
THUMBNAIL_SIZES = (64, 128, 256)
DRAW_OUTPUTS = ("cpu.png", "pdf.pdf", "skp.skp")
# PDF names that make a viewer act on its own: run JavaScript (Chromium's viewer runs it whatever
# the response's CSP says), start or submit something, or hide objects in compressed streams
# where a scan cannot see them (ObjStm). Skia never writes any of them. All are five characters
# or more, so the scan of the raw bytes (compressed streams included) does not find them by
# chance: /JS and /AA need /S /JavaScript or another of these to do anything.
PDF_ACTIONS = frozenset(
    {
        "JavaScript", "OpenAction", "Launch", "SubmitForm", "ImportData", "ResetForm",
        "Rendition", "RichMedia", "RichMediaExecute", "EmbeddedFile", "EmbeddedFiles",
        "GoToR", "GoToE", "ObjStm",
    }
)  # fmt: skip
# A PDF name: a slash and regular characters, where #xx stands for the byte xx.
_PDF_NAME = re.compile(rb"/([^\s/<>\[\]()%{}]{5,})")
_PDF_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class BadOutput(ValueError):
    """An output is not what its name claims; the message says what is wrong."""


@dataclass(frozen=True)
class Run:
    """What the checks need to know of a run: its request and what it printed."""

    request: RunRequest
    text: str
    sizes: dict[str, tuple[int, int]]  # of the PNGs checked so far (thumbnails follow source.png)


def canvas_size(options: dict[str, Any]) -> tuple[int, int]:
    """The canvas a draw renders on, as the child reads it from the options."""
    try:
        return int(options.get("width", 256)), int(options.get("height", 256))
    except (TypeError, ValueError) as error:
        raise BadOutput("cannot be checked: the request's size is not a number") from error


def thumbnail_size(width: int, height: int, size: int) -> tuple[int, int]:
    """A thumbnail's dimensions: the image scaled to fit size x size, never enlarged."""
    scale = min(size / width, size / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def expected(request: RunRequest, result: RunResult) -> set[str]:
    """The outputs this request produces when the run succeeded as `result` says; none otherwise."""
    if not result.succeeded:
        return set()
    if request.task == "decode_image":
        return set(IMAGE_OUTPUT_NAMES)
    names = {"txt.txt"} if result.text else set()
    if not request.options.get("textOnly"):
        names.update(DRAW_OUTPUTS)
    return names


def problem(request: RunRequest, result: RunResult) -> str | None:
    """What is wrong with the result's outputs, or None when each is what it claims."""
    wanted = expected(request, result)
    extra = sorted(set(result.outputs) - wanted)
    if extra:
        return f"output {extra[0]} is not one this run produces"
    missing = sorted(wanted - set(result.outputs))
    if missing:
        return f"output {missing[0]} is missing"
    run = Run(request, result.text, {})
    # source.png first: the thumbnails' sizes follow from it.
    for name in sorted(result.outputs, key=lambda n: n != "source.png"):
        try:
            CHECKS[name](result.outputs[name], run)
        except BadOutput as bad:
            return f"output {name} {bad}"
    return None


# --------------------------------------------------------------------------------------------
# The checks, one per output name


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height of a well-formed PNG: signature, a valid IHDR first, chunks that
    end with IEND at the last byte."""
    if not data.startswith(PNG_SIGNATURE):
        raise BadOutput("is not a PNG")
    width, height = _ihdr(data)
    if len(data) > height * (1 + width * _PNG_BYTES_PER_PIXEL) * 101 // 100 + _PNG_SLACK:
        raise BadOutput(f"is {len(data)} bytes, more than a {width}x{height} PNG can be")
    _walk_chunks(data)
    return width, height


def _ihdr(data: bytes) -> tuple[int, int]:
    at = len(PNG_SIGNATURE)
    if len(data) < at + _CHUNK.size + _IHDR.size + 4:
        raise BadOutput("is a PNG cut short")
    length, kind = _CHUNK.unpack_from(data, at)
    body = data[at + 4 : at + _CHUNK.size + _IHDR.size]
    (crc,) = struct.unpack_from(">I", data, at + _CHUNK.size + _IHDR.size)
    if kind != b"IHDR" or length != _IHDR.size or zlib.crc32(body) != crc:
        raise BadOutput("has no valid PNG header")
    width, height, depth, colour, compression, filtering, interlace = _IHDR.unpack(body[4:])
    valid = depth in _PNG_DEPTHS.get(colour, ()) and (compression, filtering) == (0, 0)
    if not valid or interlace not in (0, 1) or not width or not height:
        raise BadOutput("has no valid PNG header")
    return width, height


def _walk_chunks(data: bytes) -> None:
    at = len(PNG_SIGNATURE)
    while at + _CHUNK.size <= len(data):
        length, kind = _CHUNK.unpack_from(data, at)
        at += _CHUNK.size + length + 4
        if kind == b"IEND":
            if at != len(data):
                raise BadOutput("has bytes after its PNG end")
            return
    raise BadOutput("is a PNG without an end")


def _exact_png(size: Callable[[Run], tuple[int, int]]) -> Callable[[bytes, Run], None]:
    def check(data: bytes, run: Run) -> None:
        found, wanted = png_size(data), size(run)
        if found != wanted:
            raise BadOutput(f"is {found[0]}x{found[1]}, not {wanted[0]}x{wanted[1]}")

    return check


def _source_png(data: bytes, run: Run) -> None:
    width, height = png_size(data)
    if max(width, height) > MAX_SOURCE_DIMENSION:
        raise BadOutput(f"is {width}x{height}, larger than any upload may be")
    run.sizes["source.png"] = (width, height)


def _thumbnail(size: int) -> Callable[[bytes, Run], None]:
    return _exact_png(lambda run: thumbnail_size(*run.sizes["source.png"], size))


def _skp(data: bytes, _run: Run) -> None:
    if not data.startswith(b"skiapict"):
        raise BadOutput("is not an SKP")


def pdf_actions(data: bytes) -> list[str]:
    """The action names (PDF_ACTIONS) anywhere in a PDF's bytes, escapes decoded."""
    found = set()
    for match in _PDF_NAME.finditer(data):
        name = _PDF_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode()), match.group(1))
        if name.decode("latin-1") in PDF_ACTIONS:
            found.add(name.decode("latin-1"))
    return sorted(found)


def _pdf(data: bytes, _run: Run) -> None:
    if not data.startswith(b"%PDF-"):
        raise BadOutput("is not a PDF")
    actions = pdf_actions(data)
    if actions:
        raise BadOutput(f"carries /{actions[0]}, a PDF action Skia never writes")


def _text(data: bytes, run: Run) -> None:
    if data != utf8(run.text):
        raise BadOutput("is not the text the run printed")


CHECKS: dict[str, Callable[[bytes, Run], None]] = {
    "cpu.png": _exact_png(lambda run: canvas_size(run.request.options)),
    "pdf.pdf": _pdf,
    "skp.skp": _skp,
    "txt.txt": _text,
    "source.png": _source_png,
    **{f"thumb{size}.png": _thumbnail(size) for size in THUMBNAIL_SIZES},
}
