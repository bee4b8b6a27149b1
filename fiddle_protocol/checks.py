"""What each output must be, checked from its bytes before a run's result leaves the sandbox host.

The program runs in the process that writes its result, so it may send any bytes under any output
name. Each output in the registry (fiddle_protocol/outputs.py) names one of these checks: a PNG of
the size the run renders, a PDF that carries no actions, an SKP, a WebM, the text the run printed.
They read headers and scan bytes only: no decoder runs outside the sandboxed child. A check raises
BadOutput with what is wrong; `Output.check` turns that into the sentence of the run's error.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.options import FiddleOptions

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
# The largest side of an uploaded image (runner_vm/drawing/images.py refuses larger ones).
MAX_SOURCE_DIMENSION = 4096
SKP_MAGIC = b"skiapict"
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # every WebM (a Matroska file) starts with an EBML header
_WEBM_DOCTYPE = b"\x42\x82\x84webm"  # the header's DocType element: 4 bytes, "webm"
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
_SURROGATES = re.compile("[\ud800-\udfff]")


class BadOutput(ValueError):
    """An output is not what its name claims; the message says what is wrong."""


@dataclass
class RunFacts:
    """What the registry knows of a run when it says which outputs the run produces and checks
    them: the options, what the program printed, the outputs whose pass failed alone (by name,
    as the run's output_errors names them), the runner's GPU (the GPU outputs exist only on a
    runner that has one), and (once checked) the size of a decoded image, which its thumbnails'
    sizes follow from."""

    options: FiddleOptions = field(default_factory=FiddleOptions)
    text: str = ""
    failed: frozenset[str] = frozenset()
    source_size: tuple[int, int] | None = None
    gpu: GpuStatus = field(default_factory=GpuStatus)


Check = Callable[[bytes, RunFacts], None]


def printed_bytes(text: str) -> bytes:
    """The text output of printed text, as stored: UTF-8, where a code point UTF-8 cannot hold (a
    lone surrogate) becomes U+FFFD, as the functions make every stored text (functions/text.py)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode("utf-8")


def thumbnail_size(width: int, height: int, size: int) -> tuple[int, int]:
    """A thumbnail's dimensions: the image scaled to fit size x size, never enlarged."""
    scale = min(size / width, size / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


# --------------------------------------------------------------------------------------------
# PNG


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


def exact_png(size: Callable[[RunFacts], tuple[int, int]], what: str) -> Check:
    """A PNG of exactly the size `size` says for the run; `what` says which size, as the check's
    docstring."""

    def check(data: bytes, run: RunFacts) -> None:
        found, wanted = png_size(data), size(run)
        if found != wanted:
            raise BadOutput(f"is {found[0]}x{found[1]}, not {wanted[0]}x{wanted[1]}")

    check.__doc__ = what
    return check


canvas_png = exact_png(lambda run: run.options.size, "A PNG of the canvas's width and height.")


def source_png(data: bytes, run: RunFacts) -> None:
    """An uploaded image, normalised: any PNG no larger than an upload may be."""
    width, height = png_size(data)
    if max(width, height) > MAX_SOURCE_DIMENSION:
        raise BadOutput(f"is {width}x{height}, larger than any upload may be")
    run.source_size = (width, height)


def thumbnail_png(size: int) -> Check:
    """The source image scaled to fit size x size (checked after the source image)."""
    what = f"A PNG of the source image's size scaled to fit {size}x{size}."
    return exact_png(lambda run: thumbnail_size(*_source_size(run), size), what)


def _source_size(run: RunFacts) -> tuple[int, int]:
    if run.source_size is None:
        raise BadOutput("cannot be checked without its source image")
    return run.source_size


# --------------------------------------------------------------------------------------------
# The other kinds


def pdf_actions(data: bytes) -> list[str]:
    """The action names (PDF_ACTIONS) anywhere in a PDF's bytes, escapes decoded."""
    found = set()
    for match in _PDF_NAME.finditer(data):
        name = _PDF_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode()), match.group(1))
        if name.decode("latin-1") in PDF_ACTIONS:
            found.add(name.decode("latin-1"))
    return sorted(found)


def pdf(data: bytes, _run: RunFacts) -> None:
    """A PDF without actions (no JavaScript, no launching, no object streams)."""
    if not data.startswith(b"%PDF-"):
        raise BadOutput("is not a PDF")
    actions = pdf_actions(data)
    if actions:
        raise BadOutput(f"carries /{actions[0]}, a PDF action Skia never writes")


def skp(data: bytes, _run: RunFacts) -> None:
    """An SKP (a Skia picture: its magic bytes)."""
    if not data.startswith(SKP_MAGIC):
        raise BadOutput("is not an SKP")


def webm(data: bytes, _run: RunFacts) -> None:
    """An EBML document whose DocType, in its first bytes, is webm."""
    if not data.startswith(EBML_MAGIC) or _WEBM_DOCTYPE not in data[:64]:
        raise BadOutput("is not a WebM")


def glinfo(data: bytes, run: RunFacts) -> None:
    """Exactly what the runner says of its GPU (fiddle_protocol/gpu.py)."""
    if data != run.gpu.glinfo.encode("utf-8"):
        raise BadOutput("is not the GL info of the runner's GPU")


def printed_text(data: bytes, run: RunFacts) -> None:
    """Exactly the text the run printed, as UTF-8."""
    if data != printed_bytes(run.text):
        raise BadOutput("is not the text the run printed")


# --------------------------------------------------------------------------------------------
# A comparison's count

_MAX_COUNT_BYTES = 256


def diff_count(data: bytes, run: RunFacts) -> None:
    changed_and_total(data, run.options.size)


def changed_and_total(data: bytes, size: tuple[int, int]) -> tuple[int, int]:
    """A comparison's count, `{"changed": N, "total": W*H}` with 0 <= N <= W*H."""
    if len(data) > _MAX_COUNT_BYTES:
        raise BadOutput("is too long for a count")
    try:
        counts = json.loads(data)
    except (ValueError, RecursionError):
        raise BadOutput("is not JSON") from None
    if not isinstance(counts, dict) or set(counts) != {"changed", "total"}:
        raise BadOutput("is not a count of changed pixels")
    changed, total = counts["changed"], counts["total"]
    if type(changed) is not int or total != size[0] * size[1] or not 0 <= changed <= total:
        raise BadOutput(f"does not count the changed pixels of {size[0]}x{size[1]} pixels")
    return changed, total
