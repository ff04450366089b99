"""Two scoring runs at once never write a score twice; the candidate query stays indexed."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from scoring_helpers import RecordingScorer, add_articles, numbered_articles, score_rows
from sqlalchemy import Engine, text

from pipeline.db import make_engine
from pipeline.scoring import ScoreReport, score_articles


def _run_two_workers(db_url: str, model_dir: Path, *, rescore: bool = False) -> list[Any]:
    from models import Scorer

    # One Scorer per worker, as two processes would have (a tokenizer is not thread-safe).
    workers = [
        RecordingScorer(Scorer.from_pretrained(model_dir, device="cpu"), delay=0.05)
        for _ in range(2)
    ]

    def work(scorer: RecordingScorer) -> ScoreReport:
        engine = make_engine(db_url)
        try:
            return score_articles(engine=engine, scorer=scorer, chunk_size=5, rescore=rescore)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(work, workers))
    return [(report, worker) for report, worker in zip(reports, workers, strict=True)]


def test_two_concurrent_runs_write_each_score_exactly_once(
    db_url: str, engine: Engine, tiny_model_dir: Path
) -> None:
    ids = add_articles(engine, numbered_articles(60))
    results = _run_two_workers(db_url, tiny_model_dir)
    rows = score_rows(engine)
    per_article = Counter((row.article_id, row.model_version) for row in rows)
    assert sorted(article_id for article_id, _ in per_article) == sorted(ids)
    assert set(per_article.values()) == {1}
    # The reports count rows actually written, so together they count each article once.
    assert sum(report.scored for report, _ in results) == 60
    if engine.dialect.name == "postgresql":
        # Row claims (SKIP LOCKED) split the work: both workers scored, and (barring a
        # claim racing a commit, which the unique key absorbs) nothing was scored twice.
        assert all(worker.texts for _, worker in results)
        assert sum(len(worker.texts) for _, worker in results) <= 65


def test_two_concurrent_rescore_runs_keep_one_row_per_article(
    db_url: str, engine: Engine, tiny_model_dir: Path, tiny_scorer: Any
) -> None:
    add_articles(engine, numbered_articles(30))
    score_articles(engine=engine, scorer=tiny_scorer)
    _run_two_workers(db_url, tiny_model_dir, rescore=True)
    with engine.connect() as connection:
        count, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT article_id) FROM scores")
        ).one()
    assert count == distinct == 30


@pytest.mark.integration
def test_a_backlog_is_found_through_the_unique_index(pg_url: str) -> None:
    """With a backlog on a realistic table, the anti-join probes uq_scores_article_version
    row by row from the newest article down, instead of scanning scores."""
    from pipeline.scoring.store import candidates

    engine = make_engine(pg_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO articles (content_hash, title, summary, published_at,"
                    " published_from_feed, fetched_at)"
                    " SELECT 'h' || g, 't' || g, '', now(), true, now()"
                    " FROM generate_series(1, 20000) g"
                )
            )
            # The older half is scored by the current version, everything by an old one.
            connection.execute(
                text(
                    "INSERT INTO scores (article_id, model_version, topic, topic_probability,"
                    " sentiment, p_negative, p_neutral, p_positive, sentiment_score, scored_at)"
                    " SELECT a.id, v, 'Markets', 0.5, 'neutral', 0.2, 0.6, 0.2, 0, now()"
                    " FROM articles a, (VALUES ('old'), ('cur')) AS t(v)"
                    " WHERE v = 'old' OR a.id <= 10000"
                )
            )
            connection.execute(text("ANALYZE"))
        for lock in (False, True):
            query = candidates(version="cur", rescore=False, below_id=None, size=256, lock=lock)
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            with engine.connect() as connection:
                plan = "\n".join(connection.execute(text(f"EXPLAIN {compiled}")).scalars())
            assert "uq_scores_article_version" in plan, plan
            assert "Seq Scan on scores" not in plan, plan
    finally:
        engine.dispose()
