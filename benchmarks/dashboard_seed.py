"""Seed a PostgreSQL database with a million scored articles for the dashboard benchmark.

    nice .venv/bin/python benchmarks/dashboard_seed.py                # finsent_dashboard_bench
    nice .venv/bin/python benchmarks/dashboard_seed.py --articles 100000 --name my_db
    .venv/bin/python benchmarks/dashboard_seed.py --drop              # drop it again

What it writes, all relative to the time it runs (so the dashboard's "last 24 h" is full):

* 200 feeds (a few failing and backing off) and a day of fetch attempts;
* ``--articles`` articles over ``--days`` days, stored in publication order as ingest
  writes them; the 20 model topics with uneven volumes and
  their own negative rates, and a negative burst in *Financials* over the last two hours;
* one score per article from the current model version, plus 20 % from an older one;
* the alert that burst opens (real detection, outbox in a temporary folder), a history of
  resolved alerts, and analysts' corrections when the corrections table exists.

Fast because it is set-based: ``generate_series`` inserts with the secondary indexes and
foreign keys of ``articles`` and ``scores`` dropped, then rebuilt from their own
definitions (``pg_get_indexdef`` / ``pg_get_constraintdef``), so the result is exactly the
migrated schema. The database is created on the server of FINSENT_TEST_PG_ADMIN /
FINSENT_TEST_PG_URL_BASE (as the tests) and kept until ``--drop``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from models.tasks import TOPIC_LABELS
from pipeline.alerts import run_detection
from pipeline.alerts.notify import OutboxNotifier
from pipeline.db import make_engine, upgrade_database
from pipeline.settings import Settings

ADMIN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
DEFAULT_NAME = "finsent_dashboard_bench"
CURRENT_VERSION = "bench-v2"
BURST_TOPIC = "Financials"

# Relative volumes of the 20 topics (roughly the training data's mix) and each topic's
# ordinary negative rate.
TOPIC_WEIGHTS = [3, 4, 20, 2, 2, 7, 3, 4, 1, 8, 1, 1, 3, 3, 9, 3, 5, 3, 13, 4]
TOPIC_NEGATIVE = [0.18, 0.22, 0.15, 0.2, 0.08, 0.2, 0.25, 0.2, 0.18, 0.2,
                  0.15, 0.1, 0.3, 0.12, 0.25, 0.22, 0.28, 0.12, 0.18, 0.24]  # fmt: skip

FEEDS = """
INSERT INTO feeds (url, name, enabled, created_at, last_attempt_at, last_success_at,
                   consecutive_failures, next_attempt_at, last_error)
SELECT 'https://news' || i || '.example/rss', 'Newswire ' || i, i %% 50 <> 0,
       %(now)s - interval '120 days', %(now)s - interval '4 minutes',
       %(now)s - CASE WHEN i %% 40 = 7 THEN interval '2 days' ELSE interval '4 minutes' END,
       CASE WHEN i %% 40 = 7 THEN 6 ELSE 0 END,
       CASE WHEN i %% 40 = 7 THEN %(now)s + interval '3 hours' ELSE NULL END,
       CASE WHEN i %% 40 = 7 THEN 'HTTP 503 from news' || i || '.example' ELSE NULL END
FROM generate_series(1, 200) AS i;

INSERT INTO fetch_attempts (feed_id, started_at, status, http_status, entries_seen,
                            new_articles, error, duration_ms)
SELECT f.id, %(now)s - (k * interval '15 minutes'),
       CASE WHEN f.consecutive_failures > 0 THEN 'error' WHEN k %% 3 = 0 THEN 'fetched'
            ELSE 'not_modified' END,
       CASE WHEN f.consecutive_failures > 0 THEN 503 WHEN k %% 3 = 0 THEN 200 ELSE 304 END,
       CASE WHEN k %% 3 = 0 THEN 50 ELSE 0 END, CASE WHEN k %% 3 = 0 THEN 3 ELSE 0 END,
       f.last_error, 120 + (k * 37) %% 400
FROM feeds AS f, generate_series(0, 95) AS k;
"""

# Publication times uniform over the days before now, stored in publication order as
# ingest writes them.
ARTICLES = """
INSERT INTO articles (feed_id, guid, canonical_url, content_hash, title, summary, link,
                      published_at, published_from_feed, fetched_at)
