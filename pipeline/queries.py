"""Read-side queries for the dashboard: what each page shows, computed in SQL.

Counts by topic, sentiment and time come from :mod:`pipeline.alerts.counts` (the hourly
rollup on PostgreSQL), so the dashboard and detection always agree; this module adds the
rest — the state of the system, alert markers, the article table with its filters, feed
health. Every function takes a session and keyword arguments and returns plain
dataclasses; nothing here imports Streamlit or pandas, and nothing loads a whole table:
tables are paged (``limit``) and counts capped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TextIO

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from pipeline.alerts.counts import (
    Headline,
    Period,
    latest_model_version,
    most_negative_headlines,
    sentiment_cells,
    sentiment_counts_by_topic,
)
from pipeline.alerts.evidence import Evidence, evidence_of
from pipeline.alerts.states import OPEN_ALERT_STATES
from pipeline.db import alembic_config, current_revision
from pipeline.ingest.feeds import feed_as_dict
from pipeline.schema import Alert, Article, Correction, Feed, FetchAttempt, Score

ArticleSort = Literal["newest", "most_negative", "most_positive", "least_sure_topic"]
ARTICLE_SORTS: dict[str, str] = {
    "newest": "newest first",
    "most_negative": "most negative first (P(negative))",
    "most_positive": "most positive first (P(positive))",
    "least_sure_topic": "least sure topic first (P(topic))",
}


def schema_problem(session: Session) -> str | None:
    """Why this database cannot serve the dashboard yet (a migration is missing), or None."""
    from alembic.script import ScriptDirectory

    bind = session.get_bind()
    url = bind.engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    at = current_revision(bind.engine)
    if at == head:
        return None
    return (
        f"the database is at migration {at or 'none'}, the dashboard needs {head}; "
        "run `finsent db upgrade`"
    )


@dataclass(frozen=True)
class SystemStatus:
    """What the dashboard needs to know before drawing anything."""

    feeds: int
    enabled_feeds: int
    has_articles: bool
    newest_article_at: datetime | None
    last_ingest_at: datetime | None  # the latest successful fetch of any feed
    model_version: str | None  # the most recently scoring model (detection's "current")
    open_alerts: int

    @property
    def empty(self) -> bool:
        """Nothing to show yet: no article has been ingested."""
        return not self.has_articles


def system_status(*, session: Session) -> SystemStatus:
    """Feeds, newest article, last successful ingest, current model, open alerts."""
    feeds, enabled, last_ingest = session.execute(
        select(
            func.count(Feed.id),
            func.count(Feed.id).filter(Feed.enabled.is_(True)),
            func.max(Feed.last_success_at),
        )
    ).one()
    # Both served by ix_articles_published_at: one index probe each.
    newest = session.scalar(select(func.max(Article.published_at)))
    open_alerts = session.scalar(
        select(func.count()).select_from(Alert).where(Alert.state.in_(OPEN_ALERT_STATES))
    )
    return SystemStatus(
        feeds=int(feeds),
        enabled_feeds=int(enabled),
        has_articles=newest is not None,
        newest_article_at=newest,
        last_ingest_at=last_ingest,
        model_version=latest_model_version(session=session),
        open_alerts=int(open_alerts or 0),
    )


@dataclass(frozen=True)
class CountRow:
    """Articles of one topic and sentiment in one period (``period`` is its UTC start)."""

    period: datetime
    topic: str
    sentiment: str
    n: int


def sentiment_by_period(
    *,
    session: Session,
    model_version: str,
    start: datetime,
    end: datetime,
    period: Period,
) -> list[CountRow]:
    """Counts per (UTC hour or day, topic, sentiment) of articles published in
    ``[start, end)``, oldest first; the same counts detection uses."""
    cells = sentiment_cells(
        session=session, model_version=model_version, start=start, end=end, period=period
    )
    rows = [CountRow(p, t, s, n) for (p, t, s), n in cells.items() if p is not None]
    rows.sort(key=lambda row: (row.period, row.topic, row.sentiment))
    return rows


@dataclass(frozen=True)
class WindowVsBaseline:
    """What the alert rule compares at ``end``: the recent window against the days before
    it, per topic as (articles, negatives), with the window's most negative headlines."""

    window_start: datetime
    end: datetime
    window: dict[str, tuple[int, int]]
    baseline: dict[str, tuple[int, int]]
    headlines: list[Headline]


