"""Which builds are in use, and deleting the ones that no longer are.

A runner holds a shared flock on the directory of every build it has hosts of, from before the
first host starts until the last has stopped (the lock goes with the runner's process, however it
ends). Removing a build (`fiddle builds remove`, decimation) first takes it off goodbuilds.txt, so
no runner starts a new host of it, then deletes its directory only if it can take the lock
exclusively. Otherwise a runner still holds it, its runs in flight finish, and the runner deletes
the directory itself once it has stopped that build's hosts (`sweep`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
from pathlib import Path

from runner_vm.builds.catalog import LOCK, STAGING, BuildsDir

log = logging.getLogger(__name__)


class BuildHold:
    """A shared hold on a build's directory: while any exists, nobody deletes it."""

    def __init__(self, directory: Path) -> None:
        self.fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def delete_if_unused(directory: Path) -> bool:
    """Delete a build's directory unless someone holds it; whether it is gone."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        delete_tree(directory)
    finally:
        os.close(fd)
    return True


def delete_tree(directory: Path) -> None:
    """Delete a build, whose directories are read-only. Only the directories are made writable:
    its files may be hard links shared with other builds, which keep them read-only."""
    for parent, names, _ in os.walk(directory):
        for name in names:
            _writable(Path(parent) / name)
    _writable(directory)
    shutil.rmtree(directory, ignore_errors=True)


def _writable(directory: Path) -> None:
    try:
        if not directory.is_symlink():
            directory.chmod(directory.stat().st_mode | stat.S_IWUSR)
    except OSError:
        pass


def sweep(builds: BuildsDir) -> list[str] | None:
    """Delete every build directory that goodbuilds.txt no longer lists and nobody holds; the
    names of those deleted, or None when a `fiddle builds` command is at work (a build it adds
    is in place a moment before it is listed): try again later."""
    if not builds.root.is_dir():
        return []
    with builds.locked_now() as mine:
        return sweep_locked(builds) if mine else None


def sweep_locked(builds: BuildsDir) -> list[str]:
    """`sweep`, for whoever holds the builds directory's lock already."""
    listed = {builds.directory(runid).name for runid in builds.runids()}
    deleted = []
    for entry in sorted(builds.root.iterdir()):
        if entry.name in listed or entry.name in (STAGING, LOCK) or not entry.is_dir():
            continue
        if entry.name.startswith("."):
            continue
        if delete_if_unused(entry):
            log.info("deleted build directory %s (no longer a good build)", entry)
            deleted.append(entry.name)
    return deleted