SELECT 1 + (i %% 200), NULL, 'https://news.example/a/' || i, md5(i::text) || md5((-i)::text),
       'Synthetic headline ' || i, 'Summary of story ' || i,
       'https://news.example/a/' || i, ts, true, ts + interval '3 minutes'
FROM (SELECT i, %(now)s - random() * %(days)s * interval '1 day' AS ts
      FROM generate_series(1, %(n)s) AS i) AS g
ORDER BY ts;
"""

SCORES = """
INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT id, %(version)s, topic, 0.55 + 0.45 * r2,
       CASE WHEN r < neg THEN 'negative' WHEN r < neg + 0.5 THEN 'neutral' ELSE 'positive' END,
       p_neg, (1 - p_neg) * 0.7, (1 - p_neg) * 0.3, (1 - p_neg) * 0.3 - p_neg,
       published_at + interval '5 minutes'
FROM (
    SELECT a.id, a.published_at, t.topic, t.neg, r, r2,
           CASE WHEN r < t.neg THEN 0.5 + 0.5 * r2 ELSE 0.3 * r2 END AS p_neg
    FROM (SELECT id, published_at, random() AS r, random() AS r2,
                 width_bucket(random(), %(cumulative)s::float8[]) AS bucket
          FROM articles) AS a
    JOIN (SELECT ord AS bucket, topic, neg
          FROM unnest(%(topics)s::text[], %(negatives)s::float8[]) WITH ORDINALITY
               AS x(topic, neg, ord)) AS t ON t.bucket = a.bucket + 1
) AS s
ORDER BY id;

INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT article_id, 'bench-v1', topic, topic_probability, 'neutral', 0.1, 0.8, 0.1, 0.0,
       %(now)s - interval '100 days'
FROM scores WHERE article_id %% 5 = 0;
"""

# The burst: 240 Financials stories in the last two hours, 60 % negative.
BURST = """
WITH burst AS (
    INSERT INTO articles (feed_id, canonical_url, content_hash, title, summary, link,
                          published_at, published_from_feed, fetched_at)
    SELECT 1 + (i %% 200), 'https://news.example/burst/' || i,
           md5('burst' || i) || md5('tsrub' || i), 'Regional lender discloses loss ' || i,
           'Deposits flow out after the disclosure.', 'https://news.example/burst/' || i,
           %(now)s - interval '2 hours' + i * interval '29 seconds', true, %(now)s
    FROM generate_series(1, 240) AS i
    RETURNING id
)
INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT id, %(version)s, %(burst_topic)s, 0.9,
       CASE WHEN id %% 5 < 3 THEN 'negative' ELSE 'neutral' END,
       CASE WHEN id %% 5 < 3 THEN 0.93 ELSE 0.1 END, 0.05, 0.02, -0.5, %(now)s
FROM burst;
"""

XSS = """
INSERT INTO articles (feed_id, canonical_url, content_hash, title, summary, link,
                      published_at, published_from_feed, fetched_at)
VALUES (1, NULL, md5('xss1') || md5('1ssx'), '<script>alert(1)</script>', '', 'javascript:alert(1)',
        %(now)s - interval '30 minutes', true, %(now)s),
       (1, NULL, md5('xss2') || md5('2ssx'), '<img src=x onerror=alert(1)>', '', NULL,
        %(now)s - interval '20 minutes', true, %(now)s);
INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                    p_negative, p_neutral, p_positive, sentiment_score, scored_at)
SELECT id, %(version)s, %(burst_topic)s, 0.9, 'negative', 0.99, 0.005, 0.005, -0.985, %(now)s
FROM articles WHERE content_hash IN (md5('xss1') || md5('1ssx'), md5('xss2') || md5('2ssx'));
"""

HISTORY = """
INSERT INTO alerts (rule, scope, topic, state, started_at, fired_at, resolved_at,
                    last_evaluated_at, acknowledged_at, evaluations, fingerprint,
                    model_version, evidence)
SELECT rule, scope, (%(topics)s::text[])[1 + (k %% 20)], 'resolved',
       %(now)s - k * interval '2 days', %(now)s - k * interval '2 days',
       %(now)s - k * interval '2 days' + interval '3 hours',
       %(now)s - k * interval '2 days' + interval '3 hours',
       %(now)s - k * interval '2 days' + interval '1 hour', 1, fingerprint || k,
       model_version, evidence
