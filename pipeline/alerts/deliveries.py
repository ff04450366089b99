"""Delivery bookkeeping: one row per (alert, channel, target, event), every attempt counted.

Rows are created when an alert starts firing or resolves (idempotently: the natural
key is unique) and sent by :func:`send_due_deliveries`, each in its own short
transaction, so a failing channel never blocks another. A failure that may pass
(network error, HTTP 429/5xx, SMTP 4xx) is retried on a later run after an
exponential back-off; a permanent one (other 4xx, SMTP 5xx) is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from pipeline.alerts.notify import AlertMessage, DeliveryError, Notifier
from pipeline.schema import Alert, Delivery

DUE_STATUSES = ("pending", "retry")


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit hash of the labels (the same for every episode of a scope)."""
    text = "\x00".join(f"{key}={labels[key]}" for key in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_message(alert: Alert, *, event: str, dashboard_url: str) -> AlertMessage:
    """The notification content for one event of ``alert``."""
    return AlertMessage(
        alert_id=alert.id,
        event=event,
        rule=alert.rule,
        scope=alert.scope,
        topic=alert.topic,
        fingerprint=alert.fingerprint,
        starts_at=alert.fired_at or alert.started_at,
        ends_at=alert.resolved_at if event == "resolved" else None,
        evidence=dict(alert.evidence),
        dashboard_url=dashboard_url,
        acknowledged=alert.acknowledged_at is not None,
    )


def schedule_deliveries(
    *,
    session: Session,
    alert: Alert,
    event: str,
    notifiers: Sequence[Notifier],
    now: datetime,
    only_targets: set[tuple[str, str]] | None = None,
) -> int:
    """Create the missing delivery rows of ``event`` for ``alert``; returns how many.

    ``only_targets`` limits resolved messages to the (channel, target) pairs that were
    told about the firing.
    """
    rows = session.execute(
        select(Delivery.channel, Delivery.target).where(
            Delivery.alert_id == alert.id, Delivery.event == event
        )
    )
    existing: set[tuple[str, str]] = {(channel, target) for channel, target in rows}
    created = 0
    for notifier in notifiers:
        for target in notifier.targets():
            key = (notifier.channel, target)
            if key in existing or (only_targets is not None and key not in only_targets):
                continue
            session.add(
                Delivery(
                    alert_id=alert.id,
                    channel=notifier.channel,
                    target=target,
                    event=event,
                    status="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            existing.add(key)
            created += 1
    return created


def notified_targets(*, session: Session, alert_id: int) -> set[tuple[str, str]]:
    """The (channel, target) pairs that have a firing delivery for this alert."""
    rows = session.execute(
        select(Delivery.channel, Delivery.target).where(
            Delivery.alert_id == alert_id, Delivery.event == "firing"
        )
    )
    return {(channel, target) for channel, target in rows}


def backoff(attempts: int, *, base_seconds: int, max_seconds: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: base, 2x base, 4x base, ... up to the cap."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class DeliveryOutcome:
    sent: int = 0
    failed: int = 0  # attempts that failed in this run (retried later or given up)
    given_up: int = 0  # of which permanently failed


def _find_notifier(notifiers: Sequence[Notifier], channel: str, target: str) -> Notifier | None:
    for notifier in notifiers:
        if notifier.channel == channel and target in notifier.targets():
            return notifier
    return None


def send_due_deliveries(
    *,
    engine: Engine,
    notifiers: Sequence[Notifier],
    dashboard_url: str,
    now: datetime,
    max_attempts: int,
    backoff_base_seconds: int,
    backoff_max_seconds: int,
    lease_seconds: float = 300.0,
) -> DeliveryOutcome:
    """Attempt every delivery that is due; record each attempt on its row."""
    outcome = DeliveryOutcome()
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    with Session(engine) as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.status.in_(DUE_STATUSES), due).order_by(Delivery.id)
        ).all()
    for delivery_id in ids:
        # Claim the row first: a concurrent run that got the same id finds it leased.
        with Session(engine) as session, session.begin():
            result = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status.in_(DUE_STATUSES), due)
                .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
            )
            claimed = getattr(result, "rowcount", 0)
        if claimed != 1:
            continue
        with Session(engine) as session, session.begin():
            delivery = session.get_one(Delivery, delivery_id)
            alert = session.get_one(Alert, delivery.alert_id)
            message = alert_message(alert, event=delivery.event, dashboard_url=dashboard_url)
            notifier = _find_notifier(notifiers, delivery.channel, delivery.target)
            delivery.attempts += 1
            delivery.last_attempt_at = now
            try:
                if notifier is None:
                    raise DeliveryError(
                        f"{delivery.channel} target no longer configured", permanent=True
                    )
                try:
                    delivery.payload = notifier.send(message, target=delivery.target)
                except DeliveryError:
                    raise
                except Exception as exc:  # a notifier bug must not stop the other channels
                    raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
            except DeliveryError as exc:
                outcome.failed += 1
                delivery.last_error = str(exc)[:2000]
                if exc.permanent or delivery.attempts >= max_attempts:
                    delivery.status = "failed"
                    delivery.next_attempt_at = None
                    outcome.given_up += 1
                else:
                    delivery.status = "retry"
                    delivery.next_attempt_at = now + backoff(
                        delivery.attempts,
                        base_seconds=backoff_base_seconds,
                        max_seconds=backoff_max_seconds,
                    )
            else:
                outcome.sent += 1
                delivery.status = "sent"
                delivery.sent_at = now
                delivery.next_attempt_at = None
                delivery.last_error = None
    return outcome
