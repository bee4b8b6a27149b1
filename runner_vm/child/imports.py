"""Which modules a fiddle may import: skia, numpy, PIL (Pillow) and Python's standard library.

The runner's environment holds more than that (its own packages and what they depend on: an HTTP
client, a web framework, cloud libraries), and some of them open sockets as they load, which the
sandbox then refuses as a forbidden call that ends the run. A finder at the front of
`sys.meta_path` answers any other top-level module with a ModuleNotFoundError saying what a
fiddle may import, so the packages a program can use are exactly the documented ones on every
runner, whatever else is installed beside them. This is for clarity, not containment: the
sandbox contains whatever a program loads (it can still read any file it can open).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

FIDDLE_PACKAGES = ("skia", "numpy", "PIL")
# The runner's own packages, which the child itself may still load while it reports.
RUNNER_PACKAGES = ("runner_vm", "fiddle_protocol")
HINT = "a fiddle may import skia, numpy, PIL (Pillow) and Python's standard library"


class FiddleImports:
    """A meta path finder. Not an importlib.abc.MetaPathFinder: importing importlib.abc brings
    in random and tempfile, whose at-fork handlers would then run in every child (see
    tests/test_runner_service.py)."""

    def __init__(self, allowed: frozenset[str], loaded: frozenset[str] = frozenset()) -> None:
        # `loaded`: the packages the runner itself had imported when the finder came in (PyAV
        # for an animation), which may load their own submodules later; a program could reach
        # them through sys.modules anyway.
        self.allowed = allowed | loaded

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.allowed:
            return None  # the usual finders look it up
        raise ModuleNotFoundError(f"No module named {fullname!r}: {HINT}", name=fullname)


def allowed_modules() -> frozenset[str]:
    return frozenset(sys.stdlib_module_names) | frozenset(FIDDLE_PACKAGES + RUNNER_PACKAGES)


def allow_only_fiddle_imports() -> None:
    """From now on in this process (a child, before it runs a program), only the documented
    modules can be imported; what is imported already stays."""
    loaded = frozenset(name.partition(".")[0] for name in sys.modules)
    sys.meta_path.insert(0, FiddleImports(allowed_modules(), loaded))