def window_vs_baseline(
    *,
    session: Session,
    model_version: str,
    end: datetime,
    window_hours: float,
    baseline_days: float,
    headlines: int = 8,
) -> WindowVsBaseline:
    """The detector's view at ``end`` (``FINSENT_DETECT_WINDOW_HOURS`` and
    ``..._BASELINE_DAYS``), through the same counts detection reads."""
    window_start = end - timedelta(hours=window_hours)
    baseline_start = window_start - timedelta(days=baseline_days)

    def pairs(start: datetime, stop: datetime) -> dict[str, tuple[int, int]]:
        counts = sentiment_counts_by_topic(
            session=session, model_version=model_version, start=start, end=stop
        )
        return {topic: (c.total, c.negative) for topic, c in counts.items()}

    return WindowVsBaseline(
        window_start=window_start,
        end=end,
        window=pairs(window_start, end),
        baseline=pairs(baseline_start, window_start),
        headlines=most_negative_headlines(
            session=session,
            model_version=model_version,
            start=window_start,
            end=end,
            limit=headlines,
        ),
    )


@dataclass(frozen=True)
class AlertMarker:
    """An alert that started in the shown range, for a marker on a chart."""

    id: int
    scope: str
    topic: str
    state: str
    at: datetime  # when it fired (or, while pending, started)
    share: float | None
    baseline: float | None


def alert_markers(*, session: Session, start: datetime, end: datetime) -> list[AlertMarker]:
    """Alerts that fired (or started, if still pending) in ``[start, end)``, oldest first."""
    at = func.coalesce(Alert.fired_at, Alert.started_at)
    query = (
        select(Alert)
        .where(Alert.started_at < end, or_(Alert.resolved_at.is_(None), Alert.resolved_at >= start))
        .order_by(at, Alert.id)
        .limit(500)
    )
    markers = []
    for alert in session.scalars(query):
        moment = alert.fired_at or alert.started_at
        if not start <= moment < end:
            continue
        try:
            evidence: Evidence | None = evidence_of(alert)
        except ValueError:  # an alert stored by a finsent that predates typed evidence
            evidence = None
        markers.append(
            AlertMarker(
                id=alert.id,
                scope=alert.scope,
                topic=alert.topic,
                state=alert.state,
                at=moment,
                share=None if evidence is None else evidence.share,
                baseline=None if evidence is None else evidence.baseline,
            )
        )
    return markers


@dataclass(frozen=True)
class ArticleFilter:
    """What the article table shows: a publication range and optional narrowing."""

    model_version: str
    start: datetime
    end: datetime
    topics: Sequence[str] = ()
    sentiments: Sequence[str] = ()
    feed_ids: Sequence[int] = ()
    text: str = ""  # case-insensitive substring of the title or summary
    corrected_only: bool = False


@dataclass(frozen=True)
class ArticleRow:
    """One article with the model's labels and any analyst's correction."""

    id: int
    published_at: datetime
    title: str
    summary: str
    link: str | None  # as the feed gave it: show only http(s) links as links
    feed_id: int | None
    topic: str
    topic_probability: float
    sentiment: str
    p_negative: float
    p_neutral: float
    p_positive: float
    corrected_topic: str | None = None
    corrected_sentiment: str | None = None


@dataclass(frozen=True)
class ArticlePage:
    rows: list[ArticleRow]
    matching: int  # articles matching the filter, counted up to ``count_cap``
    capped: bool  # True when there are at least ``count_cap`` (the count stopped there)
    count_cap: int = field(default=10_000)


_TOPIC_FIX = aliased(Correction)
_SENTIMENT_FIX = aliased(Correction)


