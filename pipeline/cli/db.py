"""``finsent db``: the schema."""

from __future__ import annotations

import typer

from pipeline.cli.app import JsonOption, db_app, print_json
from pipeline.settings import get_settings


@db_app.command("upgrade")
def upgrade(json_output: bool = JsonOption) -> None:
    """Create or migrate the database schema to the newest revision."""
    from pipeline.db import current_revision
    from pipeline.wiring import open_database

    engine = open_database(get_settings(), migrate=True)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if json_output:
        print_json({"revision": revision})
    else:
        typer.echo(f"database at revision {revision}")
