"""The browser bundles under site/dist/ (`npm run build`, which scripts/setup runs): the editor's
script, without which the editor page shows code and outputs but cannot run anything, and the
interactive embed's. A server started without them says so once in its log, and every page
that needs one says so on the page, instead of a Run button that silently never wakes up."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# What each bundle is for -> its file below the site directory (the app's static folder).
BUNDLES = {"editor": "dist/editor.js", "embed": "dist/embed.js"}
BUILD_HINT = "build them with scripts/setup (npm ci && npm run build)"


def missing_bundles(site: Path) -> tuple[str, ...]:
    """The bundles whose file is not there, by what they are for."""
    return tuple(name for name, path in BUNDLES.items() if not (site / path).is_file())


def warn_if_missing(site: Path) -> None:
    """One log line at start when a bundle is missing."""
    missing = missing_bundles(site)
    if missing:
        files = ", ".join(f"{site / BUNDLES[name]}" for name in missing)
        log.warning(
            "the browser bundles are not built (%s missing): pages cannot run fiddles; %s",
            files,
            BUILD_HINT,
        )
