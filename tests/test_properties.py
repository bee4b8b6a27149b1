"""Properties of the options and the hash, over generated inputs (Hypothesis):

- valid options round-trip through the run request's schema, its JSON and the stored metadata;
- the hash does not depend on how the request's JSON was written (key order, spacing, escapes,
  the legacy flat form);
- invalid options are refused with a 400 `{"error", "fields"}` and nothing is stored;
- the hash is the fiddle 1.0 hash: an independent implementation of its construction, written
  here from the contract's words, agrees on every generated fiddle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fiddle_protocol.options import FiddleOptions
from functions.app import create_app
from functions.config import Settings
from functions.hashing import fiddle_hash
from functions.schemas import (
    MAX_SAMPLE_COUNT,
    MAX_SIZE,
    MAX_SOURCE_ID,
    MIN_SIZE,
    OptionsSchema,
    parse_run_request,
)
from functions.storage.memory import MemoryBlobStore

sizes = st.integers(MIN_SIZE, MAX_SIZE)
flags = st.booleans()


OFFSCREEN_FIELDS = (
    "offscreen_width", "offscreen_height", "offscreen_sample_count", "offscreen_texturable",
    "offscreen_mipmap",
)  # fmt: skip
ANY_INTEGER = st.integers(-(2**40), 2**40)


@st.composite
def valid_options(draw: st.DrawFn) -> dict[str, Any]:
    """Options as a client sends them (Skia Fiddle's JSON names), each present or left out."""
    srgb = draw(flags)
    animated = draw(flags)
    offscreen = draw(flags)
    still = st.one_of(st.just(0.0), st.floats(0, 60.0, allow_nan=False))
    texturable = draw(flags)
    every = {
        "width": draw(sizes),
        "height": draw(sizes),
        "source": draw(st.integers(0, MAX_SOURCE_ID)),
        "srgb": srgb,
        "f16": draw(flags) if srgb else False,
        "textOnly": draw(flags),
        "animated": animated,
        "duration": draw(st.floats(0.001, 60.0) if animated else still),
        "offscreen": offscreen,
        # Read only for an offscreen fiddle (Skia's Go client sends zeros otherwise).
        "offscreen_width": draw(sizes if offscreen else ANY_INTEGER),
        "offscreen_height": draw(sizes if offscreen else ANY_INTEGER),
        "offscreen_sample_count": draw(
            st.integers(0, MAX_SAMPLE_COUNT) if offscreen else ANY_INTEGER
        ),
        "offscreen_texturable": texturable,
        "offscreen_mipmap": draw(flags) if texturable or not offscreen else False,
        "source_mipmap": draw(flags),
    }
    kept = draw(st.sets(st.sampled_from(sorted(every))))
    # Rules across fields hold on what is sent, not on what would be sent in full.
    if animated:
        kept |= {"animated", "duration"}
    if "f16" in kept and every["f16"]:
        kept.add("srgb")
    if offscreen and "offscreen_mipmap" in kept and every["offscreen_mipmap"]:
        kept |= {"offscreen", "offscreen_texturable"}
    return {k: v for k, v in every.items() if k in kept}


def stored_form(options: dict[str, Any]) -> dict[str, Any]:
    """What the service keeps of valid options: the offscreen fields of a fiddle that is not
    offscreen are stored as their defaults, so one fiddle has one stored form."""
    if options.get("offscreen"):
        return options
    defaults = FiddleOptions().to_json()
    return {k: defaults[k] if k in OFFSCREEN_FIELDS else v for k, v in options.items()}


codes = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=300).filter(str.strip)  # fmt: skip


@given(valid_options())
def test_valid_options_round_trip(options: dict[str, Any]) -> None:
    loaded: FiddleOptions = OptionsSchema().load(options)
    assert OptionsSchema().load(loaded.to_json()) == loaded
    assert FiddleOptions.from_json(json.loads(json.dumps(loaded.to_json()))) == loaded
    assert FiddleOptions.from_metadata(loaded.to_metadata()) == loaded
    for name, value in stored_form(options).items():
        assert loaded.to_json()[name] == value


