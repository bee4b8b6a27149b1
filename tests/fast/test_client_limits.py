"""What one client may take (issue 19): stored bytes per hour, bytes per run, and runs in flight
at once. Over a limit the answer is a clear 429 or 413 and nothing is stored; other clients are
not affected. The ledgers themselves are tested on their own, with a clock the test turns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy
import pytest
import skia
from flask import Flask

from functions.config import Settings
from functions.quotas import (
    WINDOW_SECONDS,
    FairShare,
    QuotaExceeded,
    StorageQuota,
    TooLarge,
    TooManyInFlight,
)
from functions.services import services
from functions.storage.blobstore import BlobStore
from tests.fast.conftest import MakeApp
from tests.fast.fakes import FakeRunner
from tests.helpers import GENEROUS, bearer, png_bytes, upload

# 256x256 of noise: about 0.72 MiB stored (PNG, PDF and SKP each hold the pixels); 128x128 a
# quarter of that.
NOISE = """import random
import numpy
random.seed({seed})

def draw(canvas):
    pixels = bytes(random.getrandbits(8) for _ in range({size} * {size} * 4))
    image = skia.Image.fromarray(numpy.frombuffer(pixels, dtype="uint8").reshape({size}, {size}, 4))
    canvas.drawImage(image, 0, 0)
