"""A run's outputs as clients see them: each registry entry (fiddle_protocol/outputs.py) with the
URL of this run's copy, under /ai/<runid>/, which names the run. The answer of `POST /_/run`,
the JSON of /e/<hash> (`outputs` and `outputList`) and the pages all list them from here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fiddle_protocol import outputs as registry


@dataclass(frozen=True)
class ShownOutput:
    output: registry.Output
    url: str  # under /ai/<runid>/, which names the run
    error: str = ""  # a shown output has none (the pages' FailedOutput has one)

    def to_json(self) -> dict[str, str]:
        output = self.output
        return {
            "name": output.name,
            "stored": output.stored,
            "url": self.url,
            "label": output.label,
            "title": output.title,
            "kind": output.kind.value,
            "mime": output.mime,
            "suffix": output.suffix,
        }


def shown_outputs(fiddle_hash: str, runid: str, stored: Iterable[str]) -> list[ShownOutput]:
    """The run's outputs, in the registry's order, each with its URL under /ai/<runid>/."""
    names = set(stored)
    return [
        ShownOutput(output, f"/ai/{runid}/{fiddle_hash}{output.suffix}")
        for output in registry.DRAW_OUTPUTS
        if output.stored in names
    ]


def urls(shown: list[ShownOutput]) -> dict[str, str]:
    """Stored output name -> its URL."""
    return {item.output.stored: item.url for item in shown}
