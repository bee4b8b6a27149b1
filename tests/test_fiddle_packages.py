"""The packages a fiddle may import (issue 21, item 1): skia, numpy, Pillow and Python's standard
library, through POST /_/run and a real runner in its real sandbox (its seccomp allowlist
included). Anything else installed beside the runner is a clear ModuleNotFoundError, never a
forbidden call or a package that happens to load."""

from __future__ import annotations

from typing import Any

import pytest

from runner_vm.child.imports import FiddleImports, allowed_modules
from tests.test_run_api import pixels, render_directly

NOT_FOR_FIDDLES = "a fiddle may import skia, numpy, PIL (Pillow) and Python's standard library"
# Pillow's first import happens in the child, under the filter: drawing, filters, encoders and
# decoders through BytesIO, and the way into Skia that skia-python's documentation shows.
PILLOW = """
import io
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

def draw(canvas):
    picture = Image.new("RGBA", (48, 48), (255, 255, 255, 255))
    pen = ImageDraw.Draw(picture)
    pen.ellipse((6, 6, 42, 42), fill=(30, 90, 200, 255), outline=(0, 0, 0, 255), width=3)
    pen.text((14, 18), "PIL", fill=(255, 255, 0, 255))
    picture = picture.filter(ImageFilter.GaussianBlur(1.5))
    for form in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"):
        encoded = io.BytesIO()
        picture.convert("RGB").save(encoded, format=form)
        back = Image.open(io.BytesIO(encoded.getvalue()))
        back.load()
        print(form, back.size)
    mirrored = ImageOps.mirror(picture)
    canvas.drawImage(skia.Image.fromarray(np.asarray(mirrored)), 8, 8)
"""


def run(client: Any, code: str) -> Any:
    answer = client.post("/_/run", json={"code": code, "options": {"width": 64, "height": 64}})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_pillow_works_in_the_sandbox_as_it_does_directly(client: Any) -> None:
    body = run(client, PILLOW)
    assert (body["runtime_error"], body["output_errors"]) == ("", {}), body
    forms = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
    assert body["text"] == "".join(f"{form} (48, 48)\n" for form in forms)
    served = client.get(f"/i/{body['fiddleHash']}_raster.png").data
    assert pixels(served) == pixels(render_directly(PILLOW, 64, 64))


@pytest.mark.parametrize("module", ["requests", "flask", "pyseccomp", "functions", "scipy"])
def test_anything_else_is_a_clear_module_not_found_error(client: Any, module: str) -> None:
    body = run(client, f"import {module}\n\ndef draw(canvas):\n    pass\n")
    assert body["runtime_error"] == (
        'Traceback (most recent call last):\n  File "draw.py", line 1, in <module>\n'
        f"    import {module}\nModuleNotFoundError: No module named '{module}': {NOT_FOR_FIDDLES}"
    )


def test_the_standard_library_and_the_fiddle_packages_import(client: Any) -> None:
    code = (
        "import json, sqlite3, decimal, fractions, colorsys, struct, zlib, ctypes\n"
        "import numpy.linalg, PIL.ImageFont, skia\n"
        "print(json.dumps(sorted(numpy.linalg.eigvalsh([[2, 0], [0, 1]]).tolist())))\n"
        "def draw(canvas):\n    pass\n"
    )
    body = run(client, code)
    assert (body["runtime_error"], body["text"]) == ("", "[1.0, 2.0]\n"), body


def test_the_finder_names_what_a_fiddle_may_import() -> None:
    finder = FiddleImports(allowed_modules())
    for allowed in ("numpy.linalg", "PIL.Image", "skia", "json", "ctypes.util", "runner_vm.cuts"):
        assert finder.find_spec(allowed) is None
    for refused in ("requests", "google.cloud.storage", "flask.json", "_distutils_hack"):
        with pytest.raises(ModuleNotFoundError) as raised:
            finder.find_spec(refused)
        assert raised.value.name == refused
        assert str(raised.value) == f"No module named {refused!r}: {NOT_FOR_FIDDLES}"
    # A package the runner loaded itself before the finder came in (PyAV, for an animation) may
    # load its own submodules later; any other stays refused.
    loaded = FiddleImports(allowed_modules(), frozenset({"av"}))
    assert loaded.find_spec("av.subtitles") is None
    with pytest.raises(ModuleNotFoundError):
        loaded.find_spec("requests")
