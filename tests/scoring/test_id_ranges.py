"""unscored_id_ranges: the backlog split into id ranges for parallel workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from scoring_helpers import RecordingScorer, add_articles, numbered_articles, score_rows
from sqlalchemy import Engine, delete

from pipeline.db import make_engine
from pipeline.errors import FinsentError
from pipeline.schema import Score
from pipeline.scoring import score_articles, unscored_id_ranges


def _covered(ranges: list[tuple[int, int]], ids: list[int]) -> list[int]:
    """For each id, how many ranges contain it."""
    return [sum(low <= i <= high for low, high in ranges) for i in ids]


def test_ranges_cover_every_unscored_article_exactly_once(engine: Engine, tiny_scorer: Any) -> None:
    ids = add_articles(engine, numbered_articles(23))
    version = tiny_scorer.version
    assert unscored_id_ranges(engine=engine, model_version=version, size=5) == [
        (ids[20], ids[22]),
        (ids[15], ids[19]),
        (ids[10], ids[14]),
        (ids[5], ids[9]),
        (ids[0], ids[4]),
    ]
    # Scored articles in between are skipped: each range still holds `size` unscored
    # ones (the newest range the remainder), and a scored run of ids lies inside a range.
    score_articles(engine=engine, scorer=tiny_scorer, min_id=ids[3], max_id=ids[11])
    unscored = ids[:3] + ids[12:]
    ranges = unscored_id_ranges(engine=engine, model_version=version, size=4)
    assert ranges == [(ids[21], ids[22]), (ids[17], ids[20]), (ids[13], ids[16]), (ids[0], ids[12])]
    assert _covered(ranges, unscored) == [1] * len(unscored)
    # Another version has the whole table to do.
    assert unscored_id_ranges(engine=engine, model_version="other", size=100) == [(ids[0], ids[-1])]


def test_scoring_each_range_scores_the_backlog_once(engine: Engine, tiny_scorer: Any) -> None:
    ids = add_articles(engine, numbered_articles(17))
    ranges = unscored_id_ranges(engine=engine, model_version=tiny_scorer.version, size=6)
    assert len(ranges) == 3
    recorder = RecordingScorer(tiny_scorer)
    total = sum(
        score_articles(engine=engine, scorer=recorder, min_id=low, max_id=high).scored
        for low, high in ranges
    )
    assert total == 17 and len(recorder.texts) == 17
    assert sorted(row.article_id for row in score_rows(engine)) == ids
    assert unscored_id_ranges(engine=engine, model_version=tiny_scorer.version, size=6) == []


def test_no_articles_no_ranges_and_a_bad_size(engine: Engine) -> None:
    assert unscored_id_ranges(engine=engine, model_version="v", size=10) == []
    with pytest.raises(FinsentError, match="at least 1"):
        unscored_id_ranges(engine=engine, model_version="v", size=0)


@pytest.mark.integration
def test_concurrent_runs_on_overlapping_ranges_write_nothing_twice(
    pg_url: str, tiny_model_dir: Path
) -> None:
    from models import Scorer

    engine = make_engine(pg_url)
    try:
        ids = add_articles(engine, numbered_articles(80))
        version = Scorer.from_pretrained(tiny_model_dir, device="cpu").version
        # Two workers on overlapping ranges: 0-59 and 20-79 share 40 articles.
        bounds = [(ids[0], ids[59]), (ids[20], ids[79])]
        workers = [
            RecordingScorer(Scorer.from_pretrained(tiny_model_dir, device="cpu"), delay=0.05)
            for _ in bounds
        ]

        def work(job: tuple[RecordingScorer, tuple[int, int]]) -> int:
            scorer, (low, high) = job
            own = make_engine(pg_url)
            try:
                report = score_articles(
                    engine=own, scorer=scorer, min_id=low, max_id=high, chunk_size=5
                )
                return report.scored
            finally:
                own.dispose()

        with ThreadPoolExecutor(max_workers=2) as pool:
            written = list(pool.map(work, zip(workers, bounds, strict=True)))
        rows = score_rows(engine, version)
        assert sorted(row.article_id for row in rows) == ids  # each article once
        assert sum(written) == 80  # the reports count each row once, between them
        for worker, (low, high) in zip(workers, bounds, strict=True):
            # Both worked, each inside its own range ("Company <i> ..." is ids[i]).
            positions = [int(text.split()[1]) for text in worker.texts]
            assert positions and all(low <= ids[i] <= high for i in positions)
        # Row claims (SKIP LOCKED) split the shared part: barring a claim racing a
        # commit, which the unique key absorbs, nothing was scored twice.
        assert sum(len(worker.texts) for worker in workers) <= 85
        # The ranges of what is left, after deleting a few scores, are exactly those.
        with engine.begin() as connection:
            connection.execute(delete(Score).where(Score.article_id.in_([ids[3], ids[70]])))
        assert unscored_id_ranges(engine=engine, model_version=version, size=1) == [
            (ids[70], ids[70]),
            (ids[3], ids[3]),
        ]
    finally:
        engine.dispose()
