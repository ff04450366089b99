"""Delivery bookkeeping: one row per (alert, channel, target, event), every attempt counted.

A target is one webhook URL, one email recipient or one outbox folder, so each has its
own outcome: a greylisted recipient is retried alone, a refused one is recorded as
refused while the others got the message.

Rows are created when an alert starts firing or resolves (idempotently: the natural key
is unique) and sent by :func:`send_due_deliveries`:

1. claim the due rows (at most :data:`MAX_ATTEMPTS_PER_RUN`; the rest wait for the next
   run), each by moving its ``next_attempt_at`` past the attempt, so that a concurrent
   run does not send it too;
2. attempt them all at once, each in its own daemon thread, no database connection held;
3. wait at most ``timeout_seconds`` (``FINSENT_DELIVERY_TIMEOUT_SECONDS``, the whole
   attempt), then cut the connections of the attempts still running (see
   :mod:`pipeline.alerts.deadline`) and wait :data:`GRACE_SECONDS` more. An attempt that
   has still not returned (a DNS lookup cannot be interrupted) is recorded as timed out
   and left behind: its thread is a daemon, so it never holds up the process's exit, and
   any connection it opens later is cut at once, so it cannot send late;
4. record each outcome in its own short transaction.

So one run of deliveries takes at most ``timeout_seconds + GRACE_SECONDS`` plus the
bookkeeping, whatever the receivers do, and a slow target delays no other.

A failure that may pass (a network error, a timeout, HTTP 429/5xx, SMTP 4xx) is retried
on a later run after an exponential back-off (:func:`pipeline.backoff.exponential_backoff`),
up to ``FINSENT_DELIVERY_MAX_ATTEMPTS`` attempts; a permanent one, a refused recipient or
a configuration error is recorded once and not retried.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from pipeline.alerts.deadline import Deadline
from pipeline.alerts.evidence import evidence_of
from pipeline.alerts.message import AlertMessage
from pipeline.alerts.notify import DeliveryError, Failure, Notifier, email_recipients
from pipeline.alerts.states import (
    DUE_DELIVERY_STATUSES,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
)
from pipeline.backoff import exponential_backoff
from pipeline.schema import Alert, Delivery

MAX_ATTEMPTS_PER_RUN = 200
GRACE_SECONDS = 1.0
_STATUS_OF_FAILURE = {
    Failure.PERMANENT: DeliveryStatus.FAILED,
    Failure.REFUSED: DeliveryStatus.REFUSED,
    Failure.CONFIGURATION: DeliveryStatus.MISCONFIGURED,
}


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit hash of the labels (the same for every episode of a scope)."""
    text = "\x00".join(f"{key}={labels[key]}" for key in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_message(alert: Alert, *, event: DeliveryEvent, dashboard_url: str) -> AlertMessage:
    """The notification content for one event of ``alert``."""
    return AlertMessage(
        alert_id=alert.id,
        event=event,
        rule=alert.rule,
        scope=alert.scope,
        topic=alert.topic,
        fingerprint=alert.fingerprint,
        starts_at=alert.fired_at or alert.started_at,
        ends_at=alert.resolved_at if event == DeliveryEvent.RESOLVED else None,
        evidence=evidence_of(alert),
        dashboard_url=dashboard_url,
    )


def schedule_deliveries(
    *,
    session: Session,
    alert: Alert,
    event: DeliveryEvent,
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
            key = (str(notifier.channel), target)
            if key in existing or (only_targets is not None and key not in only_targets):
                continue
            session.add(
                Delivery(
                    alert_id=alert.id,
                    channel=notifier.channel,
                    target=target,
                    event=event,
                    status=DeliveryStatus.PENDING,
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
            Delivery.alert_id == alert_id, Delivery.event == DeliveryEvent.FIRING
        )
    )
    told: set[tuple[str, str]] = set()
    for channel, target in rows:
        if channel == Channel.EMAIL:  # rows from before one row per recipient list several
            told.update((channel, recipient) for recipient in email_recipients(target))
        else:
            told.add((channel, target))
    return told


@dataclass
class DeliveryOutcome:
    sent: int = 0
    failed: int = 0  # attempts that failed in this run (whether retried later or not)


def _find_notifier(notifiers: Sequence[Notifier], channel: str, target: str) -> Notifier | None:
    for notifier in notifiers:
        if notifier.channel != channel:
            continue
        targets = notifier.targets()
        if target in targets:
            return notifier
        # A row from before one row per recipient: still sent while all are configured.
        if channel == Channel.EMAIL and set(email_recipients(target)) <= set(targets):
            return notifier
    return None


@dataclass
class _Attempt:
    """One delivery attempt, run in its own thread; touches no database."""

    delivery_id: int
    channel: str
    target: str
    notifier: Notifier | None
    message: AlertMessage
    deadline: Deadline = field(init=False)
    payload: str | None = None
    error: DeliveryError | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, *, timeout_seconds: float) -> None:
        self.deadline = Deadline(timeout_seconds)
        # A daemon: an attempt stuck where nothing can interrupt it (a DNS lookup) must
        # not keep the process alive once the run has moved on.
        name = f"finsent-delivery-{self.delivery_id}"
        try:
            threading.Thread(target=self._run, name=name, daemon=True).start()
        except RuntimeError as exc:  # no thread to be had (a process limit): try later
            with self._lock:
                self.error = DeliveryError(f"cannot start the attempt: {exc}")
                self.done.set()

    def _run(self) -> None:
        payload: str | None = None
        error: DeliveryError | None = None
        try:
            if self.notifier is None:
                raise DeliveryError(
                    f"{self.channel} target no longer configured", failure=Failure.PERMANENT
                )
            payload = self.notifier.send(self.message, target=self.target, deadline=self.deadline)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a notifier bug must not stop the other deliveries
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        finally:
            self.deadline.release()
        with self._lock:
            if not self.done.is_set():
                self.payload, self.error = payload, error
                self.done.set()

    def give_up(self) -> None:
        """Record the attempt as timed out, unless it has just finished after all."""
        with self._lock:
            if not self.done.is_set():
                self.error = DeliveryError(self.deadline.timeout_message())
                self.done.set()


def _run_all(attempts: list[_Attempt], *, timeout_seconds: float) -> None:
    """Run every attempt at once; return within ``timeout_seconds + GRACE_SECONDS``."""
    end = time.monotonic() + timeout_seconds
    for attempt in attempts:
        attempt.start(timeout_seconds=timeout_seconds)
    for attempt in attempts:
        attempt.done.wait(max(0.0, end - time.monotonic()))
    late = [attempt for attempt in attempts if not attempt.done.is_set()]
    for attempt in late:
        attempt.deadline.expire()
    grace_end = time.monotonic() + GRACE_SECONDS
    for attempt in late:
        attempt.done.wait(max(0.0, grace_end - time.monotonic()))
        attempt.give_up()


def _claim(engine: Engine, delivery_id: int, *, now: datetime, lease: timedelta) -> bool:
    """Take the row for this run: a concurrent run that got the same id finds it leased."""
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(DUE_DELIVERY_STATUSES), due)
            .values(next_attempt_at=now + lease)
        )
        return getattr(result, "rowcount", 0) == 1