"""
MIB = 1 << 20


def noise(seed: int, size: int = 256) -> dict[str, Any]:
    return {"code": NOISE.format(seed=seed, size=size), "options": {"width": size, "height": size}}


def app_with(make_app: MakeApp, **limits: Any) -> Flask:
    app = make_app(rate_limits=GENEROUS, **limits)
    services(app).accounts.create_user("alice", "alice-password")
    return app


def client_at(app: Flask, address: str) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def stored_names(app: Flask) -> set[str]:
    store: BlobStore = services(app).fiddles.store
    return {info.name for info in store.list("")}


# --- the hourly quota ---------------------------------------------------------------------------


def test_a_client_over_its_hourly_quota_gets_429_and_stores_nothing(make_app: MakeApp) -> None:
    app = app_with(make_app, quota_bytes_per_hour=MIB)
    first, other = client_at(app, "10.0.0.1"), client_at(app, "10.0.0.2")
    assert first.post("/_/run", json=noise(1)).status_code == 200
    before = stored_names(app)
    refused = first.post("/_/run", json=noise(2))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    message = refused.json["error"]
    assert message.startswith("This client has stored 0.7 MiB of the 1.0 MiB it may store per hour")
    assert "nothing was stored" in message and message.endswith(" seconds.")
    assert stored_names(app) == before
    # Others are not held to this client's use, and what is stored is still answered.
    assert other.post("/_/run", json=noise(2)).status_code == 200
    assert first.post("/_/run", json=noise(1)).json["cached"] is True


def test_an_exhausted_quota_refuses_before_running(make_app: MakeApp) -> None:
    app = app_with(make_app, quota_bytes_per_hour=MIB)
    client = client_at(app, "10.0.0.3")
    assert client.post("/_/run", json=noise(1)).status_code == 200
    assert client.post("/_/run", json=noise(2)).status_code == 429  # stored 0.7 + 0.7 > 1 MiB
    quota = services(app).runs.limits.quota
    quota.charge(("addr:10.0.0.3",), MIB - quota.stored("addr:10.0.0.3"))  # used up exactly
    tiny = client.post("/_/run", json={"code": "def draw(canvas):\n    pass\n"})
    assert tiny.status_code == 429 and "this needs" not in tiny.json["error"]


def test_a_signed_in_user_is_held_to_the_quota_from_any_address(make_app: MakeApp) -> None:
    app = app_with(make_app, quota_bytes_per_hour=MIB)
    alice = bearer(app, "alice")
    assert (
        client_at(app, "10.0.1.1").post("/_/run", json=noise(1), headers=alice).status_code == 200
    )
    elsewhere = client_at(app, "10.0.1.2")
    assert elsewhere.post("/_/run", json=noise(2), headers=alice).status_code == 429
    assert elsewhere.post("/_/run", json=noise(2)).status_code == 200  # the address alone is fine


def test_uploads_count_against_the_quota(make_app: MakeApp) -> None:
    app = app_with(make_app, quota_bytes_per_hour=MIB)
    client, alice = client_at(app, "10.0.2.1"), bearer(app, "alice")
    # A noisy JPEG decodes to a PNG (and thumbnails) far larger than itself: about 0.6 MiB.
    pixels = numpy.random.default_rng(7).integers(0, 255, (350, 350, 4), dtype=numpy.uint8)
    pixels[:, :, 3] = 255
    jpeg = bytes(skia.Image.fromarray(pixels).encodeToData(skia.kJPEG, 95))
    assert upload(client, alice, jpeg).status_code == 200
    before = stored_names(app)
    refused = upload(client, alice, jpeg)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert stored_names(app) == before
    assert upload(client_at(app, "10.0.2.2"), alice, png_bytes()).status_code == 200


# --- the cap per run ----------------------------------------------------------------------------


def test_a_run_over_the_cap_gets_413_and_stores_nothing(make_app: MakeApp) -> None:
    app = app_with(make_app, max_run_bytes=500_000)
    client = client_at(app, "10.0.3.1")
    before = stored_names(app)  # the built-in source images
    refused = client.post("/_/run", json=noise(1))
    assert refused.status_code == 413
    assert refused.json["error"] == (
        "This run would store 0.7 MiB of code and outputs, more than the 0.5 MiB one run may "
        "store, so nothing was stored."
    )
    assert stored_names(app) == before
    assert client.post("/_/run", json=noise(1, size=128)).status_code == 200


def test_the_default_limits_are_documented_values() -> None:
    settings = Settings.from_env({})
    assert settings.quota_bytes_per_hour == 200 * MIB
    assert settings.max_run_bytes == 32 * MIB
    assert settings.runs_in_flight_per_client == 2
    configured = Settings.from_env({
        "FIDDLE_QUOTA_BYTES_PER_HOUR": "0", "FIDDLE_MAX_RUN_BYTES": "1000",
        "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT": "5",
    })  # fmt: skip
    assert (configured.quota_bytes_per_hour, configured.max_run_bytes) == (0, 1000)
    assert configured.runs_in_flight_per_client == 5
    for bad in ("-1", "1e6", "²", "lots"):
        with pytest.raises(ValueError, match="FIDDLE_MAX_RUN_BYTES must be a whole number"):
            Settings.from_env({"FIDDLE_MAX_RUN_BYTES": bad})


# --- the fair share of runs in flight -----------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_one_client_cannot_hold_every_runner(
    make_app: MakeApp, runner: FakeRunner, pool: ThreadPoolExecutor
) -> None:
    app = app_with(make_app)
    fair_share: FairShare = services(app).runs.limits.fair_share

    def run_from(address: str, n: int) -> Any:
        code = f"# {n}\ndef draw(canvas):\n    pass\n"
        return client_at(app, address).post("/_/run", json={"code": code})

    with runner.held():  # the runs stay in flight until the runner lets them go
        held = [pool.submit(run_from, "10.0.4.1", n) for n in range(2)]
        wait_for(lambda: fair_share.in_flight("addr:10.0.4.1") == 2)
        third = run_from("10.0.4.1", 3)
        assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
        assert third.json["error"] == (
            "This client already has 2 runs in progress, the most one client may have at once; "
            "try again when one has finished."
        )
        visitor = pool.submit(run_from, "10.0.4.2", 4)
        wait_for(lambda: fair_share.in_flight("addr:10.0.4.2") == 1)
    assert [run.result(timeout=60).status_code for run in held] == [200, 200]
    assert visitor.result(timeout=60).status_code == 200
    assert fair_share.in_flight("addr:10.0.4.1") == 0
    assert run_from("10.0.4.1", 5).status_code == 200
    assert runner.runs == 4  # the refused run never reached the runner


# --- the ledgers on their own ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_quota_is_a_sliding_hour() -> None:
    clock = Clock()
    quota = StorageQuota(100, clock)
    quota.charge(("a",), 60)
    clock.now += 100
    quota.charge(("a",), 30)
    clock.now += 100
    with pytest.raises(QuotaExceeded) as refused:
        quota.charge(("a",), 20)  # 110 > 100: the first 60 must expire, at 3600 s after it
    assert refused.value.retry_after == WINDOW_SECONDS - 200
    assert quota.stored("a") == 90
    clock.now += WINDOW_SECONDS - 200
    quota.charge(("a",), 20)
    assert quota.stored("a") == 50


def test_the_quota_holds_every_key_and_charges_all_or_none() -> None:
    quota = StorageQuota(100, Clock())
    quota.charge(("addr:x", "user:u"), 80)
    with pytest.raises(QuotaExceeded):
        quota.charge(("addr:y", "user:u"), 30)
    assert quota.stored("addr:y") == 0
    quota.charge(("addr:y",), 30)
    with pytest.raises(TooLarge):
        quota.charge(("addr:z",), 101)
    quota.charge((), 10**12)  # the service itself
    StorageQuota(0, Clock()).charge(("addr:x",), 10**12)  # no quota


def test_the_quota_forgets_idle_clients() -> None:
    clock = Clock()
    quota = StorageQuota(100, clock)
    for n in range(1000):
        quota.charge((f"addr:{n}",), 1)
    clock.now += WINDOW_SECONDS + 61
    quota.charge(("addr:new",), 1)
    assert len(quota._ledgers) == 1


def test_a_slot_is_given_back_whatever_happens() -> None:
    fair_share = FairShare(2)
    with fair_share.slot(("addr:a", "user:u")), fair_share.slot(("addr:b", "user:u")):
        with pytest.raises(TooManyInFlight), fair_share.slot(("addr:c", "user:u")):
            pass
        assert fair_share.in_flight("addr:c") == 0
    with pytest.raises(RuntimeError), fair_share.slot(("addr:a",)):
        raise RuntimeError("the runner failed")
    assert fair_share.in_flight("addr:a") == 0 and fair_share.in_flight("user:u") == 0
    with FairShare(0).slot(("addr:a",)), FairShare(0).slot(("addr:a",)):
        pass
