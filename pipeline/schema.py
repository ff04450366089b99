"""The tables. Alembic migrations in ``pipeline/migrations/versions`` create them.

Natural keys carry unique constraints so every write can be an upsert and any
stage can be re-run without changing anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
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
