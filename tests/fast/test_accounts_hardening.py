"""Accounts and links under attack (issue 19): open redirects after sign-in, guessing passwords,
sessions that outlive sign-out, and links built from a forged Host header.

No fiddle runs here: the apps point at a runner address nothing listens on, and the fiddles the
link tests need are stored directly. The same on Firestore's emulator:
tests/test_accounts_on_firestore.py.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from fiddle_protocol.options import FiddleOptions
from functions import cli
from functions.app import create_app
from functions.config import Settings, public_url
from functions.fiddles import FiddleRepository
from functions.hashing import fiddle_hash
from functions.services import services
from tests.fast.fakes import CHEAP_HASHER

NO_RUNNER = ("http://127.0.0.1:9",)
PUBLIC = "https://fiddle.example"
EVIL = "evil.example"
# Strict enough to be reached in a test, far enough apart that one address cannot lock an account.
SIGNIN = {"signin_client": "5/minute", "signin_account": "8/minute"}


def make_app(data_dir: Path, **settings: Any) -> Flask:
    settings.setdefault("rate_limits", SIGNIN)
    app = create_app(Settings(data_dir=data_dir, runners=NO_RUNNER, **settings))
    app.testing = True
    services(app).accounts.hasher = CHEAP_HASHER
    return app


def with_users(application: Flask) -> Flask:
    accounts = services(application).accounts
    accounts.create_user("alice", "alice-password")
    accounts.create_user("root", "root-password", admin=True)
    return application


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return with_users(make_app(tmp_path))


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app for the tables of redirect targets: they only sign in successfully."""
    return with_users(make_app(tmp_path_factory.mktemp("redirects")))


