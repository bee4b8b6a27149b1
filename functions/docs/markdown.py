"""Writing Markdown: tables, code, the pages' prose partials, docstrings as text."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PARTIALS = Path(__file__).resolve().parent / "partials"
# The first line of every page: where it comes from and how it is remade.
GENERATED = (
    "<!-- Written by `python -m functions.docs` from the code and functions/docs/partials/; "
    "edit those, then run it again. -->"
)


def cell(text: object) -> str:
    """One table cell: a single line, its pipes escaped."""
    return html_safe(" ".join(str(text).split())).replace("|", "\\|")


def html_safe(text: str) -> str:
    """Text with its "<" written as "&lt;" outside code spans, so that `<hash>` in a sentence
    stays text and is not taken for an HTML tag."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: object) -> str:
    """Inline code, for text that may itself hold backquotes."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def block(text: str, language: str = "") -> str:
    return f"```{language}\n{text.rstrip()}\n```"


def partial(name: str) -> str:
    """A piece of hand-written prose, functions/docs/partials/<name>.md."""
    return (PARTIALS / f"{name}.md").read_text(encoding="utf-8").strip()


def doc(obj: Any) -> str:
    """An object's docstring, dedented; "" for none."""
    return inspect.getdoc(obj) or ""


def body(text: str) -> str:
    """A docstring without its first paragraph (the summary of a module, which says "here")."""
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


def first_paragraph(obj: Any) -> str:
    """The first paragraph of an object's docstring, on one line."""
    return " ".join(doc(obj).split("\n\n", 1)[0].split())


def page(title: str, *sections: str) -> str:
    """A whole page: the generated-file notice, its title, then its sections."""
    body = "\n\n".join(section.strip() for section in sections if section.strip())
    return f"{GENERATED}\n\n# {title}\n\n{body}\n"


def plain_path(rule: str) -> str:
    """A Flask rule as a reader writes the path: `<int(max=...):source_id>` -> `<source_id>`."""
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"<\1>", rule)


def prose(text: str) -> str:
    """A docstring as Markdown: paragraphs joined into lines, "- " items kept as a list, and an
    indented paragraph (a table drawn with spaces) as a code block."""
    return "\n\n".join(_paragraph(p) for p in text.strip("\n").split("\n\n") if p.strip())


def _paragraph(paragraph: str) -> str:
    lines = paragraph.split("\n")
    if all(line.startswith("    ") or not line.strip() for line in lines):
        return block("\n".join(line[4:] for line in lines))
    if lines[0].startswith("- "):
        items = re.split(r"\n(?=- )", paragraph)
        return "\n".join(html_safe(" ".join(item.split())) for item in items)
    return html_safe(" ".join(paragraph.split()))
