"""Settings of the functions, read from the environment in this one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("FIDDLE_DATA_DIR", "data")),
            "blob_store": env.get("FIDDLE_BLOB_STORE", "local"),
            "bucket": env.get("FIDDLE_BUCKET", ""),
            "doc_store": env.get("FIDDLE_DOC_STORE", "sqlite"),
            "project": env.get("GOOGLE_CLOUD_PROJECT", ""),
            "secret_key": env.get("FIDDLE_SECRET_KEY", ""),
            "secure_cookies": env.get("FIDDLE_SECURE_COOKIES", "") in ("1", "true", "yes"),
            "rate_limits": {
                kind: env[f"FIDDLE_RATE_LIMIT_{kind.upper()}"]
                for kind in ("run", "upload", "name")
                if env.get(f"FIDDLE_RATE_LIMIT_{kind.upper()}")
            },
            "runners": _split(env.get("FIDDLE_RUNNERS", "")),
            "runner_secret": env.get("FIDDLE_RUNNER_SECRET", ""),
            "runner_audience": env.get("FIDDLE_RUNNER_AUDIENCE", ""),
            "runner_timeout": float(env.get("FIDDLE_RUNNER_TIMEOUT", "40")),
            "api_base": env.get("FIDDLE_API_BASE", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