FROM alerts, generate_series(1, 40) AS k
WHERE state = 'firing' AND scope = 'topic';
"""

CORRECTIONS = """
INSERT INTO corrections (article_id, field, model_label, label, model_version, created_at,
                         author, note)
SELECT s.article_id, 'sentiment', s.sentiment, 'positive', s.model_version,
       %(now)s - (s.article_id %% 500) * interval '1 hour', 'bench', NULL
FROM scores AS s
WHERE s.model_version = %(version)s AND s.article_id %% 997 = 0 AND s.sentiment <> 'positive';
"""


def _run(conn: psycopg.Connection, script: str, params: dict[str, object]) -> None:
    """Each statement of ``script`` in turn (one statement per server-side bound query)."""
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement, params)


def _secondary_keys(conn: psycopg.Connection, tables: list[str]) -> tuple[list[str], list[str]]:
    """(ALTER ... ADD CONSTRAINT statements, CREATE INDEX statements) for ``tables``' unique
    and foreign-key constraints and their other indexes (primary keys stay)."""
    constraints = [
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in conn.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s) "
            "AND c.contype IN ('u', 'f') ORDER BY c.contype DESC",
            [tables],
        )
    ]
    indexes = [
        definition
        for (definition,) in conn.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
    ]
    return constraints, indexes


def _drop_secondary_keys(conn: psycopg.Connection, tables: list[str]) -> None:
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c "
        "WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('u', 'f') "
        "ORDER BY c.contype",  # foreign keys ('f') first: they depend on unique keys
        [tables],
    ).fetchall()
    for table, name in rows:
        conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for (name,) in conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary",
        [tables],
    ).fetchall():
        conn.execute(f"DROP INDEX {name}")


def seed(*, name: str, articles: int, days: int, now: datetime) -> dict[str, object]:
    """Create and fill database ``name``; returns what was written and how long it took."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{URL_BASE}/{name}"
    upgrade_database(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    timings: dict[str, float] = {}
    total = sum(TOPIC_WEIGHTS)
    cumulative = [sum(TOPIC_WEIGHTS[: i + 1]) / total for i in range(len(TOPIC_WEIGHTS) - 1)]
    params = {
        "now": now,
        "days": days,
        "n": articles,
        "version": CURRENT_VERSION,
        "burst_topic": BURST_TOPIC,
        "topics": list(TOPIC_LABELS),
        "negatives": TOPIC_NEGATIVE,
        "cumulative": cumulative,
    }
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        started = time.perf_counter()
        _run(conn, FEEDS, params)
        constraints, indexes = _secondary_keys(conn, ["articles", "scores"])
        _drop_secondary_keys(conn, ["articles", "scores"])
        _run(conn, ARTICLES, params)
        timings["articles_s"] = round(time.perf_counter() - started, 1)
        _run(conn, SCORES, params)
        timings["scores_s"] = round(time.perf_counter() - started, 1)
        for statement in [*constraints, *indexes]:
            conn.execute(statement)
        timings["indexes_s"] = round(time.perf_counter() - started, 1)
        _run(conn, BURST, params)
        _run(conn, XSS, params)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    engine = make_engine(url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            report = run_detection(
                engine=engine,
                settings=Settings(database_url=url),
                now=now,
                notifiers=[OutboxNotifier(folder=Path(folder))],
            )
    finally:
        engine.dispose()
    with psycopg.connect(dsn) as conn:
        _run(conn, HISTORY, params)
        has_corrections = conn.execute("SELECT to_regclass('corrections') IS NOT NULL").fetchone()
        if has_corrections and has_corrections[0]:
            _run(conn, CORRECTIONS, params)
        conn.commit()
        conn.execute("ANALYZE")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("feeds", "fetch_attempts", "articles", "scores", "alerts")
        }
    timings["total_s"] = round(time.perf_counter() - started, 1)
    return {
        "database": name,
        "url": url,
        "now": now.isoformat(),
        "rows": counts,
        "alerts_opened": report.opened,
        "seconds": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default=DEFAULT_NAME, help="database to (re)create")
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--drop", action="store_true", help="drop the database and exit")
    args = parser.parse_args()
    if args.drop:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)')
        print(json.dumps({"dropped": args.name}))
        return
    now = datetime.now(UTC).replace(microsecond=0)
    result = seed(name=args.name, articles=args.articles, days=args.days, now=now)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
