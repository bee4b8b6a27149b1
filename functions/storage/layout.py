"""Where everything lives in the blob store: the one place that spells an object's name.

    fiddle/<hash>/draw.py                the code; its options as metadata
    fiddle/<hash>/<runid>/<output>       a run's outputs, by their stored names
                                         (fiddle_protocol/outputs.py)
    fiddle/<hash>/<runid>/run.json       the run's marker, written last: the run exists once it
                                         does. A withdrawal marker (metadata `withdrawn`) takes
                                         its place for good when the run's source image is
                                         deleted (functions/source_runs.py)
    fiddle/<hash>/<runid>/failed.json    the errors of the last run at that build that failed
                                         (compile errors, runtime error), for the pages to show
                                         in place of its outputs; no run, and overwritten by the
                                         next failure
    fiddle/<hash>/<runid>/diff/<runid2>.png
                                         the pixel difference of this run's raster output and
                                         run <runid2>'s, where <runid> sorts before <runid2>
                                         (stored once per pair); its metadata counts the changed
                                         pixels (`changed`, `total`)
    source/<id>                          an uploaded source image, as a normalised PNG
    source/lastid.txt                    the largest source id ever used
    thumbnail/<id>/<size>.png            its thumbnails (64, 128 and 256 pixels)
    named/<name>                         a named fiddle: its hash, with its creator as metadata
    alias/<hash>                         a fiddle's hash in Skia's current form -> its canonical
                                         (fiddle 1.0) hash, written with the fiddle's code

The document store names runs of a source image by registration ids, `<id>-<hash>-<runid>` in
the collection `source_uses`; they are spelled here too, beside the names they stand for.

A hash is 32 lower-case hex digits; a runid starts with a digit and has no "/"; a name is
letters, digits and underscores. `parse_code_object` and `parse_run_object` read a fiddle
object's name back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fiddle_protocol import versions

HASH_RE = re.compile(r"[0-9a-f]{32}")
RUNID_RE = versions.RUNID_RE  # the runner names its builds' runs by the same rule
NAME_RE = re.compile(r"[0-9a-zA-Z_]{1,128}")

FIDDLES = "fiddle/"
CODE = "draw.py"
RUN_MARKER = "run.json"
FAILED = "failed.json"
DIFFS = "diff/"
# Metadata key of a withdrawal marker: it says the run was taken back, and why.
WITHDRAWN = "withdrawn"
ALIASES = "alias/"
LAST_SOURCE_ID = "source/lastid.txt"
SOURCE_USES = "source_uses"
# The document store's collections and what each document holds, for docs/storage.md. The
# modules that use a collection keep its name (functions/accounts.py's USERS, ...); a meta-test
# (tests/fast/test_docs.py) finds every collection the code uses here.
COLLECTIONS = {
    "users": "A user, by name: the argon2 hash of the password, the role (user or admin), when"
    " it was made.",
    "sessions": "A signed-in browser, by the SHA-256 of its session id: the user, a fingerprint"
    " of the password it was made under, when it started and expires (30 days).",
    "tokens": "An API token, by its SHA-256: the user, a label, when it was made.",
    "named": "A name, by itself: the fiddle's hash, who named it, when; an index of the"
    " `named/<name>` objects, which decide.",
    "sources": "A source image, by its id: who uploaded it (`fiddle` for a built-in one), when.",
    SOURCE_USES: "A run rendered from a source image, by `<id>-<hash>-<runid>`: what deleting the"
    " image withdraws.",
    "signin_failures": "Failed sign-ins of one client address or account name in one window of"
    " the sign-in limits; swept as new ones come.",
    "audit": "What an admin (or `fiddle admin`) did: who, the action, its target, details, when.",
    "jobs": "A job, by a random id (or `rerun-named-<runid>` when a new build started it): kind,"
    " parameters, state, items, the indices of those done, counts per outcome, the first"
    " failures, who asked, when, the worker holding it and its lease; every change is a"
    " conditional write.",
    "jobs_meta": "`seen_builds`: the runids the job worker has seen, so that only a build new"
    " since then starts a rerun-named job.",
    "named_status": "A named fiddle, by its name: its hash when checked, its status (ok,"
    " changed, broken, failing) at the newest build a rerun-named job checked against the"
    " build before it, its first error line or compare link, and whether it ran cleanly at"
    " each of its last 20 builds.",
}


def fiddle_prefix(fiddle_hash: str) -> str:
    """Every object of one fiddle: its code and all its runs."""
    return f"{FIDDLES}{fiddle_hash}/"


def code(fiddle_hash: str) -> str:
    return f"{fiddle_prefix(fiddle_hash)}{CODE}"


def run_prefix(fiddle_hash: str, runid: str) -> str:
    """Every object of one run: its outputs and its marker."""
    return f"{fiddle_prefix(fiddle_hash)}{runid}/"


def output(fiddle_hash: str, runid: str, name: str) -> str:
    return f"{run_prefix(fiddle_hash, runid)}{name}"


def run_marker(fiddle_hash: str, runid: str) -> str:
    return output(fiddle_hash, runid, RUN_MARKER)


def failure(fiddle_hash: str, runid: str) -> str:
    return output(fiddle_hash, runid, FAILED)


def diff(fiddle_hash: str, runid: str, other: str) -> str:
    """The difference of two runs' rasters, kept under the run that sorts first (the older)."""
    first, second = sorted((runid, other))
    return f"{run_prefix(fiddle_hash, first)}{DIFFS}{second}.png"


def source(source_id: int) -> str:
    return f"source/{source_id}"


def thumbnail(source_id: int, size: int) -> str:
    return f"thumbnail/{source_id}/{size}.png"


def named(name: str) -> str:
    return f"named/{name}"


def alias(other_hash: str) -> str:
    """Where a hash in the other form (Skia's) leads to the canonical one."""
    return f"{ALIASES}{other_hash}"


def source_use_id(source_id: int, fiddle_hash: str, runid: str) -> str:
    """The document id that registers a run as a user of a source image."""
    return f"{source_id}-{fiddle_hash}-{runid}"


def parse_code_object(key: str) -> str | None:
    """The hash of fiddle/<hash>/draw.py; None for any other object."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != FIDDLES or parts[2] != CODE:
        return None
    return parts[1] if HASH_RE.fullmatch(parts[1]) else None


@dataclass(frozen=True)
class RunObject:
    """An object under a run's prefix: one of its outputs, or its marker."""

    fiddle_hash: str
    runid: str
    name: str  # below the run's prefix

    @property
    def is_marker(self) -> bool:
        return self.name == RUN_MARKER


def parse_run_object(key: str) -> RunObject | None:
    """fiddle/<hash>/<runid>/<name> read back; None for the code or anything else. The runid is
    taken as stored, whatever it looks like: a run directory someone else left is still found
    (and withdrawn with its fiddle's source image); only serving insists on RUNID_RE."""
    parts = key.split("/", 3)
    if len(parts) != 4 or f"{parts[0]}/" != FIDDLES:
        return None
    _, fiddle_hash, runid, name = parts
    if not (HASH_RE.fullmatch(fiddle_hash) and runid and name):
        return None
    return RunObject(fiddle_hash, runid, name)