def _filtered(filters: ArticleFilter) -> Select[*tuple[Any, ...]]:
    query = (
        select(Article.id)
        .join(Score, and_(Score.article_id == Article.id))
        .where(
            Score.model_version == filters.model_version,
            Article.published_at >= filters.start,
            Article.published_at < filters.end,
        )
    )
    if filters.topics:
        query = query.where(Score.topic.in_(list(filters.topics)))
    if filters.sentiments:
        query = query.where(Score.sentiment.in_(list(filters.sentiments)))
    if filters.feed_ids:
        query = query.where(Article.feed_id.in_(list(filters.feed_ids)))
    needle = filters.text.strip()
    if needle:
        # autoescape: a % or _ typed by the analyst is a character, not a wildcard.
        query = query.where(
            or_(
                Article.title.icontains(needle, autoescape=True),
                Article.summary.icontains(needle, autoescape=True),
            )
        )
    if filters.corrected_only:
        query = query.where(exists().where(Correction.article_id == Article.id))
    return query


def _order(sort: ArticleSort) -> list[Any]:
    if sort == "most_negative":
        return [Score.p_negative.desc(), Article.id.desc()]
    if sort == "most_positive":
        return [Score.p_positive.desc(), Article.id.desc()]
    if sort == "least_sure_topic":
        return [Score.topic_probability.asc(), Article.id.desc()]
    return [Article.published_at.desc(), Article.id.desc()]


def _rows_query(filters: ArticleFilter, sort: ArticleSort) -> Select[*tuple[Any, ...]]:
    base = _filtered(filters)
    return (
        base.with_only_columns(
            Article.id,
            Article.published_at,
            Article.title,
            Article.summary,
            Article.link,
            Article.feed_id,
            Score.topic,
            Score.topic_probability,
            Score.sentiment,
            Score.p_negative,
            Score.p_neutral,
            Score.p_positive,
            _TOPIC_FIX.label,
            _SENTIMENT_FIX.label,
        )
        .outerjoin(
            _TOPIC_FIX, and_(_TOPIC_FIX.article_id == Article.id, _TOPIC_FIX.field == "topic")
        )
        .outerjoin(
            _SENTIMENT_FIX,
            and_(_SENTIMENT_FIX.article_id == Article.id, _SENTIMENT_FIX.field == "sentiment"),
        )
        .order_by(*_order(sort))
    )


def article_page(
    *,
    session: Session,
    filters: ArticleFilter,
    sort: ArticleSort = "newest",
    limit: int = 500,
    count_cap: int = 10_000,
) -> ArticlePage:
    """The first ``limit`` articles matching ``filters`` in ``sort`` order, and how many
    match (counted up to ``count_cap``: an exact count of a month would cost more than
    the page is worth)."""
    rows = [ArticleRow(*row) for row in session.execute(_rows_query(filters, sort).limit(limit))]
    if len(rows) < limit:
        matching = len(rows)  # the page holds every match: no second pass to count them
    else:
        capped_ids = _filtered(filters).limit(count_cap).subquery()
        matching = int(session.scalar(select(func.count()).select_from(capped_ids)) or 0)
    return ArticlePage(
        rows=rows, matching=matching, capped=matching >= count_cap, count_cap=count_cap
    )


def iter_articles(
    *,
    session: Session,
    filters: ArticleFilter,
    sort: ArticleSort = "newest",
    batch: int = 5000,
    limit: int | None = None,
) -> Iterator[ArticleRow]:
    """Every article matching ``filters`` (at most ``limit``), streamed in batches: the
    CSV export of the filtered set, without holding it all in memory."""
    query = _rows_query(filters, sort)
    if limit is not None:
        query = query.limit(limit)
    result = session.execute(query.execution_options(yield_per=batch))
    for row in result:
        yield ArticleRow(*row)


ARTICLE_CSV_COLUMNS = (
    "id", "published_at", "title", "summary", "link", "feed", "topic", "topic_probability",
    "sentiment", "p_negative", "p_neutral", "p_positive", "corrected_topic",
    "corrected_sentiment",
)  # fmt: skip


