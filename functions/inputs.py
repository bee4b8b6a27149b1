"""Reading request input totally: every malformed body, query argument or path part becomes a
400 with one sentence and the fields it concerns, never an exception further in.

Routes read JSON bodies only through `json_body` and choices from the query string only through
`query_choice`; path parts are bounded by their URL converters (SOURCE_ID) and checked against
the stores' own patterns before any store sees them.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from functions.errors import InvalidInput

# Deeper than any real request needs; json's own recursion limit is far deeper and raises an
# error that is no ValueError, and code walking a decoded body would recurse as deep.
MAX_JSON_DEPTH = 32
# The largest source id the fiddle hash can carry (a signed 64-bit integer); larger ids name
# nothing, so their routes answer 404 before any store is asked about them.
SOURCE_ID = "int(max=9223372036854775807)"


def json_body(*, require_json_type: bool = False) -> Any:
    """The request body decoded as JSON; InvalidInput for anything that is not (a wrong content type
    when one is required, bytes that are not UTF-8, malformed or too deeply nested JSON)."""
    if require_json_type and not request.is_json:
        raise _not_json("must be sent as application/json")
    try:
        text = request.get_data(cache=True).decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise _not_json("is not UTF-8") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise _not_json("is not valid JSON") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def json_object(*, require_json_type: bool = False) -> dict[str, Any]:
    value = json_body(require_json_type=require_json_type)
    if not isinstance(value, dict):
        raise _not_json("is not a JSON object")
    return value


def query_choice(name: str, choices: dict[str, Any]) -> Any:
    """The value a query argument names among fixed spellings (None when it is absent).

    Comparing spellings, not parsing numbers: int() and str.isdigit() accept digits such as '²'
    or '٣' that no client means."""
    given = request.args.get(name)
    if given is None:
        return None
    if given not in choices:
        allowed = ", ".join(choices)
        reason = f"must be one of {allowed}"
        raise InvalidInput(f"{name} {reason}.", {name: [reason]})
    return choices[given]


def _not_json(why: str) -> InvalidInput:
    return InvalidInput("The request body must be a JSON object.", {"body": [why]})


def _too_deep() -> InvalidInput:
    why = f"nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
    return InvalidInput(f"The request body {why}.", {"body": [why]})


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:  # deeper is already too deep: no need to look further
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest
