"""The fiddle hash in its two forms.

Both mirror Skia Fiddle's Go `Options.ComputeHash`; they differ only in how the code is numbered
(`linenumbers.LineNumbers`):

- fiddle 1.0 (`fiddle_hash`, the canonical hash every fiddle is stored under, so old links never
  break): `#line i` before every line;
- Skia's current form (`skia_hash`, what Skia's own clients compute since 2021 and check the
  answer of `/_/run` against): one `#line 1` before the whole code.

Lines are split on "\\n" alone, exactly as Go's `strings.Split`: a trailing newline yields a final
empty line, "\\r" stays part of its line, and empty code is one empty line. Code without a "\\n"
hashes the same in both forms. Skia refuses to hash code holding the C digraph `%:`; Python code
may hold it (in a string), and both forms here hash it as any other text. Changing any of this
changes every hash.
"""

from __future__ import annotations

import hashlib
import struct

from fiddle_protocol.options import FiddleOptions

FIDDLE1 = "fiddle1"
SKIA = "skia"
HASH_FORMS = (FIDDLE1, SKIA)


def number_lines(code: str) -> list[str]:
    """`#line i` before each line of the code, 1-based (fiddle 1.0's LineNumbers)."""
    numbered: list[str] = []
    for i, line in enumerate(code.split("\n"), start=1):
        numbered += [f"#line {i}", line]
    return numbered


def number_once(code: str) -> list[str]:
    """One `#line 1` before the whole code (Skia's LineNumbers since 2021)."""
    return ["#line 1", *code.split("\n")]


_NUMBERING = {FIDDLE1: number_lines, SKIA: number_once}


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


def hash_text(code: str, options: FiddleOptions, form: str = FIDDLE1) -> str:
    """The text that is hashed (before the source id is appended), in the given form."""
    return "\n".join(option_lines(options) + _NUMBERING[form](code))


def hash_in_form(code: str, options: FiddleOptions, form: str) -> str:
    """Lower-case hex MD5 of the form's text and the packed source id."""
    digest = hashlib.md5(hash_text(code, options, form).encode("utf-8"), usedforsecurity=False)
    # Go's binary.Write(h, binary.LittleEndian, int64(source)).
    digest.update(struct.pack("<q", options.source))
    return digest.hexdigest()


def fiddle_hash(code: str, options: FiddleOptions) -> str:
    """The canonical hash (fiddle 1.0's): what every fiddle is stored under."""
    return hash_in_form(code, options, FIDDLE1)


def skia_hash(code: str, options: FiddleOptions) -> str:
    """The hash Skia's current tools compute for the same code and options."""
    return hash_in_form(code, options, SKIA)
