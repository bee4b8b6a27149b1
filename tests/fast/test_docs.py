"""docs/ is the project's own statement of what it does, written from the code by
`python -m functions.docs`. These fail when a page is stale, or when something the pages must
cover (a route, an output, an option, a FIDDLE_* variable, a document collection) is missing from
them or from the declarations they are written from; each failure says what to add where."""

from __future__ import annotations

import dataclasses
import importlib
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from fiddle_protocol import outputs
from fiddle_protocol.environment import Variable
from fiddle_protocol.messages import LIMIT_KINDS
from fiddle_protocol.options import FiddleOptions
from functions import config, schemas
from functions.docs import build, http_api, storage
from functions.docs.markdown import code, first_paragraph
from functions.storage import layout
from runner_vm import cli as runner_cli

ROOT = build.ROOT
REGENERATE = "run `python -m functions.docs` (or `nox -s docs`) and commit docs/"
# Where the code of the service lives (tests/ may name anything; docs/ is what is checked).
SOURCES = ("functions", "runner_vm", "fiddle_protocol", "scripts", "infra", "templates", "site/src")
SKIPPED_PARTS = {"__pycache__", "node_modules", "dist", ".terraform"}


def source_files(*top: str) -> Iterator[Path]:
    for directory in top or SOURCES:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS & set(path.parts) and _is_text(path):
                yield path


def _is_text(path: Path) -> bool:
    return path.suffix not in {".png", ".pyc", ".svg"} and b"\0" not in path.read_bytes()[:1024]


def page(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def where(path: Path, text: str, index: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, index) + 1}"


# --------------------------------------------------------------------------------------------
# The pages


@pytest.mark.parametrize("name", list(build.rendered()))
def test_each_page_is_what_the_code_writes_now(name: str) -> None:
    path = ROOT / "docs" / name
    assert path.exists(), f"docs/{name} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == build.rendered()[name](), (
        f"docs/{name} is stale (its code or functions/docs/partials/ changed): {REGENERATE}"
    )


def test_the_readme_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in build.rendered():
        assert f"(docs/{name})" in readme, (
            f"link docs/{name} from the README, as [title](docs/{name})"
        )


def test_nothing_cites_a_contract_outside_the_repository() -> None:
    """The contract is docs/ and the modules that own each rule, never `../shared/SPEC.md`."""
    files = [*source_files(), *source_files("tests", "docs"), ROOT / "README.md"]
    for path in (path for path in files if path != Path(__file__)):
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"\bSPEC\b|shared/SPEC", text):
            raise AssertionError(
                f"{where(path, text, match.start())} cites the SPEC: cite the page of docs/ or"
                " the module that owns the rule instead"
            )


# --------------------------------------------------------------------------------------------
# Routes


ALL_ROUTES = [*http_api.functions_routes(), *http_api._runner_routes()]


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{' '.join(r.methods)} {r.path}")
def test_every_route_says_what_it_does(route: http_api.Route) -> None:
    view = route.view
    module = importlib.import_module(view.__module__)
    assert first_paragraph(view), (
        f"{' '.join(route.methods)} {route.path} has no docstring: give its view "
        f"{view.__qualname__} in {Path(module.__file__ or '').relative_to(ROOT)} one (its first "
        f"paragraph is the route's line in docs/http-api.md), then {REGENERATE}"
    )
    assert code(route.path) in page("http-api.md"), (
        f"{route.path} is not in docs/http-api.md: {REGENERATE}"
    )


# --------------------------------------------------------------------------------------------
# Outputs


@pytest.mark.parametrize(
    "output", [*outputs.DRAW_OUTPUTS, *outputs.IMAGE_OUTPUTS], ids=lambda o: o.name
)
def test_every_output_is_documented(output: outputs.Output) -> None:
    for role, function in (("produced_by", output.produced_by), ("verify", output.verify)):
        assert first_paragraph(function), (
            f"output {output.name}: its {role} function {function.__qualname__} has no docstring"
            " (its first line says, in docs/http-api.md, which runs produce the output or what"
            f" its bytes must be): write one in fiddle_protocol/, then {REGENERATE}"
        )
    assert code(output.stored) in page("http-api.md"), (
        f"output {output.name} is not in docs/http-api.md: {REGENERATE}"
    )


def test_every_limit_has_an_example() -> None:
    missing = set(LIMIT_KINDS) - set(http_api.limit_examples())
    assert not missing, (
        f"limit kinds {sorted(missing)} have no example: add one to limit_examples in"
        f" functions/docs/http_api.py, then {REGENERATE}"
    )


# --------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("option", dataclasses.fields(FiddleOptions), ids=lambda f: f.name)
def test_every_option_is_documented_and_validated(option: dataclasses.Field[object]) -> None:
    assert option.metadata.get("doc"), (
        f"FiddleOptions.{option.name} says nothing of what it does: declare it in"
        f' fiddle_protocol/options.py as `{option.name}: T = option(default, "what it does")`,'
        f" then {REGENERATE}"
    )
    field = schemas.OptionsSchema().declared_fields.get(option.name)
    assert field is not None, (
        f"option {option.name} is not validated: add a field of that name to OptionsSchema in"
        f" functions/schemas.py (its type and range; rules between options in OPTION_RULES)"
    )
    assert code(field.data_key or option.name) in page("options.md"), (
        f"option {option.name} is not in docs/options.md: {REGENERATE}"
    )


