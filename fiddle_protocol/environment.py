"""How each side declares the environment variables it reads: the functions in functions/config.py,
the runner in runner_vm/cli.py, nowhere else. docs/configuration.md is written from these
declarations (python -m functions.docs), so a variable is documented where it is read.

A variable set to the empty string counts as unset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def as_text(value: str, _name: str) -> str:
    return value


@dataclass(frozen=True)
class Variable:
    name: str  # FIDDLE_DATA_DIR
    setting: str  # the field it sets; "field.key" sets one key of a dict field, only when set
    default: str  # what unset means, as one would write it ("" for nothing)
    meaning: str  # what it does, for docs/configuration.md: one or two sentences
    parse: Callable[[str, str], Any] = as_text  # (value, name) -> the field's value; ValueError

    def read(self, env: Mapping[str, str]) -> Any:
        """The field's value from env, or from the default when the variable is unset."""
        return self.parse(env.get(self.name, "") or self.default, self.name)


def read_all(variables: tuple[Variable, ...], env: Mapping[str, str]) -> dict[str, Any]:
    """The fields the variables set, by name. A "field.key" variable adds its key to the dict
    field only when it is set, so the reader's own defaults stand for the others."""
    values: dict[str, Any] = {}
    for variable in variables:
        field, _, key = variable.setting.partition(".")
        if not key:
            values[field] = variable.read(env)
        elif env.get(variable.name):
            values.setdefault(field, {})[key] = variable.read(env)
    return values
