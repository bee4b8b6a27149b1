"""The routes of the functions, one module per group, each blueprint with its policy."""

from __future__ import annotations

from functions.routing import FiddleBlueprint


def blueprints() -> tuple[FiddleBlueprint, ...]:
    """Every blueprint of the app, in the order it registers them."""
    from functions import metrics
    from functions.routes import (
        accounts,
        admin,
        api,
        docs,
        jobs,
        media,
        named,
        oembed,
        pages,
        sources,
    )

    return (
        api.blueprint,
        api.builds_blueprint,
        api.health_blueprint,
        api.unknown_api_blueprint,
        pages.blueprint,
        pages.embed_blueprint,
        pages.embed_script_blueprint,
        pages.json_blueprint,
        media.blueprint,
        accounts.blueprint,
        named.blueprint,
        named.list_blueprint,
        sources.upload_blueprint,
        sources.blueprint,
        admin.blueprint,
        admin.api_blueprint,
        jobs.blueprint,
        oembed.blueprint,
        metrics.blueprint,
        docs.blueprint,
        docs.page_blueprint,
    )