def encodings(body: dict[str, Any]) -> list[str]:
    """The same JSON object written several ways."""
    reordered = {key: body[key] for key in reversed(list(body))}
    if isinstance(body.get("options"), dict):
        options = body["options"]
        reordered["options"] = {key: options[key] for key in reversed(list(options))}
    return [
        json.dumps(body),
        json.dumps(reordered, ensure_ascii=False),
        json.dumps(body, indent=3, sort_keys=True),
        json.dumps(reordered, separators=(",", ":")),
        "\n\t " + json.dumps(body, ensure_ascii=True) + " \r\n",
    ]


@given(codes, valid_options())
def test_the_hash_does_not_depend_on_how_the_json_is_written(
    code: str, options: dict[str, Any]
) -> None:
    body = {"code": code, "options": options}
    hashes = set()
    for text in encodings(body):
        request = parse_run_request(json.loads(text))
        hashes.add(fiddle_hash(request.code, request.options))
    assert len(hashes) == 1


@given(codes, st.integers(MIN_SIZE, MAX_SIZE), st.integers(MIN_SIZE, MAX_SIZE),
       st.integers(0, MAX_SOURCE_ID))  # fmt: skip
def test_the_legacy_flat_form_hashes_as_the_options_form(
    code: str, width: int, height: int, source: int
) -> None:
    legacy = parse_run_request({"code": code, "width": width, "height": height, "source": source})
    current = parse_run_request(
        {"code": code, "options": {"width": width, "height": height, "source": source}}
    )
    assert fiddle_hash(legacy.code, legacy.options) == fiddle_hash(current.code, current.options)


# --- invalid options are never stored ----------------------------------------------------------

NOT_INTEGERS = st.one_of(st.booleans(), st.floats(allow_nan=False), st.text(max_size=5),
                         st.none(), st.lists(st.integers(), max_size=2))  # fmt: skip
NOT_BOOLEANS = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats(allow_nan=False))


OPTION_NAMES = set(FiddleOptions().to_json())


@st.composite
def invalid_options(draw: st.DrawFn) -> dict[str, Any]:
    """Valid options with one thing wrong: a value out of range or of the wrong type, a broken
    combination, or a field no fiddle has."""
    options = draw(valid_options())
    broken = draw(st.sampled_from(["size", "type", "flag", "f16", "duration", "unknown", "source"]))
    if broken == "size":
        name = draw(st.sampled_from(["width", "height", "offscreen_width", "offscreen_height"]))
        options["offscreen"] = True  # the offscreen size is read only then
        options[name] = draw(st.one_of(st.integers(max_value=MIN_SIZE - 1),
                                       st.integers(min_value=MAX_SIZE + 1)))  # fmt: skip
    elif broken == "type":
        options[draw(st.sampled_from(["width", "height", "source"]))] = draw(NOT_INTEGERS)
    elif broken == "flag":
        options[draw(st.sampled_from(["srgb", "textOnly", "offscreen"]))] = draw(NOT_BOOLEANS)
    elif broken == "f16":
        options.update(f16=True, srgb=False)
    elif broken == "duration":
        animated = draw(flags)
        finite = {"allow_nan": False, "allow_infinity": False}
        too_long = st.floats(min_value=60.0001, **finite)
        bad = st.one_of(
            st.floats(max_value=0, **finite)
            if animated
            else st.floats(max_value=-0.0001, **finite),
            too_long,
        )
        options.update(animated=animated, duration=draw(bad))
    elif broken == "unknown":
        name = draw(st.text(min_size=1, max_size=12))
        assume(name not in OPTION_NAMES)
        options[name] = draw(st.integers())
    else:
        options["source"] = draw(st.one_of(st.integers(max_value=-1),
                                           st.integers(min_value=MAX_SOURCE_ID + 1)))  # fmt: skip
    return options


