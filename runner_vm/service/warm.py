"""Warm sandbox hosts per Skia build: a pool for each build the runner serves.

The newest good build (HEAD) has the main pool (`--hosts`); any other build gets a pool of
`--build-hosts` when a run first asks for it, and stays warm afterwards, at most `--warm-builds`
of them besides HEAD: starting one more retires the least recently used. Every pool's hosts run
under the same container, seccomp filter and limits, each with its own build alone on its path
(runner_vm/sandbox/base.py), and each with host indices no other host of the runner has, so that
no two hosts share a run's throwaway uids.

The builds come from the builds directory's goodbuilds.txt (runner_vm/builds/catalog.py), read
again whenever it changes (checked before each run, and every second by a watcher). A build that
is no longer listed is retired: runs in flight on it finish, then its hosts stop, the runner lets
go of its directory and deletes it when nobody else holds it. When HEAD changes, the new HEAD's
main pool starts in the background while its runs go on wherever they can, and the old HEAD's
main pool is retired.

With no build installed, the runner's own skia-python is the one build (catalog.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fiddle_protocol import versions
from fiddle_protocol.gpu import GpuStatus
from fiddle_protocol.versions import BuildInfo
from runner_vm.builds import usage
from runner_vm.builds.catalog import Build, BuildsDir, environment_build
from runner_vm.policy import Policy
from runner_vm.sandbox.base import SandboxBackend
from runner_vm.service.pool import HostDied, HostPool, HostProcess

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0
# How long a run waits for another run's start of the same build.
START_WAIT_SECONDS = 120.0
# nspawn maps 65536 uids into each container (--private-users=pick): every host's uid range
# (policy.py: uid_base + index * uids_per_host) must fit below that.
CONTAINER_UIDS = 65536


class UnknownBuild(LookupError):
    """The runner has no such build; the message names those it has."""


@dataclass(frozen=True)
class WarmSettings:
    head_hosts: int
    build_hosts: int = 2
    warm_builds: int = 2
    max_waiting: int = 16

    def most_hosts(self) -> int:
        """Hosts that can be up at once: while HEAD changes, two main pools (the old draining)
        and every warm build's, one more starting."""
        return 2 * self.head_hosts + (self.warm_builds + 1) * self.build_hosts


def check_capacity(settings: WarmSettings, policy: Policy) -> None:
    """Refuse settings under which some host would get uids outside a container's range."""
    room = (CONTAINER_UIDS - policy.uid_base) // policy.uids_per_host
    if settings.most_hosts() > room:
        raise ValueError(
            f"--hosts {settings.head_hosts}, --build-hosts {settings.build_hosts} and "
            f"--warm-builds {settings.warm_builds} can need {settings.most_hosts()} hosts at "
            f"once, more than the {room} whose uids the sandbox policy has room for"
        )


class BuildSource:
    """The good builds of a builds directory, read again when goodbuilds.txt changes; the
    runner's own skia-python when there are none."""

    def __init__(self, root: Path) -> None:
        self.directory = BuildsDir(root)
        self._seen: tuple[int, int, int] | None = None
        self._warned = False

    def changed(self) -> bool:
        return self.directory.version() != self._seen

    def read(self) -> list[Build]:
        self._seen = self.directory.version()
        found = self.directory.builds()
        if found:
            return found
        fallback = environment_build()
        if not self._warned:
            self._warned = True
            log.warning(
                "no Skia build is installed in %s: rendering with the runner's own skia-python "
                "%s (%s), whose other packages fiddles can import too. Install builds with "
                "scripts/setup or `fiddle builds add VERSION`.",
                self.directory.root, fallback.skia_python, fallback.path,
            )  # fmt: skip
        return [fallback]


@dataclass
class _Warm:
    """A build's pool, and what keeps it: the runs in it now, when it was last used."""

    build: Build
    pool: HostPool
    hold: usage.BuildHold | None
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    retiring: bool = False


@dataclass
class _Starting:
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


