"""A smoke of `nox -s load` (scripts/load.py): a few users for a few seconds against a real
`fiddle serve`; every kind of request is made, none fails, and the report compares the service's
resources. The real load (50 users, 60 s) and the soak are `nox -s load` only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("image", "name", "page", "page (json)", "run (cached)", "run (new)", "upload", "all")

pytestmark = pytest.mark.slow


def test_load_script_runs_every_kind_of_request_without_errors() -> None:
    command = [sys.executable, str(ROOT / "scripts" / "load.py"), "--users", "4", "--seconds", "6"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = {line[:14].strip(): line.split() for line in done.stdout.splitlines()}
    for kind in ("run (cached)", "run (new)", "all"):
        assert int(rows[kind][-6]) > 0, f"no {kind} request was made:\n{done.stdout}"
    assert int(rows["all"][-1]) == 0, done.stdout
    for resource in ("functions_rss_mib", "open_fds", "processes", "temp_files"):
        assert resource in done.stdout
    assert "resources: " in done.stdout
