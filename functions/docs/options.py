"""docs/options.md: every option of a fiddle (fiddle_protocol/options.py) with its JSON name,
type, default, meaning, and the rules its input is held to (functions/schemas.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from marshmallow import validate

from fiddle_protocol.options import FiddleOptions
from functions import schemas
from functions.docs.markdown import code, page, partial, table

TITLE = "Options"
SUMMARY = "every option of a fiddle: its JSON name, type, default, meaning and rules"
TYPES = {
    schemas.StrictInteger: "integer",
    schemas.StrictBoolean: "boolean",
    schemas.StrictNumber: "number",
}


def render() -> str:
    fields = schemas.OptionsSchema().declared_fields
    rows = [_row(option, fields[option.name]) for option in dataclasses.fields(FiddleOptions)]
    return page(
        TITLE,
        partial("options-intro"),
        table(["option", "type", "default", "what", "rules"], rows),
        partial("options-rules"),
    )


def _row(option: dataclasses.Field[Any], field: Any) -> list[str]:
    json_name = field.data_key or option.name
    return [
        code(json_name),
        TYPES.get(type(field), type(field).__name__),
        code(json.dumps(option.default)),
        option.metadata.get("doc", ""),
        "; ".join(rules(option.name, field)),
    ]


def rules(name: str, field: Any) -> list[str]:
    """What the option's input must be beyond its type, as the errors say it."""
    found = [_range(v) for v in field.validators if isinstance(v, validate.Range)]
    found += schemas.OPTION_RULES.get(name, ())
    if name in schemas.OFFSCREEN_DEFAULTS:
        stored = json.dumps(schemas.OFFSCREEN_DEFAULTS[name])
        found.append(f"stored as {stored} when offscreen is false")
    return found


def _range(bounds: validate.Range) -> str:
    if bounds.min is not None and bounds.max is not None:
        return f"{bounds.min} to {bounds.max}"
    return f"at least {bounds.min}" if bounds.min is not None else f"at most {bounds.max}"
