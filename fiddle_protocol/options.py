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


@dataclass(frozen=True)
class FiddleOptions:
    """Every option of a fiddle except its code; defaults are those of a new fiddle."""

    width: int = 256
    height: int = 256
    source: int = 0
    srgb: bool = False
    f16: bool = False
    text_only: bool = False
    animated: bool = False
    duration: float = 0.0
    offscreen: bool = False
    offscreen_width: int = 64
    offscreen_height: int = 64
    offscreen_sample_count: int = 1
    offscreen_texturable: bool = False
    offscreen_mipmap: bool = False
    source_mipmap: bool = False

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
