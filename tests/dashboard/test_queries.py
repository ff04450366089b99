"""The dashboard's read side and corrections, without Streamlit: filters, paging, CSV,
export format, feed health, and the Overview's share/baseline frame."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import BURST_TOPIC, JAVASCRIPT_LINK, VERSION, XSS_SCRIPT, seed_database
from sqlalchemy.orm import Session

from pipeline.corrections import export_corrections, record_correction, training_text
from pipeline.db import make_engine
from pipeline.errors import FinsentError, UsageError
from pipeline.queries import (
    ArticleFilter,
    article_page,
    feed_health,
    system_status,
    window_vs_baseline,
    write_articles_csv,
)


@pytest.fixture
def seeded(db_url: str) -> Any:
    ids = seed_database(db_url)
    engine = make_engine(db_url)
    with Session(engine) as session:
        yield session, ids
    engine.dispose()


def _filters(**kwargs: Any) -> ArticleFilter:
    end = datetime.now(UTC) + timedelta(minutes=1)
    return ArticleFilter(model_version=VERSION, start=end - timedelta(days=7), end=end, **kwargs)


def test_article_filters_sort_and_count(seeded: Any) -> None:
    session, ids = seeded
    page = article_page(session=session, filters=_filters(), sort="most_negative", limit=5)
    # The burst's strongest stories first; the two hostile titles tie just below them
    # (ties: newest id first).
    page = article_page(session=session, filters=_filters(), sort="most_negative", limit=8)
    top = [row.id for row in page.rows]
    assert top[4:6] == [ids["xss_img_id"], ids["xss_script_id"]]
    assert page.rows[0].title == "Pinecrest Bank discloses large loan losses, suspends dividend"
    assert [r.p_negative for r in page.rows] == sorted(
        (r.p_negative for r in page.rows), reverse=True
    )
    assert page.matching > 2000 and not page.capped

    capped = article_page(session=session, filters=_filters(), limit=1, count_cap=100)
    assert capped.matching == 100 and capped.capped

    burst = article_page(
        session=session, filters=_filters(topics=(BURST_TOPIC,), sentiments=("negative",))
    )
    assert burst.rows and {(r.topic, r.sentiment) for r in burst.rows} == {
        (BURST_TOPIC, "negative")
    }

    # Search is a substring, case-insensitive; % and _ are characters, not wildcards.
    found = article_page(session=session, filters=_filters(text="<SCRIPT>"))
    assert [r.title for r in found.rows] == [XSS_SCRIPT]
    assert article_page(session=session, filters=_filters(text="%")).rows == []
    assert article_page(session=session, filters=_filters(text="deposits_flee")).rows == []

    newest = article_page(session=session, filters=_filters(), sort="newest", limit=50).rows
    assert [r.published_at for r in newest] == sorted(
        (r.published_at for r in newest), reverse=True
    )


def test_csv_of_the_filtered_set_has_every_matching_article(seeded: Any) -> None:
    session, _ = seeded
    filters = _filters(topics=(BURST_TOPIC,))
    out = io.StringIO()
    written = write_articles_csv(session=session, filters=filters, out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows) == article_page(session=session, filters=filters).matching
    assert {r["topic"] for r in rows} == {BURST_TOPIC}
    hostile = next(r for r in rows if r["title"] == XSS_SCRIPT)
    assert hostile["link"] == JAVASCRIPT_LINK  # data as stored: a CSV is not a page


def test_system_status_and_the_detectors_window(seeded: Any) -> None:
    session, _ = seeded
    status = system_status(session=session)
    assert status.has_articles and status.model_version == VERSION
    assert status.open_alerts == 2 and status.feeds == 4 and status.enabled_feeds == 3
    now = window_vs_baseline(
        session=session,
        model_version=VERSION,
        end=datetime.now(UTC) + timedelta(minutes=1),
        window_hours=2,
        baseline_days=7,
    )
    n, negatives = now.window[BURST_TOPIC]
    assert n >= 32 and negatives / n > 0.6
    assert now.headlines[0].p_negative >= now.headlines[-1].p_negative


def test_feed_health_states(seeded: Any) -> None:
    session, _ = seeded
    rows = feed_health(session=session, now=datetime.now(UTC))
    assert [r.status for r in rows] == ["ok", "ok", "backing off", "disabled"]
    assert rows[0].articles_per_day > 100 and rows[3].articles_per_day == 0
    assert rows[2].fetches == 8 and rows[2].errors == 8 and rows[2].last_error


def test_corrections_validate_and_export_in_the_training_format(
    seeded: Any, tmp_path: Path
) -> None:
    session, ids = seeded
    article = ids["xss_img_id"]
    with pytest.raises(UsageError, match="unknown topic label 'Weather'"):
        record_correction(session=session, article_id=article, field="topic", label="Weather")
    with pytest.raises(UsageError, match="unknown field"):
        record_correction(session=session, article_id=article, field="tone", label="neutral")
    with pytest.raises(FinsentError, match="no article with id"):
        record_correction(session=session, article_id=10**9, field="topic", label="IPO")
    saved = record_correction(
        session=session, article_id=article, field="sentiment", label="neutral", author="ana"
    )
    assert (saved.model_label, saved.model_version) == ("negative", VERSION)
    record_correction(session=session, article_id=ids["xss_script_id"], field="topic", label="IPO")
    session.commit()

    both = tmp_path / "both.csv"
    assert export_corrections(session=session, out=both) == 2
    with both.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "topic", "sentiment"]
    assert {(r["topic"], r["sentiment"]) for r in rows} == {("IPO", ""), ("", "neutral")}

    topic_only = tmp_path / "topic.csv"
    assert export_corrections(session=session, out=topic_only, fields=("topic",)) == 1
    assert topic_only.read_text(encoding="utf-8").splitlines()[0] == "text,topic"
    assert not list(tmp_path.glob("*.partial"))


def test_training_text_joins_like_scoring() -> None:
    assert training_text("Apple beats estimates", "Shares rose.") == (
        "Apple beats estimates. Shares rose."
    )
    assert training_text("Is it over?", "Maybe.") == "Is it over? Maybe."
    assert training_text("", "Only a summary") == "Only a summary"
