"""The one Typer app and its sub-command groups; commands register in sibling modules."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer.core import _click

# `finsent --help` lists commands in the order data flows through them, then the model's.
COMMAND_ORDER = (
    "db",
    "feeds",
    "ingest",
    "score",
    "detect",
    "alerts",
    "corrections",
    "run",
    "demo",
    "dashboard",
    "train",
    "evaluate",
    "predict",
)


class _DataPathOrder(TyperGroup):
    def list_commands(self, ctx: _click.Context) -> list[str]:
        def position(name: str) -> tuple[int, str]:
            known = name in COMMAND_ORDER
            return (COMMAND_ORDER.index(name) if known else len(COMMAND_ORDER), name)

        return sorted(super().list_commands(ctx), key=position)


app = typer.Typer(
    name="finsent",
    cls=_DataPathOrder,
    help="Financial news sentiment monitor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
feeds_app = typer.Typer(help="The feeds to poll.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: list, acknowledge, silence.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(feeds_app, name="feeds")
app.add_typer(alerts_app, name="alerts")

JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of text.")


def print_json(value: Any) -> None:
    """Write ``value`` as JSON on stdout (datetimes and paths as strings)."""
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")