def _prepare(
    engine: Engine, ids: list[int], *, notifiers: Sequence[Notifier], dashboard_url: str
) -> list[_Attempt]:
    attempts = []
    with Session(engine) as session:
        for delivery_id in ids:
            delivery = session.get_one(Delivery, delivery_id)
            alert = session.get_one(Alert, delivery.alert_id)
            event = DeliveryEvent(delivery.event)
            attempts.append(
                _Attempt(
                    delivery_id=delivery_id,
                    channel=delivery.channel,
                    target=delivery.target,
                    notifier=_find_notifier(notifiers, delivery.channel, delivery.target),
                    message=alert_message(alert, event=event, dashboard_url=dashboard_url),
                )
            )
    return attempts


def _record(
    engine: Engine,
    attempt: _Attempt,
    *,
    now: datetime,
    max_attempts: int,
    backoff_base_seconds: float,
    backoff_max_seconds: float,
) -> None:
    with Session(engine) as session, session.begin():
        delivery = session.get_one(Delivery, attempt.delivery_id)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        error = attempt.error
        if error is None:
            delivery.status = DeliveryStatus.SENT
            delivery.payload = attempt.payload
            delivery.sent_at = now
            delivery.next_attempt_at = None
            delivery.last_error = None
            return
        delivery.last_error = str(error)[:2000]
        if error.failure == Failure.TRANSIENT and delivery.attempts < max_attempts:
            delivery.status = DeliveryStatus.RETRY
            delivery.next_attempt_at = now + exponential_backoff(
                attempt=delivery.attempts,
                base_seconds=backoff_base_seconds,
                max_seconds=backoff_max_seconds,
            )
        else:
            delivery.status = _STATUS_OF_FAILURE.get(error.failure, DeliveryStatus.FAILED)
            delivery.next_attempt_at = None


def send_due_deliveries(
    *,
    engine: Engine,
    notifiers: Sequence[Notifier],
    dashboard_url: str,
    now: datetime,
    max_attempts: int,
    backoff_base_seconds: float,
    backoff_max_seconds: float,
    timeout_seconds: float,
    max_per_run: int = MAX_ATTEMPTS_PER_RUN,
) -> DeliveryOutcome:
    """Attempt every delivery that is due (up to ``max_per_run``), all at once, each within
    ``timeout_seconds``; record each attempt on its row. See the module docstring."""
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    with Session(engine) as session:
        ids = session.scalars(
            select(Delivery.id)
            .where(Delivery.status.in_(DUE_DELIVERY_STATUSES), due)
            .order_by(Delivery.id)
            .limit(max_per_run)
        ).all()
    # Longer than any attempt can take, so no concurrent run sends a row being sent.
    lease = timedelta(seconds=max(300.0, 2 * (timeout_seconds + GRACE_SECONDS)))
    claimed = [i for i in ids if _claim(engine, i, now=now, lease=lease)]
    attempts = _prepare(engine, claimed, notifiers=notifiers, dashboard_url=dashboard_url)
    _run_all(attempts, timeout_seconds=timeout_seconds)
    outcome = DeliveryOutcome()
    for attempt in attempts:
        _record(
            engine,
            attempt,
            now=now,
            max_attempts=max_attempts,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )
        if attempt.error is None:
            outcome.sent += 1
        else:
            outcome.failed += 1
    return outcome
