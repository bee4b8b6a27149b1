"""Every page of docs/ and how to write or check them all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from functions.docs import configuration, http_api, options, storage
from functions.docs.markdown import page, partial, table

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# docs/<file> -> the module that writes it (its TITLE, SUMMARY and render()).
PAGES: dict[str, ModuleType] = {
    "http-api.md": http_api,
    "storage.md": storage,
    "options.md": options,
    "configuration.md": configuration,
}


def index() -> str:
    rows = [[f"[{module.TITLE}]({name})", module.SUMMARY] for name, module in PAGES.items()]
    return page("The fiddle service's reference", partial("index"), table(["page", "what"], rows))


def rendered() -> dict[str, Callable[[], str]]:
    """docs/<file> -> what writes it, the index first."""
    return {"README.md": index, **{name: module.render for name, module in PAGES.items()}}


def write(directory: Path = DOCS) -> list[str]:
    """Write every page; the names of those that changed."""
    directory.mkdir(exist_ok=True)
    changed = []
    for name, render in rendered().items():
        text = render()
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def stale(directory: Path = DOCS) -> list[str]:
    """The pages whose file is missing or differs from what the code writes now."""
    return [
        name
        for name, render in rendered().items()
        if not (directory / name).exists()
        or (directory / name).read_text(encoding="utf-8") != render()
    ]
