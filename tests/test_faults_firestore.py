"""Fault injection: the Firestore emulator stopped and started again under traffic. While it is
down, every request that needs it answers 503 with Retry-After and one sentence, within the
document store's retry deadline (not the client library's 300 s); once it is back, the same
service answers again, without a restart."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.config import Settings
from functions.docstore import firestore as firestore_store
from functions.http_errors import STORE_UNAVAILABLE
from functions.services import services
from tests.firestore_emulator import FirestoreEmulator, find_launcher

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Answer:
    at: float
    status: int
    seconds: float
    body: Any
    retry_after: str | None


class Traffic:
    """GET /_/sources (a query of the document store) over and over, on two threads."""

    def __init__(self, app: Any, threads: int = 2) -> None:
        self.app = app
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        client = self.app.test_client()
        while not self._stop.is_set():
            started = time.monotonic()
            answer = client.get("/_/sources")
            self.answers.append(
                Answer(
                    started,
                    answer.status_code,
                    time.monotonic() - started,
                    answer.get_json(),
                    answer.headers.get("Retry-After"),
                )
            )
            time.sleep(0.05)

    def wait_for(self, status: int, after: float, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(a.status == status and a.at >= after for a in self.answers):
            assert time.monotonic() < deadline, f"no {status} within {seconds} s"
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_firestore_restarted_under_traffic_fails_clearly_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import firestore

    launcher, reason = find_launcher()
    if launcher is None:
        pytest.skip(reason)
    emulator = FirestoreEmulator(launcher)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    traffic: Traffic | None = None
    try:
        documents = firestore_store.FirestoreDocumentStore(
            firestore.Client(project=emulator.project)
        )
        settings = Settings(data_dir=tmp_path / "data", runners=("http://127.0.0.1:9",))
        app = create_app(settings, documents=documents)
        traffic = Traffic(app)
        traffic.wait_for(200, 0, 30)

        emulator.stop()
        stopped = time.monotonic()
        traffic.wait_for(503, stopped, 60)
        time.sleep(3)  # a few more answers while it is down
        emulator = FirestoreEmulator(launcher, port=emulator.port)
        restarted = time.monotonic()
        traffic.wait_for(200, restarted, 60)
        time.sleep(1)
        # The same service writes again.
        services(app).accounts.create_user("back", "a long enough password")
        assert services(app).accounts.get("back") is not None
    finally:
        if traffic is not None:
            traffic.stop()
        emulator.stop()

    answers = traffic.answers
    assert {a.status for a in answers} <= {200, 503}, {a.status for a in answers}
    failures = [a for a in answers if a.status == 503]
    assert failures
    for failure in failures:
        assert failure.body == {"error": STORE_UNAVAILABLE, "fields": {}}
        assert failure.retry_after and int(failure.retry_after) > 0
    # Each failure came within the store's retry deadline (and one attempt's time).
    limit = firestore_store.RETRY_SECONDS + firestore_store.CALL_TIMEOUT_SECONDS
    assert max(a.seconds for a in answers) < limit
    # Once an answer succeeded after the restart, every later one did.
    recovered = min(a.at for a in answers if a.status == 200 and a.at >= restarted)
    assert all(a.status == 200 for a in answers if a.at > recovered)
    slowest = max(a.seconds for a in answers)
    print(
        f"\n{len(failures)} answers 503 while down; slowest answer {slowest:.1f} s;"
        f" first 200 {recovered - restarted:.1f} s after the emulator answered again"
    )
