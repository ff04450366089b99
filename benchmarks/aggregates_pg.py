"""Time detection's read-side queries on a million articles in PostgreSQL.

Reproduce the figures in BENCHMARKS.md (## Detection)::

    .venv/bin/python benchmarks/aggregates_pg.py               # 1,000,000 articles
    .venv/bin/python benchmarks/aggregates_pg.py --articles 100000 --keep

Creates a scratch database on the local server (FINSENT_TEST_PG_ADMIN /
FINSENT_TEST_PG_URL_BASE, as the tests), migrates it, fills it with SQL
``generate_series`` (articles spread over 90 days and stored in publication order, as
ingest writes them; 20 topics; one score per article from the current model plus 20 %
from an older one), ANALYZEs, then times each query
``--repeat`` times and prints the median. The database is dropped unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from pipeline.alerts import run_detection
from pipeline.alerts.counts import (
    hourly_sentiment_counts,
    latest_model_version,
    most_negative_headlines,
    sentiment_counts_by_topic,
)
from pipeline.alerts.notify import OutboxNotifier
from pipeline.db import make_engine, upgrade_database
from pipeline.settings import Settings

ADMIN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

FILL = """
INSERT INTO articles (content_hash, title, summary, link, published_at,
                      published_from_feed, fetched_at)
SELECT md5(i::text) || md5((-i)::text), 'Synthetic headline ' || i, '',
       'https://news.example/a/' || i, ts, true, ts
FROM (SELECT i, CAST(:now AS timestamptz) - random() * interval '90 days' AS ts
      FROM generate_series(1, :n) AS i) AS g
ORDER BY ts;  -- rows land in the order ingest writes them: roughly by publication time

INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT id, 'bench-v2', 'topic' || lpad((id % 20)::text, 2, '0'), 0.9,
       CASE WHEN r < 0.2 THEN 'negative' WHEN r < 0.7 THEN 'neutral' ELSE 'positive' END,
       CASE WHEN r < 0.2 THEN 0.8 ELSE 0.1 END, 0.1, 0.1, 0.0, CAST(:now AS timestamptz)
FROM (SELECT id, random() AS r FROM articles ORDER BY id) AS a;

INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT id, 'bench-v1', 'topic' || lpad((id % 20)::text, 2, '0'), 0.9, 'neutral',
       0.1, 0.8, 0.1, 0.0, CAST(:now AS timestamptz) - interval '30 days'
FROM articles WHERE id % 5 = 0;

ANALYZE articles;
ANALYZE scores;
"""


def timed(fn, repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return {
        "median_ms": round(1000 * statistics.median(seconds), 1),
        "max_ms": round(1000 * max(seconds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    name = f"finsent_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{URL_BASE}/{name}"
    engine = make_engine(url)
    results: dict[str, object] = {"articles": args.articles, "database": name}
    try:
        upgrade_database(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL.split(";"):
                if statement.strip():
                    conn.execute(text(statement), {"now": NOW, "n": args.articles})
        results["fill_seconds"] = round(time.perf_counter() - started, 1)

        window = (NOW - timedelta(hours=2), NOW)
        baseline = (NOW - timedelta(days=7, hours=2), NOW - timedelta(hours=2))
        with Session(engine) as session:
            version = latest_model_version(session=session)
            assert version == "bench-v2", version

            def counts(span):
                return lambda: sentiment_counts_by_topic(
                    session=session, model_version=version, start=span[0], end=span[1]
                )

            in_window = sum(c.total for c in counts(window)().values())
            in_baseline = sum(c.total for c in counts(baseline)().values())
            results["articles_in_window"] = in_window
            results["articles_in_baseline"] = in_baseline
            results["latest_model_version"] = timed(
                lambda: latest_model_version(session=session), args.repeat
            )
            results["window_counts_2h"] = timed(counts(window), args.repeat)
            results["baseline_counts_7d"] = timed(counts(baseline), args.repeat)
            results["hourly_counts_7d"] = timed(
                lambda: hourly_sentiment_counts(
                    session=session, model_version=version, start=baseline[0], end=NOW
                ),
                args.repeat,
            )
            results["top_negative_headlines"] = timed(
                lambda: most_negative_headlines(
                    session=session, model_version=version, start=window[0], end=NOW
                ),
                args.repeat,
            )
            plan = (
                session.execute(
                    text(
                        "EXPLAIN SELECT s.topic, s.sentiment, count(*) FROM scores s "
                        "JOIN articles a ON a.id = s.article_id WHERE s.model_version = :v "
                        "AND a.published_at >= :s AND a.published_at < :e "
                        "GROUP BY s.topic, s.sentiment"
                    ),
                    {"v": version, "s": baseline[0], "e": baseline[1]},
                )
                .scalars()
                .all()
            )
            results["baseline_plan"] = [line.strip() for line in plan]
        with tempfile.TemporaryDirectory() as folder:
            notifier = OutboxNotifier(folder=Path(folder))
            results["run_detection"] = timed(
                lambda: run_detection(
                    engine=engine, settings=Settings(), now=NOW, notifiers=[notifier]
                ),
                args.repeat,
            )
    finally:
        engine.dispose()
        if not args.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
