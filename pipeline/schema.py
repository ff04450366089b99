"""The tables. Alembic migrations in ``pipeline/migrations/versions`` create them.

Natural keys carry unique constraints so every write can be an upsert and any
stage can be re-run without changing anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.db import Base, UTCDateTime, utcnow


class Feed(Base):
    """A feed to poll, with its HTTP validators and failure back-off."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str | None] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Conditional GET validators, stored only after a 200.
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(256))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Not polled before this time (back-off after failures, or Retry-After).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class FetchAttempt(Base):
    """One row per feed per ingest run: what happened and how long it took."""

    __tablename__ = "fetch_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # fetched | not_modified | skipped | error
    status: Mapped[str] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class Article(Base):
    """One row per story. Deduplicated by GUID, then canonical URL, then content hash."""

    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_at", "published_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feeds.id", ondelete="SET NULL"), index=True
    )
    guid: Mapped[str | None] = mapped_column(String(2048), unique=True)
    canonical_url: Mapped[str | None] = mapped_column(String(2048), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2048))
    # UTC; the fetch time when the feed gave none, an unparsable or a future one.
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_from_feed: Mapped[bool] = mapped_column(Boolean, default=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Score(Base):
    """One article's labels from one model version. Old versions' rows are kept."""

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("article_id", "model_version", name="uq_scores_article_version"),
        Index("ix_scores_model_version_topic", "model_version", "topic"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(128))
    topic_probability: Mapped[float] = mapped_column(Float)
    sentiment: Mapped[str] = mapped_column(String(16))
    p_negative: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)
    p_positive: Mapped[float] = mapped_column(Float)
    # P(positive) - P(negative), in [-1, 1].
    sentiment_score: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Alerts (detection and delivery; migration 0003) ---------------------------------

# Detection's "current model version" is the most recently scored one (migration 0003).
Index("ix_scores_scored_at", Score.scored_at)

_OPEN_ALERT = "state IN ('pending', 'firing')"


class Alert(Base):
    """One episode of a rule holding for one scope: pending -> firing -> resolved.

    ``scope`` is ``all`` or ``topic``; ``topic`` is the topic name, or ``all`` for the
    all-articles scope. At most one open (pending or firing) alert per (rule, scope, topic),
    enforced by a partial unique index.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_rule_scope_topic",
            "rule",
            "scope",
            "topic",
            unique=True,
            postgresql_where=text(_OPEN_ALERT),
            sqlite_where=text(_OPEN_ALERT),
        ),
        Index("ix_alerts_state_started_at", "state", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))  # all | topic
    topic: Mapped[str] = mapped_column(String(128))  # the topic name, or "all"
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive evaluations the firing condition has held (pending -> firing).
    evaluations: Mapped[int] = mapped_column(Integer, default=1)
    # Hash of the labels, as Alertmanager's fingerprint: the same for every episode of a scope.
    fingerprint: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(64))
    # window, n, negatives, share, baseline, p-value, top negative headlines, silence, ...
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class Delivery(Base):
    """One notification of one alert event to one target, with its attempts."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "alert_id", "channel", "target", "event", name="uq_deliveries_alert_target_event"
        ),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))  # webhook | email | outbox
    target: Mapped[str] = mapped_column(String(2048))  # URL, recipient list or folder
    event: Mapped[str] = mapped_column(String(16))  # firing | resolved
    status: Mapped[str] = mapped_column(String(16))  # pending | retry | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The body of the last attempt (webhook JSON, or the email's text part).
    payload: Mapped[str | None] = mapped_column(Text)


class Silence(Base):
    """No notifications for ``scope`` (a topic name, ``all``, or ``*`` for every scope)
    until ``until``; alerts are still evaluated and recorded."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_until", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(128))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


# --- Dashboard (analysts' corrections, the hourly rollup; migration 0004) -------------


class Correction(Base):
    """An analyst's verdict that the model got one label of one article wrong.

    Kept apart from ``scores`` (the model's output is never overwritten); one row per
    (article, field), so correcting again replaces the earlier correction. ``model_label``
    and ``model_version`` record what the analyst saw when they corrected it.
    """

    __tablename__ = "corrections"
    __table_args__ = (
        UniqueConstraint("article_id", "field", name="uq_corrections_article_field"),
        CheckConstraint("field IN ('topic', 'sentiment')", name="field"),
        Index("ix_corrections_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(16))  # topic | sentiment
    label: Mapped[str] = mapped_column(String(128))  # the right label name
    model_label: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(256))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The Articles page sorts one model version's scores by P(negative) or P(positive)
# (migration 0004); descending order is a backward scan of these.
Index("ix_scores_model_version_p_negative", Score.model_version, Score.p_negative)
Index("ix_scores_model_version_p_positive", Score.model_version, Score.p_positive)


class ScoreHour(Base):
    """How many score rows one (model version, UTC publication hour, topic, sentiment) has.

    Written only by database triggers on PostgreSQL (migration 0004), as signed deltas
    that readers add up; :mod:`pipeline.alerts.counts` reads it. Empty on SQLite.
    """

    __tablename__ = "score_hours"
    __table_args__ = (Index("ix_score_hours_model_version_hour", "model_version", "hour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    topic: Mapped[str] = mapped_column(String(128))
    sentiment: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(Integer)
