"""``finsent db``: the schema."""

from __future__ import annotations

import typer

from pipeline.cli.app import JsonOption, db_app, print_json
from pipeline.db import upgrade_database
from pipeline.settings import get_settings


@db_app.command("upgrade")
def upgrade(json_output: bool = JsonOption) -> None:
    """Create or migrate the database schema to the newest revision."""
    url = get_settings().database_url
    revision = upgrade_database(url)
    if json_output:
        print_json({"revision": revision})
    else:
        typer.echo(f"database at revision {revision}")
