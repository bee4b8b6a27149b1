"""The options of a fiddle: everything but the code that changes what it draws.

One type on both sides: the functions validate, hash and store it; the runner reads every option
through it (the canvas size, sRGB, text only, ...), never from raw JSON with defaults of its own.
The JSON names are Skia Fiddle's (`textOnly` is its one camelCase name), so its clients and its
stored fiddles keep working. Validation of user input lives in `functions/schemas.py`; the
constructors here trust their input because it was validated before it was stored or sent.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

# The object metadata key that holds the options, as compact JSON.
METADATA_KEY = "options"

# Python attribute name -> Skia Fiddle JSON name, for the names that differ.
_JSON_NAMES = {"text_only": "textOnly"}


def option(default: Any, meaning: str) -> Any:
    """A field of FiddleOptions: its default (a new fiddle's) and what it does, which
    docs/options.md says (python -m functions.docs)."""
    return dataclasses.field(default=default, metadata={"doc": meaning})


@dataclass(frozen=True)
class FiddleOptions:
    """Every option of a fiddle except its code; defaults are those of a new fiddle."""

    width: int = option(256, "The canvas's width in pixels.")
    height: int = option(256, "The canvas's height in pixels.")
    source: int = option(
        0,
        "The source image the program draws with (as `image`, a skia.Image, and `source`, a"
        " skia.Bitmap): 0 for none, else an id of `GET /_/sources` (1 to 6 are built in).",
    )
    srgb: bool = option(False, "Render in the sRGB color space.")
    f16: bool = option(False, "Render with 16-bit floating-point color (sRGB only).")
    text_only: bool = option(
        False, "Keep only what the program prints: no raster, PDF or SKP is rendered."
    )
    animated: bool = option(
        False, "An animation of `duration` seconds (only its first frame is rendered yet)."
    )
    duration: float = option(
        0.0,
        "The animation's length in seconds. A still fiddle may keep one (Skia's editor does when"
        " animation is switched off): it is part of the hash, and the program sees 0.",
    )
    offscreen: bool = option(False, "Give the program an offscreen GPU target (not rendered yet).")
    offscreen_width: int = option(64, "The offscreen target's width in pixels.")
    offscreen_height: int = option(64, "The offscreen target's height in pixels.")
    offscreen_sample_count: int = option(1, "The offscreen target's MSAA sample count.")
    offscreen_texturable: bool = option(False, "The offscreen target can be used as a texture.")
    offscreen_mipmap: bool = option(False, "The offscreen target has mipmaps.")
    source_mipmap: bool = option(False, "The source image has mipmaps.")

    @property
    def size(self) -> tuple[int, int]:
        """The canvas every draw output is rendered on: width x height pixels."""
        return self.width, self.height

    def to_json(self) -> dict[str, Any]:
        """The options under Skia Fiddle's JSON names, every field present."""
        return {_json_name(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FiddleOptions:
        """Options from stored JSON; missing keys take defaults, unknown keys are ignored.

        Tolerant on purpose: fiddles stored before an option existed must still load.
        """
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = _json_name(f.name)
            if name in data:
                values[f.name] = _coerce(f.type, data[name])
        return cls(**values)

    def to_metadata(self) -> dict[str, str]:
        """The options as string object metadata: one key holding compact, sorted JSON."""
        text = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)
        return {METADATA_KEY: text}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> FiddleOptions:
        """Options from object metadata written by `to_metadata`; ValueError if absent or bad."""
        text = metadata.get(METADATA_KEY)
        if text is None:
            raise ValueError("the object metadata holds no fiddle options")
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the fiddle options in the object metadata are not a JSON object")
        return cls.from_json(data)


def _json_name(attribute: str) -> str:
    return _JSON_NAMES.get(attribute, attribute)


def _coerce(type_name: Any, value: Any) -> Any:
    """Convert a stored JSON value to the field's type (JSON may hold 0 for a float field)."""
    # With `from __future__ import annotations` dataclass field types are strings.
    converters = {"int": int, "bool": bool, "float": float}
    converter = converters.get(str(type_name))
    return converter(value) if converter else value
