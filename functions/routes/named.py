"""POST /_/name and the list of named fiddles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from functions.guards import require_user
from functions.inputs import json_object
from functions.named import NamedFiddles, NamingError
from functions.ratelimits import limit

blueprint = Blueprint("named", __name__)


def _named() -> NamedFiddles:
    return current_app.extensions["named"]


@blueprint.post("/_/name")
@limit("name")
def name_fiddle() -> Any:
    user = require_user()
    body = json_object(require_json_type=True)
    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        return _error("overwrite must be true or false.", 400, "overwrite")
    try:
        named = _named().name(body.get("name"), body.get("hash"), user, overwrite=overwrite)  # type: ignore[arg-type]
    except NamingError as error:
        return _error(error.message, error.status, error.field)
    return jsonify(name=named.name, hash=named.hash, creator=named.creator, url=f"/c/@{named.name}")


def _error(message: str, status: int, field: str) -> Any:
    return jsonify(error=message, fields={field: [message]}), status


@blueprint.get("/named/")
def named_list() -> Any:
    return render_template("named.html", named=sorted(_named().all(), key=lambda n: n.name))