def write_articles_csv(
    *,
    session: Session,
    filters: ArticleFilter,
    out: TextIO,
    sort: ArticleSort = "newest",
    limit: int | None = None,
) -> int:
    """Write the articles matching ``filters`` as CSV to ``out`` (streamed from the
    database in batches); returns how many rows were written. Feed names as
    :func:`feed_names` shows them."""
    feeds = feed_names(session=session)
    writer = csv.writer(out)
    writer.writerow(ARTICLE_CSV_COLUMNS)
    count = 0
    for r in iter_articles(session=session, filters=filters, sort=sort, limit=limit):
        writer.writerow(
            [r.id, r.published_at.isoformat(), r.title, r.summary, r.link or "",
             feeds.get(r.feed_id, "") if r.feed_id is not None else "", r.topic,
             f"{r.topic_probability:.4f}", r.sentiment, f"{r.p_negative:.4f}",
             f"{r.p_neutral:.4f}", f"{r.p_positive:.4f}", r.corrected_topic or "",
             r.corrected_sentiment or ""]
        )  # fmt: skip
        count += 1
    return count


@dataclass(frozen=True)
class FeedHealth:
    """One feed's health for the Feeds page."""

    id: int
    name: str | None
    url: str  # for display (as ``finsent feeds list`` shows it: credentials redacted)
    enabled: bool
    status: str  # ok | failing | backing off | disabled | never fetched
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    last_error: str | None
    articles_per_day: float  # over the last ``days`` days, by publication time
    fetches: int  # fetch attempts over the last day
    errors: int  # of which ended in an error


def _feed_status(feed: Feed, now: datetime) -> str:
    if not feed.enabled:
        return "disabled"
    if (
        feed.next_attempt_at is not None
        and feed.next_attempt_at > now
        and feed.consecutive_failures
    ):
        return "backing off"
    if feed.consecutive_failures:
        return "failing"
    if feed.last_success_at is None:
        return "never fetched"
    return "ok"


def feed_health(*, session: Session, now: datetime, days: int = 7) -> list[FeedHealth]:
    """Every feed with its state, articles per day over ``days`` days and the last day's
    fetch attempts, oldest feed first."""
    since = now - timedelta(days=days)
    per_feed: dict[int | None, int] = {
        feed_id: int(count)
        for feed_id, count in session.execute(
            select(Article.feed_id, func.count())
            .where(Article.published_at >= since, Article.published_at < now)
            .group_by(Article.feed_id)
        )
    }
    attempts = {
        feed_id: (int(total), int(errors))
        for feed_id, total, errors in session.execute(
            select(
                FetchAttempt.feed_id,
                func.count(),
                func.count().filter(FetchAttempt.status == "error"),
            )
            .where(FetchAttempt.started_at >= now - timedelta(days=1))
            .group_by(FetchAttempt.feed_id)
        )
    }
    result = []
    for feed in session.scalars(select(Feed).order_by(Feed.id)):
        fetches, errors = attempts.get(feed.id, (0, 0))
        shown = feed_as_dict(feed)
        result.append(
            FeedHealth(
                id=feed.id,
                name=feed.name,
                url=str(shown["url"]),
                enabled=feed.enabled,
                status=_feed_status(feed, now),
                last_success_at=feed.last_success_at,
                last_attempt_at=feed.last_attempt_at,
                consecutive_failures=feed.consecutive_failures,
                next_attempt_at=feed.next_attempt_at,
                last_error=shown.get("last_error"),
                articles_per_day=round(per_feed.get(feed.id, 0) / days, 1),
                fetches=fetches,
                errors=errors,
            )
        )
    return result


def feed_names(*, session: Session) -> dict[int, str]:
    """Feed id -> its name, or its URL as shown for display, for tables and filters."""
    names = {}
    for feed in session.scalars(select(Feed).order_by(Feed.id)):
        names[feed.id] = feed.name or str(feed_as_dict(feed)["url"])
    return names
