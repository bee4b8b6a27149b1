"""Whether a runner renders on a GPU, and on which: said by the runner in its RunnerInfo and in
every RunResult, so that the registry knows whether a run produces the GPU outputs
(fiddle_protocol/outputs.py), and pages can say "no GPU on this runner" and why.

The sandbox host writes it from the GL context it made before any program ran
(runner_vm/drawing/gl.py); no program can change what its host says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a runner that says nothing of its GPU is taken to have.
UNSAID = "the runner did not say whether it has a GPU"


@dataclass(frozen=True)
class GpuStatus:
    available: bool = False
    renderer: str = ""  # GL_RENDERER, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    version: str = ""  # GL_VERSION
    vendor: str = ""  # GL_VENDOR
    egl_version: str = ""  # "1.5"
    max_samples: int = 0  # the most MSAA samples a render target of RGBA8888 can have
    reason: str = UNSAID  # why there is no GPU; "" when there is one

    def __post_init__(self) -> None:
        if self.available and self.reason == UNSAID:
            object.__setattr__(self, "reason", "")

    @property
    def glinfo(self) -> str:
        """The GL info output (fiddle_protocol/outputs.py) of every run drawn on this GPU."""
        return (
            f"EGL {self.egl_version}\n"
            f"GL Version: {self.version}\n"
            f"GL Vendor: {self.vendor}\n"
            f"GL Renderer: {self.renderer}\n"
        )

    @property
    def summary(self) -> str:
        """One line for pages: the renderer, or why there is no GPU."""
        if self.available:
            return f"{self.renderer} (OpenGL {self.version})"
        return f"no GPU on this runner: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "renderer": self.renderer,
            "version": self.version,
            "vendor": self.vendor,
            "egl_version": self.egl_version,
            "max_samples": self.max_samples,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: object) -> GpuStatus:
        """Tolerant of missing fields (a runner or a stored run from before GPUs); ValueError for
        fields of the wrong type."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("gpu must be an object")
        values: dict[str, Any] = {}
        for name, kind in _FIELDS.items():
            if name in data:
                value = data[name]
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise ValueError(f"gpu.{name} must be of type {kind.__name__}")
                values[name] = value
        return cls(**values)


_FIELDS: dict[str, type] = {
    "available": bool,
    "renderer": str,
    "version": str,
    "vendor": str,
    "egl_version": str,
    "max_samples": int,
    "reason": str,
}
