"""Read-side counts: articles by topic, sentiment and hour of publication.

Every count is taken under one model version (``scores.model_version``), so an
old model's labels never mix with a new one's. Time is the article's
``published_at`` (ingest already falls back to the fetch time when a feed gives
none). The queries are plain ``GROUP BY``s over a ``published_at`` range, served by
``ix_articles_published_at`` and the ``(article_id, model_version)`` unique index
on scores; ``benchmarks/aggregates_pg.py`` measures them on a million articles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from pipeline.schema import Article, Score

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class SentimentCounts:
    """How many articles read negative, neutral and positive."""

    negative: int = 0
    neutral: int = 0
    positive: int = 0

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive

    def plus(self, sentiment: str, count: int) -> SentimentCounts:
        if sentiment not in SENTIMENTS:
            return self
        values = {name: getattr(self, name) for name in SENTIMENTS}
        values[sentiment] += count
        return SentimentCounts(**values)


@dataclass(frozen=True)
class HourlyCounts:
    """Sentiment counts of one topic in one hour (``hour`` is the UTC hour start)."""

    hour: datetime
    topic: str
    counts: SentimentCounts

    def as_dict(self) -> dict[str, Any]:
        return {
            "hour": self.hour.isoformat(),
            "topic": self.topic,
            "negative": self.counts.negative,
            "neutral": self.counts.neutral,
            "positive": self.counts.positive,
            "total": self.counts.total,
        }


def latest_model_version(*, session: Session) -> str | None:
    """The model version that scored most recently (greatest ``scored_at``), or None.

    Detection uses it as "the current model": after a new checkpoint is deployed and
    starts scoring, its labels take over; until then the previous version's do.
    """
    # Served by ix_scores_scored_at (migration 0003): one index probe, not a scan.
    return session.scalars(
        select(Score.model_version).order_by(Score.scored_at.desc()).limit(1)
    ).first()


def _window_filter(model_version: str, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [
        Score.model_version == model_version,
        Article.published_at >= start,
        Article.published_at < end,
    ]


def sentiment_counts_by_topic(
    *, session: Session, model_version: str, start: datetime, end: datetime
) -> dict[str, SentimentCounts]:
    """Counts per topic of articles published in ``[start, end)``."""
    rows = session.execute(
        select(Score.topic, Score.sentiment, func.count())
        .join(Article, Article.id == Score.article_id)
        .where(*_window_filter(model_version, start, end))
        .group_by(Score.topic, Score.sentiment)
    )
    result: dict[str, SentimentCounts] = {}
    for topic, sentiment, count in rows:
        result[topic] = result.get(topic, SentimentCounts()).plus(sentiment, int(count))
    return result


def _hour_bucket(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        # AT TIME ZONE 'UTC' first: date_trunc on timestamptz would follow the session's
        # time zone, and half-hour zones would shift the buckets.
        return func.date_trunc("hour", func.timezone("UTC", Article.published_at))
    # SQLite stores naive UTC text; keep the hour prefix.
    return func.strftime("%Y-%m-%d %H:00:00", Article.published_at)


def _as_utc_hour(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hourly_sentiment_counts(
    *,
    session: Session,
    model_version: str,
    start: datetime,
    end: datetime,
    topic: str | None = None,
) -> list[HourlyCounts]:
    """Per (hour, topic) counts of articles published in ``[start, end)``, oldest first.

    ``topic=None`` gives every topic; sum over topics for the all-articles series
    (:func:`all_topics_hourly`).
    """
    bucket = _hour_bucket(session).label("hour")
    query = (
        select(bucket, Score.topic, Score.sentiment, func.count())
        .join(Article, Article.id == Score.article_id)
        .where(*_window_filter(model_version, start, end))
        .group_by(bucket, Score.topic, Score.sentiment)
    )
    if topic is not None:
        query = query.where(Score.topic == topic)
    cells: dict[tuple[datetime, str], SentimentCounts] = {}
    for hour, row_topic, sentiment, count in session.execute(query):
        key = (_as_utc_hour(hour), row_topic)
        cells[key] = cells.get(key, SentimentCounts()).plus(sentiment, int(count))
    return [HourlyCounts(hour, t, counts) for (hour, t), counts in sorted(cells.items())]


def all_topics_hourly(rows: list[HourlyCounts]) -> list[HourlyCounts]:
    """Collapse per-topic hourly rows into one ``all`` row per hour."""
    totals: dict[datetime, SentimentCounts] = {}
    for row in rows:
        current = totals.get(row.hour, SentimentCounts())
        totals[row.hour] = SentimentCounts(
            current.negative + row.counts.negative,
            current.neutral + row.counts.neutral,
            current.positive + row.counts.positive,
        )
    return [HourlyCounts(hour, "all", counts) for hour, counts in sorted(totals.items())]


@dataclass(frozen=True)
class Headline:
    """One article as evidence: its title, link and how negative the model found it."""

    article_id: int
    title: str
    link: str | None
    published_at: datetime
    topic: str
    p_negative: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "link": self.link,
            "published_at": self.published_at.isoformat(),
            "topic": self.topic,
            "p_negative": round(self.p_negative, 4),
        }


def most_negative_headlines(
    *,
    session: Session,
    model_version: str,
    start: datetime,
    end: datetime,
    topic: str | None = None,
    limit: int = 5,
) -> list[Headline]:
    """The articles labelled negative in ``[start, end)`` with the highest P(negative)."""
    query = (
        select(
            Article.id,
            Article.title,
            Article.link,
            Article.published_at,
            Score.topic,
            Score.p_negative,
        )
        .join(Score, Score.article_id == Article.id)
        .where(*_window_filter(model_version, start, end), Score.sentiment == "negative")
        .order_by(Score.p_negative.desc(), Article.id)
        .limit(limit)
    )
    if topic is not None:
        query = query.where(Score.topic == topic)
    return [Headline(*row) for row in session.execute(query)]
