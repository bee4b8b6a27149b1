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


def test_fiddle_serve_counts_clients_by_the_address_its_trusted_proxy_reports(
    tmp_path: Path,
) -> None:
    """Behind FIDDLE_TRUSTED_PROXIES, each client address has its own limits (waitress dropped
    X-Forwarded-For before the app could read it: every client was the proxy)."""
    import os

    import requests

    from functions.devserver import free_port, serve_command, serving
    from tests.conftest import NO_BUILDS

    port = free_port()
    command = [
        *serve_command(port, tmp_path / "data", examples=False),
        "--builds-dir",
        str(NO_BUILDS),
    ]
    env = {**os.environ, "FIDDLE_TRUSTED_PROXIES": "1", "FIDDLE_RATE_LIMIT_RUN": "1/minute"}
    with serving(command, f"http://127.0.0.1:{port}", env=env) as url:

        def run(address: str, n: int) -> requests.Response:
            body = {"code": f"def draw(canvas):\n    pass\n# {n}\n"}
            headers = {"X-Forwarded-For": address}
            return requests.post(f"{url}/_/run", json=body, headers=headers, timeout=60)

        assert run("10.0.0.1", 1).status_code == 200
        assert run("10.0.0.2", 2).status_code == 200
        again = run("10.0.0.1", 3)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
