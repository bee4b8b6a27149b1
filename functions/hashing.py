"""The fiddle hash (SPEC section 3): Skia Fiddle 1.0's hash, so that old links never break.

This mirrors Skia Fiddle's Go `Options.ComputeHash` with the per-line `linenumbers.LineNumbers`
of fiddle 1.0 (later Skia versions only prefix `#line 1`, which gives different hashes).
Lines are split on "\\n" alone, exactly as Go's `strings.Split`: a trailing newline yields a final
empty line, "\\r" stays part of its line, and empty code is one empty line. Changing any of this
changes every hash.
"""

from __future__ import annotations

import hashlib
import struct

from functions.options import FiddleOptions


def number_lines(code: str) -> list[str]:
    """`#line i` before each line of the code, 1-based (fiddle 1.0's LineNumbers)."""
    numbered: list[str] = []
    for i, line in enumerate(code.split("\n"), start=1):
        numbered += [f"#line {i}", line]
    return numbered


def _go_bool(value: bool) -> str:
    # Go's %v prints booleans in lower case.
    return "true" if value else "false"


def option_lines(options: FiddleOptions) -> list[str]:
    """The header lines: always the first two, then each optional line only when set."""
    o = options
    lines = ["DECLARE_bool(portableFonts);", f"// WxH: {o.width}, {o.height}"]
    if o.srgb or o.f16:
        lines.append(f"// SRGB: {_go_bool(o.srgb)}, {_go_bool(o.f16)}")
    if o.text_only:
        lines.append("// TextOnly: true")
    if o.animated:
        lines.append("// Animated: true")
    if o.duration != 0:
        lines.append(f"// Duration: {o.duration:.6f}")  # Go's %f: six decimals
    if o.offscreen:
        lines += [
            f"// Offscreen WxHxS: {o.offscreen_width}, {o.offscreen_height}, "
            f"{o.offscreen_sample_count}",
            f"// Offscreen Texturable: {_go_bool(o.offscreen_texturable)}",
            f"// Offscreen MipMap: {_go_bool(o.offscreen_mipmap)}",
        ]
    if o.source_mipmap:
        lines.append("// Source MipMap: true")
    return lines


def hash_text(code: str, options: FiddleOptions) -> str:
    """The canonical text that is hashed (before the source id is appended)."""
    return "\n".join(option_lines(options) + number_lines(code))


def fiddle_hash(code: str, options: FiddleOptions) -> str:
    """The fiddle hash: lower-case hex MD5 of the canonical text and the packed source id."""
    digest = hashlib.md5(hash_text(code, options).encode("utf-8"), usedforsecurity=False)
    # Go's binary.Write(h, binary.LittleEndian, int64(source)).
    digest.update(struct.pack("<q", options.source))
    return digest.hexdigest()
