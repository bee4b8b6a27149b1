"""A blob store in a local directory, safe for many threads and processes at once.

Layout under the root directory:

    objects/<name>          one file per object: b"FBLOB1\\n", a 4-byte big-endian header length,
                            a JSON header {"generation", "metadata", "content_type"}, then the data
    tmp/                    files being written, renamed into objects/ when complete
    locks/<xx>/<sha256>     one lock file per object name, held around read-check-write

Header and data live in one file so a single os.replace swaps both: a reader sees the old object or
the new one, never a mix. Because object names are paths, an object cannot share its name with the
directory of another ("a" and "a/b"); such a write raises InvalidName.

No symlink under objects/ is ever followed: a file is opened with O_NOFOLLOW, and each directory
on the way to it is checked with lstat the first time this store meets it. The store itself only
ever makes real directories and never removes one, so a directory found real stays trusted for
the life of the process (up to _TRUSTED_DIRECTORIES of them); reads then cost no path lookups
beyond the open itself.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pathlib
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Any

from filelock import FileLock

from functions.storage.blobstore import (
    Blob,
    BlobInfo,
    BlobStore,
    BlobStoreError,
    InvalidName,
    NotFound,
    PreconditionFailed,
    StorageFull,
    StorageUnavailable,
    validate_name,
)

_MAGIC = b"FBLOB1\n"
_LENGTH = struct.Struct(">I")
_PREFIX_SIZE = len(_MAGIC) + _LENGTH.size
_MAX_SEGMENT_BYTES = 255  # NAME_MAX on every filesystem we care about
# filelock polls a contended lock; its 50 ms default would dominate every contended write.
_LOCK_POLL_SECONDS = 0.002
# How many directories found real a store remembers before it starts checking afresh.
_TRUSTED_DIRECTORIES = 1 << 16
# What stat() reads of a file at first: the header of nearly every object fits.
_HEADER_READ = 4096


class LocalBlobStore(BlobStore):
    """Objects as files under root/objects/, names mirrored as paths so operators can find them."""

    def __init__(self, root: pathlib.Path, *, durable: bool = False) -> None:
        """durable: fsync data and directories on every write, surviving power loss (slow)."""
        self._root = pathlib.Path(root)
        for sub in ("objects", "tmp", "locks"):
            (self._root / sub).mkdir(parents=True, exist_ok=True)
        # Resolved once, so a root reached through a symlink (/tmp on macOS) still compares equal.
        self._objects = (self._root / "objects").resolve(strict=True)
        self._objects_dir = str(self._objects)
        self._tmp = (self._root / "tmp").resolve(strict=True)
        self._locks = (self._root / "locks").resolve(strict=True)
        self._durable = durable
        self._trusted: set[str] = set()  # object-name prefixes whose directories are real
        self._trusted_lock = threading.Lock()

    @property
    def root(self) -> pathlib.Path:
        return self._root

    # --- reading: never locks; os.replace makes every file we open complete ---

    def read(self, name: str) -> Blob:
        with _disk_errors(name):
            header, data, _ = _read_object(self._file(name), name, with_data=True)
        return Blob(name, data, **header)

    def stat(self, name: str) -> BlobInfo:
        with _disk_errors(name):
            header, _, size = _read_object(self._file(name), name, with_data=False)
        return BlobInfo(name, size=size, **header)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        base, _, partial = prefix.rpartition("/")
        if base:
            try:
                start = self._path(base)
                self._check_directories(base, including_last=True)
            except InvalidName:
                return  # no valid name starts with this prefix
        else:
            start = self._objects
        with _disk_errors(prefix):
            yield from self._walk(start, base, partial)

    # --- writing: per-object lock around read-check-replace ---

    def write(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
        if_generation_match: int | None = None,
    ) -> int:
        path = self._path(name)
        header = _encode_header(metadata or {}, content_type)
        with _disk_errors(name):
            return self._write(path, name, header, data, if_generation_match)

    def _write(
        self,
        path: pathlib.Path,
        name: str,
        header: dict[str, Any],
        data: bytes,
        if_generation_match: int | None,
    ) -> int:
        if if_generation_match == 0:
            return self._create(path, name, header, data)
        with self._lock(name):
            current = self._current_generation(path)
            _check_precondition(name, current, if_generation_match)
            generation = max(current + 1, time.time_ns())
            self._replace(path, name, _pack(generation, header, data))
        return generation

    def _create(self, path: pathlib.Path, name: str, header: dict[str, Any], data: bytes) -> int:
        """Create-only writes need no lock: link(2) refuses an existing name atomically."""
        generation = time.time_ns()
        self._make_parent(path, name)
        tmp = self._write_temp(_pack(generation, header, data))
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise PreconditionFailed(f"{name} already exists") from None
        except IsADirectoryError:
            raise InvalidName(f"{name!r} is already a prefix of other objects") from None
        finally:
            tmp.unlink(missing_ok=True)
        if self._durable:
            _fsync_dir(path.parent)
        return generation

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        path = self._path(name)
        with _disk_errors(name), self._lock(name):
            current = self._current_generation(path)
            if current == 0:
                raise NotFound(name)
            _check_precondition(name, current, if_generation_match)
            os.unlink(path)
            if self._durable:
                _fsync_dir(path.parent)

    # --- helpers ---

    def _path(self, name: str) -> pathlib.Path:
        return pathlib.Path(self._file(name))

    def _file(self, name: str) -> str:
        """The object's file; refuses names that could land outside objects/ or pass a symlink."""
        validate_name(name)
        try:
            name.encode()
        except UnicodeEncodeError:
            raise InvalidName(f"object names must be valid UTF-8: {name!r}") from None
        if any(len(part.encode()) > _MAX_SEGMENT_BYTES for part in name.split("/")):
            raise InvalidName(f"a path segment is longer than {_MAX_SEGMENT_BYTES} bytes: {name!r}")
        # validate_name already rules out '..'; the directories on the way must not be symlinks
        # (the file itself is opened with O_NOFOLLOW).
        self._check_directories(name)
        return f"{self._objects_dir}/{name}"

    def _check_directories(self, name: str, *, including_last: bool = False) -> None:
        """InvalidName if a directory on the way to name (or name itself, when it is to be a
        directory) is a symlink; stops at the first that does not exist (nothing below it does)."""
        parts = name.split("/")
        parts = parts if including_last else parts[:-1]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self._trusted:
                continue
            try:
                mode = os.lstat(f"{self._objects_dir}/{prefix}").st_mode
            except (FileNotFoundError, NotADirectoryError):
                return
            if S_ISLNK(mode):
                raise InvalidName(f"object path passes through a symlink: {name!r}")
            if not S_ISDIR(mode):
                return
            self._trust(prefix)

    def _trust(self, prefix: str) -> None:
        with self._trusted_lock:
            if len(self._trusted) >= _TRUSTED_DIRECTORIES:
                self._trusted.clear()
            self._trusted.add(prefix)

    def _lock(self, name: str) -> FileLock:
        digest = hashlib.sha256(name.encode()).hexdigest()
        # Sharded so millions of objects do not put millions of files in one directory.
        path = self._locks / digest[:2] / f"{digest}.lock"
        return FileLock(path, poll_interval=_LOCK_POLL_SECONDS)

    def _current_generation(self, path: pathlib.Path) -> int:
        """The generation on disk, 0 if there is no object. Call with the object's lock held."""
        try:
            header, _, _ = _read_object(str(path), str(path), with_data=False)
        except NotFound:
            return 0
        return int(header["generation"])

    @staticmethod
    def _make_parent(path: pathlib.Path, name: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidName(f"a parent of {name!r} is already an object") from None

    def _replace(self, path: pathlib.Path, name: str, content: bytes) -> None:
        self._make_parent(path, name)
        tmp = self._write_temp(content)
        try:
            os.replace(tmp, path)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, IsADirectoryError):
                raise InvalidName(f"{name!r} is already a prefix of other objects") from None
            raise
        if self._durable:
            _fsync_dir(path.parent)

    def _write_temp(self, content: bytes) -> pathlib.Path:
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="w-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                if self._durable:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return pathlib.Path(tmp)

    def _walk(self, directory: pathlib.Path, base: str, partial: str) -> Iterator[BlobInfo]:
        """Yield objects below directory whose first segment starts with partial, in name order."""
        for entry, is_dir in _sorted_entries(directory):
            if not entry.name.startswith(partial):
                continue
            name = f"{base}/{entry.name}" if base else entry.name
            if is_dir:
                yield from self._walk(pathlib.Path(entry.path), name, "")
                continue
            try:
                info = self.stat(name)
            except (NotFound, InvalidName):
                # Deleted since we listed the directory, or a stray file no object could be named
                # after (an operator's, say): either way not an object.
                continue
            yield info


