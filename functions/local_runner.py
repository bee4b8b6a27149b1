"""The runner `fiddle serve` starts beside the functions, kept running: when it exits (killed,
crashed, out of memory) it is started again on the same port with the same secret, so the
functions find it where they left it. A run it was serving when it died is answered 503 with
Retry-After (functions/runs.py); the functions' health check puts it back in rotation once its
/healthz answers (functions/runner_client.py). A runner that keeps exiting at once is started
again less and less often, up to every MAX_RESTART_DELAY seconds, and says so each time."""

from __future__ import annotations

import logging
import subprocess
import threading
import time

from functions.devserver import stop, wait_until_healthy

log = logging.getLogger("fiddle")
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
# A runner that ran this long before it exited starts again after FIRST_RESTART_DELAY.
STEADY_SECONDS = 60.0


class LocalRunner:
    def __init__(self, command: list[str], env: dict[str, str], url: str) -> None:
        self.command, self.env, self.url = command, env, url
        self.restarts = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="local-runner", daemon=True)

    def start(self) -> None:
        """Wait until the first runner answers, then keep it running; DidNotStart if it does
        not (functions/devserver.py)."""
        wait_until_healthy(self.url, self._process)
        self._watcher.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, start_new_session=True, env=self.env)

    def _watch(self) -> None:
        delay = FIRST_RESTART_DELAY
        while True:
            started = time.monotonic()
            status = self._process.wait()
            if self._stopping.is_set():
                return
            delay = FIRST_RESTART_DELAY if time.monotonic() - started > STEADY_SECONDS else delay
            log.error(
                "fiddle: the local runner exited with status %s; starting it again in %.0f s",
                status, delay,
            )  # fmt: skip
            if self._stopping.wait(delay) or not self._respawn():
                return
            delay = min(delay * 2, MAX_RESTART_DELAY)

    def _respawn(self) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._process = self._spawn()
            self.restarts += 1
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        stop(process)
