"""FIDDLE_TRUSTED_PROXIES: behind Google's load balancer every request comes from the balancer,
so the rate limits and quotas must key on the client address the proxies report, and only on
the entries the proxies themselves wrote (a client can write anything to the left of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from functions.app import create_app
from functions.config import Settings
from functions.devserver import free_port

BALANCER = "10.0.0.1"  # what REMOTE_ADDR says behind the load balancer


def make_app(data_dir: Path, proxies: int) -> Flask:
    # No runner is needed: the rate limit counts a run before its body is read.
    settings = Settings(
        data_dir=data_dir,
        runners=(f"http://127.0.0.1:{free_port()}",),
        rate_limits={"run": "1/minute"},
        trusted_proxies=proxies,
    )
    return create_app(settings)


def post_run(app: Flask, forwarded_for: str | None) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = BALANCER
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return client.post("/_/run", data="{", content_type="application/json", headers=headers)


def test_behind_the_load_balancer_each_client_has_its_own_limit(data_dir: Path) -> None:
    app = make_app(data_dir, proxies=2)
    assert post_run(app, "203.0.113.7, 35.1.1.1").status_code == 400  # counted, then refused
    assert post_run(app, "203.0.113.8, 35.1.1.1").status_code == 400  # another client
    again = post_run(app, "203.0.113.7, 35.1.1.1")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0


def test_what_a_client_writes_itself_does_not_make_it_another_client(data_dir: Path) -> None:
    app = make_app(data_dir, proxies=2)
    assert post_run(app, "1.1.1.1, 203.0.113.7, 35.1.1.1").status_code == 400
    assert post_run(app, "2.2.2.2, 203.0.113.7, 35.1.1.1").status_code == 429


def test_without_trusted_proxies_the_header_is_ignored(data_dir: Path) -> None:
    app = make_app(data_dir, proxies=0)
    assert post_run(app, "203.0.113.7").status_code == 400
    assert post_run(app, "203.0.113.8").status_code == 429  # the same address: REMOTE_ADDR


@pytest.mark.parametrize("header", ["", "\xff, [", "a, b, c, d, e", ",,,", "x" * 5000])
def test_a_malformed_header_is_no_server_error(data_dir: Path, header: str) -> None:
    app = make_app(data_dir, proxies=2)
    assert post_run(app, header).status_code == 400
    assert post_run(app, header).status_code == 429


def test_too_few_entries_fall_back_to_the_connecting_address(data_dir: Path) -> None:
    """A request that did not pass through both proxies keys on who connected."""
    app = make_app(data_dir, proxies=2)
    assert post_run(app, "203.0.113.7").status_code == 400
    assert post_run(app, None).status_code == 429  # both are the balancer's address


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_setting_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValueError, match="FIDDLE_TRUSTED_PROXIES"):
        Settings.from_env({"FIDDLE_TRUSTED_PROXIES": value})
