"""Sessions and sign-in failure counts on the document store of Google Cloud (its emulator): what
every instance of the functions shares there. The same on SQLite, and the rest of the accounts'
hardening: tests/fast/test_accounts_hardening.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.app import create_app
from functions.config import Settings
from functions.services import services
from tests.fast.fakes import CHEAP_HASHER
from tests.fast.test_accounts_hardening import (
    NO_RUNNER,
    SIGNIN,
    Clock,
    admin_page,
    client_at,
    saved_cookie,
    sign_in,
    sign_out,
    with_cookie,
    with_users,
)
from tests.firestore_emulator import (  # noqa: F401 - fixtures
    _firestore_session_client,
    firestore_client,
    firestore_emulator,
)


def test_sessions_and_failure_counts_on_firestore(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same on the document store of Google Cloud (its emulator): what every instance of
    the functions shares there."""
    from functions.docstore.firestore import FirestoreDocumentStore

    documents = FirestoreDocumentStore(request.getfixturevalue("firestore_client"), prefix="t_")
    settings = Settings(data_dir=tmp_path, runners=NO_RUNNER, rate_limits=SIGNIN)
    instances = [create_app(settings, documents=documents) for _ in range(2)]
    for instance in instances:
        services(instance).accounts.hasher = CHEAP_HASHER
    app, other = (with_users(instances[0]), instances[1])
    clock = Clock()
    for instance in instances:
        services(instance).rate_limits.signin.clock = clock
    laptop, phone = client_at(app), client_at(other, "198.51.100.9")
    assert sign_in(laptop, "root", "root-password").status_code == 303
    assert sign_in(phone, "root", "root-password").status_code == 303
    cookie = saved_cookie(laptop)
    sign_out(laptop)
    assert admin_page(with_cookie(other, cookie)) == 401
    assert admin_page(phone) == 200
    services(app).accounts.set_password("root", "new-root-password")
    assert admin_page(phone) == 401

    guesser = [client_at(instance, "203.0.113.20") for instance in (app, other)]
    statuses = [sign_in(guesser[i % 2], "alice", "wrong").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    clock.now += 120
    assert sign_in(guesser[1], "alice", "alice-password").status_code == 303
    # The success took back its own counters, and past windows count nothing: none are left.
    assert documents.query("signin_failures") == []
