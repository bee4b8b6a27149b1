"""Validation of the `POST /_/run` body (its options are fiddle_protocol/options.py's).

`parse_run_request` is the only entry point. Every problem becomes an `InvalidRequest` holding
one readable sentence and the reasons per field, so the HTTP layer can answer 400 with
`{"error": ..., "fields": ...}` without ever showing marshmallow's messages or Python reprs.

The fields are strict on purpose: JSON `true` is not a width, `256.0` and `"256"` are not
integers, and `1` is not a boolean, because a lenient parse would give one fiddle several hashes.

The rules between fields are Skia Fiddle's (its `ValidateOptions`), with the stricter ranges its
own editor page enforces (sizes 4 to 2048, f16 only with sRGB): the offscreen fields are checked
only when `offscreen` is true, as Skia's Go client sends zeros in them otherwise; they are then
stored as their defaults, so that what a client sent in fields that mean nothing never makes two
stored forms of one fiddle. A duration is checked against the 60 s limit always, and must be
more than 0 only for an animated fiddle (Skia's editor keeps the duration when animation is
switched off, and Skia hashes it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from fiddle_protocol.options import FiddleOptions
from functions.errors import InvalidInput

MIN_SIZE, MAX_SIZE = 4, 2048
MAX_SAMPLE_COUNT = 64
# The offscreen fields, and what is stored in them when `offscreen` is false.
OFFSCREEN_DEFAULTS = {
    "offscreen_width": FiddleOptions.offscreen_width,
    "offscreen_height": FiddleOptions.offscreen_height,
    "offscreen_sample_count": FiddleOptions.offscreen_sample_count,
    "offscreen_texturable": FiddleOptions.offscreen_texturable,
    "offscreen_mipmap": FiddleOptions.offscreen_mipmap,
}
MAX_DURATION = 60.0
MAX_CODE_BYTES = 128 * 1024
MAX_SOURCE_ID = 2**63 - 1  # the hash packs the source id as a signed 64-bit integer
VERSION_RE = re.compile(r"[0-9A-Za-z._:-]{1,64}")

# Field names safe to repeat in a message; anything else came from the client and is not echoed.
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_]{1,64}")
_MAX_NAMED_IN_MESSAGE = 5
# Skia Fiddle's original (1.0) body put these next to `code` instead of inside `options`.
_LEGACY_OPTION_KEYS = ("width", "height", "source")


class InvalidRequest(InvalidInput):
    """The request body is not a valid run request: one sentence, and the reasons per field."""

    def __init__(self, message: str, fields: dict[str, list[str]]) -> None:
        super().__init__(message, fields)


@dataclass(frozen=True)
class RunRequestData:
    code: str
    options: FiddleOptions
    version: str | None
    fast: bool
    # "all", or the versions to run at, each once; None: one version (`version`).
    versions: tuple[str, ...] | None = None


# --- fields -------------------------------------------------------------------------------------


class _Field(fields.Field):
    """Base field whose stock messages read as the end of "<field> ..." sentences."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges this class attribute
        "required": "is required",
        "null": "must not be null",
        "validator_failed": "is invalid",
    }


