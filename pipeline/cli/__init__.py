"""``finsent``: one Typer app. Errors the user can fix exit non-zero with one line."""

from __future__ import annotations

import sys

import typer

from pipeline.cli import (  # noqa: F401  (each module registers its commands)
    db_cmds,
    detect_cmds,
    feeds_cmds,
    ingest_cmds,
    model_cmds,
    run_cmds,
    score_cmds,
)
from pipeline.cli.app import app
from pipeline.errors import FinsentError


def main() -> None:
    try:
        app()
    except FinsentError as exc:
        typer.echo(f"finsent: error: {exc}", err=True)
        sys.exit(2)


__all__ = ["app", "main"]
