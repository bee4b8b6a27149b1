"""`fiddle builds add | list | remove`: the Skia builds of this machine's runner.

    fiddle builds add 87.9                 a release on the package index (PyPI); m87 also works
    fiddle builds add --defaults           the set-up's: m87, m138 and the newest m144, in order
    fiddle builds add FILE.whl --released 2026-11-30T12:00:00Z   a custom skia-python wheel
    fiddle builds list [--json]            the good builds, newest first, HEAD marked
    fiddle builds remove m87               by any version name (HEAD, m87, 87.9, a runid)

Every command takes --builds-dir (else FIDDLE_BUILDS_DIR, else ./data/builds). A running runner
takes up what they change within a second. Exit status 0 on success (also when the build was
there already), 1 with one sentence on stderr otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fiddle_protocol import versions
from runner_vm.builds.catalog import BuildsDir, default_versions
from runner_vm.builds.install import Added, BuildError, Installer, remove, source_of
from runner_vm.cli import add_builds_dir, builds_dir
from runner_vm.policy import DEFAULT_POLICY_PATH, load_policy
from runner_vm.service.runner import BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="install skia-python releases or a wheel as builds")
    add.add_argument(
        "specs", nargs="*", metavar="VERSION", help="a skia-python version (87.9), mNN, or a wheel"
    )
    add.add_argument(
        "--defaults", action="store_true",
        help="the default builds of infra/skia-releases.toml (what the set-up scripts install)",
    )  # fmt: skip
    add.add_argument("--released", default=None, help="the build's release time (UTC)")
    add.add_argument(
        "--sandbox", default="auto", choices=["auto", *BACKENDS],
        help="the sandbox the smoke render runs in (as for fiddle runner)",
    )  # fmt: skip
    listing = actions.add_parser("list", help="the good builds, newest first")
    listing.add_argument("--json", action="store_true", help="as JSON")
    drop = actions.add_parser("remove", help="remove a build (its runs in flight finish first)")
    drop.add_argument("version", help="HEAD, mNN, a skia-python version or a runid")
    for action in (add, listing, drop):
        add_builds_dir(action)
    add.set_defaults(builds_action=add_build)
    listing.set_defaults(builds_action=list_builds)
    drop.set_defaults(builds_action=remove_build)


def run(args: argparse.Namespace) -> int:
    try:
        status: int = args.builds_action(args)
    except BuildError as error:
        print(f"fiddle builds: {error}", file=sys.stderr)
        return 1
    return status


def add_build(args: argparse.Namespace) -> int:
    """Each version or wheel in turn (every one checked before the first is installed); stops at the
    first that fails, keeping those added before it."""
    specs = [*(default_versions() if args.defaults else ()), *args.specs]
    if not specs:
        raise BuildError("name a build to add (a version like 87.9, or a wheel), or --defaults")
    if args.released and len(specs) > 1:
        raise BuildError("--released names the release time of one build: add one at a time")
    sources = [source_of(spec, args.released) for spec in specs]
    builds = BuildsDir(builds_dir(args))
    installer = Installer(builds, load_policy(DEFAULT_POLICY_PATH), args.sandbox)
    for source in sources:
        _report(builds, installer.add(source))
    return 0


def _report(builds: BuildsDir, added: Added) -> None:
    if not added.installed:
        print(f"build {added.build.runid} is installed already", file=sys.stderr)
        return
    for runid in added.decimated:
        print(f"decimated: build {runid} removed", file=sys.stderr)
    head = versions.head([build.info() for build in builds.builds()])
    print(f"added build {added.build.runid} (skia-python {added.build.skia_python}, Skia "
          f"m{added.build.milestone}); HEAD is {head.runid if head else 'none'}")  # fmt: skip


def list_builds(args: argparse.Namespace) -> int:
    builds = BuildsDir(builds_dir(args))
    found = builds.builds()
    head = versions.head([build.info() for build in found])
    infos = versions.newest_first(build.info(head=build.info() == head) for build in found)
    if args.json:
        print(json.dumps([info.to_json() for info in infos], indent=1))
        return 0
    if not infos:
        print(f"no builds in {builds.root} (fiddle builds add VERSION)", file=sys.stderr)
        return 0
    for info in infos:
        mark = "  HEAD" if info.head else ""
        print(f"{info.runid:<36} skia-python {info.skia_python:<12} m{info.milestone:<5}{mark}")
    unique, total = disk_use([build.path for build in found])
    print(f"{len(infos)} builds in {builds.root}: {unique / (1 << 20):.0f} MiB on disk "
          f"({total / (1 << 20):.0f} MiB without the files they share)")  # fmt: skip
    return 0


def remove_build(args: argparse.Namespace) -> int:
    builds = BuildsDir(builds_dir(args))
    found = builds.builds()
    try:
        info = versions.resolve(args.version, [build.info() for build in found])
    except versions.UnknownVersion as unknown:
        raise BuildError(str(unknown)) from unknown
    if remove(builds, info.runid):
        print(f"removed build {info.runid}")
    else:
        print(f"removed build {info.runid} from the good builds; a runner is still using it, "
              "and deletes it once its runs there have finished")  # fmt: skip
    if len(found) == 1:
        print("no build is left: a runner now renders with its own skia-python", file=sys.stderr)
    return 0


def disk_use(paths: list[Path]) -> tuple[int, int]:
    """Bytes on disk with each shared file counted once, and counted per build."""
    seen: set[tuple[int, int]] = set()
    unique = total = 0
    for root in paths:
        for parent, _, names in os.walk(root):
            for name in names:
                found = os.lstat(os.path.join(parent, name))
                total += found.st_size
                if (found.st_dev, found.st_ino) not in seen:
                    seen.add((found.st_dev, found.st_ino))
                    unique += found.st_size
    return unique, total
