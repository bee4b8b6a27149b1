"""Length-prefixed frames over pipes: between the runner service and its sandbox hosts, and from a
child to its host. A frame holds JSON, or bytes passed on unread (a request on its way to the
child, a result on its way to the functions)."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
# The largest frame between the runner and a host: a decode_image result (its output cap, see
# policy.toml) or a request carrying the largest source image, both base64.
MAX_FRAME = 128 << 20


class FrameError(EOFError):
    """The other side closed the stream or sent something that is not a frame."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body


def write_frame(fd: int, message: Any) -> None:
    write_all(fd, encode(message))


def write_bytes_frame(fd: int, body: bytes) -> None:
    """A frame of bytes already encoded, written without copying them."""
    write_all(fd, HEADER.pack(len(body)))
    write_all(fd, body)


def write_all(fd: int, payload: bytes) -> None:
    data = memoryview(payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise FrameError("stream closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame_body(fd: int) -> bytes:
    """One frame's bytes, without its header, unread (the host passes requests on so)."""
    (size,) = HEADER.unpack(read_exactly(fd, HEADER.size))
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes is too large")
    return read_exactly(fd, size)


def read_frame(fd: int) -> Any:
    return _decode(read_frame_body(fd))


def read_frame_from_bytes(data: bytes) -> Any:
    """Decode one complete frame held in memory (what a child wrote before exiting)."""
    if len(data) < HEADER.size:
        raise FrameError("not a frame")
    (size,) = HEADER.unpack_from(data)
    if len(data) != HEADER.size + size:
        raise FrameError("a frame cut short or with bytes after it")
    return _decode(data[HEADER.size :])


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:  # UnicodeDecodeError included
        raise FrameError("not JSON") from error
    except RecursionError as error:
        raise FrameError("JSON nested too deeply") from error
