"""Operator actions on alerts (``finsent alerts ...``, later the dashboard): list, show,
acknowledge, silence."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.alerts.states import OPEN_ALERT_STATES, AlertState
from pipeline.db import iso, utcnow
from pipeline.errors import FinsentError, UsageError
from pipeline.schema import Alert, Delivery, Score, Silence

MAX_ID = 2**31 - 1
# Longer than anyone means: a typo (`999999999d`), not a plan.
MAX_SILENCE = timedelta(days=366)

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``"6h"``, ``"90m"``, ``"1d12h"`` -> a timedelta; a clear error otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or _DURATION.sub("", compact).strip():
        raise UsageError(f"cannot read duration {text!r}; use e.g. 30m, 6h, 2d or 1h30m")
    seconds = sum(int(value) * _UNIT_SECONDS[unit] for value, unit in parts)
    if seconds <= 0:
        raise UsageError(f"duration {text!r} must be positive")
    if seconds > MAX_SILENCE.total_seconds():  # before timedelta() itself overflows
        raise FinsentError(
            f"duration {text!r} is too long: a silence lasts at most {MAX_SILENCE.days}d"
        )
    return timedelta(seconds=seconds)


def list_alerts(*, session: Session, state: str = "all", limit: int | None = None) -> list[Alert]:
    """Alerts, newest first. ``state``: pending | firing | resolved | open | all."""
    query = select(Alert).order_by(Alert.started_at.desc(), Alert.id.desc())
    if state == "open":
        query = query.where(Alert.state.in_(OPEN_ALERT_STATES))
    elif state != "all":
        if state not in set(AlertState):
            raise UsageError(f"unknown state {state!r}; use firing, resolved, pending, open or all")
        query = query.where(Alert.state == state)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def alert_as_dict(*, session: Session, alert: Alert) -> dict[str, Any]:
    """An alert with its evidence and deliveries, ready for JSON.

    Each delivery is one target (a webhook URL, an email recipient, a folder) with its own
    ``status`` (:class:`~pipeline.alerts.states.DeliveryStatus`): a recipient the mail
    server refused shows as ``refused`` with the server's reply in ``last_error``.
    """
    deliveries = session.scalars(
        select(Delivery).where(Delivery.alert_id == alert.id).order_by(Delivery.id)
    )
    return {
        "id": alert.id,
        "rule": alert.rule,
        "scope": alert.scope,
        "topic": alert.topic,
        "state": alert.state,
        "started_at": iso(alert.started_at),
        "fired_at": iso(alert.fired_at),
        "resolved_at": iso(alert.resolved_at),
        "last_evaluated_at": iso(alert.last_evaluated_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "fingerprint": alert.fingerprint,
        "model_version": alert.model_version,
        "evidence": alert.evidence,
        "deliveries": [
            {
                "channel": d.channel,
                "target": d.target,
                "event": d.event,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "next_attempt_at": iso(d.next_attempt_at),
            }
            for d in deliveries
        ],
    }


def acknowledge_alert(*, session: Session, alert_id: int, now: datetime | None = None) -> Alert:
    """Record that someone has seen the alert (the first acknowledgement time is kept)."""
    # Ids are 32-bit integers on every backend; a larger number cannot name an alert.
    alert = session.get(Alert, alert_id) if 0 < alert_id <= MAX_ID else None
    if alert is None:
        raise FinsentError(f"no alert with id {alert_id}")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now or utcnow()
    return alert


def _known_topic(session: Session, scope: str) -> str:
    """The topic ``scope`` names, as the model spells it (case aside).

    A misspelt topic would silence nothing while looking as if it did, so it is refused
    with the list of topics; before anything is scored there is no list to check against.
    """
    topics = sorted(session.scalars(select(Score.topic).distinct()))
    if not topics:
        return scope
    by_case = {topic.casefold(): topic for topic in topics}
    if scope.casefold() in by_case:
        return by_case[scope.casefold()]
    raise FinsentError(f"no topic {scope!r}; use 'all', '*' or one of: " + ", ".join(topics))


def add_silence(
    *,
    session: Session,
    scope: str,
    duration: timedelta,
    now: datetime | None = None,
    reason: str | None = None,
) -> Silence:
    """Silence notifications for ``scope`` (a topic, ``all``, or ``*``) for ``duration``."""
    scope = scope.strip()
    if not scope:
        raise FinsentError("--scope must name a topic, 'all' (the all-articles alert) or '*'")
    if duration > MAX_SILENCE:
        raise FinsentError(f"a silence lasts at most {MAX_SILENCE.days} days")
    if scope not in ("all", "*"):
        scope = _known_topic(session, scope)
    now = now or utcnow()
    silence = Silence(scope=scope, until=now + duration, created_at=now, reason=reason)
    session.add(silence)
    session.flush()
    return silence
