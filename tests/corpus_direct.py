"""A fiddle run directly with skia-python, as its author would on a desktop: the corpus test's
reference (tests/test_skia_python_corpus.py).

Only skia-python's own calls: a raster surface, a PDF document and a picture recorder, each
cleared to white, with draw(canvas) called once on each, in the fiddle's order, in one module
namespace holding the globals a fiddle sees. What the module and the raster pass print is the
text; an exception in the PDF or SKP pass is that output's traceback, formatted as the service
formats a user's traceback (its frames of draw.py only), and a careful author's PDF document is
aborted when draw raises, as the service's is.

Run as a module (`python -m tests.corpus_direct`, JSON in on stdin, JSON out) it renders with
whatever skia-python the interpreter finds first, e.g. another Skia build's directory on
PYTHONPATH.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import linecache
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import skia

FILENAME = "draw.py"


@dataclass
class Direct:
    raster: bytes  # PNG
    text: str
    outputs: dict[str, bytes] = field(default_factory=dict)  # "pdf", "skp" -> bytes
    errors: dict[str, str] = field(default_factory=dict)  # "pdf", "skp" -> traceback

    def to_json(self) -> dict[str, Any]:
        encoded = {name: base64.b64encode(data).decode() for name, data in self.outputs.items()}
        raster = base64.b64encode(self.raster).decode()
        return {"raster": raster, "text": self.text, "outputs": encoded, "errors": self.errors}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Direct:
        outputs = {name: base64.b64decode(value) for name, value in data["outputs"].items()}
        return cls(base64.b64decode(data["raster"]), data["text"], outputs, data["errors"])


def run_directly(code: str, width: int, height: int, source_png: bytes | None) -> Direct:
    namespace = _globals(source_png)
    # A desktop program is a file, whose lines its traceback shows.
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, FILENAME, "exec"), namespace)
        namespace["fiddle_pass"] = "raster"
        raster = _raster(namespace["draw"], width, height)
    direct = Direct(raster, printed.getvalue())
    for name, render in (("pdf", _pdf), ("skp", _skp)):
        namespace["fiddle_pass"] = name
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                direct.outputs[name] = render(namespace["draw"], width, height)
        except Exception as error:
            direct.errors[name] = _user_traceback(error)
    return direct


def _globals(source_png: bytes | None) -> dict[str, Any]:
    image = bitmap = None
    if source_png is not None:
        image = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(source_png))
        bitmap = skia.Bitmap()
        bitmap.allocPixels(image.imageInfo().makeColorType(skia.kN32_ColorType))
        image.readPixels(bitmap.pixmap(), 0, 0)
    return {
        "__name__": "__fiddle__",
        "skia": skia,
        "image": image,
        "source": bitmap,
        "duration": 0.0,
        "frame": 0.0,
        "fiddle_pass": None,
    }


Draw = Callable[[Any], object]


def _raster(draw: Draw, width: int, height: int) -> bytes:
    surface = skia.Surface(width, height)
    with surface as canvas:
        canvas.clear(skia.ColorWHITE)
        draw(canvas)
    return bytes(surface.makeImageSnapshot().encodeToData(skia.kPNG, 100))


def _pdf(draw: Draw, width: int, height: int) -> bytes:
    stream = skia.DynamicMemoryWStream()
    document = skia.PDF.MakeDocument(stream)
    try:
        with document.page(width, height) as canvas:
            canvas.clear(skia.ColorWHITE)
            draw(canvas)
        document.close()
    except BaseException:
        document.abort()  # an open document freed after its stream writes into freed memory
        raise
    return bytes(stream.detachAsData())


def _skp(draw: Draw, width: int, height: int) -> bytes:
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    canvas.clear(skia.ColorWHITE)
    draw(canvas)
    return bytes(recorder.finishRecordingAsPicture().serialize())


def _user_traceback(error: BaseException) -> str:
    frames = [
        (frame, line)
        for frame, line in traceback.walk_tb(error.__traceback__)
        if frame.f_code.co_filename == FILENAME
    ]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(traceback.StackSummary.extract(iter(frames)))
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip("\n")


def main() -> None:
    request = json.load(sys.stdin)
    source = base64.b64decode(request["source"]) if request.get("source") else None
    direct = run_directly(request["code"], request["width"], request["height"], source)
    json.dump({"skia_python": skia.__version__, **direct.to_json()}, sys.stdout)


if __name__ == "__main__":
    main()