class WarmBuilds:
    """The pools of every build this runner serves (see the module's docstring)."""

    def __init__(
        self, backend: SandboxBackend, policy: Policy, source: BuildSource, settings: WarmSettings
    ) -> None:
        check_capacity(settings, policy)
        self.backend = backend
        self.policy = policy
        self.source = source
        self.settings = settings
        self._lock = threading.RLock()
        self._builds: dict[str, Build] = {}
        self._head: Build | None = None
        self._warm: dict[str, _Warm] = {}
        self._starting: dict[str, _Starting] = {}
        self._free = set(range(settings.most_hosts()))
        self._turned_away_before = 0  # by pools since retired
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        # A build let go of, whose directory may now be deleted (if it was removed).
        self._sweep_due = threading.Event()

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Read the builds and start HEAD's main pool (before the runner answers anything)."""
        self.refresh()
        self._sweep_due.set()
        self._sweep()
        self._done(self._entry(self.head().runid))  # started and warm; nothing runs in it yet
        self._watcher = threading.Thread(target=self._watch, name="builds-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            entries = list(self._warm.values())
            self._warm.clear()
        for entry in entries:
            self._shut(entry)

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            try:
                self.refresh()
                self._sweep()
            except Exception:  # a watcher that dies would leave removed builds warm
                log.exception("reading the builds failed")

    def _sweep(self) -> None:
        """Delete the removed builds nobody holds, once it is due; later again if a `fiddle
        builds` command is at work meanwhile."""
        if self._sweep_due.is_set():
            self._sweep_due.clear()  # before: a build let go of meanwhile asks for one more
            if usage.sweep(self.source.directory) is None:
                self._sweep_due.set()

    # --- the builds ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Take up goodbuilds.txt's changes: retire builds that are gone, follow HEAD."""
        if not self.source.changed():
            return
        builds = self.source.read()
        with self._lock:
            old_head = self._head
            self._builds = {build.runid: build for build in builds}
            self._head = max(builds, key=lambda build: build.runid)
            gone = [e for r, e in self._warm.items() if self._builds.get(r) != e.build]
            for entry in gone:
                self._retire(entry)
            moved = old_head is not None and old_head != self._head
            if moved and old_head is not None and old_head.runid in self._warm:
                self._retire(self._warm[old_head.runid])
        if moved:
            log.info("HEAD is now %s", self._head.runid)
            threading.Thread(target=self._warm_head, name="head-pool", daemon=True).start()

    def head(self) -> Build:
        with self._lock:
            if self._head is None:
                raise UnknownBuild("this runner has no Skia build")
            return self._head

    def infos(self) -> list[BuildInfo]:
        """Every build, newest first, saying whether it is warm and with how many hosts."""
        with self._lock:
            head = self._head
            listed = []
            for build in self._builds.values():
                warm = self._warm.get(build.runid)
                hosts = warm.pool.size if warm else 0
                listed.append(build.info(head=build == head, warm=bool(warm), hosts=hosts))
        return versions.newest_first(listed)

    def gpu(self) -> GpuStatus:
        """The GPU HEAD's hosts render on (every host is on the same machine and drivers)."""
        with self._lock:
            head = self._warm.get(self._head.runid) if self._head else None
        return head.pool.gpu if head else GpuStatus(reason="no sandbox host has started yet")

    def resolve(self, runid: str) -> Build:
        """The build a run names ("" for HEAD); UnknownBuild when there is none such."""
        with self._lock:
            if not runid:
                return self.head()
            build = self._builds.get(runid)
            if build is None:
                infos = [b.info() for b in self._builds.values()]
                raise UnknownBuild(
                    f"This runner has no Skia build {runid[:80]}; it has "
                    f"{versions.listing(infos) or 'none'}."
                )
            return build

    def pool(self, runid: str) -> HostPool:
        """The warm pool of a build (started if cold): for tests and tools."""
        entry = self._entry(self.resolve(runid).runid)
        self._done(entry)
        return entry.pool

    # --- runs ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self, runid: str, *, background: bool = False) -> Iterator[tuple[Build, HostProcess]]:
        """A host of the build (HEAD for ""), started if the build is cold. Raises UnknownBuild,
        HostDied (the build's hosts could not start) or PoolBusy (a background run: whenever
        it would take a host an interactive run may want)."""
        self.refresh()
        entry = self._entry(self.resolve(runid).runid)
        try:
            with entry.pool.lease(background=background) as host:
                yield entry.build, host
        finally:
            self._done(entry)

    def _entry(self, runid: str) -> _Warm:
        """The build's warm pool, counted as in use; started first if there is none."""
        for _ in range(3):
            with self._lock:
                warm = self._warm.get(runid)
                if warm is not None:
                    warm.in_flight += 1
                    warm.last_used = time.monotonic()
                    return warm
                starting = self._starting.get(runid)
                mine = starting is None
                if starting is None:
                    starting = self._starting[runid] = _Starting()
            if mine:
                self._start(runid, starting)
            elif not starting.done.wait(START_WAIT_SECONDS):
                raise HostDied(f"the sandbox hosts of build {runid} did not start in time")
            if starting.error is not None:  # each waiting run raises its own copy
                raise type(starting.error)(str(starting.error))
        raise HostDied(f"the sandbox hosts of build {runid} were retired as they started")

    def _start(self, runid: str, starting: _Starting) -> None:
        """Start the build's pool; every run waiting for it learns how that went."""
        try:
            entry = self._started(self.resolve(runid))
            with self._lock:
                previous = self._warm.get(runid)
                self._warm[runid] = entry
                if previous is not None:
                    self._retire(previous)
                self._enforce_cap(keep=runid)
        except UnknownBuild as gone:
            starting.error = gone
        except Exception as failure:
            log.exception("the sandbox hosts of build %s did not start", runid)
            why = f"the sandbox hosts of build {runid} did not start: {failure}"
            starting.error = HostDied(why)
        finally:
            with self._lock:
                self._starting.pop(runid, None)
            starting.done.set()

    def _started(self, build: Build) -> _Warm:
        size = self.settings.head_hosts if build == self.head() else self.settings.build_hosts
        hold = None if build.environment else _hold(build)
        indices = self._take_indices(size)
        pool = HostPool(
            self.backend, self.policy, size, self.settings.max_waiting, build.path, indices
        )
        started = time.monotonic()
        try:
            pool.start()
        except BaseException:
            self._give_indices(indices)
            if hold:
                hold.release()
            raise
        log.info("build %s: %d warm hosts in %.1f s", build.runid, size, time.monotonic() - started)
        return _Warm(build, pool, hold)

    def _done(self, entry: _Warm) -> None:
        with self._lock:
            entry.in_flight -= 1
            entry.last_used = time.monotonic()
            self._enforce_cap()
            finished = entry.retiring and entry.in_flight == 0
        if finished:
            self._shut(entry)

    def _warm_head(self) -> None:
        """In the background: give the new HEAD its main pool."""
        head = self.head()
        with self._lock:
            current = self._warm.get(head.runid)
            if current is not None and current.pool.size >= self.settings.head_hosts:
                return
            if head.runid in self._starting:
                return
            starting = self._starting[head.runid] = _Starting()
        self._start(head.runid, starting)

    # --- retiring -----------------------------------------------------------------------------

    def _enforce_cap(self, keep: str = "") -> None:
        """Retire the least recently used builds beyond the cap (under the lock)."""
        head = self._head.runid if self._head else ""
        others = [e for r, e in self._warm.items() if r not in (head, keep)]
        others.sort(key=lambda entry: entry.last_used)
        allowed = self.settings.warm_builds - (1 if keep and keep != head else 0)
        for entry in others[: max(0, len(others) - allowed)]:
            self._retire(entry)

    def _retire(self, entry: _Warm) -> None:
        """Take the pool out of service (under the lock); it stops once its runs are done."""
        if self._warm.get(entry.build.runid) is entry:
            del self._warm[entry.build.runid]
        if entry.retiring:
            return
        entry.retiring = True
        log.info("build %s: retiring its %d hosts", entry.build.runid, entry.pool.size)
        if entry.in_flight == 0:
            threading.Thread(target=self._shut, args=(entry,), daemon=True).start()

    def _shut(self, entry: _Warm) -> None:
        """Stop the pool's hosts, free its indices, let go of its build (deleted if removed)."""
        entry.pool.stop()
        with self._lock:
            self._turned_away_before += entry.pool.turned_away
        self._give_indices(entry.pool.indices)
        if entry.hold is not None:
            entry.hold.release()
            self._sweep_due.set()
            self._sweep()

    # --- counts -------------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        with self._lock:
            pools = [entry.pool for entry in self._warm.values()]
            turned_away = self._turned_away_before
        return {
            "hosts": sum(pool.size for pool in pools),
            "busy": sum(pool.busy for pool in pools),
            "waiting": sum(pool.waiting for pool in pools),
            "turned_away": turned_away + sum(pool.turned_away for pool in pools),
        }

    def _take_indices(self, count: int) -> list[int]:
        with self._lock:
            if len(self._free) < count:
                raise HostDied("every host index is in use: too many builds are starting")
            taken = sorted(self._free)[:count]
            self._free.difference_update(taken)
            return taken

    def _give_indices(self, indices: list[int]) -> None:
        with self._lock:
            self._free.update(indices)


def _hold(build: Build) -> usage.BuildHold:
    try:
        return usage.BuildHold(build.path)
    except (BlockingIOError, FileNotFoundError) as error:
        raise UnknownBuild(f"build {build.runid} is being removed") from error
