"""Settings of the functions, read from the environment in this one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from functions.hashing import FIDDLE1, HASH_FORMS

# Rate limits configured as FIDDLE_RATE_LIMIT_<KIND> (functions/ratelimits.py has the defaults).
RATE_LIMIT_KINDS = ("run", "upload", "name", "signin_client", "signin_account")


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
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("FIDDLE_DATA_DIR", "data")),
            "builds_dir": Path(env["FIDDLE_BUILDS_DIR"]) if env.get("FIDDLE_BUILDS_DIR") else None,
            "blob_store": env.get("FIDDLE_BLOB_STORE", "local"),
            "bucket": env.get("FIDDLE_BUCKET", ""),
            "doc_store": env.get("FIDDLE_DOC_STORE", "sqlite"),
            "project": env.get("GOOGLE_CLOUD_PROJECT", ""),
            "secret_key": env.get("FIDDLE_SECRET_KEY", ""),
            "secure_cookies": env.get("FIDDLE_SECURE_COOKIES", "") in ("1", "true", "yes"),
            "rate_limits": {
                kind: env[f"FIDDLE_RATE_LIMIT_{kind.upper()}"]
                for kind in RATE_LIMIT_KINDS
                if env.get(f"FIDDLE_RATE_LIMIT_{kind.upper()}")
            },
            "runners": _split(env.get("FIDDLE_RUNNERS", "")),
            "runner_secret": env.get("FIDDLE_RUNNER_SECRET", ""),
            "runner_audience": env.get("FIDDLE_RUNNER_AUDIENCE", ""),
            "runner_timeout": float(env.get("FIDDLE_RUNNER_TIMEOUT", "40")),
            "api_base": env.get("FIDDLE_API_BASE", ""),
            "public_url": public_url(env.get("FIDDLE_PUBLIC_URL", "")),
            "quota_bytes_per_hour": _count(env, "FIDDLE_QUOTA_BYTES_PER_HOUR", 200 << 20),
            "max_run_bytes": _count(env, "FIDDLE_MAX_RUN_BYTES", 32 << 20),
            "runs_in_flight_per_client": _count(env, "FIDDLE_RUNS_IN_FLIGHT_PER_CLIENT", 2),
            "trusted_proxies": _count(env, "FIDDLE_TRUSTED_PROXIES", 0),
            "fiddle_hash": hash_form(env.get("FIDDLE_HASH", "")),
            "job_lease_seconds": _seconds(env, "FIDDLE_JOB_LEASE_SECONDS", 30.0),
            "job_runs_in_flight": max(1, _count(env, "FIDDLE_JOB_RUNS_IN_FLIGHT", 2)),
            "job_poll_seconds": _seconds(env, "FIDDLE_JOB_POLL_SECONDS", 10.0),
            "serve_worker": env.get("FIDDLE_SERVE_WORKER", "on") not in ("0", "off", "no", "false"),
            "api_token": env.get("FIDDLE_API_TOKEN", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


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


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 86400:
        raise ValueError(f"{name} must be a number of seconds from 0.1 to 86400, not {value!r}")
    return seconds


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)
