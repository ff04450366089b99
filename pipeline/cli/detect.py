"""``finsent detect``: evaluate the alert rules once and send what is due."""

from __future__ import annotations

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.settings import get_settings


@app.command("detect")
def detect(json_output: bool = JsonOption) -> None:
    """Evaluate every scope once: open and resolve alerts, send what is due.

    Every delivery is attempted at once, each given FINSENT_DELIVERY_TIMEOUT_SECONDS in
    all, so sending takes at most that plus a second, whatever the receivers do.
    """
    from pipeline.alerts import run_detection
    from pipeline.wiring import open_database

    settings = get_settings()
    engine = open_database(settings, migrate=False)
    try:
        report = run_detection(engine=engine, settings=settings)
    finally:
        engine.dispose()
    if json_output:
        print_json(report.as_dict())
        return
    typer.echo(
        f"opened: {report.opened} resolved: {report.resolved} "
        f"notified: {report.notified} failed: {report.failed} "
        f"(firing now: {report.firing}, scopes evaluated: {report.scopes}, "
        f"model: {report.model_version or 'none scored yet'})"
    )
