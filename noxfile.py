"""Developer sessions: tests, lint, bench, serve."""

from __future__ import annotations

import time

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: the fast layer, contract, end-to-end, sandbox attack and browser tests."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-q", "-ra"]))


@nox.session(python=PYTHON)
def quick(session: nox.Session) -> None:
    """The fast layer (tests/fast): no root, sandbox, emulator or browser; prints its wall time."""
    session.install("-e", ".[test]")
    started = time.perf_counter()
    session.run("pytest", "tests/fast", *(session.posargs or ["-q"]))
    session.log(f"quick: tests/fast took {time.perf_counter() - started:.1f} s of wall time")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy."""
    session.install("-e", ".[lint]")
    paths = [
        "functions", "fiddle_protocol", "runner_vm", "tests", "scripts", "scripts/deploy",
        "noxfile.py",
    ]  # fmt: skip
    session.run("ruff", "check", *paths)
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Write docs/ from the code (`-- --check`: only say which pages are stale)."""
    session.install("-e", ".[runner]")
    session.run("python", "-m", "functions.docs", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Latency and throughput numbers of the runner and the functions."""
    session.install("-e", ".[test]")
    session.run("python", "scripts/bench.py", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Schemathesis against a live `fiddle serve`, long: every phase (examples, coverage,
    fuzzing, stateful), FUZZ_EXAMPLES per operation (500 unless set). The suite runs the same
    test bounded (tests/test_fuzz.py)."""
    session.install("-e", ".[test]")
    env = {
        "FUZZ_EXAMPLES": session.env.get("FUZZ_EXAMPLES", "500"),
        "FUZZ_PHASES": "examples,coverage,fuzzing,stateful",
    }
    session.run("pytest", "-q", "-s", "tests/test_fuzz.py", *session.posargs, env=env)


@nox.session(python=PYTHON)
def load(session: nox.Session) -> None:
    """Locust against a live `fiddle serve`: 50 users for 60 s (or `-- --users N --seconds S`),
    or `-- --soak 10000` new runs; throughput, p50/p99 per kind, errors and the service's
    resources before and after (scripts/load.py). Not part of the default sessions."""
    session.install("-e", ".[test]")
    session.run("python", "scripts/load.py", *session.posargs)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """The whole service on this machine (same as `fiddle serve`)."""
    session.install("-e", ".[runner]")
    session.run("fiddle", "serve", *session.posargs)
