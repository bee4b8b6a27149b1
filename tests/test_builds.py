"""Skia builds on a runner (runner_vm/builds/): `fiddle builds add | list | remove`, what a build
is on disk, and every way adding one can go wrong. Real pip, real wheels (PyPI through pip's
cache, or wheels made here), real smoke renders in a real sandbox.

Tests that change builds work on a copy of the default builds made of hard links
(`copied_builds`); the defaults themselves are only read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runner_vm.builds import usage
from runner_vm.builds.catalog import RECORD, BuildsDir, default_versions, recipe
from runner_vm.builds.install import (
    BuildError,
    Installer,
    NotSkiaPython,
    SmokeRenderFailed,
    UnknownRelease,
    source_of,
)
from runner_vm.policy import load_policy
from tests.conftest import ROOT

FIDDLE = [sys.executable, "-m", "functions.cli"]
POLICY = load_policy()
# pip, told of nothing but an index nobody answers at (no pip.conf, find-links or cache).
OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_EXTRA_INDEX_URL": "",
    "PIP_FIND_LINKS": "",
    "PIP_NO_CACHE_DIR": "1",
    "PIP_RETRIES": "1",
    "PIP_TIMEOUT": "5",
}


def builds_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FIDDLE, "builds", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def snapshot(root: Path) -> list[tuple[str, int, int]]:
    """Every path under the builds directory with its inode and size, but the commands' own
    lock and staging directory (left empty): what a failed add must not touch."""
    staging = list((root / ".staging").glob("*")) if (root / ".staging").exists() else []
    assert staging == [], f"an add left {staging}"
    return sorted(
        (str(p.relative_to(root)), p.lstat().st_ino, p.lstat().st_size)
        for p in root.rglob("*")
        if not p.relative_to(root).parts[0].startswith(".")
    )


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-Python wheel of `name` holding `files`, with its METADATA, WHEEL and RECORD."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    contents = {
        **files,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in contents.items()]
    contents[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in contents.items():
            wheel.writestr(member, data)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------------
# What a build is


def test_the_default_builds_are_good_read_only_and_share_their_common_files(
    default_builds: Path,
) -> None:
    builds = BuildsDir(default_builds).builds()
    assert sorted(build.skia_python for build in builds) == sorted(default_versions())
    pins = dict(package.split("==") for package in recipe())
    for build in builds:
        record = json.loads((build.path / RECORD).read_text())
        assert record["runid"] == build.runid
        assert record["packages"] == {"skia-python": build.skia_python, **pins}
        for path in [build.path, *build.path.rglob("*")]:
            if not path.is_symlink():
                assert not path.stat().st_mode & 0o222, f"{path} is writable"
        # No console scripts, which name the interpreter that installed them.
        assert not (build.path / "bin").exists()
    # numpy and Pillow are one copy on disk, bytecode included (hash-checked .pyc are the same
    # in every build), and not numpy's tests alone.
    for shared in ("numpy/__init__.py", "numpy/__pycache__/__init__.cpython-311.pyc",
                   "PIL/Image.py", "PIL/__pycache__/Image.cpython-311.pyc"):  # fmt: skip
        inodes = {(build.path / shared).stat().st_ino for build in builds}
        assert len(inodes) == 1, shared
    # What differs is each build's own skia.
    assert len({next(build.path.glob("skia*.so")).stat().st_ino for build in builds}) == 3


def test_list_shows_the_builds_newest_first_with_head(default_builds: Path) -> None:
    listed = builds_cli("list", "--json", "--builds-dir", str(default_builds))
    assert listed.returncode == 0, listed.stderr
    builds = json.loads(listed.stdout)
    assert [b["milestone"] for b in builds] == [144, 138, 87]
    assert [b["head"] for b in builds] == [True, False, False]
    plain = builds_cli("list", "--builds-dir", str(default_builds)).stdout
    assert plain.splitlines()[0].endswith("HEAD") and "MiB on disk" in plain


def test_adding_a_build_that_is_there_changes_nothing(copied_builds: Path) -> None:
    before = snapshot(copied_builds)
    again = builds_cli("add", "87.9", "m138", "--builds-dir", str(copied_builds))
    assert again.returncode == 0, again.stderr
    assert "build 2025-06-08T01:46:56Z-87.9 is installed already" in again.stderr
    assert "build 2025-06-09T14:00:32Z-138.0 is installed already" in again.stderr
    assert snapshot(copied_builds) == before


# --------------------------------------------------------------------------------------------
# Bad input: one sentence, nothing changed


@pytest.mark.parametrize(
    "args, sentence",
    [
        (("add",), "name a build to add (a version like 87.9, or a wheel), or --defaults"),
        (("add", "9.9"), "no release time is known for skia-python 9.9: add it to "
         "infra/skia-releases.toml, or give --released TIME"),
        (("add", "m12"), "infra/skia-releases.toml lists no skia-python release of m12"),
        (("add", "87.9", "--released", "yesterday"),
         "--released 'yesterday' is not a UTC time like 2026-11-30T12:00:00Z (runids sort by it)"),
        (("add", "../../etc"), "'../../etc' is not a file"),
        (("add", "87.9; rm -rf /"), "'87.9; rm -rf /' is not a file"),
        (("add", "87.9; rm -rf"), "'87.9; rm -rf' is neither a skia-python version (like "
         "87.9) nor a wheel"),
        (("remove", "m99"), "Skia version m99 is not available; the versions here are "
         "HEAD = m144 (144.1), m138 (138.0), m87 (87.9)."),
    ],
)  # fmt: skip
def test_bad_specs_get_one_sentence_and_change_nothing(
    copied_builds: Path, args: tuple[str, ...], sentence: str
) -> None:
    before = snapshot(copied_builds)
    done = builds_cli(*args, "--builds-dir", str(copied_builds))
    assert done.returncode == 1
    assert done.stderr == f"fiddle builds: {sentence}\n"
    assert snapshot(copied_builds) == before


def test_a_wheel_that_is_not_skia_python_is_refused(copied_builds: Path, tmp_path: Path) -> None:
    before = snapshot(copied_builds)
    numpy = make_wheel(tmp_path, "numpy", "2.4.6", {"numpy/__init__.py": b""})
    fake = make_wheel(tmp_path, "skia-python", "1.0", {"not_skia.py": b""})
    text = tmp_path / "notes.whl"
    text.write_text("not a zip")
    cases = {
        numpy: f"{numpy.name} is a wheel of numpy 2.4.6, not of skia-python",
        fake: f"{fake.name} says it is skia-python but holds no skia module",
        text: "notes.whl is not a wheel (a zip archive): File is not a zip file",
    }
    for wheel, sentence in cases.items():
        done = builds_cli("add", str(wheel), "--released", "2030-01-01T00:00:00Z",
                          "--builds-dir", str(copied_builds))  # fmt: skip
        assert (done.returncode, done.stderr) == (1, f"fiddle builds: {sentence}\n")
    with pytest.raises(NotSkiaPython):
        source_of(str(numpy), "2030-01-01T00:00:00Z")
    assert snapshot(copied_builds) == before


def test_a_wheel_needs_its_release_time(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "skia-python", "200.0", {"skia/__init__.py": b""})
    with pytest.raises(BuildError, match="needs --released TIME"):
        source_of(str(wheel))


def test_a_release_the_index_does_not_have_says_which_it_has(copied_builds: Path) -> None:
    before = snapshot(copied_builds)
    with pytest.raises(UnknownRelease) as refused:
        Installer(BuildsDir(copied_builds), POLICY).add(source_of("9.9", "2030-01-01T00:00:00Z"))
    sentence = str(refused.value)
    assert sentence.startswith(
        "skia-python 9.9 is not on the package index as a wheel for this Python and machine; "
        "it has "
    )
    assert "87.9" in sentence and "144.1" in sentence
    assert snapshot(copied_builds) == before


def test_an_index_out_of_reach_says_so(copied_builds: Path) -> None:
    before = snapshot(copied_builds)
    done = builds_cli(
        "add", "144.0.post2", "--builds-dir", str(copied_builds), env=OFFLINE
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "fiddle builds: pip could not reach the package index (is the network up? "
        "PIP_INDEX_URL and pip.conf say where it is); nothing was installed"
    )
    assert "Traceback" not in done.stderr
    assert snapshot(copied_builds) == before
    # Told not to retry, pip says nothing of the connection: the sentence says what it can.
    never_retry = {**OFFLINE, "PIP_RETRIES": "0"}
    quiet = builds_cli("add", "144.0.post2", "--builds-dir", str(copied_builds), env=never_retry)
    assert quiet.stderr.splitlines()[-1] == (
        "fiddle builds: the package index offered no skia-python wheel for this Python and "
        "machine at all (is it reachable, and the right one? PIP_INDEX_URL and pip.conf say which)"
    )
    assert snapshot(copied_builds) == before


def test_a_build_that_fails_its_smoke_render_is_not_recorded(
    copied_builds: Path, tmp_path: Path
) -> None:
    """A skia-python wheel whose skia cannot even be imported: pip installs it, the sandbox host
    of the build cannot start, and the sentence says what the host said."""
    broken = make_wheel(
        tmp_path, "skia-python", "999.0",
        {"skia/__init__.py": b"raise ImportError('this skia is broken on purpose')\n"},
    )  # fmt: skip
    before = snapshot(copied_builds)
    done = builds_cli("add", str(broken), "--released", "2030-01-01T00:00:00Z",
                      "--builds-dir", str(copied_builds))  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.split("fiddle builds: ", 1)[1]
    assert last.startswith("the build failed its smoke render: the sandbox host failed to start")
    assert "ImportError: this skia is broken on purpose" in last
    assert snapshot(copied_builds) == before
    with pytest.raises(SmokeRenderFailed):
        Installer(BuildsDir(copied_builds), POLICY, say=lambda _: None).add(
            source_of(str(broken), "2030-01-01T00:00:00Z")
        )
    assert snapshot(copied_builds) == before


# --------------------------------------------------------------------------------------------
# Custom builds, removal, decimation


def download_wheel(version: str, folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(folder), f"skia-python=={version}"],
        check=True, timeout=300,
    )  # fmt: skip
    return next(folder.glob(f"skia_python-{version}-*.whl"))


def test_a_local_wheel_is_a_build_of_its_own_time_sharing_every_file(
    copied_builds: Path, tmp_path: Path
) -> None:
    """The 87.9 wheel again, as a custom build released later: it becomes HEAD, and since it
    holds the same files as the 87.9 build, every one of them is shared."""
    wheel = download_wheel("87.9", tmp_path)
    added = builds_cli("add", str(wheel), "--released", "2030-01-01T00:00:00Z",
                       "--builds-dir", str(copied_builds))  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "HEAD is 2030-01-01T00:00:00Z-87.9" in added.stdout
    builds = {build.runid: build for build in BuildsDir(copied_builds).builds()}
    custom, released = builds["2030-01-01T00:00:00Z-87.9"], builds["2025-06-08T01:46:56Z-87.9"]
    assert json.loads((custom.path / RECORD).read_text())["wheel_sha256"] == _hex(wheel)
    # Every file, but pip's own notes of how it installed them (where from, in its RECORD).
    for path in custom.path.rglob("*"):
        relative = path.relative_to(custom.path)
        if path.is_file() and path.name != RECORD and not relative.parts[0].endswith(".dist-info"):
            assert path.stat().st_ino == (released.path / relative).stat().st_ino, path
    again = builds_cli("add", str(wheel), "--released", "2030-01-01T00:00:00Z",
                       "--builds-dir", str(copied_builds))  # fmt: skip
    assert again.returncode == 0 and "is installed already" in again.stderr
    (tmp_path / "other").mkdir()
    other = make_wheel(tmp_path / "other", "skia-python", "87.9", {"skia/__init__.py": b""})
    clash = builds_cli("add", str(other), "--released", "2030-01-01T00:00:00Z",
                       "--builds-dir", str(copied_builds))  # fmt: skip
    assert clash.stderr == (
        "fiddle builds: another build named 2030-01-01T00:00:00Z-87.9 is installed: remove it "
        "first, or give this one another --released time\n"
    )


def _hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_removing_a_build_deletes_it_unless_a_runner_holds_it(copied_builds: Path) -> None:
    builds = BuildsDir(copied_builds)
    old = builds.directory("2025-06-08T01:46:56Z-87.9")
    gone = builds_cli("remove", "m87", "--builds-dir", str(copied_builds))
    assert gone.stdout == "removed build 2025-06-08T01:46:56Z-87.9\n"
    assert not old.exists() and "2025-06-08T01:46:56Z-87.9" not in builds.runids()
    # The files it shared stay with the builds that share them.
    assert (builds.directory("2025-06-09T14:00:32Z-138.0") / "numpy" / "__init__.py").exists()
    held = builds.directory("2025-06-09T14:00:32Z-138.0")
    hold = usage.BuildHold(held)
    try:
        kept = builds_cli("remove", "138.0", "--builds-dir", str(copied_builds))
        assert kept.returncode == 0
        assert "a runner is still using it" in kept.stdout
        assert held.exists() and "2025-06-09T14:00:32Z-138.0" not in builds.runids()
    finally:
        hold.release()
    assert usage.sweep(builds) == [held.name] and not held.exists()
    last = builds_cli("remove", "HEAD", "--builds-dir", str(copied_builds))
    assert "no build is left: a runner now renders with its own skia-python" in last.stderr
    assert builds.runids() == []


def test_the_257th_build_decimates_the_odd_numbered_half(copied_builds: Path) -> None:
    """253 more (old, made-up) builds listed beside the three defaults, then one more real one:
    the odd-numbered half goes, the newest and the oldest stay."""
    builds = BuildsDir(copied_builds)
    fake = []
    for day in range(253):
        runid = f"2000-01-01T00:00:00Z-0.{day:03d}"
        folder = builds.directory(runid)
        folder.mkdir()
        (folder / RECORD).write_text(json.dumps(
            {"runid": runid, "skia_python": f"0.{day:03d}", "released": "2000-01-01T00:00:00Z"}
        ))  # fmt: skip
        fake.append(runid)
    builds.listed([*fake, *builds.runids()])
    assert len(builds.runids()) == 256
    # 144.0.post2 is older than 144.1: it is number 1, and stays as the build just added.
    new = "2026-03-19T22:20:56Z-144.0.post2"
    newest_first = sorted([*builds.runids(), new], reverse=True)
    assert newest_first.index(new) == 1
    added = builds_cli("add", "144.0.post2", "--builds-dir", str(copied_builds))
    assert added.returncode == 0, added.stderr
    assert added.stderr.count("decimated: build ") == 127
    assert sorted(builds.runids(), reverse=True) == sorted([new, *newest_first[0::2]], reverse=True)
    assert len(builds.runids()) == 130
    survivors = {builds.directory(runid).name for runid in builds.runids()}
    on_disk = {p.name for p in copied_builds.iterdir() if not p.name.startswith(".")}
    assert on_disk - {"goodbuilds.txt"} == survivors
    assert not any(
        stat.S_IMODE(p.stat().st_mode) & 0o222 for p in builds.directory(newest_first[0]).iterdir()
    )
