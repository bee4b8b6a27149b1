"""The fiddle hash must equal Skia Fiddle 1.0's, byte for byte (docs/storage.md, "The fiddle
hash"); its second form must equal what Skia's current tools compute (one `#line 1`), byte for
byte too."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import fields, replace

import pytest

from fiddle_protocol.options import FiddleOptions
from functions.hashing import (
    FIDDLE1,
    SKIA,
    fiddle_hash,
    hash_in_form,
    hash_text,
    number_lines,
    number_once,
    skia_hash,
)
from tests.helpers import SKIA_RED_LINE

STAR = SKIA_RED_LINE  # Skia Fiddle 1.0's known program, whose hash it documents

HEADER = ["DECLARE_bool(portableFonts);", "// WxH: 256, 256"]


def test_known_value_of_skia_fiddle_1() -> None:
    assert fiddle_hash(STAR, FiddleOptions()) == "cbb8dee39e9f1576cd97c2d504db8eee"


def test_known_values_from_skia_fiddle_test_suite() -> None:
    # Skia Fiddle's own TestOptions applies these options cumulatively to the same code.
    steps: list[tuple[dict[str, object], str]] = [
        ({"srgb": True, "f16": True}, "fddc0a319e575c79a97ff535b455dc5d"),
        ({"animated": True, "duration": 1.5}, "92c7b15afd12fd711ce65ba412574e3d"),
        (
            {
                "offscreen": True,
                "offscreen_width": 256,
                "offscreen_height": 256,
                "offscreen_sample_count": 1,
            },
            "a76b7ac7fa98c75e09e32e704adeedc3",
        ),
        ({"offscreen_texturable": True}, "03cd8e8e9858add8008e262f63925d7c"),
        ({"offscreen_mipmap": True}, "052b394aa3078ac12f9a8ee7dde8ee65"),
        ({"source_mipmap": True}, "ccc4f49c7d91f444ba4d9cbc431e2822"),
    ]
    options = FiddleOptions()
    for change, expected in steps:
        options = replace(options, **change)  # type: ignore[arg-type]
        assert fiddle_hash(STAR, options) == expected, change


# Skia's TestOptions again, as it reads since 2021 (the single `#line 1`): the same cumulative
# options, each row (options, Skia form, fiddle 1.0 form).
SKIA_STEPS: list[tuple[dict[str, object], str, str]] = [
    ({}, "163b9c435a7fbf1367ed9ee71839a4cc", "cbb8dee39e9f1576cd97c2d504db8eee"),
    ({"srgb": True, "f16": True},
     "f54b0278c8d075817fa590056437bab3", "fddc0a319e575c79a97ff535b455dc5d"),
    ({"animated": True, "duration": 1.5},
     "baa851459d5f03fc7422c1cce7bb8a74", "92c7b15afd12fd711ce65ba412574e3d"),
    ({"offscreen": True, "offscreen_width": 256, "offscreen_height": 256},
     "cb94299a913c6ac9053e46b685971aca", "a76b7ac7fa98c75e09e32e704adeedc3"),
    ({"offscreen_texturable": True},
     "ee4bc8e0f854533af31e19cc2650f14f", "03cd8e8e9858add8008e262f63925d7c"),
    ({"offscreen_mipmap": True},
     "78a8c62fbd8170ae082c0efb6c0e3bde", "052b394aa3078ac12f9a8ee7dde8ee65"),
    ({"source_mipmap": True},
     "a325ad1b372655bb1cb1fc195310e878", "ccc4f49c7d91f444ba4d9cbc431e2822"),
]  # fmt: skip


def test_known_values_of_both_forms_from_skia_fiddle_test_suite() -> None:
    options = FiddleOptions()
    for change, skia_form, fiddle1_form in SKIA_STEPS:
        options = replace(options, **change)  # type: ignore[arg-type]
        assert skia_hash(STAR, options) == skia_form, change
        assert fiddle_hash(STAR, options) == fiddle1_form, change
        assert hash_in_form(STAR, options, SKIA) == skia_form
        assert hash_in_form(STAR, options, FIDDLE1) == fiddle1_form


PYTHON_LINE = (
    "import skia\n\ndef draw(canvas):\n"
    "    canvas.drawLine(20, 20, 100, 100, skia.Paint(Color=skia.ColorRED))\n"
)
# Computed independently (a Go 1.19 program and a Python one, outside the project, agree); base
# options 256x256, source 0. (code, options, Skia form, fiddle 1.0 form).
MORE_VECTORS: dict[str, tuple[str, dict[str, object], str, str]] = {
    "empty code": ("", {}, "d7bf2504c6f0823a0760f2e6f601410d", "d7bf2504c6f0823a0760f2e6f601410d"),
    "one line": (
        "void draw(SkCanvas* canvas) {}", {},
        "07c02ef8872c996098564fa624b41a8b", "07c02ef8872c996098564fa624b41a8b",
    ),
    "trailing newline": (
        STAR + "\n", {}, "5c5069961c1d4686184f77f9076dc399", "ec932ab57aa57af90bceea8b0405ab3a",
    ),
    "CRLF": (
        STAR.replace("\n", "\r\n"), {},
        "ffd14aff91f5930ff7817521bc168d6f", "5bd37c66d24a58c58cb604bfa8fff662",
    ),
    "non-ASCII": (
        "// héllo wörld ✓ 日本\nvoid draw(SkCanvas* canvas) {}", {},
        "9725f0c8c70b48af79a41c9aa1839edb", "3ff6c000e3aed427b7fb798d3f5146b6",
    ),
    "source 1": (
        STAR, {"source": 1}, "ad2eef98669b1efc61e36a9c4e8192e1", "549f7dfd818faf8acced1f3a7be51164",
    ),
    "duration while not animated": (
        STAR, {"duration": 2.0},
        "d6a1af22aee9c2bcc4e81f0877eadfaa", "4549338f36a29762094d8b7596149685",
    ),
    "Python, multi-line with a trailing newline": (
        PYTHON_LINE, {}, "72a2d349b411df78c5079140b73e9e49", "9ebae40efb86e2c349d704533ddb8440",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", MORE_VECTORS)
def test_known_values_of_both_forms(case: str) -> None:
    code, change, skia_form, fiddle1_form = MORE_VECTORS[case]
    options = replace(FiddleOptions(), **change)  # type: ignore[arg-type]
    assert skia_hash(code, options) == skia_form
    assert fiddle_hash(code, options) == fiddle1_form


def test_skia_form_numbers_the_code_once() -> None:
    assert number_once("a\nb\n") == ["#line 1", "a", "b", ""]
    assert hash_text("a\r\nb", FiddleOptions(), SKIA).split("\n") == [
        *HEADER,
        "#line 1",
        "a\r",
        "b",
    ]


@pytest.mark.parametrize("code", ["", "x", "é ✓", "a\rb", "def draw(canvas): pass"])
def test_code_without_a_newline_hashes_alike_in_both_forms(code: str) -> None:
    options = FiddleOptions(width=100, source=3, srgb=True)
    assert skia_hash(code, options) == fiddle_hash(code, options)


@pytest.mark.parametrize("code", ["a\n", "a\nb", "\n", "a\r\nb"])
def test_code_with_a_newline_hashes_differently_in_the_two_forms(code: str) -> None:
    assert skia_hash(code, FiddleOptions()) != fiddle_hash(code, FiddleOptions())


def test_hash_is_lower_case_hex_md5() -> None:
    value = fiddle_hash("x", FiddleOptions())
    assert len(value) == 32
    assert value == value.lower()
    int(value, 16)


def test_canonical_text_of_defaults() -> None:
    assert hash_text("a\nb", FiddleOptions()).split("\n") == [
        *HEADER,
        "#line 1",
        "a",
        "#line 2",
        "b",
    ]


def test_hash_is_md5_of_text_then_packed_source() -> None:
    options = FiddleOptions(source=7)
    expected = hashlib.md5(hash_text("x", options).encode() + struct.pack("<q", 7)).hexdigest()
    assert fiddle_hash("x", options) == expected


# --- line splitting: Go's strings.Split(code, "\n") ---------------------------------------------


def test_trailing_newline_gives_a_final_empty_line() -> None:
    assert number_lines("a\n") == ["#line 1", "a", "#line 2", ""]
    assert fiddle_hash(STAR + "\n", FiddleOptions()) != fiddle_hash(STAR, FiddleOptions())


def test_empty_code_is_one_empty_line() -> None:
    assert number_lines("") == ["#line 1", ""]


def test_carriage_return_stays_in_its_line() -> None:
    assert number_lines("a\r\nb") == ["#line 1", "a\r", "#line 2", "b"]
    assert fiddle_hash("a\r\nb", FiddleOptions()) != fiddle_hash("a\nb", FiddleOptions())


def test_other_line_breaks_do_not_split() -> None:
    # str.splitlines() would split on these; Go does not.
    assert number_lines("a\x0bb\u2028c") == ["#line 1", "a\x0bb\u2028c"]


def test_non_ascii_code_is_hashed_as_utf8() -> None:
    text = hash_text("é", FiddleOptions())
    expected = hashlib.md5(text.encode("utf-8") + struct.pack("<q", 0)).hexdigest()
    assert fiddle_hash("é", FiddleOptions()) == expected


# --- each optional line appears only when set ---------------------------------------------------


def _header(options: FiddleOptions) -> list[str]:
    lines = hash_text("", options).split("\n")
    return lines[: lines.index("#line 1")]


@pytest.mark.parametrize(
    ("change", "extra"),
    [
        ({"srgb": True}, ["// SRGB: true, false"]),
        ({"f16": True}, ["// SRGB: false, true"]),
        ({"srgb": True, "f16": True}, ["// SRGB: true, true"]),
        ({"text_only": True}, ["// TextOnly: true"]),
        ({"animated": True}, ["// Animated: true"]),
        ({"duration": 1.5}, ["// Duration: 1.500000"]),
        ({"duration": 60.0}, ["// Duration: 60.000000"]),
        ({"duration": 0.1234567}, ["// Duration: 0.123457"]),
        (
            {"offscreen": True},
            [
                "// Offscreen WxHxS: 64, 64, 1",
                "// Offscreen Texturable: false",
                "// Offscreen MipMap: false",
            ],
        ),
        (
            {
                "offscreen": True,
                "offscreen_width": 100,
                "offscreen_height": 200,
                "offscreen_sample_count": 4,
                "offscreen_texturable": True,
                "offscreen_mipmap": True,
            },
            [
                "// Offscreen WxHxS: 100, 200, 4",
                "// Offscreen Texturable: true",
                "// Offscreen MipMap: true",
            ],
        ),
        ({"source_mipmap": True}, ["// Source MipMap: true"]),
    ],
)
def test_optional_line(change: dict[str, object], extra: list[str]) -> None:
    assert _header(replace(FiddleOptions(), **change)) == HEADER + extra  # type: ignore[arg-type]


def test_width_and_height_line() -> None:
    assert _header(FiddleOptions(width=100, height=300))[1] == "// WxH: 100, 300"


@pytest.mark.parametrize(
    "change",
    [
        {"offscreen_width": 128},
        {"offscreen_height": 128},
        {"offscreen_sample_count": 4},
        {"offscreen_texturable": True},
        {"offscreen_mipmap": True},
    ],
)
def test_offscreen_details_are_ignored_when_offscreen_is_off(change: dict[str, object]) -> None:
    changed = replace(FiddleOptions(), **change)  # type: ignore[arg-type]
    assert hash_text(STAR, changed) == hash_text(STAR, FiddleOptions())


def test_all_lines_in_order() -> None:
    options = FiddleOptions(
        srgb=True,
        f16=True,
        text_only=True,
        animated=True,
        duration=2.0,
        offscreen=True,
        offscreen_texturable=True,
        source_mipmap=True,
    )
    assert _header(options) == [
        *HEADER,
        "// SRGB: true, true",
        "// TextOnly: true",
        "// Animated: true",
        "// Duration: 2.000000",
        "// Offscreen WxHxS: 64, 64, 1",
        "// Offscreen Texturable: true",
        "// Offscreen MipMap: false",
        "// Source MipMap: true",
    ]


# --- every option changes the hash --------------------------------------------------------------


def _changed(name: str) -> FiddleOptions:
    """Default options with one field changed, offscreen on so its details count."""
    base = FiddleOptions(offscreen=True) if name.startswith("offscreen_") else FiddleOptions()
    value = getattr(base, name)
    new = (not value) if isinstance(value, bool) else value + 1
    return replace(base, **{name: new})


@pytest.mark.parametrize("name", [f.name for f in fields(FiddleOptions)])
def test_every_option_changes_the_hash(name: str) -> None:
    base = FiddleOptions(offscreen=True) if name.startswith("offscreen_") else FiddleOptions()
    assert fiddle_hash(STAR, _changed(name)) != fiddle_hash(STAR, base)


def test_code_changes_the_hash() -> None:
    assert fiddle_hash(STAR + " ", FiddleOptions()) != fiddle_hash(STAR, FiddleOptions())


# --- the source id ------------------------------------------------------------------------------


def test_source_id_changes_only_the_packed_suffix() -> None:
    assert hash_text(STAR, FiddleOptions(source=3)) == hash_text(STAR, FiddleOptions())
    assert fiddle_hash(STAR, FiddleOptions(source=3)) != fiddle_hash(STAR, FiddleOptions())


@pytest.mark.parametrize("source", [-1, -(2**63), 2**63 - 1, 256])
def test_source_packing_is_little_endian_signed_64_bit(source: int) -> None:
    options = FiddleOptions(source=source)
    packed = source.to_bytes(8, "little", signed=True)
    expected = hashlib.md5(hash_text("x", options).encode() + packed).hexdigest()
    assert fiddle_hash("x", options) == expected


def test_source_outside_int64_is_refused() -> None:
    with pytest.raises(struct.error):
        fiddle_hash("x", FiddleOptions(source=2**63))


# --- FiddleOptions serialisation (the hash input, as stored) -----------------------------------

FULL = FiddleOptions(
    width=100,
    height=200,
    source=3,
    srgb=True,
    f16=True,
    text_only=True,
    animated=True,
    duration=1.5,
    offscreen=True,
    offscreen_width=32,
    offscreen_height=48,
    offscreen_sample_count=4,
    offscreen_texturable=True,
    offscreen_mipmap=True,
    source_mipmap=True,
)


def test_to_json_uses_skia_fiddle_names() -> None:
    assert FiddleOptions().to_json() == {
        "width": 256,
        "height": 256,
        "source": 0,
        "srgb": False,
        "f16": False,
        "textOnly": False,
        "animated": False,
        "duration": 0.0,
        "offscreen": False,
        "offscreen_width": 64,
        "offscreen_height": 64,
        "offscreen_sample_count": 1,
        "offscreen_texturable": False,
        "offscreen_mipmap": False,
        "source_mipmap": False,
    }


def test_json_round_trip() -> None:
    assert FiddleOptions.from_json(FULL.to_json()) == FULL


def test_from_json_fills_missing_keys_and_ignores_unknown_ones() -> None:
    # A fiddle stored before an option existed must still load.
    loaded = FiddleOptions.from_json({"width": 128, "height": 64, "source": 0, "gpu": True})
    assert loaded == FiddleOptions(width=128, height=64)


def test_from_json_makes_an_integer_duration_a_float() -> None:
    loaded = FiddleOptions.from_json({"animated": True, "duration": 2})
    assert loaded.duration == 2.0
    assert isinstance(loaded.duration, float)


def test_metadata_round_trip() -> None:
    metadata = FULL.to_metadata()
    assert list(metadata) == ["options"]
    assert " " not in metadata["options"]  # compact
    assert FiddleOptions.from_metadata(metadata) == FULL


@pytest.mark.parametrize("metadata", [{}, {"options": "[1]"}, {"options": "not json"}])
def test_bad_metadata_is_a_value_error(metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        FiddleOptions.from_metadata(metadata)


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        FiddleOptions().width = 5  # type: ignore[misc]
