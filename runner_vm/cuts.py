"""Caps on the text a run sends back, and the note that says a text was cut, and at what size.

Used on both sides of the pipe: the child cuts what the program printed (it alone knows how much
that was), and the host cuts whatever the child sent, since the child may have sent anything.
Sizes are UTF-8 bytes, the size the text is stored at (`utf8`: a lone surrogate is U+FFFD).
"""

from __future__ import annotations

from fiddle_protocol.checks import printed_bytes as utf8

KIB = 1 << 10
MIB = 1 << 20
TEXT_LIMIT = 1 * MIB  # printed text kept, so a print loop cannot flood the pipe or the store
ERROR_LIMIT = 64 * KIB  # a runtime error (a traceback, or an exception's message)
# Room the host leaves for the child's own note after a cut text.
NOTE_ROOM = 256


def size(count: int) -> str:
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= KIB:
        return f"{count / KIB:.1f} KiB"
    return f"{count} bytes"


def _limit(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count // KIB} KiB"


def printed_note(printed: int) -> str:
    return f"\n[output cut at {_limit(TEXT_LIMIT)}: the program printed {size(printed)}]"


def error_note(total: int) -> str:
    return f"\n[error cut at {_limit(ERROR_LIMIT)}: it was {size(total)}; its middle is left out]\n"


def head(data: bytes, limit: int) -> str:
    """The first `limit` bytes as text, without a character split at the cut."""
    return data[:limit].decode("utf-8", "ignore")


def tail(data: bytes, limit: int) -> str:
    """The last `limit` bytes as text, without a character split at the cut."""
    return data[len(data) - limit :].decode("utf-8", "ignore")


def cut_error(text: str) -> str:
    """An error keeps its start and its end (where a traceback names the exception)."""
    data = utf8(text)
    if len(data) <= ERROR_LIMIT:
        return data.decode("utf-8")
    half = ERROR_LIMIT // 2
    return head(data, half) + error_note(len(data)) + tail(data, half)


def cut_printed(text: str) -> str:
    """The host's guard on the text field: a child that cut its text (with its note) is within
    the limit; a longer text was never cut by the child, so it is cut here, with the note."""
    data = utf8(text)
    if len(data) <= TEXT_LIMIT + NOTE_ROOM:
        return data.decode("utf-8")
    return head(data, TEXT_LIMIT) + printed_note(len(data))
