"""``finsent corrections list|export``: analysts' corrections, as training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.settings import get_settings

corrections_app = typer.Typer(
    help="Analysts' corrections of the model's labels: list, export.", no_args_is_help=True
)
app.add_typer(corrections_app, name="corrections")


def _open_session() -> tuple[Any, Session]:
    from pipeline.wiring import open_database

    engine = open_database(get_settings(), migrate=False)
    return engine, Session(engine)


@corrections_app.command("list")
def list_command(
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    json_output: bool = JsonOption,
) -> None:
    """Corrections, newest first."""
    from pipeline.corrections import list_corrections

    engine, session = _open_session()
    try:
        with session:
            rows = list_corrections(session=session, limit=limit)
    finally:
        engine.dispose()
    if json_output:
        print_json(
            [
                {
                    "article_id": r.article_id,
                    "field": r.field,
                    "label": r.label,
                    "model_label": r.model_label,
                    "model_version": r.model_version,
                    "author": r.author,
                    "note": r.note,
                    "created_at": r.created_at.isoformat(),
                    "title": r.title,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        typer.echo("no corrections")
        return
    for r in rows:
        was = f" (model: {r.model_label})" if r.model_label else ""
        typer.echo(f"article {r.article_id} {r.field} -> {r.label}{was}  {r.title[:80]!r}")


@corrections_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="The CSV file to write (replaced)."),
    field: str = typer.Option(
        "both", "--field", help="topic, sentiment or both: which label columns to write."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Write corrections as a training CSV (text, topic, sentiment) for `finsent train`."""
    from pipeline.corrections import FIELDS, export_corrections
    from pipeline.errors import UsageError

    chosen = field.strip().lower()
    if chosen == "both":
        fields = FIELDS
    elif chosen in FIELDS:
        fields = (chosen,)
    else:
        raise UsageError(f"--field must be topic, sentiment or both, not {field!r}")
    engine, session = _open_session()
    try:
        with session:
            rows = export_corrections(session=session, out=out, fields=fields)
    finally:
        engine.dispose()
    if json_output:
        print_json({"out": str(out), "rows": rows, "fields": list(fields)})
    else:
        typer.echo(
            f"wrote {rows} corrected article(s) to {out} (columns: text, {', '.join(fields)})"
        )
