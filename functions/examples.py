"""The editor's examples (`site/examples/`): each is a stored fiddle with a known hash.

`site/examples/index.json` lists them with the hash of their code and options; `fiddle serve`
stores any that are missing when it starts, so `/c/<hash>` of an example works on a fresh
install. `python -m functions.examples` prints the index with the hashes brought up to date.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.hashing import fiddle_hash
from functions.runs import RunAnswer, RunDispatcher
from functions.schemas import parse_run_request

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parent.parent / "site" / "examples"


@dataclass(frozen=True)
class Example:
    file: str
    title: str
    code: str
    options: dict[str, Any]
    listed_hash: str

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "options": self.options}

    def computed_hash(self) -> str:
        data = parse_run_request(self.payload())
        return fiddle_hash(data.code, data.options)


def load_examples(directory: Path = EXAMPLES) -> list[Example]:
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))["examples"]
    return [
        Example(
            file=entry["file"],
            title=entry["title"],
            code=(directory / entry["file"]).read_text(encoding="utf-8"),
            options=entry.get("options", {}),
            listed_hash=entry.get("hash", ""),
        )
        for entry in index
    ]


def store_examples(runs: RunDispatcher, examples: list[Example]) -> int:
    """Runs (and so stores) every example not yet stored; answers how many failed."""
    failed = 0
    for example in examples:
        try:
            answer = runs.run({**example.payload(), "fast": True})
        except Exception as error:  # a runner that is down must not stop the service starting
            log.warning("example %s not stored: %s", example.file, error)
            failed += 1
            continue
        failing = [answer] if isinstance(answer, RunAnswer) else [r.answer for r in answer.runs]
        if any(one is None or one.compile_errors or one.runtime_error for one in failing):
            log.warning("example %s failed to run", example.file)
            failed += 1
    return failed


def updated_index(directory: Path = EXAMPLES) -> dict[str, Any]:
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    for entry, example in zip(index["examples"], load_examples(directory), strict=True):
        entry["hash"] = example.computed_hash()
    return index


def format_index(index: dict[str, Any]) -> str:
    """One example per line, so that a change shows as one changed line."""
    entries = [f"    {json.dumps(entry, ensure_ascii=False)}" for entry in index["examples"]]
    lines = ",\n".join(entries)
    return f'{{\n  "examples": [\n{lines}\n  ]\n}}\n'


if __name__ == "__main__":
    sys.stdout.write(format_index(updated_index()))
