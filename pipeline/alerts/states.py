"""The states an alert and a delivery can be in, as stored (the values are the stored text)."""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    """One episode of the rule for one scope: pending -> firing -> resolved."""

    PENDING = "pending"  # the condition holds, not yet for ``detect_for_evaluations`` runs
    FIRING = "firing"
    RESOLVED = "resolved"


OPEN_ALERT_STATES = (AlertState.PENDING, AlertState.FIRING)


class DeliveryEvent(StrEnum):
    """Which change of an alert a delivery announces."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Channel(StrEnum):
    WEBHOOK = "webhook"  # one delivery per URL
    EMAIL = "email"  # one delivery per recipient
    OUTBOX = "outbox"  # one delivery per folder


class DeliveryStatus(StrEnum):
    """Where one delivery stands. Only ``pending`` and ``retry`` are attempted again."""

    PENDING = "pending"  # created, not attempted yet
    RETRY = "retry"  # a failure that may pass; due again at ``next_attempt_at``
    SENT = "sent"
    FAILED = "failed"  # a permanent failure, or the last allowed attempt failed
    REFUSED = "refused"  # the mail server refused this recipient for good (SMTP 5xx)
    MISCONFIGURED = "misconfigured"  # finsent's own settings are wrong: fix them, then re-run


DUE_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)
