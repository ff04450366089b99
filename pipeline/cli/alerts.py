"""``finsent alerts list|ack|silence``: the operator's side of alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import typer
from rich import box
from rich.console import Console
from rich.table import Table
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
    _print_alerts(rows)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _minute(timestamp: str | None) -> str:
    """An ISO timestamp to the minute, for the table (the JSON keeps it whole)."""
    return timestamp[:16].replace("T", " ") if timestamp else ""


def _shown_target(channel: str, target: str) -> str:
    """A webhook URL by its host only: its path often holds a token."""
    from pipeline.alerts.states import Channel

    if channel == Channel.WEBHOOK:
        return urlsplit(target).hostname or "webhook"
    return target


def _print_alerts(rows: list[dict[str, Any]]) -> None:
    # Imported here: `pipeline.alerts` pulls in the rule's statistics, which
    # `finsent --help` should not wait for.
    from pipeline.alerts.evidence import Evidence
    from pipeline.alerts.states import DeliveryStatus

    # Short columns that stay whole; the two that may fold keep a minimum width, so a
    # narrow terminal never drops them. Delivery problems are printed in full below.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("scope", overflow="fold", min_width=8)
    table.add_column("negative", justify="right", no_wrap=True)
    table.add_column("baseline", justify="right", no_wrap=True)
    table.add_column("since", no_wrap=True)
    table.add_column("deliveries", overflow="fold", min_width=10)
    problems: list[str] = []
    for row in rows:
        ev = Evidence.from_json(row["evidence"])
        statuses = Counter(d["status"] for d in row["deliveries"])
        table.add_row(
            str(row["id"]),
            row["state"] + (" (ack)" if row["acknowledged_at"] else ""),
            "all articles" if row["scope"] == "all" else row["topic"],
            f"{_pct(ev.share)} of {ev.n}",
            _pct(ev.baseline),
            _minute(row["fired_at"] or row["started_at"]),
            " ".join(f"{status}:{count}" for status, count in sorted(statuses.items())),
        )
        for d in row["deliveries"]:
            if d["status"] == DeliveryStatus.SENT or not d["last_error"]:
                continue
            due = _minute(d["next_attempt_at"])
            problems.append(
                f"alert {row['id']}: {d['channel']} to {_shown_target(d['channel'], d['target'])} "
                f"({d['event']}): {d['status']}{f' at {due}' if due else ''}; "
                f"last error: {d['last_error']}"
            )
    # markup off: topics, recipients and server replies are data, never rich markup.
    console = Console(markup=False, highlight=False)
    console.print(table)
    for line in problems:
        console.print(line, soft_wrap=True)


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
