"""The hourly rollup (score_hours, migration 0004) gives exactly what the join gives.

Counts over any range must be identical whether they come from the rollup plus the
partial hours at the ends (PostgreSQL) or from joining articles with scores over the
whole range (the reference, written out here as plain SQL) — after inserts in many
statements, rescores, deletes of scores and of articles, moved publication times, and
compaction. Writers never wait for each other on the rollup.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Engine, Interval, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from pipeline.alerts.counts import (
    compact_score_hours,
    hourly_sentiment_counts,
    sentiment_cells,
    sentiment_counts_by_topic,
)
from pipeline.db import make_engine
from pipeline.schema import Article, Score, ScoreHour

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 17, 41, tzinfo=UTC)
TOPICS = ("Earnings", "Macro", "Financials")
SENTIMENTS = ("negative", "neutral", "positive")


def _reference(
    session: Session, *, version: str, start: datetime, end: datetime, period: str | None
) -> dict[tuple[datetime | None, str, str], int]:
    """The plain join over the whole range: what every count must equal."""
    bucket = (
        "NULL"
        if period is None
        else f"date_trunc('{period}', a.published_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    )
    rows = session.execute(
        text(
            f"SELECT {bucket} AS b, s.topic, s.sentiment, count(*) FROM scores s "
            "JOIN articles a ON a.id = s.article_id WHERE s.model_version = :v "
            "AND a.published_at >= :start AND a.published_at < :end GROUP BY 1, 2, 3"
        ),
        {"v": version, "start": start, "end": end},
    )
    return {(b.astimezone(UTC) if b else None, t, s): int(n) for b, t, s, n in rows}


def _add_articles(engine: Engine, rng: random.Random, n: int, *, serial: list[int]) -> list[int]:
    ids = []
    with Session(engine) as session, session.begin():
        for _ in range(n):
            serial[0] += 1
            when = NOW - timedelta(seconds=rng.uniform(0, 9 * 86400))
            article = Article(
                content_hash=f"{serial[0]:064x}",
                title=f"story {serial[0]}",
                summary="",
                link=None,
                published_at=when,
                published_from_feed=True,
                fetched_at=when,
            )
            session.add(article)
            session.flush()
            ids.append(article.id)
    return ids


def _score_rows(rng: random.Random, ids: list[int], version: str) -> list[dict[str, object]]:
    return [
        {
            "article_id": article_id,
            "model_version": version,
            "topic": rng.choice(TOPICS),
            "topic_probability": 0.9,
            "sentiment": rng.choice(SENTIMENTS),
            "p_negative": 0.3,
            "p_neutral": 0.4,
            "p_positive": 0.3,
            "sentiment_score": 0.0,
            "scored_at": NOW,
        }
        for article_id in ids
    ]


def _write_scores(engine: Engine, rows: list[dict[str, object]], *, rescore: bool) -> None:
    """As scoring writes: one INSERT ... ON CONFLICT per chunk, several chunks a transaction."""
    with engine.begin() as connection:
        for i in range(0, len(rows), 37):
            statement = pg_insert(Score).values(rows[i : i + 37])
            if rescore:
                statement = statement.on_conflict_do_update(
                    index_elements=[Score.article_id, Score.model_version],
                    set_={
                        "topic": statement.excluded.topic,
                        "sentiment": statement.excluded.sentiment,
                    },
                )
            else:
                statement = statement.on_conflict_do_nothing()
            connection.execute(statement)


def _ranges(rng: random.Random) -> list[tuple[datetime, datetime]]:
    ranges = [
        (NOW - timedelta(hours=2), NOW),  # the detection window: partial hours only
        (NOW - timedelta(days=7, hours=2), NOW - timedelta(hours=2)),  # the baseline
        (NOW - timedelta(days=30), NOW + timedelta(hours=1)),  # everything
        (NOW.replace(minute=0, second=0), NOW.replace(minute=0, second=0) + timedelta(hours=1)),
        (NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)),  # inside one hour
    ]
    for _ in range(12):
        a = NOW - timedelta(seconds=rng.uniform(0, 10 * 86400))
        b = a + timedelta(seconds=rng.uniform(0, 5 * 86400))
        ranges.append((a, b))
    return ranges


def _assert_counts_match(engine: Engine, rng: random.Random, version: str) -> None:
    with Session(engine) as session:
        for start, end in _ranges(rng):
            for period in (None, "hour", "day"):
                got = sentiment_cells(
                    session=session, model_version=version, start=start, end=end, period=period
                )
                want = _reference(session, version=version, start=start, end=end, period=period)
                assert got == want, (start, end, period)
            by_topic = sentiment_counts_by_topic(
                session=session, model_version=version, start=start, end=end
            )
            want = _reference(session, version=version, start=start, end=end, period=None)
            assert {t: c.total for t, c in by_topic.items()} == {
                t: sum(n for (_, tt, _), n in want.items() if tt == t) for t in {k[1] for k in want}
            }
            hourly = hourly_sentiment_counts(
                session=session, model_version=version, start=start, end=end, topic="Macro"
            )
            assert all(row.topic == "Macro" for row in hourly)
            assert [row.hour for row in hourly] == sorted(row.hour for row in hourly)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollup_counts_equal_the_join_through_every_kind_of_write(pg_url: str, seed: int) -> None:
    rng = random.Random(seed)
    engine = make_engine(pg_url)
    serial = [seed * 1_000_000]
    try:
        ids = _add_articles(engine, rng, 400, serial=serial)
        _write_scores(engine, _score_rows(rng, ids, "v1"), rescore=False)
        _write_scores(engine, _score_rows(rng, ids[::3], "v0"), rescore=False)
        _assert_counts_match(engine, rng, "v1")

        # A rescore changes labels in place (ON CONFLICT DO UPDATE: the UPDATE trigger).
        _write_scores(engine, _score_rows(rng, ids[::2], "v1"), rescore=True)
        # Scores deleted directly, articles deleted (their scores go by cascade), and
        # publication times moved across hours.
        with Session(engine) as session, session.begin():
            session.execute(delete(Score).where(Score.article_id.in_(ids[5:40])))
            session.execute(delete(Article).where(Article.id.in_(ids[40:80])))
            session.execute(
                update(Article)
                .where(Article.id.in_(ids[80:140]))
                .values(
                    published_at=Article.published_at
                    - literal(timedelta(hours=5, minutes=7), Interval())
                )
            )
        _assert_counts_match(engine, rng, "v1")
        _assert_counts_match(engine, rng, "v0")

        with Session(engine) as session, session.begin():
            removed = compact_score_hours(session=session)
        assert removed > 0
        with Session(engine) as session:
            per_key = session.execute(
                select(func.count())
                .select_from(ScoreHour)
                .group_by(
                    ScoreHour.model_version, ScoreHour.hour, ScoreHour.topic, ScoreHour.sentiment
                )
                .having(func.count() > 1)
            ).all()
            assert per_key == []
            assert session.scalar(select(func.count()).where(ScoreHour.n == 0)) == 0
        _assert_counts_match(engine, rng, "v1")
    finally:
        engine.dispose()


def test_truncating_scores_empties_the_rollup(pg_url: str) -> None:
    rng = random.Random(3)
    engine = make_engine(pg_url)
    try:
        ids = _add_articles(engine, rng, 20, serial=[3_000_000])
        _write_scores(engine, _score_rows(rng, ids, "v1"), rescore=False)
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE scores"))
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(ScoreHour)) == 0
            assert (
                sentiment_counts_by_topic(
                    session=session, model_version="v1", start=NOW - timedelta(days=30), end=NOW
                )
                == {}
            )
    finally:
        engine.dispose()


def test_concurrent_writers_to_the_same_hour_do_not_wait_for_each_other(pg_url: str) -> None:
    """Two open transactions scoring articles of the same hour, topic and sentiment: the
    second finishes its insert at once (a one-second lock timeout would fail it)."""
    engine = make_engine(pg_url)
    try:
        with Session(engine) as session, session.begin():
            articles = [
                Article(
                    content_hash=f"{i:064x}",
                    title=f"story {i}",
                    summary="",
                    published_at=NOW - timedelta(minutes=i),
                    published_from_feed=True,
                    fetched_at=NOW,
                )
                for i in range(1, 3)
            ]
            session.add_all(articles)
            session.flush()
            first, second = (a.id for a in articles)
        dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
        insert = (
            "INSERT INTO scores (article_id, model_version, topic, topic_probability, "
            "sentiment, p_negative, p_neutral, p_positive, sentiment_score, scored_at) "
            "VALUES (%s, 'v1', 'Macro', 0.9, 'negative', 0.9, 0.05, 0.05, -0.85, now())"
        )
        with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
            a.execute(insert, [first])  # left open: its rollup delta is uncommitted
            b.execute("SET lock_timeout = '1s'")
            b.execute(insert, [second])
            b.commit()
            a.commit()
        with Session(engine) as session:
            counts = sentiment_counts_by_topic(
                session=session, model_version="v1", start=NOW - timedelta(hours=1), end=NOW
            )
        assert counts["Macro"].negative == 2
    finally:
        engine.dispose()
