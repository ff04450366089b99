"""Read-side counts: articles by topic, sentiment and hour of publication.

Every count is taken under one model version (``scores.model_version``), so an
old model's labels never mix with a new one's. Time is the article's
``published_at`` (ingest already falls back to the fetch time when a feed gives
none).

How a count over ``[start, end)`` is read: on PostgreSQL, the whole UTC hours inside
the range come from ``score_hours``, the hourly rollup that triggers keep exact in the
same transaction as every write to ``scores`` (migration 0004), and only the partial
hours at either end are counted by joining ``articles`` (an index range of under an
hour each) with ``scores``. The sum is exactly what one join over the whole range
gives, at a cost that grows with hours, not articles: the 7-day baseline reads ~10,000
rollup rows instead of joining ~77,000 articles (BENCHMARKS.md, Dashboard). On SQLite
the rollup is not kept and every count is the join.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from models import SENTIMENT_LABELS
from pipeline.schema import Article, Score, ScoreHour

# The model's sentiment label names (one list, exported by `models`; importing it loads
# no torch): the fields of SentimentCounts below are these three.
SENTIMENTS: tuple[str, ...] = SENTIMENT_LABELS


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


Period = Literal["hour", "day"]
# One counted cell: (period start or None, topic, sentiment) -> articles.
_Cells = dict[tuple[datetime | None, str, str], int]


def _uses_rollup(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The first and last hour boundaries inside ``[start, end)``, when a whole hour fits."""
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    first = start_utc.replace(minute=0, second=0, microsecond=0)
    if first < start_utc:
        first += timedelta(hours=1)
    last = end_utc.replace(minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def _article_bucket(session: Session, period: Period) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        # AT TIME ZONE 'UTC' first: date_trunc on timestamptz would follow the session's
        # time zone, and half-hour zones would shift the buckets.
        return func.date_trunc(period, func.timezone("UTC", Article.published_at))
    # SQLite stores naive UTC text; keep the hour (or day) prefix.
    pattern = "%Y-%m-%d %H:00:00" if period == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(pattern, Article.published_at)


def _as_utc_hour(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _joined_cells(
    session: Session,
    cells: _Cells,
    *,
    model_version: str,
    start: datetime,
    end: datetime,
    period: Period | None,
    topic: str | None,
) -> None:
    """Add the counts of ``[start, end)`` from the articles ⋈ scores join to ``cells``."""
    if start >= end:
        return
    columns: list[Any] = [Score.topic, Score.sentiment]
    if period is not None:
        columns.insert(0, _article_bucket(session, period).label("bucket"))
    query = (
        select(*columns, func.count())
        .join(Article, Article.id == Score.article_id)
        .where(*_window_filter(model_version, start, end))
        .group_by(*columns)
    )
    if topic is not None:
        query = query.where(Score.topic == topic)
    _add_rows(cells, session.execute(query), period=period)


def _add_rows(cells: _Cells, rows: Iterable[Any], *, period: Period | None) -> None:
    """Add ``([bucket,] topic, sentiment, count)`` rows to ``cells``."""
    for row in rows:
        if period is None:
            key: tuple[datetime | None, str, str] = (None, row[0], row[1])
        else:
            key = (_as_utc_hour(row[0]), row[1], row[2])
        cells[key] = cells.get(key, 0) + int(row[-1])


def _rollup_cells(
    session: Session,
    cells: _Cells,
    *,
    model_version: str,
    first: datetime,
    last: datetime,
    period: Period | None,
    topic: str | None,
) -> None:
    """Add the rollup's counts of the whole hours ``[first, last)`` to ``cells``."""
    columns: list[Any] = [ScoreHour.topic, ScoreHour.sentiment]
    if period is not None:
        columns.insert(0, func.date_trunc(period, func.timezone("UTC", ScoreHour.hour)))
    query = (
        select(*columns, func.sum(ScoreHour.n))
        .where(
            ScoreHour.model_version == model_version,
            ScoreHour.hour >= first,
            ScoreHour.hour < last,
        )
        .group_by(*columns)
        # Keys whose deltas cancel out (every such article deleted) are no articles at all.
        .having(func.sum(ScoreHour.n) != 0)
    )
    if topic is not None:
        query = query.where(ScoreHour.topic == topic)
    _add_rows(cells, session.execute(query), period=period)


def sentiment_cells(
    *,
    session: Session,
    model_version: str,
    start: datetime,
    end: datetime,
    period: Period | None = None,
    topic: str | None = None,
) -> _Cells:
    """Articles published in ``[start, end)`` per (period start, topic, sentiment).

    ``period=None`` counts the whole range (the first key item is then None); "hour"
    and "day" bucket by UTC hour or day. The one counting routine behind every public
    count here: rollup for the whole hours on PostgreSQL, the join for the rest.
    """
    cells: _Cells = {}
    hours = _whole_hours(start, end) if _uses_rollup(session) else None
    common: dict[str, Any] = {"model_version": model_version, "period": period, "topic": topic}
    if hours is None:
        _joined_cells(session, cells, start=start, end=end, **common)
        return cells
    first, last = hours
    _joined_cells(session, cells, start=start, end=first, **common)
    _rollup_cells(session, cells, first=first, last=last, **common)
    _joined_cells(session, cells, start=last, end=end, **common)
    return cells


def sentiment_counts_by_topic(
    *, session: Session, model_version: str, start: datetime, end: datetime
) -> dict[str, SentimentCounts]:
    """Counts per topic of articles published in ``[start, end)``."""
    cells = sentiment_cells(session=session, model_version=model_version, start=start, end=end)
    result: dict[str, SentimentCounts] = {}
    for (_, topic, sentiment), count in cells.items():
        result[topic] = result.get(topic, SentimentCounts()).plus(sentiment, count)
    return result


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
    cells = sentiment_cells(
        session=session,
        model_version=model_version,
        start=start,
        end=end,
        period="hour",
        topic=topic,
    )
    return _period_counts(cells.items())


def _period_counts(
    items: Iterable[tuple[tuple[datetime | None, str, str], int]],
) -> list[HourlyCounts]:
    grouped: dict[tuple[datetime, str], SentimentCounts] = {}
    for (hour, row_topic, sentiment), count in items:
        assert hour is not None
        key = (hour, row_topic)
        grouped[key] = grouped.get(key, SentimentCounts()).plus(sentiment, count)
    return [HourlyCounts(hour, t, counts) for (hour, t), counts in sorted(grouped.items())]


def compact_score_hours(*, session: Session, since: datetime | None = None) -> int:
    """Fold the rollup's delta rows into one row per key (PostgreSQL; nothing on SQLite).

    Every write statement on ``scores`` appends its own deltas (no row locks for
    concurrent scoring workers); this keeps the rows a count reads close to one per key.
    Safe at any time, alongside writers and readers: one statement, so readers see the
    rows before or after it, and deltas appended meanwhile are left for the next call.
    ``since`` limits it to hours from then on. Returns the rows removed.
    """
    if not _uses_rollup(session):
        return 0
    statement = text(
        """
        WITH keys AS (
            SELECT model_version, hour, topic, sentiment FROM score_hours
            WHERE hour >= COALESCE(CAST(:since AS timestamptz), '-infinity')
            GROUP BY 1, 2, 3, 4 HAVING count(*) > 1
        ), moved AS (
            DELETE FROM score_hours AS h USING keys AS k
            WHERE h.model_version = k.model_version AND h.hour = k.hour
              AND h.topic = k.topic AND h.sentiment = k.sentiment
            RETURNING h.model_version, h.hour, h.topic, h.sentiment, h.n
        ), folded AS (
            INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
            SELECT model_version, hour, topic, sentiment, sum(n) FROM moved
            GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM folded)
        """
    )
    return int(session.execute(statement, {"since": since}).scalar_one())


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
