"""Settings of the functions, read from the environment in this one place: every variable is
declared in VARIABLES with its default and meaning, which docs/configuration.md is written from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fiddle_protocol.environment import Variable, read_all
from functions.hashing import FIDDLE1, HASH_FORMS

# Requests per client address and per user (functions/ratelimits.py), by kind; each is set by
# FIDDLE_RATE_LIMIT_<KIND>. Runs, uploads and names are counted in each process's memory.
RATE_LIMITS = {"run": "120/minute", "upload": "30/minute", "name": "60/minute"}
# Failed sign-ins, counted in the document store (shared by every instance). One address is held
# back long, so it cannot guess for long; an account only briefly and by more failures than one
# address may make, so locking a user out takes many addresses and lasts at most a minute after
# they stop.
SIGNIN_LIMITS = {"signin_client": "10/10 minutes", "signin_account": "20/minute"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    # The Skia builds of the runner `fiddle serve` starts; None: <data_dir>/builds.
    builds_dir: Path | None = None
    blob_store: str = "local"
    bucket: str = ""
    doc_store: str = "sqlite"
    project: str = ""
    # Signs session cookies; without one, a random key is kept in <data_dir>/secret_key.
    secret_key: str = ""
    secure_cookies: bool = False
    rate_limits: dict[str, str] = field(default_factory=dict)
    runners: tuple[str, ...] = ()
    runner_secret: str = ""
    runner_audience: str = ""
    runner_timeout: float = 40.0
    # Where the site's JavaScript finds the API; empty means the same origin.
    api_base: str = ""
    # Set when Cloud Storage is its emulator (fake-gcs-server): the client goes there anonymously.
    storage_emulator_host: str = ""
    # The address share links and oEmbed hand out, e.g. https://fiddle.example; empty (local use
    # only) means the request's own Host header, which anyone can set.
    public_url: str = ""
    # Per client (address, and user when signed in); 0 turns a limit off. See functions/quotas.py.
    quota_bytes_per_hour: int = 200 << 20
    max_run_bytes: int = 32 << 20
    runs_in_flight_per_client: int = 2
    # Proxies in front of the functions that append to X-Forwarded-For (Google's load balancer
    # appends two addresses, the client's and its own); 0 on this machine.
    trusted_proxies: int = 0
    # The form of the hash `POST /_/run` answers in `fiddleHash`: fiddle 1.0's (the canonical one)
    # or Skia's current one, which Skia's own clients (fiddlecli) check the answer against. Every
    # fiddle is reachable by both either way.
    fiddle_hash: str = FIDDLE1
    # Jobs (functions/jobs/): a worker's lease on the job it holds, the background runs it has
    # in flight, its longest wait between polls, and whether `fiddle serve` runs one.
    job_lease_seconds: float = 30.0
    job_runs_in_flight: int = 2
    job_poll_seconds: float = 10.0
    serve_worker: bool = True
    # The admin API token `fiddle jobs` sends (Authorization: Bearer).
    api_token: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment (VARIABLES); overrides that are not None win."""
        values = read_all(VARIABLES, os.environ if env is None else env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def public_url(value: str) -> str:
    """FIDDLE_PUBLIC_URL without its trailing slash; refuses anything but an http(s) origin, since
    every link the service hands out starts with it."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"FIDDLE_PUBLIC_URL must look like https://fiddle.example, not {value!r}")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"FIDDLE_PUBLIC_URL is an origin only (no path or query): {value!r}")
    return value


def hash_form(value: str) -> str:
    """FIDDLE_HASH: `fiddle1` (the default) or `skia`."""
    value = value.strip() or FIDDLE1
    if value not in HASH_FORMS:
        raise ValueError(f"FIDDLE_HASH must be fiddle1 or skia, not {value!r}")
    return value


def _urls(value: str, _name: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def _count(value: str, name: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def _seconds(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None


def _job_seconds(value: str, name: str) -> float:
    seconds = _seconds(value, name)
    if not 0.1 <= seconds <= 86400:
        raise ValueError(f"{name} must be a number of seconds from 0.1 to 86400, not {value!r}")
    return seconds


def _at_least_one(value: str, name: str) -> int:
    count = _count(value, name)
    if count < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return count


def _on_off(value: str, name: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError(f"{name} must be on or off, not {value!r}")
    return value == "on"


def _flag(value: str, _name: str) -> bool:
    return value in ("1", "true", "yes")


def _path(value: str, _name: str) -> Path:
    return Path(value)


def _optional_path(value: str, _name: str) -> Path | None:
    return Path(value) if value else None


def _rate_limit(kind: str, default: str, meaning: str) -> Variable:
    return Variable(f"FIDDLE_RATE_LIMIT_{kind.upper()}", f"rate_limits.{kind}", default, meaning)


MIB = 1 << 20
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "FIDDLE_DATA_DIR", "data_dir", "data",
        "Where the local stores live: blobs (`blobs/`), the SQLite document store and the kept"
        " session key.", _path,
    ),
    Variable(
        "FIDDLE_BUILDS_DIR", "builds_dir", "",
        "The Skia builds of the runner `fiddle serve` starts (unset: `<data dir>/builds`).",
        _optional_path,
    ),
    Variable(
        "FIDDLE_BLOB_STORE", "blob_store", "local",
        "`local` (files under the data directory), `memory` (this process only, gone when it"
        " ends: tests and trying the service out) or `gcs` (Cloud Storage, with FIDDLE_BUCKET).",
    ),
    Variable("FIDDLE_BUCKET", "bucket", "", "The Cloud Storage bucket of FIDDLE_BLOB_STORE=gcs."),
    Variable(
        "STORAGE_EMULATOR_HOST", "storage_emulator_host", "",
        "Cloud Storage's emulator (fake-gcs-server): Google's client library sends its requests"
        " there, and the service gives it no credentials.",
    ),
    Variable(
        "FIDDLE_DOC_STORE", "doc_store", "sqlite",
        "`sqlite` (in the data directory) or `firestore` (with GOOGLE_CLOUD_PROJECT; Google's"
        " client library honours FIRESTORE_EMULATOR_HOST).",
    ),
    Variable("GOOGLE_CLOUD_PROJECT", "project", "", "The Google Cloud project of Firestore."),
    Variable(
        "FIDDLE_SECRET_KEY", "secret_key", "",
        "Signs session cookies. Unset: a random key made once and kept in"
        " `<data dir>/secret_key`.",
    ),
    Variable(
        "FIDDLE_SECURE_COOKIES", "secure_cookies", "",
        "`1`, `true` or `yes`: the session cookie goes over HTTPS only (set it behind TLS).",
        _flag,
    ),
    _rate_limit("run", RATE_LIMITS["run"], "Runs per client address and per user, per process."),
    _rate_limit(
        "upload", RATE_LIMITS["upload"], "Uploads per client address and per user, per process."
    ),
    _rate_limit(
        "name", RATE_LIMITS["name"], "Namings per client address and per user, per process."
    ),
    _rate_limit(
        "signin_client", SIGNIN_LIMITS["signin_client"],
        "Failed sign-ins per client address, shared by every instance through the document"
        " store.",
    ),
    _rate_limit(
        "signin_account", SIGNIN_LIMITS["signin_account"],
        "Failed sign-ins per account from all addresses together, shared like the above.",
    ),
    Variable(
        "FIDDLE_RUNNERS", "runners", "",
        "Comma-separated runner URLs; runs spread round-robin, and a failing runner leaves the"
        " rotation until its `/healthz` answers. Unset, `fiddle serve` starts a runner beside"
        " the functions.", _urls,
    ),
    Variable(
        "FIDDLE_RUNNER_SECRET", "runner_secret", "",
        "The HMAC key that signs each run request (the runners hold the same one). `fiddle"
        " serve` makes a random one for its own runner.",
    ),
    Variable(
        "FIDDLE_RUNNER_AUDIENCE", "runner_audience", "",
        "On Google Cloud: sign run requests with a Google ID token for this audience instead.",
    ),
    Variable(
        "FIDDLE_RUNNER_TIMEOUT", "runner_timeout", "40",
        "Seconds the functions wait for a runner's answer to one run (and at most 5 for its "
        "/version); a runner that misses it leaves rotation until its /healthz answers.",
        _seconds,
    ),
    Variable(
        "FIDDLE_API_BASE", "api_base", "",
        "Where the pages' JavaScript finds the JSON API, e.g. when the static site is on a CDN"
        " host of its own. Unset: the same origin.",
    ),
    Variable(
        "FIDDLE_PUBLIC_URL", "public_url", "",
        "The public origin, e.g. `https://fiddle.example`: share links, embed snippets and"
        " oEmbed answers are built from it, and oEmbed accepts only its URLs. Unset, they follow"
        " each request's Host header, which anyone can forge: fine on one's own machine only"
        " (the service logs a warning at start).", lambda value, _name: public_url(value),
    ),
    Variable(
        "FIDDLE_QUOTA_BYTES_PER_HOUR", "quota_bytes_per_hour", str(200 * MIB),
        "Bytes one client may store per sliding hour (200 MiB); `0`: no quota.", _count,
    ),
    Variable(
        "FIDDLE_MAX_RUN_BYTES", "max_run_bytes", str(32 * MIB),
        "Bytes one run may store, code and outputs together (32 MiB); `0`: no cap.", _count,
    ),
    Variable(
        "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT", "runs_in_flight_per_client", "2",
        "Runs (and upload decodes) one client may have in flight at once; `0`: no limit.", _count,
    ),
    Variable(
        "FIDDLE_TRUSTED_PROXIES", "trusted_proxies", "0",
        "Proxies in front of the functions that append to X-Forwarded-For; the client address is"
        " the one they report (2 behind Google's load balancer).", _count,
    ),
    Variable(
        "FIDDLE_HASH", "fiddle_hash", FIDDLE1,
        "The form of the hash `POST /_/run` answers in `fiddleHash`: `fiddle1` (the canonical"
        " one) or `skia` (what Skia's current clients compute; fiddlecli needs it). Both reach"
        " every fiddle either way.", lambda value, _name: hash_form(value),
    ),
    Variable(
        "FIDDLE_JOB_LEASE_SECONDS", "job_lease_seconds", "30",
        "How long a job worker's hold on a job lasts unrenewed (it renews every third of it):"
        " the job of a worker that died waits this long for another.", _job_seconds,
    ),
    Variable(
        "FIDDLE_JOB_RUNS_IN_FLIGHT", "job_runs_in_flight", "2",
        "Background runs one job worker has in flight.", _at_least_one,
    ),
    Variable(
        "FIDDLE_JOB_POLL_SECONDS", "job_poll_seconds", "10",
        "The longest a job worker waits between looks for jobs while there are none.",
        _job_seconds,
    ),
    Variable(
        "FIDDLE_SERVE_WORKER", "serve_worker", "on",
        "`off`: `fiddle serve` runs no job worker thread (run `fiddle worker` instead).", _on_off,
    ),
    Variable(
        "FIDDLE_API_TOKEN", "api_token", "",
        "An administrator's API token, which `fiddle jobs` sends (`--token` wins).",
    ),
)  # fmt: skip
