"""``finsent alerts list|ack|silence``: the operator's side of alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.orm import Session

from pipeline.cli.app import JsonOption, alerts_app, print_json
from pipeline.settings import get_settings

T = TypeVar("T")


def _in_session(work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction on the configured database."""
    from pipeline.wiring import open_database

    engine = open_database(get_settings(), migrate=False)
    try:
        with Session(engine) as session, session.begin():
            return work(session)
    finally:
        engine.dispose()


@alerts_app.command("list")
def list_command(
    json_output: bool = JsonOption,
    state: str = typer.Option(
        "all", "--state", help="firing | resolved | pending | open | all", show_default=True
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
) -> None:
    """Alerts, newest first."""
    from pipeline.alerts.actions import alert_as_dict, list_alerts

    def work(session: Session) -> list[dict[str, Any]]:
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
    from pipeline.alerts.actions import acknowledge_alert

    def work(session: Session) -> dict[str, Any]:
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
    from pipeline.alerts.actions import add_silence, parse_duration

    length = parse_duration(duration)

    def work(session: Session) -> dict[str, Any]:
        item = add_silence(session=session, scope=scope, duration=length, reason=reason)
        return {"id": item.id, "scope": item.scope, "until": item.until.isoformat()}

    result = _in_session(work)
    if json_output:
        print_json(result)
    else:
        typer.echo(f"silenced {result['scope']} until {result['until']} (silence #{result['id']})")
