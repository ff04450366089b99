"""``finsent``: one Typer app. Errors the user can fix exit non-zero with one line."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

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


def _settings_problem(exc: ValidationError) -> str:
    """One line naming each bad ``FINSENT_*`` variable and what is wrong with it."""
    problems = []
    for error in exc.errors():
        name = "FINSENT_" + "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}: {error['msg']}")
    return "invalid settings: " + "; ".join(problems)


def main() -> None:
    try:
        app()
    except FinsentError as exc:
        typer.echo(f"finsent: error: {exc}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        typer.echo(f"finsent: error: {_settings_problem(exc)}", err=True)
        sys.exit(2)


__all__ = ["app", "main"]