@contextlib.contextmanager
def _disk_errors(name: str) -> Iterator[None]:
    """The disk's failures as the store's: full (no space, or the user's quota) or unavailable
    (an I/O error, a file system gone read-only). Writes are whole or absent either way."""
    try:
        yield
    except BlobStoreError:
        raise
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"no space left to store {name!r}") from error
        raise StorageUnavailable(f"the disk failed on {name!r}: {error}") from error


def _sorted_entries(directory: pathlib.Path) -> list[tuple[os.DirEntry[str], bool]]:
    """Regular files and directories, symlinks skipped, sorted as their full object names sort.

    A directory sorts as its name plus "/", which is where its objects' names fall among siblings.
    """
    try:
        with os.scandir(directory) as it:
            entries = [(e, e.is_dir(follow_symlinks=False)) for e in it if not e.is_symlink()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    kept = [(e, d) for e, d in entries if d or e.is_file(follow_symlinks=False)]
    return sorted(kept, key=lambda pair: pair[0].name + "/" if pair[1] else pair[0].name)


def _read_object(path: str, name: str, *, with_data: bool) -> tuple[dict[str, Any], bytes, int]:
    """The object's header, its data (b"" unless with_data) and the data's size, read with as
    few system calls as the file allows: open, fstat, one read, close for most objects."""
    fd, size = _open_fd(path, name)
    try:
        content = _read_at(fd, 0, size if with_data else min(size, _HEADER_READ))
        header, offset = _parse_header(content, name, fd)
        data = content[offset:] if with_data else b""
    finally:
        os.close(fd)
    return header, data, size - offset


def _open_fd(path: str, name: str) -> tuple[int, int]:
    """An open descriptor of the object's file, and the file's size."""
    try:
        # O_NOFOLLOW: a symlink swapped in after _path checked must still not be followed.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise NotFound(name) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidName(f"object is a symlink: {name!r}") from None
        raise
    status = os.fstat(fd)
    if not S_ISREG(status.st_mode):
        os.close(fd)
        raise NotFound(name)  # a directory: the prefix of other objects, not an object
    return fd, status.st_size


def _read_at(fd: int, offset: int, count: int) -> bytes:
    chunks = []
    while count > 0:
        chunk = os.pread(fd, count, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _encode_header(metadata: dict[str, str], content_type: str) -> dict[str, Any]:
    items = [*metadata.items(), ("content_type", content_type)]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise TypeError("metadata keys and values and content_type must be strings")
    return {"metadata": dict(metadata), "content_type": content_type}


def _pack(generation: int, header: dict[str, Any], data: bytes) -> bytes:
    encoded = json.dumps({"generation": generation, **header}, sort_keys=True).encode()
    return b"".join((_MAGIC, _LENGTH.pack(len(encoded)), encoded, data))


def _parse_header(content: bytes, name: str, fd: int) -> tuple[dict[str, Any], int]:
    """The header at the start of content (read further from fd when content stops inside it)
    and where the data starts."""
    if len(content) < _PREFIX_SIZE or not content.startswith(_MAGIC):
        raise BlobStoreError(f"not a blob-store object file: {name!r}")
    (length,) = _LENGTH.unpack(content[len(_MAGIC) : _PREFIX_SIZE])
    end = _PREFIX_SIZE + length
    encoded = content[_PREFIX_SIZE:end]
    if len(encoded) < length:
        encoded += _read_at(fd, _PREFIX_SIZE + len(encoded), length - len(encoded))
    return json.loads(encoded), end


def _check_precondition(name: str, current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(f"{name!r}: generation is {current}, expected {expected}")


def _fsync_dir(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