@pytest.fixture(scope="module")
def memory_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, MemoryBlobStore]:
    """An app whose runner is nowhere: an invalid request must be refused before one is needed."""
    store = MemoryBlobStore()
    data_dir = Path(tmp_path_factory.mktemp("properties"))
    settings = Settings(data_dir=data_dir, runners=("http://127.0.0.1:9",),
                        rate_limits={"run": "1000000/minute"})  # fmt: skip
    app = create_app(settings, blob_store=store)
    BASELINE[id(store)] = {info.name for info in store.list("")}
    assert not any(name.startswith("fiddle/") for name in BASELINE[id(store)])
    return app, store


BASELINE: dict[int, set[str]] = {}


@settings(
    max_examples=150,
    deadline=None,  # a request through the app, on a machine shared with other tests
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(codes, invalid_options())
def test_invalid_options_are_refused_and_never_stored(
    memory_app: tuple[Flask, MemoryBlobStore], code: str, options: dict[str, Any]
) -> None:
    app, store = memory_app
    answer = app.test_client().post("/_/run", json={"code": code, "options": options})
    assert answer.status_code == 400, (options, answer.json)
    assert set(answer.json) == {"error", "fields"} and answer.json["fields"]
    assert all(key.startswith("options") for key in answer.json["fields"]), answer.json
    # Nothing beyond what a store starts with (the built-in source images).
    assert {info.name for info in store.list("")} == BASELINE[id(store)]


# --- the hash against an independent reference --------------------------------------------------


def reference_hash(code: str, options: dict[str, Any]) -> str:
    """The fiddle 1.0 hash written from the contract's words alone (not from functions/hashing):
    the header lines, then "#line i" before each line of the code (split at LF only), joined
    with LF; MD5 of that text in UTF-8 followed by the source id as 8 little-endian bytes."""
    o = {**FiddleOptions().to_json(), **options}
    go_bool = {True: "true", False: "false"}
    text_lines = [
        "DECLARE_bool(portableFonts);",
        "// WxH: " + str(o["width"]) + ", " + str(o["height"]),
    ]
    if o["srgb"] or o["f16"]:
        text_lines.append("// SRGB: " + go_bool[o["srgb"]] + ", " + go_bool[o["f16"]])
    if o["textOnly"]:
        text_lines.append("// TextOnly: true")
    if o["animated"]:
        text_lines.append("// Animated: true")
    if o["duration"] != 0:
        text_lines.append("// Duration: " + format(o["duration"], ".6f"))
    if o["offscreen"]:
        sizes = [o["offscreen_width"], o["offscreen_height"], o["offscreen_sample_count"]]
        text_lines.append("// Offscreen WxHxS: " + ", ".join(map(str, sizes)))
        text_lines.append("// Offscreen Texturable: " + go_bool[o["offscreen_texturable"]])
        text_lines.append("// Offscreen MipMap: " + go_bool[o["offscreen_mipmap"]])
    if o["source_mipmap"]:
        text_lines.append("// Source MipMap: true")
    start = 0
    number = 1
    while True:
        end = code.find("\n", start)
        text_lines.append("#line " + str(number))
        text_lines.append(code[start:] if end < 0 else code[start:end])
        if end < 0:
            break
        start, number = end + 1, number + 1
    digest = hashlib.md5(usedforsecurity=False)
    digest.update("\n".join(text_lines).encode("utf-8"))
    digest.update(int(o["source"]).to_bytes(8, "little", signed=True))
    return digest.hexdigest()


def test_the_reference_gives_the_contracts_known_value() -> None:
    from tests.fast.test_hashing import STAR

    assert reference_hash(STAR, {}) == "cbb8dee39e9f1576cd97c2d504db8eee"


lines_of_code = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=300)
@given(lines_of_code, valid_options())
def test_the_hash_is_the_fiddle_1_0_hash(code: str, options: dict[str, Any]) -> None:
    loaded: FiddleOptions = OptionsSchema().load(options)
    assert fiddle_hash(code, loaded) == reference_hash(code, options)