class StrictInteger(_Field):
    default_error_messages = {"null": "must be a whole number"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        # bool is a subclass of int in Python; JSON true must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return value


class StrictBoolean(_Field):
    default_error_messages = {"null": "must be true or false"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class StrictNumber(_Field):
    default_error_messages = {"null": "must be a number"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("must be a number")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError("must be a finite number")
        return number


class CodeField(_Field):
    default_error_messages = {"null": "must be a string"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        if not value.strip():
            raise ValidationError("must not be empty")
        # Every character is at least one byte, so a long string fails before being encoded.
        if len(value) > MAX_CODE_BYTES or _utf8_size(value) > MAX_CODE_BYTES:
            raise ValidationError("must be at most 128 KiB of UTF-8")
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            # A lone surrogate (from a JSON "\ud800" escape) cannot be stored as UTF-8.
            raise ValidationError("must be valid Unicode text")
        return value


class VersionField(_Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        if value == "":
            return None  # Skia Fiddle's own client always sends "version": ""
        if not VERSION_RE.fullmatch(value):  # fullmatch: "$" alone lets "v1\n" through
            raise ValidationError(
                "must be 1 to 64 letters, digits, dots, underscores, colons or dashes"
            )
        return value


ALL_VERSIONS = "all"
MAX_VERSIONS = 16


class VersionsField(_Field):
    """`"all"`, or a list of 1 to 16 versions (each as `version` takes it); null is none given,
    as for `version`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if value == ALL_VERSIONS:
            return (ALL_VERSIONS,)
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_VERSIONS:
            raise ValidationError(f'must be "all" or a list of 1 to {MAX_VERSIONS} versions')
        for item in value:
            if not isinstance(item, str) or not VERSION_RE.fullmatch(item):
                raise ValidationError(
                    "must list versions of 1 to 64 letters, digits, dots, underscores, colons "
                    "or dashes"
                )
        return tuple(dict.fromkeys(value))


class StrictString(_Field):
    default_error_messages = {"null": "must be a string"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        return value


def _utf8_size(text: str) -> int:
    # surrogatepass: the size check must not crash on lone surrogates; they are rejected next.
    return len(text.encode("utf-8", "surrogatepass"))


_SIZE_RANGE = f"must be between {MIN_SIZE} and {MAX_SIZE}"
_SAMPLE_RANGE = f"must be between 0 and {MAX_SAMPLE_COUNT}"
# The rules between fields, as their errors say them.
F16_NEEDS_SRGB = "requires srgb to be true"
ANIMATED_DURATION = "must be more than 0 and at most 60 seconds for an animated fiddle"
STILL_DURATION = "must be between 0 and 60 seconds"
MIPMAP_NEEDS_TEXTURABLE = "requires offscreen_texturable to be true"
_WHEN_OFFSCREEN = "when offscreen is true"
# Each option's rules beyond its type and range, for docs/options.md (python -m functions.docs).
OPTION_RULES: dict[str, tuple[str, ...]] = {
    "source": ("must name a source image that exists (`GET /_/sources`), or be 0",),
    "f16": (F16_NEEDS_SRGB,),
    "duration": (STILL_DURATION, ANIMATED_DURATION),
    "offscreen_width": (f"{_SIZE_RANGE} {_WHEN_OFFSCREEN}",),
    "offscreen_height": (f"{_SIZE_RANGE} {_WHEN_OFFSCREEN}",),
    "offscreen_sample_count": (f"{_SAMPLE_RANGE} {_WHEN_OFFSCREEN}",),
    "offscreen_mipmap": (f"{MIPMAP_NEEDS_TEXTURABLE} {_WHEN_OFFSCREEN}",),
}


def _size(default: int) -> StrictInteger:
    return StrictInteger(
        load_default=default,
        validate=validate.Range(MIN_SIZE, MAX_SIZE, error=_SIZE_RANGE),
    )


def _flag() -> StrictBoolean:
    return StrictBoolean(load_default=False)


# --- schemas ------------------------------------------------------------------------------------

_SCHEMA_MESSAGES = {"unknown": "is not a known field", "type": "must be an object"}


class OptionsSchema(Schema):
    """The `options` object; loads to a `FiddleOptions`. Source existence is the caller's job."""

    class Meta:
        unknown = RAISE

    error_messages = _SCHEMA_MESSAGES

    width = _size(256)
    height = _size(256)
    source = StrictInteger(
        load_default=0,
        validate=[
            validate.Range(min=0, error="must not be negative"),
            validate.Range(max=MAX_SOURCE_ID, error="is too large"),
        ],
    )
    srgb = _flag()
    f16 = _flag()
    text_only = StrictBoolean(data_key="textOnly", load_default=False)
    animated = _flag()
    duration = StrictNumber(load_default=0.0)
    offscreen = _flag()
    # Their ranges are checked only for an offscreen fiddle (_offscreen_errors).
    offscreen_width = StrictInteger(load_default=OFFSCREEN_DEFAULTS["offscreen_width"])
    offscreen_height = StrictInteger(load_default=OFFSCREEN_DEFAULTS["offscreen_height"])
    offscreen_sample_count = StrictInteger(
        load_default=OFFSCREEN_DEFAULTS["offscreen_sample_count"]
    )
    offscreen_texturable = _flag()
    offscreen_mipmap = _flag()
    source_mipmap = _flag()

    # skip_on_field_errors=False: report combination errors together with field errors. A field
    # that failed is absent from `data`, so each rule runs only when its inputs are valid.
    @validates_schema(skip_on_field_errors=False)
    def _check_combinations(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors = {**_f16_errors(data), **_duration_errors(data), **_offscreen_errors(data)}
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make_options(self, data: dict[str, Any], **kwargs: Any) -> FiddleOptions:
        if not data["offscreen"]:
            data = {**data, **OFFSCREEN_DEFAULTS}
        return FiddleOptions(**data)


# The rules across fields below (_f16_errors, _duration_errors, _offscreen_errors) as JSON
# Schema says them, for the OpenAPI document's Options.
_OFFSCREEN_SIZE = {"minimum": MIN_SIZE, "maximum": MAX_SIZE}
OPTIONS_RULES_JSON_SCHEMA = [
    {
        "description": "f16 requires srgb.",
        "if": {"properties": {"f16": {"const": True}}, "required": ["f16"]},
        "then": {"properties": {"srgb": {"const": True}}, "required": ["srgb"]},
    },
    {
        "description": "An animated fiddle lasts more than 0 and at most 60 seconds; a still "
        "one may keep a duration of 0 to 60.",
        "if": {"properties": {"animated": {"const": True}}, "required": ["animated"]},
        "then": {
            "properties": {"duration": {"exclusiveMinimum": 0, "maximum": MAX_DURATION}},
            "required": ["duration"],
        },
        "else": {"properties": {"duration": {"minimum": 0, "maximum": MAX_DURATION}}},
    },
    {
        "description": "The offscreen fields are read only for an offscreen fiddle; then its "
        "size is 4 to 2048, its samples 0 to 64, and a mipmapped target is texturable.",
        "if": {"properties": {"offscreen": {"const": True}}, "required": ["offscreen"]},
        "then": {
            "properties": {
                "offscreen_width": _OFFSCREEN_SIZE,
                "offscreen_height": _OFFSCREEN_SIZE,
                "offscreen_sample_count": {"minimum": 0, "maximum": MAX_SAMPLE_COUNT},
            },
            "if": {
                "properties": {"offscreen_mipmap": {"const": True}},
                "required": ["offscreen_mipmap"],
            },
            "then": {
                "properties": {"offscreen_texturable": {"const": True}},
                "required": ["offscreen_texturable"],
            },
        },
    },
]


def _f16_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    if "f16" in data and "srgb" in data and data["f16"] and not data["srgb"]:
        return {"f16": [F16_NEEDS_SRGB]}
    return {}


def _duration_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    if "duration" not in data or "animated" not in data:
        return {}
    duration = data["duration"]
    if data["animated"] and not 0 < duration <= MAX_DURATION:
        return {"duration": [ANIMATED_DURATION]}
    if not data["animated"] and not 0 <= duration <= MAX_DURATION:
        return {"duration": [STILL_DURATION]}
    return {}


def _offscreen_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """Skia's rules for an offscreen target, with its editor's size range; none otherwise."""
    if not data.get("offscreen"):
        return {}
    errors: dict[str, list[str]] = {}
    for name in ("offscreen_width", "offscreen_height"):
        if name in data and not MIN_SIZE <= data[name] <= MAX_SIZE:
            errors[name] = [_SIZE_RANGE]
    samples = data.get("offscreen_sample_count", 0)
    if not 0 <= samples <= MAX_SAMPLE_COUNT:
        errors["offscreen_sample_count"] = [_SAMPLE_RANGE]
    if data.get("offscreen_mipmap") and data.get("offscreen_texturable") is False:
        errors["offscreen_mipmap"] = [MIPMAP_NEEDS_TEXTURABLE]
    return errors


# The code's rules as JSON Schema says them (for the OpenAPI document): not blank, no NUL, at
# most MAX_CODE_BYTES (JSON Schema counts characters; the byte limit is in the description).
CODE_JSON_SCHEMA = {
    "minLength": 1,
    "maxLength": MAX_CODE_BYTES,
    "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$",
    "description": "The program: at most 128 KiB of UTF-8, not blank, no NUL characters.",
}
VERSION_JSON_SCHEMA = {
    "pattern": "^[0-9A-Za-z._:-]{0,64}$",
    "description": "A skia-python version or runid this service runs (empty: the newest).",
}
VERSIONS_JSON_SCHEMA = {
    "oneOf": [
        {"const": ALL_VERSIONS},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_VERSIONS,
            "items": {"type": "string", "pattern": "^[0-9A-Za-z._:-]{1,64}$"},
        },
        {"type": "null"},
    ],
    "description": 'Several builds to run at: "all", or a list of versions (not with version).',
}


SKIA_CLIENT_FIELD = "sent by Skia Fiddle's web client on every run (naming is `POST /_/name`)."


def _doc(text: str, json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A field's meaning, for docs/http-api.md and docs/options.md (python -m functions.docs),
    beside its JSON Schema rules for the OpenAPI document (apispec ignores "doc")."""
    return {**(json_schema or {}), "doc": text}


class RunRequestSchema(Schema):
    """The whole `POST /_/run` body."""

    class Meta:
        unknown = RAISE

    error_messages = _SCHEMA_MESSAGES

    code = CodeField(
        required=True,
        metadata=_doc(
            "The program: Python drawing with skia-python, at most 128 KiB of UTF-8.",
            CODE_JSON_SCHEMA,
        ),
    )
    options = fields.Nested(
        OptionsSchema,
        load_default=FiddleOptions,
        error_messages={"null": "must be an object", "type": "must be an object"},
        metadata=_doc("The options (docs/options.md); absent, a new fiddle's."),
    )
    version = VersionField(
        load_default=None,
        allow_none=True,
        metadata=_doc(
            "The Skia build: HEAD, m<milestone>, a skia-python version or a runid; empty or"
            " absent: HEAD.",
            VERSION_JSON_SCHEMA,
        ),
    )
    fast = StrictBoolean(
        load_default=False,
        metadata=_doc("True: answer the newest stored run of the fiddle without a runner."),
    )
    versions = VersionsField(
        load_default=None,
        allow_none=True,
        metadata=_doc(
            'Several builds to run at: "all", or a list of versions (not with version); one'
            " answer per build.",
            VERSIONS_JSON_SCHEMA,
        ),
    )
    # Sent by Skia Fiddle's own web client on every run; accepted so it keeps working, and ignored
    # (naming a fiddle is `POST /_/name`).
    sources = StrictString(load_only=True, metadata=_doc(SKIA_CLIENT_FIELD))
    fiddlehash = StrictString(load_only=True, metadata=_doc(SKIA_CLIENT_FIELD))
    name = StrictString(load_only=True, metadata=_doc(SKIA_CLIENT_FIELD))
    overwrite = StrictBoolean(load_only=True, metadata=_doc(SKIA_CLIENT_FIELD))


_SCHEMA = RunRequestSchema()


# --- entry point --------------------------------------------------------------------------------


def parse_run_request(payload: object) -> RunRequestData:
    """Validate a decoded JSON body; raise InvalidRequest on any problem."""
    if not isinstance(payload, dict):
        raise InvalidRequest(
            "The request body must be a JSON object.", {"body": ["must be a JSON object"]}
        )
    body, renames = _lift_legacy_options(payload)
    try:
        data = _SCHEMA.load(body)
    except ValidationError as err:
        reasons = _in_body_order(_flatten(err.messages, ""), body)
        reasons = {renames.get(path, path): why for path, why in reasons.items()}
        raise InvalidRequest(_sentence(reasons), reasons) from None
    if data["version"] is not None and data["versions"] is not None:
        reasons = {"versions": ["cannot be given with version: one or the other"]}
        raise InvalidRequest("Give version (one build) or versions (several), not both.", reasons)
    return RunRequestData(
        data["code"], data["options"], data["version"], data["fast"], data["versions"]
    )


def _lift_legacy_options(payload: dict[Any, Any]) -> tuple[dict[Any, Any], dict[str, str]]:
    """Move fiddle 1.0's top-level width/height/source into `options`.

    Returns the new body and how to rename error paths back to what the client sent.
    """
    legacy = [key for key in _LEGACY_OPTION_KEYS if key in payload]
    if not legacy or "options" in payload:
        return payload, {}
    body = {key: value for key, value in payload.items() if key not in legacy}
    body["options"] = {key: payload[key] for key in legacy}
    return body, {f"options.{key}": key for key in legacy}


def _flatten(messages: Any, prefix: str) -> dict[str, list[str]]:
    """marshmallow's nested error dict as {"options.width": ["reason", ...]}."""
    if not isinstance(messages, dict):
        return {prefix or "body": _reasons(messages)}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        # A nested schema's own error ("_schema", e.g. options is not an object) is its field's.
        path = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
        for name, reasons in _flatten(value, path).items():
            flat.setdefault(name, []).extend(reasons)
    return flat


def _in_body_order(reasons: dict[str, list[str]], body: dict[Any, Any]) -> dict[str, list[str]]:
    """Errors in the order the client wrote the fields, missing ones first.

    marshmallow finds unknown fields through a set, so its order changes from run to run.
    """
    order = _key_order(body)
    return dict(sorted(reasons.items(), key=lambda item: order.get(item[0], (-1,))))


def _key_order(body: dict[Any, Any]) -> dict[str, tuple[int, ...]]:
    """Where each top-level key and each key one level down sits, built once: error bodies can
    have as many fields as the request has keys, so no per-field scans."""
    order: dict[str, tuple[int, ...]] = {}
    for i, (key, value) in enumerate(body.items()):
        order[str(key)] = (i,)
        if isinstance(value, dict):
            for j, inner in enumerate(value):
                order[f"{key}.{inner}"] = (i, j)
    return order


def _reasons(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else "is invalid" for item in items]


def _label(path: str) -> str:
    """How a field is named in the sentence: its last part, unless the client made it up oddly."""
    last = path.rsplit(".", 1)[-1]
    return last if _SAFE_LABEL.fullmatch(last) else "a field with an unusual name"


def _sentence(reasons: dict[str, list[str]]) -> str:
    """One readable sentence for the whole error."""
    if len(reasons) == 1:
        ((path, why),) = reasons.items()
        return f"{_label(path)} {why[0] if why else 'is invalid'}."
    labels = list(dict.fromkeys(_label(path) for path in reasons))
    named = ", ".join(labels[:_MAX_NAMED_IN_MESSAGE])
    if len(labels) > _MAX_NAMED_IN_MESSAGE:
        named += f" and {len(labels) - _MAX_NAMED_IN_MESSAGE} more"
    return f"The request has {len(reasons)} invalid fields: {named}."
