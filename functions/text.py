"""Text that crosses into storage and pages, made valid Unicode that always encodes to UTF-8.

A program can print a lone surrogate (`print('\\ud800')`): Python strings hold one, JSON carries
it as an escape, and encoding it to UTF-8 for a page fails. Stored objects written by an older
version or another writer may hold bytes that are not UTF-8 at all. Both are replaced with
U+FFFD where they enter: when a runner answers, when a run is stored, and when stored text is
read for a page or an answer, so every page renders whatever is stored.
"""

from __future__ import annotations

import dataclasses
import re

from fiddle_protocol.messages import CompileError, RunResult
from fiddle_protocol.outputs import TEXT

REPLACEMENT = "\ufffd"
# Surrogate code points are never characters on their own; Python's UTF-8 codec refuses them.
_SURROGATES = re.compile("[\ud800-\udfff]")
TEXT_OUTPUT = TEXT.stored


def valid_text(text: str) -> str:
    """The text with every surrogate code point replaced by U+FFFD."""
    return _SURROGATES.sub(REPLACEMENT, text)


def decode_text(data: bytes) -> str:
    """Stored bytes as text; whatever is not UTF-8 becomes U+FFFD."""
    return data.decode("utf-8", "replace")


def valid_utf8(data: bytes) -> bytes:
    """The bytes unchanged when they are UTF-8, else with each bad sequence replaced by U+FFFD."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_text(data).encode("utf-8")
    return data


def clean_result(result: RunResult) -> RunResult:
    """A runner's answer with every text field valid: printed text, errors (of the run and of
    each output) and the text output."""
    outputs = dict(result.outputs)
    if TEXT_OUTPUT in outputs:
        outputs[TEXT_OUTPUT] = _text_output(outputs[TEXT_OUTPUT], result.text)
    return dataclasses.replace(
        result,
        text=valid_text(result.text),
        runtime_error=valid_text(result.runtime_error),
        compile_errors=tuple(
            CompileError(valid_text(error.text), error.line, error.col)
            for error in result.compile_errors
        ),
        outputs=outputs,
        output_errors={name: valid_text(error) for name, error in result.output_errors.items()},
    )


def _text_output(data: bytes, printed: str) -> bytes:
    """The text output as valid UTF-8. When it is the printed text encoded with '?' for every
    surrogate (what the runner sends), it becomes the printed text with U+FFFD instead, so the
    file and the page show the same characters."""
    if data == printed.encode("utf-8", "replace"):
        return valid_text(printed).encode("utf-8")
    return valid_utf8(data)