def test_every_rule_is_of_an_option() -> None:
    names = {option.name for option in dataclasses.fields(FiddleOptions)}
    assert set(schemas.OPTION_RULES) <= names, "functions/schemas.py OPTION_RULES names no option"


# --------------------------------------------------------------------------------------------
# The environment

DECLARED: tuple[Variable, ...] = (*config.VARIABLES, *runner_cli.VARIABLES)
READERS = {ROOT / "functions/config.py", ROOT / "runner_vm/cli.py"}
FIDDLE_NAME = re.compile(r"\bFIDDLE_[A-Z0-9_]*[A-Z0-9_]")
# Where Python code names a variable: in a string (f-strings are strings before Python 3.12).
TEXT_TOKENS = {tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", -1)}
# A read of the environment: .get, getenv, a subscript that is not assigned to, `in`. Copying it
# for a child process ({**os.environ}), setting a variable for one (os.environ["X"] = ...) or a
# default (os.environ.setdefault) reads no setting.
ENV_READ = re.compile(
    r"(?<!request\.)\benviron\.get\(|\bgetenv\(|\benviron\[[^\]]*\](?!\s*=[^=])|\bin\s+(?:os\.)?environ\b"
)


@pytest.mark.parametrize("variable", DECLARED, ids=lambda v: v.name)
def test_every_declared_variable_is_documented(variable: Variable) -> None:
    assert variable.meaning.strip(), f"{variable.name} is declared without a meaning"
    assert code(variable.name) in page("configuration.md"), (
        f"{variable.name} is not in docs/configuration.md: {REGENERATE}"
    )


def named_variables(path: Path) -> Iterator[tuple[str, int]]:
    """Each FIDDLE_* name in a file with its line; in Python only in strings and comments, where
    variables are named (the constant FIDDLE_PATH = re.compile(...) names none)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".py":
        for match in FIDDLE_NAME.finditer(text):
            yield match.group(), text.count("\n", 0, match.start()) + 1
        return
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in TEXT_TOKENS:
            for match in FIDDLE_NAME.finditer(token.string):
                yield match.group(), token.start[0]


def test_every_fiddle_variable_the_code_names_is_documented() -> None:
    documented = page("configuration.md")
    for path in [*source_files(), ROOT / "README.md"]:
        for name, line in named_variables(path):
            place = f"{path.relative_to(ROOT)}:{line}"
            if name.endswith("_"):  # a prefix (FIDDLE_RATE_LIMIT_<KIND>): one documented name
                assert f"`{name}" in documented, f"{place}: no documented variable is {name}*"
                continue
            assert code(name) in documented, (
                f"{place} names {name}, which docs/configuration.md does not document: declare"
                " it in functions/config.py VARIABLES (read by the functions) or runner_vm/cli.py"
                " VARIABLES (read by the runner); one neither reads (set by the deployment) goes"
                f" in functions/docs/partials/configuration-deployment.md; then {REGENERATE}"
            )


def test_the_environment_is_read_in_two_places_only() -> None:
    for path in source_files("functions", "runner_vm", "fiddle_protocol", "scripts"):
        if path in READERS or path.suffix not in ("", ".py"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in ENV_READ.finditer(text):
            raise AssertionError(
                f"{where(path, text, match.start())} reads the environment: declare the variable"
                " in functions/config.py VARIABLES (the functions) or runner_vm/cli.py VARIABLES"
                f" (the runner) and read it from the settings there; then {REGENERATE}"
            )


def test_documented_defaults_are_the_settings_defaults() -> None:
    assert config.Settings.from_env({}) == config.Settings(), (
        "functions/config.py: a Settings field's default differs from what its variable's"
        " documented default reads as; make them agree"
    )
    assert runner_cli.RunnerEnvironment.from_env({}) == runner_cli.RunnerEnvironment()


# --------------------------------------------------------------------------------------------
# Storage


def test_every_key_of_the_layout_has_an_example() -> None:
    shown = " ".join(call for call, _ in storage.key_examples())
    for name, value in vars(layout).items():
        own = getattr(value, "__module__", "") == layout.__name__ and not isinstance(value, type)
        if callable(value) and own and not name.startswith(("_", "parse")):
            assert f"layout.{name}(" in shown, (
                f"functions/storage/layout.py {name}() has no example in docs/storage.md: add"
                f" one to key_examples in functions/docs/storage.py, then {REGENERATE}"
            )


COLLECTION_USE = re.compile(r"documents\.\w+\(\s*([A-Z][A-Z0-9_]*)\b")


def test_every_document_collection_is_documented() -> None:
    for path in source_files("functions"):
        if path.suffix != ".py":
            continue
        text = path.read_text(encoding="utf-8")
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for match in COLLECTION_USE.finditer(text):
            name = getattr(module, match.group(1), None)
            assert name in layout.COLLECTIONS, (
                f"{where(path, text, match.start())} uses the document collection {name!r}"
                " (through " + match.group(1) + "), which docs/storage.md does not document:"
                f" add it to COLLECTIONS in functions/storage/layout.py, then {REGENERATE}"
            )