def client_at(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_of(client: FlaskClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, name: str, password: str, **form: str) -> Any:
    data = {"name": name, "password": password, "csrf_token": csrf_of(client), **form}
    return client.post("/signin", data=data)


def sign_out(client: FlaskClient) -> Any:
    return client.post("/signout", data={"csrf_token": csrf_of(client)})


# --- where sign-in may send the browser -----------------------------------------------------


def browser_target(location: str) -> tuple[str, str]:
    """(host, path) a browser on https://fiddle.example/signin goes to for this Location: like
    the URL standard, it drops tabs and newlines, trims C0 controls and spaces, and reads "\\"
    as "/" in http(s) addresses."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(33))))
    resolved = urljoin(f"{PUBLIC}/signin", cleaned.replace("\\", "/"))
    parts = urlsplit(resolved)
    return parts.netloc, parts.path


# Each is what the server sees after decoding the query string or form (so "\t" arrived as %09).
HOSTILE_TARGETS = [
    "//evil.example", "///evil.example", "////evil.example/", "//evil.example@fiddle.example",
    "/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
    "/\t/evil.example/", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example",
    "\t//evil.example", " //evil.example", "/ /evil.example", "/\x00/evil.example",
    "/\x0b/evil.example", "/\x0c/evil.example", "/\x1f/evil.example", "/\x7f/evil.example",
    "/%2F/evil.example", "/%2f%2fevil.example", "/%5Cevil.example", "/%5c/evil.example",
    "/%09/evil.example", "/%0a/evil.example", "/%0D%0A/evil.example", "/%252F/evil.example",
    "/%25252F%25252Fevil.example", "%2F%2Fevil.example", "/%00/evil.example",
    "http://evil.example", "https://evil.example/", "HTTP://evil.example", "http:evil.example",
    "http:/evil.example", "https:\\\\evil.example", "http:\\/\\/evil.example", "//evil.example:443",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:x", "evil.example", "evil.example/c/x",
    "/\uff0f/evil.example", "/\u2215evil.example", "/\u2044evil.example", "/\u29f8evil.example",
    "/\uff3cevil.example", "/\u00a0/evil.example", "/\u2028/evil.example", "/\u200b/evil.example",
    "/%EF%BC%8F/evil.example", "/%E2%88%95evil.example", "/\u0130", "/c/caf\u00e9",
    "/" + "a" * 5000, "/" + "%2F" * 3000, "", "?next=//evil.example", "#//evil.example",
    ".//evil.example", "../evil.example",
]  # fmt: skip
# Odd, but paths on this site: they must arrive unchanged.
SAME_SITE_TARGETS = [
    "/", "/c/0123456789abcdef0123456789abcdef", "/c/@green_dot", "/named/", "/admin/sources",
    "/signin?next=%2Fc%2F%40x", "/c/@x?a=1&b=2#frag", "/%", "/%zz", "/" + "a" * 2000,
    "/a:b", "/c/x//y",
]  # fmt: skip


@pytest.mark.parametrize("target", HOSTILE_TARGETS, ids=repr)
def test_hostile_next_targets_end_at_the_front_page(shared_app: Flask, target: str) -> None:
    client = client_at(shared_app)
    form = client.get("/signin?next=" + quote(target, safe=""))
    assert form.status_code == 200
    assert 'name="next" value="/"' in form.text
    answer = sign_in(client, "alice", "alice-password", next=target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"
    assert browser_target(answer.headers["Location"]) == ("fiddle.example", "/")


@pytest.mark.parametrize("target", SAME_SITE_TARGETS, ids=repr)
def test_same_site_next_targets_are_kept(shared_app: Flask, target: str) -> None:
    client = client_at(shared_app)
    answer = sign_in(client, "alice", "alice-password", next=target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == target
    assert browser_target(target)[0] == "fiddle.example"


def test_a_failed_sign_in_keeps_only_a_safe_target(app: Flask) -> None:
    client = client_at(app)
    page = sign_in(client, "alice", "wrong-password", next="/\t/evil.example/")
    assert page.status_code == 401 and 'name="next" value="/"' in page.text
    page = sign_in(client, "alice", "wrong-password", next="/c/@mine")
    assert 'name="next" value="/c/@mine"' in page.text


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/admin", "/admin/"),
        ("/named", "/named/"),
        ("/named//", "/named/"),
        ("/admin?x=1", "/admin/?x=1"),
        ("/c//abc", "/c/abc"),
        ("//named", "/"),
    ],
)
def test_the_frameworks_own_redirects_never_name_the_host(
    app: Flask, path: str, expected: str
) -> None:
    answer = app.test_client().get(path, headers={"Host": EVIL})
    assert answer.status_code == 308
    assert answer.headers["Location"] == expected
    assert browser_target(answer.headers["Location"])[0] == "fiddle.example"


def test_sign_out_goes_to_the_front_page(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "alice", "alice-password")
    answer = client.post("/signout?next=//evil.example", data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


# --- guessing passwords -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a multiple of every period used here

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Flask) -> Clock:
    fake = Clock()
    services(app).rate_limits.signin.clock = fake
    return fake


class CountingHasher:
    """argon2's own hasher, counting its password checks (a spy: the real check still runs)."""

    def __init__(self, real: Any) -> None:
        self.real, self.checks = real, 0

    def hash(self, password: str) -> str:
        return str(self.real.hash(password))

    def verify(self, hash_: str, password: str) -> bool:
        self.checks += 1
        return bool(self.real.verify(hash_, password))


@pytest.fixture
def hasher(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    accounts = services(app).accounts
    spy = CountingHasher(accounts.hasher)
    monkeypatch.setattr(accounts, "hasher", spy)
    return spy


def test_wrong_passwords_are_refused_before_any_hash(
    app: Flask, clock: Clock, hasher: CountingHasher
) -> None:
    client = client_at(app, "203.0.113.7")
    statuses = [sign_in(client, "alice", f"guess-{i}").status_code for i in range(5)]
    assert statuses == [401] * 5 and hasher.checks == 5
    for _ in range(20):
        answer = sign_in(client, "alice", "another-guess")
        assert answer.status_code == 429
    assert hasher.checks == 5, "a refused guess costs no argon2 hash"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins from your address; try again in" in answer.text
    assert 'role="alert"' in answer.text
    # Blocked means blocked: the right password from this address waits too, unhashed.
    assert sign_in(client, "alice", "alice-password").status_code == 429
    assert hasher.checks == 5


def test_names_that_cannot_exist_count_against_the_address(
    app: Flask, clock: Clock, hasher: CountingHasher
) -> None:
    client = client_at(app, "203.0.113.8")
    names = ["nobody", "x" * 10_000, "a\x00b", "", "../../etc", "é"]
    statuses = [sign_in(client, name, "password-guess").status_code for name in names]
    assert statuses == [401] * 5 + [429]
    assert hasher.checks == 5  # unknown names are checked too, so timing tells nothing


def test_another_address_signs_in_while_one_is_blocked(app: Flask, clock: Clock) -> None:
    attacker = client_at(app, "203.0.113.9")
    for _ in range(6):
        sign_in(attacker, "alice", "wrong-guess")
    assert sign_in(attacker, "alice", "wrong-guess").status_code == 429
    owner = client_at(app, "198.51.100.4")
    assert sign_in(owner, "alice", "alice-password").status_code == 303
    assert owner.get("/named/").text.count("alice") >= 1
    # A typo from a third address is an ordinary 401, not a lock-out.
    assert sign_in(client_at(app, "198.51.100.5"), "alice", "typo").status_code == 401


def test_many_addresses_lock_an_account_only_for_a_minute(app: Flask, clock: Clock) -> None:
    statuses = [
        sign_in(client_at(app, f"192.0.2.{i}"), "alice", "wrong-guess").status_code
        for i in range(10)
    ]
    assert statuses == [401] * 8 + [429] * 2
    owner = client_at(app, "198.51.100.4")
    locked = sign_in(owner, "alice", "alice-password")
    assert locked.status_code == 429
    assert "Too many failed sign-ins to this account" in locked.text
    wait = int(locked.headers["Retry-After"])
    assert 1 <= wait <= 60
    # Other accounts are not affected.
    assert sign_in(client_at(app, "192.0.2.200"), "root", "root-password").status_code == 303
    clock.now += wait
    assert sign_in(owner, "alice", "alice-password").status_code == 303


def test_the_address_limit_resets(app: Flask, clock: Clock) -> None:
    client = client_at(app, "203.0.113.10")
    for _ in range(5):
        sign_in(client, "alice", "wrong-guess")
    blocked = sign_in(client, "alice", "alice-password")
    assert blocked.status_code == 429
    clock.now += int(blocked.headers["Retry-After"]) - 1
    assert sign_in(client, "alice", "alice-password").status_code == 429
    clock.now += 1
    assert sign_in(client, "alice", "alice-password").status_code == 303


def test_successful_sign_ins_are_not_failures(app: Flask, clock: Clock) -> None:
    client = client_at(app, "203.0.113.11")
    for _ in range(12):
        assert sign_in(client, "alice", "alice-password").status_code == 303
    for _ in range(4):
        assert sign_in(client, "alice", "wrong-guess").status_code == 401


def test_instances_share_the_failure_counts(app: Flask, clock: Clock, tmp_path: Path) -> None:
    """Two apps on one document store, as two instances of the functions would be."""
    other = make_app(tmp_path)
    services(other).rate_limits.signin.clock = clock
    for instance in (app, other, app, other, app):
        assert sign_in(client_at(instance, "203.0.113.12"), "alice", "nope").status_code == 401
    assert sign_in(client_at(other, "203.0.113.12"), "alice", "nope").status_code == 429


def test_the_default_limits_are_those_the_readme_promises(tmp_path: Path) -> None:
    app = with_users(make_app(tmp_path, rate_limits={}))
    clock = Clock()
    services(app).rate_limits.signin.clock = clock
    client = client_at(app, "203.0.113.30")
    statuses = [sign_in(client, "alice", "wrong-guess").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert int(sign_in(client, "alice", "wrong").headers["Retry-After"]) == 600
    # From other addresses the account holds out for 20 failures in all.
    statuses = [
        sign_in(client_at(app, f"192.0.2.{i}"), "alice", "wrong-guess").status_code
        for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    assert int(sign_in(client_at(app, "192.0.2.77"), "alice", "x").headers["Retry-After"]) == 60


def test_sign_in_limits_are_configured_from_the_environment() -> None:
    env = {"FIDDLE_RATE_LIMIT_SIGNIN_CLIENT": "3/hour", "FIDDLE_RATE_LIMIT_SIGNIN_ACCOUNT": "7/day"}
    settings = Settings.from_env(env)
    assert settings.rate_limits == {"signin_client": "3/hour", "signin_account": "7/day"}


def test_counters_of_past_windows_are_swept(app: Flask, clock: Clock) -> None:
    documents = services(app).documents
    for i in range(5):
        sign_in(client_at(app, f"192.0.2.{i}"), "alice", "wrong-guess")
    assert len(documents.query("signin_failures")) == 6  # five addresses and one account
    clock.now += 120
    sign_in(client_at(app, "192.0.2.99"), "alice", "wrong-guess")
    assert len(documents.query("signin_failures")) == 2


def test_successful_sign_ins_leave_no_counters(app: Flask, clock: Clock) -> None:
    for _ in range(3):
        sign_in(client_at(app, "203.0.113.14"), "alice", "alice-password")
    assert services(app).documents.query("signin_failures") == []


# --- sessions end on the server ---------------------------------------------------------------


def saved_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def with_cookie(app: Flask, value: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def admin_page(client: FlaskClient) -> int:
    return client.get("/admin/sources").status_code


def test_a_saved_cookie_stops_working_after_sign_out(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "root", "root-password")
    cookie = saved_cookie(client)
    assert admin_page(with_cookie(app, cookie)) == 200
    assert sign_out(client).status_code == 303
    replay = with_cookie(app, cookie)
    assert admin_page(replay) == 401
    assert replay.post("/_/name", json={"name": "x", "hash": "0" * 32}).status_code == 401
    # The dead session is dropped from the cookie the replayed request gets back.
    assert replay.get_cookie("session") is None


def test_other_sessions_of_the_user_survive_one_sign_out(app: Flask) -> None:
    laptop, phone = client_at(app), client_at(app, "198.51.100.9")
    sign_in(laptop, "root", "root-password")
    sign_in(phone, "root", "root-password")
    sign_out(laptop)
    assert admin_page(laptop) == 401
    assert admin_page(phone) == 200


def test_signing_in_again_ends_the_previous_session(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "root", "root-password")
    first = saved_cookie(client)
    sign_in(client, "root", "root-password")
    assert admin_page(with_cookie(app, first)) == 401
    assert admin_page(client) == 200


def test_a_cookie_without_a_stored_session_identifies_nobody(app: Flask) -> None:
    """The cookies signed in before sessions were stored named only the user."""
    serializer = app.session_interface.get_signing_serializer(app)
    assert admin_page(with_cookie(app, serializer.dumps({"user": "root"}))) == 401
    forged = serializer.dumps({"user": "root", "sid": "made-up"})
    assert admin_page(with_cookie(app, forged)) == 401


def test_a_session_of_one_user_cannot_be_worn_by_another(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "alice", "alice-password")
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(saved_cookie(client))
    assert admin_page(with_cookie(app, serializer.dumps({**data, "user": "root"}))) == 401


def test_sessions_expire(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "root", "root-password")
    documents = services(app).documents
    (session,) = documents.query("sessions", where=[("user", "==", "root")])
    documents.update("sessions", session.id, {"expires": session.data["created"]})
    assert admin_page(client) == 401
    assert documents.query("sessions", where=[("user", "==", "root")]) == []


def test_the_store_holds_no_session_id(app: Flask) -> None:
    client = client_at(app)
    sign_in(client, "root", "root-password")
    serializer = app.session_interface.get_signing_serializer(app)
    session_id = serializer.loads(saved_cookie(client))["sid"]
    (session,) = services(app).documents.query("sessions")
    assert session_id not in str(session.data) and session_id != session.id


def admin(data_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(["admin", *args, "--data-dir", str(data_dir)])


def test_a_password_change_ends_every_session(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    laptop, phone = client_at(app), client_at(app, "198.51.100.9")
    sign_in(laptop, "root", "root-password")
    sign_in(phone, "root", "root-password")
    cookie = saved_cookie(laptop)
    assert admin(tmp_path, monkeypatch, "set-password", "root", stdin="new-root-password\n") == 0
    assert "2 sessions ended" in capsys.readouterr().out
    assert admin_page(with_cookie(app, cookie)) == 401
    assert admin_page(phone) == 401
    assert sign_in(client_at(app), "root", "root-password").status_code == 401
    fresh = client_at(app)
    assert sign_in(fresh, "root", "new-root-password").status_code == 303
    assert admin_page(fresh) == 200
    assert "set_password" in fresh.get("/admin/audit").text


def test_a_session_made_under_the_old_password_fails_even_if_the_sweep_missed_it(
    app: Flask,
) -> None:
    client = client_at(app)
    sign_in(client, "root", "root-password")
    documents = services(app).documents
    hasher = services(app).accounts.hasher
    # The password changes without the sweep (as if a sign-in raced with the change).
    documents.update("users", "root", {"password": hasher.hash("new-root-password")})
    assert admin_page(client) == 401


def test_removing_a_user_ends_their_sessions_and_tokens(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = services(app).accounts
    token = {"Authorization": f"Bearer {accounts.create_token('alice')}"}
    client = client_at(app)
    sign_in(client, "alice", "alice-password")
    cookie = saved_cookie(client)
    name = {"name": "x", "hash": "0" * 32}
    assert app.test_client().post("/_/name", json=name, headers=token).status_code == 404
    assert admin(tmp_path, monkeypatch, "remove-user", "alice") == 0
    assert "1 sessions ended, 1 API tokens revoked" in capsys.readouterr().out
    assert app.test_client().post("/_/name", json=name, headers=token).status_code == 401
    replay = with_cookie(app, cookie)
    assert replay.post("/_/name", json=name, headers={"X-CSRF-Token": "x"}).status_code == 401
    # A new user of the same name inherits nothing.
    accounts.create_user("alice", "alice-password")
    assert app.test_client().post("/_/name", json=name, headers=token).status_code == 401
    assert with_cookie(app, cookie).post("/_/name", json=name).status_code == 401
    assert sign_in(client_at(app), "alice", "alice-password").status_code == 303


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("remove-user", "nobody"), "", "There is no user nobody."),
        (("remove-user", "../etc"), "", "There is no user ../etc."),
        (("set-password", "nobody"), "long-enough-password\n", "There is no user nobody."),
        (("set-password", "root"), "short\n", "Passwords must be at least 8 characters."),
    ],
)
def test_admin_commands_refuse_bad_input(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    assert admin(tmp_path, monkeypatch, *args, stdin=stdin) == 1
    assert capsys.readouterr().err.strip() == f"fiddle admin: {message}"
    assert sign_in(client_at(app), "root", "root-password").status_code == 303


# --- links handed out name the public origin ----------------------------------------------------


def store_fiddle(app: Flask, code: str = "def draw(canvas):\n    pass\n") -> str:
    options = FiddleOptions()
    digest = fiddle_hash(code, options)
    fiddles: FiddleRepository = services(app).fiddles
    fiddles.save_code(digest, code, options)
    return digest


@pytest.fixture
def public_app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, public_url=PUBLIC)


def test_share_link_and_embed_ignore_a_forged_host(public_app: Flask) -> None:
    digest = store_fiddle(public_app)
    page = public_app.test_client().get(f"/c/{digest}", headers={"Host": EVIL}).text
    assert f'value="{PUBLIC}/c/{digest}"' in page
    assert f'<iframe src="{PUBLIC}/iframe/{digest}"' in page
    assert EVIL not in page


def test_oembed_ignores_a_forged_host(public_app: Flask) -> None:
    digest = store_fiddle(public_app)
    client = public_app.test_client()
    for url in (f"{PUBLIC}/c/{digest}", f"http://fiddle.example:443/iframe/{digest}"):
        answer = client.get("/oembed", query_string={"url": url}, headers={"Host": EVIL})
        assert answer.status_code == 200, answer.json
        assert f'src="{PUBLIC}/iframe/{digest}"' in answer.json["html"]
        assert answer.json["provider_url"] == f"{PUBLIC}/"
        assert EVIL not in answer.text
    # The forged host's own address is not this service's.
    answer = client.get(
        "/oembed", query_string={"url": f"http://{EVIL}/c/{digest}"}, headers={"Host": EVIL}
    )
    assert answer.status_code == 404 and EVIL not in answer.text


def test_without_a_public_url_links_follow_the_request(tmp_path: Path) -> None:
    """Local mode: on one's own machine the address typed is the right one."""
    app = make_app(tmp_path)
    digest = store_fiddle(app)
    client = app.test_client()
    headers = {"Host": "127.0.0.1:8080"}
    assert f"http://127.0.0.1:8080/c/{digest}" in client.get(f"/c/{digest}", headers=headers).text
    url = f"http://127.0.0.1:8080/c/{digest}"
    answer = client.get("/oembed", query_string={"url": url}, headers=headers)
    assert answer.status_code == 200
    assert f'src="http://127.0.0.1:8080/iframe/{digest}"' in answer.json["html"]


@pytest.mark.parametrize(
    "url, status",
    [
        ("", 400),
        ("http://[", 400),
        ("http://[::1", 400),
        ("https://fiddle.example:99999/c/x", 400),
        ("https://fiddle.example:port/c/x", 400),
        ("javascript:alert(1)", 400),
        ("ftp://fiddle.example/c/0123", 400),
        ("data:text/html,<b>", 400),
        ("file:///etc/passwd", 400),
        ("/c/0123456789abcdef0123456789abcdef", 400),
        ("//fiddle.example/c/0123", 400),
        ("https://fiddle.example/c/x\n", 400),
        ("https://fiddle.example/c/\x00", 400),
        ("https://fiddle.example/c/caf\u00e9", 400),
        ("https://fiddle.example/c/" + "a" * 3000, 400),
        ("https://evil.example/c/0123456789abcdef0123456789abcdef", 404),
        ("https://fiddle.example.evil.example/c/0123456789abcdef0123456789abcdef", 404),
        ("https://fiddle.example:8443/c/0123456789abcdef0123456789abcdef", 404),
        ("https:///c/0123456789abcdef0123456789abcdef", 404),
        ("https://fiddle.example/x/0123456789abcdef0123456789abcdef", 404),
        ("https://fiddle.example/c/0123/../../etc/passwd", 404),
        ("https://fiddle.example/c/0123456789abcdef0123456789abcdef", 404),
        ("https://fiddle.example/c/@nobody", 404),
        ("https://fiddle.example/c/%40nobody", 404),
    ],
)
def test_bad_oembed_urls_are_a_sentence(public_app: Flask, url: str, status: int) -> None:
    answer = public_app.test_client().get("/oembed", query_string={"url": url})
    assert answer.status_code == status, answer.json
    message = answer.json["error"]
    assert isinstance(message, str) and message.endswith(".") and "\n" not in message
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", ""),
        ("https://fiddle.example", PUBLIC),
        ("https://fiddle.example/", PUBLIC),
        (" http://localhost:8080/ ", "http://localhost:8080"),
    ],
)
def test_public_url_setting(value: str, expected: str) -> None:
    assert public_url(value) == expected
    assert Settings.from_env({"FIDDLE_PUBLIC_URL": value}).public_url == expected


@pytest.mark.parametrize(
    "value",
    ["fiddle.example", "ftp://fiddle.example", "https://", "https://fiddle.example/fiddles",
     "https://fiddle.example?x=1", "https://user@fiddle.example", "https://fiddle.example:x",
     "javascript:alert(1)"],
)  # fmt: skip
def test_bad_public_urls_are_refused_at_start(value: str) -> None:
    with pytest.raises(ValueError, match="FIDDLE_PUBLIC_URL"):
        Settings.from_env({"FIDDLE_PUBLIC_URL": value})


def test_a_missing_public_url_is_said_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def warnings(make: Callable[[], Flask]) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="functions.links"):
            app = make()
            for _ in range(3):
                app.test_client().get("/signin")
        return [r.getMessage() for r in caplog.records if "FIDDLE_PUBLIC_URL" in r.getMessage()]

    assert len(warnings(lambda: make_app(tmp_path))) == 1
    assert warnings(lambda: make_app(tmp_path, public_url=PUBLIC)) == []


def test_the_service_hashes_passwords_at_argon2s_default_cost(tmp_path: Path) -> None:
    """The apps of these tests hash at argon2's lowest cost, for speed (tests/fast/conftest.py);
    the service itself keeps argon2's default cost."""
    hasher = services(create_app(Settings(data_dir=tmp_path, runners=NO_RUNNER))).accounts.hasher
    default = PasswordHasher()
    for cost in ("time_cost", "memory_cost", "parallelism"):
        assert getattr(hasher, cost) == getattr(default, cost), cost
