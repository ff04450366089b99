"""``finsent``: one Typer app. Errors the user can fix exit non-zero with one line."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError

# Each module registers its commands; imported in data-path order, which is the order
# `finsent --help` lists them in.
# isort: off
from pipeline.cli import db, feeds, ingest, score, detect, alerts, corrections  # noqa: F401
from pipeline.cli import run, model, dashboard  # noqa: F401

# isort: on
from pipeline.cli.app import app
from pipeline.errors import FinsentError
from pipeline.settings import describe_settings_error


def _fail(message: str, *, code: int) -> NoReturn:
    typer.echo(f"finsent: error: {message}", err=True)
    sys.exit(code)


def main() -> None:
    """The ``finsent`` entry point: exit 1 for a runtime error, 2 for a usage error."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        app()
    except FinsentError as exc:
        _fail(str(exc), code=exc.exit_code)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        _fail(describe_settings_error(exc), code=2)
    except SQLAlchemyError as exc:
        # A database failing under a running stage (server gone, disk full, locked).
        from pipeline.settings import get_settings
        from pipeline.wiring import describe_database_error

        try:
            url: str | None = get_settings().database_url
        except ValidationError:
            url = None
        _fail(describe_database_error(exc, url=url), code=1)


__all__ = ["app", "main"]
