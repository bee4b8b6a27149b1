"""docs/configuration.md: the environment variables each side reads, with their defaults and
meaning (functions/config.py and runner_vm/cli.py declare them), and the flags of `fiddle serve`
and `fiddle runner` (their argparse parsers)."""

from __future__ import annotations

import argparse

from fiddle_protocol.environment import Variable
from functions.docs.markdown import code, page, partial, table

TITLE = "Configuration"
SUMMARY = "the environment variables of the functions and the runner, and the servers' flags"
COMMANDS = ("serve", "runner")


def render() -> str:
    from functions import config
    from runner_vm import cli as runner_cli

    return page(
        TITLE,
        partial("configuration-intro"),
        "## The functions",
        "Read by `functions/config.py`, in every process of the functions (`fiddle serve`, the"
        " Cloud Functions, `fiddle admin`):",
        variables_table(config.VARIABLES),
        "## The runner",
        "Read by `runner_vm/cli.py` when `fiddle runner` starts:",
        variables_table(runner_cli.VARIABLES),
        "## Flags",
        *(_flags(name) for name in COMMANDS),
        "## Set by the deployment",
        partial("configuration-deployment"),
    )


def variables_table(variables: tuple[Variable, ...]) -> str:
    rows = [
        [code(v.name), code(v.default) if v.default else "(nothing)", v.meaning] for v in variables
    ]
    return table(["variable", "unset means", "what"], rows)


def _flags(command: str) -> str:
    from functions.cli import build_parser

    subcommands = next(
        action for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )  # fmt: skip
    parser = subcommands.choices[command]
    rows = [
        [", ".join(code(flag) for flag in action.option_strings), _help(action)]
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]
    return f"`fiddle {command}`:\n\n" + table(["flag", "what"], rows)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if action.choices:
        text += f"; one of {', '.join(code(choice) for choice in action.choices)}"
    return text
