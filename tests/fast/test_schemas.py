"""Validation of the `POST /_/run` body (docs/http-api.md; its options: docs/options.md)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fiddle_protocol.options import FiddleOptions
from functions.schemas import InvalidRequest, RunRequestData, parse_run_request

KIB128 = 128 * 1024


def invalid(payload: Any) -> InvalidRequest:
    """Parse a payload that must fail; check the message is one clean sentence."""
    with pytest.raises(InvalidRequest) as info:
        parse_run_request(payload)
    err = info.value
    assert_one_clean_sentence(err.message)
    for name, reasons in err.fields.items():
        assert isinstance(name, str)
        assert reasons and all(isinstance(r, str) and r for r in reasons)
    return err


def assert_one_clean_sentence(message: str) -> None:
    assert message.endswith(".")
    assert message.count(". ") == 0, message
    for bad in ("{", "<", "[", "Traceback", "Error", "marshmallow", "'", "\n"):
        assert bad not in message, message


def with_options(**options: Any) -> dict[str, Any]:
    return {"code": "print(1)", "options": options}


def field_error(payload: Any, field: str) -> InvalidRequest:
    err = invalid(payload)
    assert list(err.fields) == [field], err.fields
    return err


# --- valid requests -----------------------------------------------------------------------------


def test_minimal_request_gets_defaults() -> None:
    assert parse_run_request({"code": "print(1)"}) == RunRequestData(
        code="print(1)", options=FiddleOptions(), version=None, fast=False
    )


def test_full_request() -> None:
    options = {
        "width": 100,
        "height": 2048,
        "source": 12,
        "srgb": True,
        "f16": True,
        "textOnly": True,
        "animated": True,
        "duration": 60,
        "offscreen": True,
        "offscreen_width": 4,
        "offscreen_height": 2048,
        "offscreen_sample_count": 64,
        "offscreen_texturable": True,
        "offscreen_mipmap": True,
        "source_mipmap": True,
    }
    got = parse_run_request(
        {"code": "x", "options": options, "version": "m120:1.2-a_b", "fast": True}
    )
    assert got.options == FiddleOptions.from_json(options)
    assert got.options.text_only is True
    assert got.options.duration == 60.0
    assert isinstance(got.options.duration, float)
    assert (got.version, got.fast) == ("m120:1.2-a_b", True)


def test_request_data_is_frozen() -> None:
    got = parse_run_request({"code": "x"})
    with pytest.raises(AttributeError):
        got.code = "y"  # type: ignore[misc]


def test_code_is_kept_exactly() -> None:
    code = "def draw(canvas):\r\n    pass\n\n"
    assert parse_run_request({"code": code}).code == code


def test_code_at_the_size_limit_is_accepted() -> None:
    assert len(parse_run_request({"code": "a" * KIB128}).code) == KIB128
    assert parse_run_request({"code": "é" * (KIB128 // 2)}).code  # 2 bytes each


def test_options_json_round_trips_through_the_schema() -> None:
    options = FiddleOptions(width=300, srgb=True, animated=True, duration=2.5, source=4)
    assert parse_run_request({"code": "x", "options": options.to_json()}).options == options


def test_skia_fiddle_web_client_body_is_accepted() -> None:
    # What fiddle-sk sends on Run (its duration default only matters once animated).
    body = {
        "version": "",
        "sources": "",
        "fiddlehash": "",
        "name": "",
        "overwrite": False,
        "fast": False,
        "code": "x",
        "options": {
            "textOnly": False,
            "srgb": False,
            "f16": False,
            "width": 128,
            "height": 128,
            "animated": True,
            "duration": 5,
            "offscreen": False,
            "offscreen_width": 128,
            "offscreen_height": 128,
            "offscreen_sample_count": 1,
            "offscreen_texturable": False,
            "offscreen_mipmap": False,
            "source": 0,
            "source_mipmap": False,
        },
    }
    got = parse_run_request(body)
    assert got.version is None
    assert (got.options.width, got.options.duration) == (128, 5.0)


def test_null_version_is_no_version() -> None:
    assert parse_run_request({"code": "x", "version": None}).version is None


def test_legacy_flat_form() -> None:
    got = parse_run_request({"code": "x", "width": 300, "height": 200, "source": 2})
    assert got.options == FiddleOptions(width=300, height=200, source=2)


def test_legacy_flat_form_errors_name_the_top_level_field() -> None:
    err = field_error({"code": "x", "width": 3}, "width")
    assert err.message == "width must be between 4 and 2048."


def test_legacy_keys_next_to_options_are_unknown() -> None:
    err = field_error({"code": "x", "options": {}, "width": 300}, "width")
    assert err.fields["width"] == ["is not a known field"]


# --- the body itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], [{"code": "x"}], "code", 5, 1.5, True])
def test_non_object_body(payload: Any) -> None:
    err = invalid(payload)
    assert err.message == "The request body must be a JSON object."
    assert err.fields == {"body": ["must be a JSON object"]}


def test_unknown_top_level_field() -> None:
    err = field_error({"code": "x", "colour": "red"}, "colour")
    assert err.message == "colour is not a known field."


def test_unknown_option() -> None:
    err = field_error(with_options(gpu=True), "options.gpu")
    assert err.message == "gpu is not a known field."


def test_python_name_of_text_only_is_unknown() -> None:
    field_error(with_options(text_only=True), "options.text_only")


def test_hostile_field_name_is_not_echoed_in_the_message() -> None:
    err = invalid({"code": "x", "<script>{x}": 1})
    assert "<script>{x}" in err.fields
    assert "script" not in err.message


def test_non_string_key_is_reported() -> None:
    err = field_error({"code": "x", 1: 2}, "1")
    assert err.message == "1 is not a known field."


def test_many_unknown_fields_are_summarised() -> None:
    payload: dict[str, Any] = {"code": "x", **{f"f{i}": i for i in range(20)}}
    err = invalid(payload)
    assert len(err.fields) == 20
    assert err.message.startswith("The request has 20 invalid fields: f0, f1, f2, f3, f4 and 15")


def test_huge_number_of_unknown_fields_is_handled_quickly() -> None:
    payload: dict[str, Any] = {"code": "x", **{f"f{i}": i for i in range(50_000)}}
    payload["options"] = {f"o{i}": i for i in range(50_000)}
    started = time.monotonic()
    err = invalid(payload)
    assert len(err.fields) == 100_000
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("options", [None, [], "wide", 5, True])
def test_options_must_be_an_object(options: Any) -> None:
    err = field_error({"code": "x", "options": options}, "options")
    assert err.message == "options must be an object."


@pytest.mark.parametrize("fast", [1, 0, "true", None, "yes"])
def test_fast_must_be_boolean(fast: Any) -> None:
    field_error({"code": "x", "fast": fast}, "fast")


# --- code ---------------------------------------------------------------------------------------


def test_missing_code() -> None:
    err = field_error({"options": {}}, "code")
    assert err.message == "code is required."


@pytest.mark.parametrize("code", [5, 1.5, True, ["x"], {"a": 1}, b"x".decode() and None])
def test_code_wrong_type(code: Any) -> None:
    field_error({"code": code}, "code")


@pytest.mark.parametrize("code", ["", " ", "\n\t \r\n"])
def test_empty_code(code: str) -> None:
    err = field_error({"code": code}, "code")
    assert err.message == "code must not be empty."


def test_code_over_128_kib_of_ascii() -> None:
    field_error({"code": "a" * (KIB128 + 1)}, "code")


def test_code_over_128_kib_in_utf8_bytes_but_not_characters() -> None:
    code = "€" * 50_000  # 50,000 characters, 150,000 bytes
    assert len(code) < KIB128 < len(code.encode())
    err = field_error({"code": code}, "code")
    assert err.message == "code must be at most 128 KiB of UTF-8."


def test_nul_in_code() -> None:
    err = field_error({"code": "print(1)\x00"}, "code")
    assert err.message == "code must not contain NUL characters."


def test_lone_surrogate_in_code() -> None:
    field_error({"code": "x = '\ud800'"}, "code")


# --- width, height and the offscreen sizes ------------------------------------------------------

BAD_SIZES = [3, 2049, 0, -256, "256", 256.0, 256.5, True, False, None, [256], 10**30]
BAD_SIZE_TYPES = ["256", 256.0, 256.5, True, False, None, [256]]
SIZE_FIELDS = ["width", "height", "offscreen_width", "offscreen_height"]


def offscreen(**options: Any) -> dict[str, Any]:
    return with_options(offscreen=True, **options)


@pytest.mark.parametrize("field", ["width", "height"])
@pytest.mark.parametrize("value", BAD_SIZES)
def test_bad_size(field: str, value: Any) -> None:
    field_error(with_options(**{field: value}), f"options.{field}")


@pytest.mark.parametrize("field", ["offscreen_width", "offscreen_height"])
@pytest.mark.parametrize("value", BAD_SIZES)
def test_bad_offscreen_size(field: str, value: Any) -> None:
    field_error(offscreen(**{field: value}), f"options.{field}")


@pytest.mark.parametrize("field", ["offscreen_width", "offscreen_height", "offscreen_sample_count"])
@pytest.mark.parametrize("value", BAD_SIZE_TYPES)
def test_offscreen_numbers_must_be_whole_numbers_even_when_offscreen_is_off(
    field: str, value: Any
) -> None:
    err = field_error(with_options(offscreen=False, **{field: value}), f"options.{field}")
    assert err.fields[f"options.{field}"] == ["must be a whole number"]


@pytest.mark.parametrize("field", SIZE_FIELDS)
@pytest.mark.parametrize("value", [4, 2048])
def test_size_limits_are_inclusive(field: str, value: int) -> None:
    got = parse_run_request(offscreen(**{field: value}))
    assert getattr(got.options, field) == value


def test_size_messages() -> None:
    assert invalid(with_options(width=3)).message == "width must be between 4 and 2048."
    assert invalid(with_options(height="256")).message == "height must be a whole number."
    message = invalid(offscreen(offscreen_width=0)).message
    assert message == "offscreen_width must be between 4 and 2048."


@pytest.mark.parametrize("value", [65, -1, 1.0, True, "4", None])
def test_bad_sample_count(value: Any) -> None:
    field_error(offscreen(offscreen_sample_count=value), "options.offscreen_sample_count")


@pytest.mark.parametrize("value", [0, 1, 4, 64])
def test_sample_counts_skia_accepts(value: int) -> None:
    # Skia refuses only a negative count; 64 is this service's ceiling.
    got = parse_run_request(offscreen(offscreen_sample_count=value))
    assert got.options.offscreen_sample_count == value


def test_offscreen_mipmap_requires_texturable() -> None:
    err = field_error(offscreen(offscreen_mipmap=True), "options.offscreen_mipmap")
    assert err.message == "offscreen_mipmap requires offscreen_texturable to be true."
    got = parse_run_request(offscreen(offscreen_mipmap=True, offscreen_texturable=True))
    assert got.options.offscreen_mipmap and got.options.offscreen_texturable


# What Skia's Go client (fiddlecli) sends when offscreen is off: every field, Go's zero values.
GO_ZERO_OFFSCREEN = {
    "offscreen": False,
    "offscreen_width": 0,
    "offscreen_height": 0,
    "offscreen_sample_count": 0,
    "offscreen_texturable": False,
    "offscreen_mipmap": False,
}
# What Skia's editor page sends when offscreen is off: its own numbers, any of the flags.
PAGE_OFFSCREEN = {
    "offscreen": False,
    "offscreen_width": 256,
    "offscreen_height": 256,
    "offscreen_sample_count": 1,
    "offscreen_texturable": False,
    "offscreen_mipmap": True,
}
ODD_OFFSCREEN = {
    "offscreen": False,
    "offscreen_width": -5,
    "offscreen_height": 10**30,
    "offscreen_sample_count": 999,
    "offscreen_texturable": True,
    "offscreen_mipmap": True,
}


@pytest.mark.parametrize("fields", [GO_ZERO_OFFSCREEN, PAGE_OFFSCREEN, ODD_OFFSCREEN])
def test_offscreen_fields_are_ignored_and_stored_as_defaults_when_offscreen_is_off(
    fields: dict[str, Any],
) -> None:
    got = parse_run_request(with_options(**fields))
    assert got.options == FiddleOptions()


def test_offscreen_fields_are_kept_when_offscreen_is_on() -> None:
    got = parse_run_request(
        offscreen(offscreen_width=100, offscreen_height=50, offscreen_sample_count=0)
    )
    assert (got.options.offscreen_width, got.options.offscreen_height) == (100, 50)
    assert got.options.offscreen_sample_count == 0


# --- source -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 2**63, "1", 1.0, True, None])
def test_bad_source(value: Any) -> None:
    field_error(with_options(source=value), "options.source")


def test_largest_source_id() -> None:
    assert parse_run_request(with_options(source=2**63 - 1)).options.source == 2**63 - 1


# --- booleans and their combinations ------------------------------------------------------------

BOOL_FIELDS = [
    "srgb",
    "f16",
    "textOnly",
    "animated",
    "offscreen",
    "offscreen_texturable",
    "offscreen_mipmap",
    "source_mipmap",
]


@pytest.mark.parametrize("field", BOOL_FIELDS)
@pytest.mark.parametrize("value", [1, 0, "true", "false", None, 1.0])
def test_bad_boolean(field: str, value: Any) -> None:
    err = field_error(with_options(**{field: value}), f"options.{field}")
    assert err.fields[f"options.{field}"] == ["must be true or false"]


def test_f16_requires_srgb() -> None:
    err = field_error(with_options(f16=True), "options.f16")
    assert err.message == "f16 requires srgb to be true."
    field_error(with_options(f16=True, srgb=False), "options.f16")


def test_f16_with_invalid_srgb_blames_only_srgb() -> None:
    field_error(with_options(f16=True, srgb="yes"), "options.srgb")


def test_srgb_without_f16_is_fine() -> None:
    assert parse_run_request(with_options(srgb=True)).options.srgb


def test_several_errors_make_one_sentence() -> None:
    err = invalid({"code": "", "options": {"width": 3, "f16": True}})
    assert set(err.fields) == {"code", "options.width", "options.f16"}
    assert err.message == "The request has 3 invalid fields: code, width, f16."


# --- duration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [0.001, 1, 1.5, 60, 60.0])
def test_animated_duration_accepted(duration: float) -> None:
    got = parse_run_request(with_options(animated=True, duration=duration))
    assert got.options.duration == float(duration)


@pytest.mark.parametrize("duration", [0, 0.0, -1, 60.001, 61, 10**400])
def test_animated_duration_out_of_range(duration: float) -> None:
    field_error(with_options(animated=True, duration=duration), "options.duration")


@pytest.mark.parametrize("duration", [0.5, 5, 60])
def test_duration_is_kept_when_not_animated(duration: float) -> None:
    # Skia's editor keeps the duration when animation is switched off, and Skia hashes it.
    got = parse_run_request(with_options(duration=duration))
    assert (got.options.animated, got.options.duration) == (False, float(duration))


@pytest.mark.parametrize("duration", [-1, -0.001, 60.001, 10**400])
def test_duration_out_of_range_when_not_animated(duration: float) -> None:
    err = field_error(with_options(duration=duration), "options.duration")
    assert err.fields["options.duration"] in (
        ["must be between 0 and 60 seconds"],
        ["must be a finite number"],
    )


@pytest.mark.parametrize("duration", ["5", True, None, [5], float("nan"), float("inf")])
def test_duration_wrong_type(duration: Any) -> None:
    field_error(with_options(animated=True, duration=duration), "options.duration")


def test_duration_with_invalid_animated_blames_only_animated() -> None:
    field_error(with_options(animated="yes", duration=5), "options.animated")


# --- version ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["abc", "2024-01-02T03:04:05Z-87.5", "a" * 64, "v1.2_3"])
def test_good_version(version: str) -> None:
    assert parse_run_request({"code": "x", "version": version}).version == version


@pytest.mark.parametrize(
    "version", ["a" * 65, "a b", "../etc", "a/b", "ü", "x\n", "<v>", 5, True, ["v"]]
)
def test_bad_version(version: Any) -> None:
    field_error({"code": "x", "version": version}, "version")


# --- the error object ---------------------------------------------------------------------------


def test_invalid_request_holds_one_sentence_and_the_reasons_per_field() -> None:
    err = invalid(with_options(width=3))
    assert err.message == "width must be between 4 and 2048."
    assert err.fields == {"options.width": ["must be between 4 and 2048"]}
    assert str(err) == err.message and err.retry_after is None
