"""Per-page timings of the dashboard on the database ``dashboard_seed.py`` filled.

    nice .venv/bin/python benchmarks/dashboard_seed.py          # once: 1,000,000 articles
    nice .venv/bin/python benchmarks/dashboard_pages.py         # this
    .venv/bin/python benchmarks/dashboard_seed.py --drop        # afterwards

For each page: the read-side query functions the page calls, timed cold (no Streamlit
cache; the database's own buffers warm after the first repeat), and a whole render of
the page through Streamlit's AppTest with every Streamlit cache cleared first (the
entrypoint, the page's queries, building the frames and charts). Median and max of
``--repeat`` runs, in milliseconds. Also: detection's counts and ``run_detection``
(which share the rollup), the rollup with its deltas compacted and fragmented as live
scoring leaves them, and what the rollup's triggers cost a scoring write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from benchmarks.dashboard_seed import CURRENT_VERSION, DEFAULT_NAME, URL_BASE  # noqa: E402
from pipeline.alerts import run_detection  # noqa: E402
from pipeline.alerts.actions import alert_as_dict, list_alerts  # noqa: E402
from pipeline.alerts.counts import (  # noqa: E402
    compact_score_hours,
    latest_model_version,
    sentiment_counts_by_topic,
)
from pipeline.alerts.evidence import evidence_of  # noqa: E402
from pipeline.alerts.notify import OutboxNotifier  # noqa: E402
from pipeline.db import make_engine  # noqa: E402
from pipeline.queries import (  # noqa: E402
    ArticleFilter,
    alert_markers,
    article_page,
    feed_health,
    feed_names,
    sentiment_by_period,
    system_status,
    window_vs_baseline,
)
from pipeline.settings import Settings, get_settings  # noqa: E402


def timed(work: Callable[[], Any], repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return {
        "median_ms": round(1000 * statistics.median(seconds), 1),
        "max_ms": round(1000 * max(seconds), 1),
    }


def page_queries(session: Session, now: datetime, span: timedelta) -> dict[str, Callable[[], Any]]:
    """Each page's query functions, as the page calls them for a range of ``span``."""
    version = CURRENT_VERSION
    start = now - span
    period = "hour" if span <= timedelta(days=10) else "day"

    def overview() -> None:
        system_status(session=session)
        sentiment_by_period(
            session=session,
            model_version=version,
            start=start - timedelta(days=7),
            end=now,
            period=period,  # type: ignore[arg-type]
        )
        window_vs_baseline(
            session=session, model_version=version, end=now, window_hours=2, baseline_days=7
        )
        alert_markers(session=session, start=start, end=now)
        sentiment_counts_by_topic(session=session, model_version=version, start=start, end=now)

    def alerts() -> None:
        rows = list_alerts(session=session, state="all", limit=200)
        opened = next((a for a in rows if a.state == "firing"), rows[0])
        alert_as_dict(session=session, alert=opened)
        evidence = evidence_of(opened)
        article_page(
            session=session,
            filters=ArticleFilter(
                model_version=version,
                start=evidence.window_start,
                end=evidence.window_end,
                topics=() if opened.scope == "all" else (opened.topic,),
            ),
            sort="most_negative",
            limit=200,
            count_cap=1,
        )

    def articles(sort: str = "newest", search: str = "") -> Callable[[], None]:
        def run() -> None:
            system_status(session=session)
            feed_names(session=session)
            article_page(
                session=session,
                filters=ArticleFilter(model_version=version, start=start, end=now, text=search),
                sort=sort,  # type: ignore[arg-type]
                limit=500,
            )

        return run

    return {
        "overview": overview,
        "alerts": alerts,
        "articles": articles(),
        "articles, most negative first": articles("most_negative"),
        "articles, text search": articles("newest", "headline 4242"),
        "feeds": lambda: feed_health(session=session, now=now),
        "model": lambda: latest_model_version(session=session),
    }


