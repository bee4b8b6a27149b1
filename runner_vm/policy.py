"""The sandbox policy (limits, identities, syscall allowlist).

Read from infra/sandbox/policy.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# runner_vm/data/policy.toml links to infra/sandbox/policy.toml, where the policy is kept: the link
# makes a built wheel carry the file.
DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "data" / "policy.toml"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 10
    address_space_mib: int = 1024
    processes: int = 16
    open_files: int = 64
    file_size_bytes: int = 0
    wall_clock_seconds: float = 20
    output_mib: int = 32
    decode_output_mib: int = 96
    cgroup_pids: int = 64
    cgroup_memory_mib: int = 1280

    def output_mib_for(self, task: str) -> int:
        """The most a run of this task may send back through its pipe, in MiB."""
        return self.decode_output_mib if task == "decode_image" else self.output_mib


@dataclass(frozen=True)
class AnimationLimits:
    """What one animated run may render and encode (policy.toml [animation] says why each)."""

    max_frames: int = 601
    max_pixel_frames: int = 40_000_000
    lossless_max_pixel_frames: int = 8_000_000
    max_encode_seconds: float = 5.0


@dataclass(frozen=True)
class ConditionalRule:
    """A call allowed only with certain arguments; each compares the low 32 bits of an int
    argument (see runner_vm/child/seccomp.py): (arg & mask) == value, or arg != not_value, or arg is
    the child's own pid (self_pid)."""

    syscall: str
    arg: int
    mask: int = 0xFFFFFFFF
    value: int | None = None
    not_value: int | None = None
    self_pid: bool = False


@dataclass(frozen=True)
class SeccompPolicy:
    allow: tuple[str, ...] = ()
    enosys: tuple[str, ...] = ()
    conditional: tuple[ConditionalRule, ...] = ()


@dataclass(frozen=True)
class ContainerPolicy:
    bind_ro: tuple[str, ...] = ("/usr", "{base_prefix}")
    etc_files: tuple[str, ...] = ("/etc/ld.so.cache", "/etc/fonts")
    package_dir: str = "/opt/fiddle"
    # Paths no run may read: the machine's counters (see runner_vm/sandbox/hiding.py).
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    limits: Limits = field(default_factory=Limits)
    uid_base: int = 20000
    uids_per_host: int = 1000
    seccomp: SeccompPolicy = field(default_factory=SeccompPolicy)
    container: ContainerPolicy = field(default_factory=ContainerPolicy)
    animation: AnimationLimits = field(default_factory=AnimationLimits)
    # Off only for the development backend `none` on machines where seccomp cannot load.
    use_seccomp: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        seccomp = data.get("seccomp", {})
        return cls(
            limits=Limits(**data.get("limits", {})),
            uid_base=int(data.get("uid_base", 20000)),
            uids_per_host=int(data.get("uids_per_host", 1000)),
            seccomp=SeccompPolicy(
                allow=tuple(seccomp.get("allow", ())),
                enosys=tuple(seccomp.get("enosys", ())),
                conditional=tuple(ConditionalRule(**r) for r in seccomp.get("conditional", ())),
            ),
            container=_container(data.get("container", {})),
            animation=AnimationLimits(**data.get("animation", {})),
            use_seccomp=bool(data.get("use_seccomp", True)),
        )


def _container(data: dict[str, Any]) -> ContainerPolicy:
    return ContainerPolicy(
        bind_ro=tuple(data.get("bind_ro", ContainerPolicy.bind_ro)),
        etc_files=tuple(data.get("etc_files", ContainerPolicy.etc_files)),
        package_dir=str(data.get("package_dir", ContainerPolicy.package_dir)),
        hidden=tuple(data.get("hidden", ContainerPolicy.hidden)),
    )


def load_policy(path: Path = DEFAULT_POLICY_PATH) -> Policy:
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    identity = raw.get("identity", {})
    return Policy.from_json(
        {
            "limits": raw.get("limits", {}),
            "uid_base": identity.get("uid_base", 20000),
            "uids_per_host": identity.get("uids_per_host", 1000),
            "seccomp": raw.get("seccomp", {}),
            "container": raw.get("container", {}),
            "animation": raw.get("animation", {}),
        }
    )
