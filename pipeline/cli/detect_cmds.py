"""``finsent detect`` and ``finsent alerts list|ack|silence``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from pipeline.cli.app import JsonOption, alerts_app, app, print_json
from pipeline.errors import FinsentError
from pipeline.settings import get_settings

T = TypeVar("T")


@contextmanager
def _database_errors() -> Iterator[None]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        # Most often a database that was never migrated.
        raise FinsentError(
            f"database error ({exc.orig!r}); is the schema current? run `finsent db upgrade`"
        ) from exc


def _in_session(work: Callable[[Any], T]) -> T:
    """Run ``work(session)`` in one transaction on the configured database."""
    from sqlalchemy.orm import Session

    from pipeline.db import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        with _database_errors(), Session(engine) as session, session.begin():
            return work(session)
    finally:
        engine.dispose()


@app.command("detect")
def detect(json_output: bool = JsonOption) -> None:
    """Evaluate every scope once: open and resolve alerts, send what is due."""
    from pipeline.alerts import run_detection
    from pipeline.db import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with _database_errors():
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


@alerts_app.command("list")
def list_command(
    json_output: bool = JsonOption,
    state: str = typer.Option(
        "all", "--state", help="firing | resolved | pending | open | all", show_default=True
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
) -> None:
    """Alerts, newest first."""
    from pipeline.alerts import alert_as_dict, list_alerts

    def work(session: Any) -> list[dict[str, Any]]:
        alerts = list_alerts(session=session, state=state.strip().lower(), limit=limit)
        return [alert_as_dict(session=session, alert=alert) for alert in alerts]

    rows = _in_session(work)
    if json_output:
        print_json(rows)
        return
    if not rows:
        typer.echo("no alerts")
        return
    for row in rows:
        ev = row["evidence"]
        ack = " (acknowledged)" if row["acknowledged_at"] else ""
        share = ev.get("share")
        base = ev.get("baseline")
        typer.echo(
            f"#{row['id']} {row['state']:<8} {row['scope']}:{row['topic']} "
            f"{'' if share is None else f'{share:.0%}'} negative of {ev.get('n')} "
            f"(baseline {'' if base is None else f'{base:.0%}'}) "
            f"since {row['fired_at'] or row['started_at']}{ack}"
        )


@alerts_app.command("ack")
def ack(
    alert_id: int = typer.Argument(..., help="The alert's id (see `finsent alerts list`)."),
    json_output: bool = JsonOption,
) -> None:
    """Acknowledge an alert: record that someone has seen it."""
    from pipeline.alerts import acknowledge_alert

    def work(session: Any) -> dict[str, Any]:
        alert = acknowledge_alert(session=session, alert_id=alert_id)
        return {"id": alert.id, "acknowledged_at": str(alert.acknowledged_at)}

    result = _in_session(work)
    if json_output:
        print_json(result)
    else:
        typer.echo(f"alert #{result['id']} acknowledged at {result['acknowledged_at']}")


@alerts_app.command("silence")
def silence(
    scope: str = typer.Option(
        ..., "--scope", help="A topic name, 'all' (the all-articles alert) or '*' (every scope)."
    ),
    duration: str = typer.Option("6h", "--for", help="How long, e.g. 30m, 6h, 2d, 1h30m."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept with the silence)."),
    json_output: bool = JsonOption,
) -> None:
    """Send no notifications for a scope for a while (alerts are still recorded)."""
    from pipeline.alerts import add_silence, parse_duration

    length = parse_duration(duration)

    def work(session: Any) -> dict[str, Any]:
        item = add_silence(session=session, scope=scope, duration=length, reason=reason)
        return {"id": item.id, "scope": item.scope, "until": item.until.isoformat()}

    result = _in_session(work)
    if json_output:
        print_json(result)
    else:
        typer.echo(f"silenced {result['scope']} until {result['until']} (silence #{result['id']})")
