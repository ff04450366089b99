"""score_articles on real SQLite and PostgreSQL with the real (tiny) Scorer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from scoring_helpers import RecordingScorer, add_articles, numbered_articles, score_rows
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from pipeline.schema import Article, Score
from pipeline.scoring import score_articles


def test_scores_every_article_once_and_a_second_run_scores_nothing(
    engine: Engine, tiny_scorer: Any
) -> None:
    ids = add_articles(engine, numbered_articles(10))
    report = score_articles(engine=engine, scorer=tiny_scorer, chunk_size=4)
    assert report.scored == 10
    assert report.model_version == tiny_scorer.version
    assert report.seconds > 0 and report.articles_per_second > 0
    rows = score_rows(engine)
    assert sorted(row.article_id for row in rows) == sorted(ids)
    for row in rows:
        assert row.model_version == tiny_scorer.version
        assert 0.0 <= row.topic_probability <= 1.0
        assert math.isclose(row.p_negative + row.p_neutral + row.p_positive, 1.0, abs_tol=1e-5)
        assert math.isclose(row.sentiment_score, row.p_positive - row.p_negative, abs_tol=1e-6)
        assert row.sentiment in ("negative", "neutral", "positive")
        assert row.scored_at.tzinfo is not None

    again = score_articles(engine=engine, scorer=tiny_scorer, chunk_size=4)
    assert again.scored == 0
    assert len(score_rows(engine)) == 10


def test_scores_match_scorer_predict_on_article_text(engine: Engine, tiny_scorer: Any) -> None:
    (article_id,) = add_articles(engine, [("Acme &amp; Co cut outlook", "<p>Shares fell.</p>")])
    recorder = RecordingScorer(tiny_scorer)
    score_articles(engine=engine, scorer=recorder)
    assert recorder.texts == ["Acme & Co cut outlook. Shares fell."]
    assert recorder.cleaned == [False]  # cleaned once, while the text was built
    (expected,) = tiny_scorer.predict(recorder.texts)
    (row,) = score_rows(engine)
    assert row.article_id == article_id
    assert row.topic == expected.topic
    assert row.sentiment == expected.sentiment
    assert math.isclose(row.p_negative, expected.sentiment_probabilities["negative"], rel_tol=1e-6)


def test_limit_scores_the_newest_first_and_the_rest_later(engine: Engine, tiny_scorer: Any) -> None:
    ids = add_articles(engine, numbered_articles(7))
    first = score_articles(engine=engine, scorer=tiny_scorer, limit=3, chunk_size=2)
    assert first.scored == 3
    assert [row.article_id for row in score_rows(engine)] == sorted(ids)[-3:]
    assert score_articles(engine=engine, scorer=tiny_scorer, limit=0).scored == 0
    rest = score_articles(engine=engine, scorer=tiny_scorer)
    assert rest.scored == 4
    assert len(score_rows(engine)) == 7


def test_a_new_model_version_scores_everything_again_and_keeps_old_rows(
    engine: Engine, tiny_scorer: Any, tiny_model_dir_v2: Path
) -> None:
    from models import Scorer

    v2 = Scorer.from_pretrained(tiny_model_dir_v2, device="cpu")
    assert v2.version != tiny_scorer.version
    add_articles(engine, numbered_articles(6))
    score_articles(engine=engine, scorer=tiny_scorer)
    old = {row.article_id: (row.id, row.topic) for row in score_rows(engine, tiny_scorer.version)}

    report = score_articles(engine=engine, scorer=v2)
    assert report.scored == 6 and report.model_version == v2.version
    assert len(score_rows(engine, v2.version)) == 6
    # "As-was" history: the old version's rows are untouched.
    assert {r.article_id: (r.id, r.topic) for r in score_rows(engine, tiny_scorer.version)} == old
    assert score_articles(engine=engine, scorer=v2).scored == 0
    assert score_articles(engine=engine, scorer=tiny_scorer).scored == 0


def test_rescore_overwrites_the_current_version_in_place_only(
    engine: Engine, tiny_scorer: Any, tiny_model_dir_v2: Path
) -> None:
    from models import Scorer

    v2 = Scorer.from_pretrained(tiny_model_dir_v2, device="cpu")
    add_articles(engine, numbered_articles(5))
    score_articles(engine=engine, scorer=tiny_scorer)
    score_articles(engine=engine, scorer=v2)
    with Session(engine) as session:
        session.execute(
            update(Score).where(Score.model_version == v2.version).values(topic="stale")
        )
        session.commit()
    before = {row.article_id: row for row in score_rows(engine, v2.version)}
    old_version = [(r.id, r.topic, r.scored_at) for r in score_rows(engine, tiny_scorer.version)]

    report = score_articles(engine=engine, scorer=v2, rescore=True, chunk_size=2)
    assert report.scored == 5
    after = {row.article_id: row for row in score_rows(engine, v2.version)}
    assert after.keys() == before.keys()
    for article_id, row in after.items():
        assert row.id == before[article_id].id  # updated in place, not a new row
        assert row.topic != "stale"
        assert row.scored_at >= before[article_id].scored_at
    assert [(r.id, r.topic, r.scored_at) for r in score_rows(engine, tiny_scorer.version)] == (
        old_version
    )
    # --rescore with --limit: only the newest N.
    assert score_articles(engine=engine, scorer=v2, rescore=True, limit=2).scored == 2


def test_a_crash_loses_at_most_one_chunk_and_the_next_run_resumes(
    engine: Engine, tiny_scorer: Any
) -> None:
    ids = add_articles(engine, numbered_articles(10))
    crashing = RecordingScorer(tiny_scorer, fail_on_call=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        score_articles(engine=engine, scorer=crashing, chunk_size=4)
    # The first chunk (the 4 newest) was committed before the crash.
    assert [row.article_id for row in score_rows(engine)] == sorted(ids)[-4:]

    resumed = RecordingScorer(tiny_scorer)
    report = score_articles(engine=engine, scorer=resumed, chunk_size=4)
    assert report.scored == 6
    assert len(resumed.texts) == 6  # nothing scored twice
    rows = score_rows(engine)
    assert sorted(row.article_id for row in rows) == sorted(ids)


def test_bad_input_scores_without_error(engine: Engine, tiny_scorer: Any) -> None:
    items = [
        ("", ""),  # nothing at all: scored from the empty string
        ("   ", "\n\t"),
        (
            "Markets 📉 株価 한국 السوق e\u0301 \u200b",
            "control\x07 chars \ufeff\x1b[0m",
        ),  # (PostgreSQL refuses NUL)
        ("Acme", "very long summary " * 50_000),
        (
            "<div class='x'>Acme &amp;amp; Co</div>",
            "<script>alert(1)</script> &lt;b&gt;up&lt;/b&gt;",
        ),
        ("A" * 5_000, ""),
    ]
    ids = add_articles(engine, items)
    recorder = RecordingScorer(tiny_scorer)
    report = score_articles(engine=engine, scorer=recorder)
    assert report.scored == len(items)
    assert report.empty_text == 2
    assert sorted(row.article_id for row in score_rows(engine)) == sorted(ids)
    assert all(
        len(tiny_scorer.tokenizer(t)["input_ids"]) <= tiny_scorer.max_length for t in recorder.texts
    )


def test_an_article_deleted_after_scoring_takes_its_scores_along(
    engine: Engine, tiny_scorer: Any
) -> None:
    (article_id,) = add_articles(engine, numbered_articles(1))
    score_articles(engine=engine, scorer=tiny_scorer)
    with Session(engine) as session:
        session.delete(session.get(Article, article_id))
        session.commit()
    assert score_rows(engine) == []


def test_progress_bar_only_when_asked(
    engine: Engine, tiny_scorer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    add_articles(engine, numbered_articles(6))
    score_articles(engine=engine, scorer=tiny_scorer, limit=3)
    assert capsys.readouterr().err == ""
    score_articles(engine=engine, scorer=tiny_scorer, progress=True, chunk_size=2)
    err = capsys.readouterr().err
    assert "3/3" in err and "article" in err


def test_nonsense_sizes_are_user_errors(engine: Engine, tiny_scorer: Any) -> None:
    from pipeline.errors import FinsentError

    for kwargs in ({"batch_size": 0}, {"chunk_size": 0}, {"limit": -1}):
        with pytest.raises(FinsentError):
            score_articles(engine=engine, scorer=tiny_scorer, **kwargs)


def test_an_id_range_scores_only_the_articles_inside_it(engine: Engine, tiny_scorer: Any) -> None:
    ids = add_articles(engine, numbered_articles(10))
    low, high = ids[2], ids[6]
    report = score_articles(
        engine=engine, scorer=tiny_scorer, min_id=low, max_id=high, chunk_size=2
    )
    assert report.scored == 5
    assert [row.article_id for row in score_rows(engine)] == ids[2:7]
    assert score_articles(engine=engine, scorer=tiny_scorer, min_id=low, max_id=high).scored == 0
    # Either bound alone: everything from it up, everything up to it.
    assert score_articles(engine=engine, scorer=tiny_scorer, min_id=ids[8]).scored == 2
    assert score_articles(engine=engine, scorer=tiny_scorer, max_id=ids[0]).scored == 1
    assert [row.article_id for row in score_rows(engine)] == [ids[0], *ids[2:7], *ids[8:]]
    # With rescore, a range re-scores its own articles only.
    again = score_articles(engine=engine, scorer=tiny_scorer, min_id=low, max_id=low, rescore=True)
    assert again.scored == 1
    assert score_articles(engine=engine, scorer=tiny_scorer).scored == 2  # ids[1], ids[7]


def test_an_empty_id_range_is_refused(engine: Engine, tiny_scorer: Any) -> None:
    from pipeline.errors import FinsentError

    with pytest.raises(FinsentError, match="empty id range"):
        score_articles(engine=engine, scorer=tiny_scorer, min_id=5, max_id=4)