def apptest_renders(url: str, repeat: int, span_choice: str) -> dict[str, dict[str, float]]:
    """Whole page renders through AppTest, every Streamlit cache cleared before each."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["FINSENT_DATABASE_URL"] = url
    get_settings.cache_clear()
    app = str(REPOSITORY / "dashboard" / "streamlit_app.py")
    results: dict[str, dict[str, float]] = {}
    at = AppTest.from_file(app, default_timeout=300)
    at.run()  # imports (altair, pandas, the pages) happen once, here, untimed
    at.radio(key="range_choice").set_value(span_choice)
    at.run()
    for page in ("overview", "alerts", "articles", "feeds", "model"):
        at.switch_page(f"app_pages/{page}.py")

        def render(page: str = page) -> None:
            st.cache_data.clear()
            at.run()
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")

        results[page] = timed(render, repeat)
    return results


def fragment_rollup(dsn: str, pieces: int) -> int:
    """Split every rollup row into ``pieces`` delta rows (as uncompacted live scoring
    leaves them); returns the rows the rollup then has."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            """
            WITH old AS (DELETE FROM score_hours RETURNING model_version, hour, topic, sentiment, n)
            INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
            SELECT model_version, hour, topic, sentiment,
                   n / %(p)s + CASE WHEN k <= n %% %(p)s THEN 1 ELSE 0 END
            FROM old, generate_series(1, %(p)s) AS k
            """,
            {"p": pieces},
        )
        conn.commit()
    _vacuum(dsn)
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM score_hours").fetchone()[0])  # type: ignore[index]


def _vacuum(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE score_hours")


def trigger_cost(dsn: str, *, articles: int, chunk: int) -> dict[str, float]:
    """Milliseconds per scoring write of ``chunk`` rows (INSERT ... ON CONFLICT DO NOTHING,
    one transaction, as scoring writes) with the rollup's triggers and without them,
    alternating chunk by chunk so that both see the same machine load."""
    insert = """
        INSERT INTO scores (article_id, model_version, topic, topic_probability, sentiment,
                            p_negative, p_neutral, p_positive, sentiment_score, scored_at)
        SELECT id, %(v)s, 'Macro', 0.9, 'neutral', 0.1, 0.8, 0.1, 0.0, now()
        FROM articles WHERE id > %(lo)s AND id <= %(hi)s
        ON CONFLICT (article_id, model_version) DO NOTHING
    """
    seconds: dict[str, list[float]] = {"with_triggers": [], "without": []}
    with psycopg.connect(dsn, autocommit=True) as conn:
        top = int(conn.execute("SELECT max(id) FROM articles").fetchone()[0])  # type: ignore[index]
        try:
            for lo in range(top - articles, top, chunk):
                for label, version in (("with_triggers", "bench-on"), ("without", "bench-off")):
                    with conn.transaction():
                        if label == "without":
                            # Off for this transaction only (DDL is transactional); the
                            # foreign-key check still runs, as it does for scoring.
                            conn.execute("ALTER TABLE scores DISABLE TRIGGER score_hours_insert")
                        started = time.perf_counter()
                        conn.execute(insert, {"v": version, "lo": lo, "hi": lo + chunk})
                        elapsed = time.perf_counter() - started
                        if label == "without":
                            conn.execute("ALTER TABLE scores ENABLE TRIGGER score_hours_insert")
                    seconds[label].append(elapsed)
        finally:
            conn.execute("DELETE FROM scores WHERE model_version IN ('bench-on', 'bench-off')")
            conn.execute("DELETE FROM score_hours WHERE model_version IN ('bench-on', 'bench-off')")
    return {
        f"{label}_ms_per_{chunk}": round(1000 * statistics.median(values), 2)
        for label, values in seconds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fragment", type=int, default=5, help="delta rows per rollup key")
    args = parser.parse_args()
    url = f"{URL_BASE}/{args.name}"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(url)
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    results: dict[str, Any] = {
        "database": args.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "repeat": args.repeat,
    }
    try:
        # Start from a compacted rollup (one row per key), as after the migration.
        with Session(engine) as session:
            compact_score_hours(session=session)
            session.commit()
        _vacuum(dsn)
        with Session(engine) as session:
            results["articles"] = session.scalar(text("SELECT count(*) FROM articles"))
            results["rollup_rows"] = session.scalar(text("SELECT count(*) FROM score_hours"))
            for label, span in (("7d", timedelta(days=7)), ("30d", timedelta(days=30))):
                results[f"queries_{label}"] = {
                    page: timed(work, args.repeat)
                    for page, work in page_queries(session, now, span).items()
                }
            window = (now - timedelta(hours=2), now)
            baseline = (now - timedelta(days=7, hours=2), now - timedelta(hours=2))
            results["detection"] = {
                "baseline_counts_7d": timed(
                    lambda: sentiment_counts_by_topic(
                        session=session,
                        model_version=CURRENT_VERSION,
                        start=baseline[0],
                        end=baseline[1],
                    ),
                    args.repeat,
                ),
                "window_counts_2h": timed(
                    lambda: sentiment_counts_by_topic(
                        session=session, model_version=CURRENT_VERSION, start=window[0], end=now
                    ),
                    args.repeat,
                ),
            }
        with tempfile.TemporaryDirectory() as folder:
            notifier = OutboxNotifier(folder=Path(folder))
            results["detection"]["run_detection"] = timed(
                lambda: run_detection(
                    engine=engine,
                    settings=Settings(database_url=url),
                    now=now,
                    notifiers=[notifier],
                ),
                args.repeat,
            )
        print(json.dumps(results), file=sys.stderr)  # partial results, in case of a failure
        results["render_7d"] = apptest_renders(url, args.repeat, "7 d")
        results["render_30d"] = apptest_renders(url, args.repeat, "30 d")

        results["fragmented_rollup_rows"] = fragment_rollup(dsn, args.fragment)
        with Session(engine) as session:
            results["fragmented"] = {
                "baseline_counts_7d": timed(
                    lambda: sentiment_counts_by_topic(
                        session=session,
                        model_version=CURRENT_VERSION,
                        start=now - timedelta(days=7, hours=2),
                        end=now - timedelta(hours=2),
                    ),
                    args.repeat,
                ),
                "overview_30d": timed(
                    page_queries(session, now, timedelta(days=30))["overview"], args.repeat
                ),
            }
            started = time.perf_counter()
            compact_score_hours(session=session)
            session.commit()
            results["compaction_s"] = round(time.perf_counter() - started, 2)
        _vacuum(dsn)
        results["trigger_cost"] = trigger_cost(dsn, articles=20_480, chunk=256)
    finally:
        engine.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
