"""Every page of the real dashboard through Streamlit's AppTest: on an empty and on a
seeded database (SQLite, and PostgreSQL with its rollup), the broken states, and the
actions that write (acknowledge, silence, correct, add a feed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dashboard_helpers import BURST_TOPIC, XSS_IMG, XSS_SCRIPT, seed_database
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import SHIPPED_MODEL_DIR
from pipeline.db import make_engine, upgrade_database
from pipeline.schema import Alert, Article, Correction, Feed, Score, Silence

PAGES = ("overview", "alerts", "articles", "feeds", "model")


def _page(at: Any, name: str) -> Any:
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements: Any) -> list[str]:
    """The elements' text as the analyst reads it (Markdown's backslash escapes undone)."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements]


def _rows(url: str, model: type, *where: Any) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    finally:
        engine.dispose()


def test_every_page_on_an_empty_database_explains_how_to_start(
    sqlite_url: str, use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    use_database(sqlite_url)
    at = app()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert any("No news yet" in text for text in _texts(at.info))
    assert any("finsent feeds add" in text for text in _texts(at.markdown))
    assert not at.get("vega_lite_chart")

    _page(at, "alerts")
    assert any("No alerts so far" in text for text in _texts(at.success))
    _page(at, "articles")
    assert any("No news yet" in text for text in _texts(at.info))
    _page(at, "feeds")
    assert any("No feeds yet" in text for text in _texts(at.info))
    assert at.text_input[0].label == "Feed URL"
    _page(at, "model")
    assert [m.label for m in at.metric][:2] == ["Topic macro-F1", "Sentiment macro-F1"]
    assert at.subheader[0].value.replace("\\", "").startswith("finsent-")
    assert at.text_area[0].label == "Any headline or paragraph"


def _check_seeded_pages(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open alerts"] == "2"
    assert int(metrics["Articles"].replace(",", "")) > 2000
    assert metrics["Negative, last 2 h"].endswith("%")
    assert any("open alert(s)" in text for text in _texts(at.error))
    assert len(at.get("vega_lite_chart")) == 3  # share by topic, heat map, volume

    _page(at, "alerts")
    metrics = {m.label: m.value for m in at.metric}
    assert {"Negative share", "Baseline", "Negative articles", "p-value"} <= set(metrics)
    assert at.selectbox(key="alert_choice").value is not None
    # The evidence's headlines are plain text elements, the hostile ones included.
    assert XSS_SCRIPT in _texts(at.text) and XSS_IMG in _texts(at.text)
    assert len(at.dataframe) >= 2

    _page(at, "articles")
    table = at.dataframe[0].value
    assert len(table) == 500
    assert set(table["sentiment"]) <= {"negative", "neutral", "positive"}
    # Only http(s) links become links: the javascript: one is dropped, not rendered.
    assert not any(str(link).lower().startswith("javascript") for link in table["link"])
    assert any(str(link).startswith("https://") for link in table["link"])

    _page(at, "feeds")
    feeds = at.dataframe[0].value
    assert list(feeds["status"]) == ["ok", "ok", "backing off", "disabled"]
    assert XSS_IMG in list(feeds["name"])

    _page(at, "model")
    assert any(m.label == "Topic macro-F1" for m in at.metric)


def test_every_page_on_a_seeded_sqlite_database(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    _check_seeded_pages(app())


@pytest.mark.integration
def test_every_page_on_a_seeded_postgresql_database(
    pg_url: str, use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    seed_database(pg_url)
    use_database(pg_url)
    at = app()
    _check_seeded_pages(at)
    # The Overview's count (rollup + partial hours) is the plain count of the range.
    _page(at, "overview")
    shown = int({m.label: m.value for m in at.metric}["Articles"].replace(",", ""))
    view = at.session_state["_finsent_view"]
    engine = make_engine(pg_url)
    try:
        with Session(engine) as session:
            direct = session.scalar(
                select(func.count())
                .select_from(Score)
                .join(Article, Article.id == Score.article_id)
                .where(Article.published_at >= view.start, Article.published_at < view.end)
            )
    finally:
        engine.dispose()
    assert shown == direct


def test_shared_filters_are_kept_across_pages(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    at = app()
    at.radio(key="range_choice").set_value("24 h")
    at.multiselect(key="topic_filter").set_value([BURST_TOPIC])
    at.run()
    assert not at.exception
    caption = " ".join(_texts(at.caption))
    assert "Last 24 h" in caption and BURST_TOPIC in caption
    _page(at, "articles")
    assert at.radio(key="range_choice").value == "24 h"
    assert at.multiselect(key="topic_filter").value == [BURST_TOPIC]
    assert set(at.dataframe[0].value["topic"]) == {BURST_TOPIC}
    view = at.session_state["_finsent_view"]
    assert view.span == timedelta(hours=24) and view.topics == (BURST_TOPIC,)


def test_custom_range_in_the_past_says_where_the_news_is(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    at = app()
    at.radio(key="range_choice").set_value("Custom").run()
    long_ago = datetime.now(UTC).date() - timedelta(days=400)
    at.date_input(key="range_custom").set_value((long_ago, long_ago + timedelta(days=3))).run()
    assert not at.exception
    assert any("No scored articles" in text for text in _texts(at.info))


def test_acknowledge_from_the_alerts_page(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    url = seeded_sqlite["url"]
    at = _page(app(), "alerts")
    chosen = at.selectbox(key="alert_choice").value
    assert _rows(url, Alert, Alert.id == chosen, Alert.acknowledged_at.is_not(None)) == 0
    at.button(key=f"ack_{chosen}").click().run()
    assert not at.exception
    assert _rows(url, Alert, Alert.id == chosen, Alert.acknowledged_at.is_not(None)) == 1
    assert at.button(key=f"ack_{chosen}").disabled


def test_silence_from_the_alerts_page(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    url = seeded_sqlite["url"]
    at = _page(app(), "alerts")
    chosen = at.selectbox(key="alert_choice").value
    # The default choice is the topic alert, not the all-articles one.
    assert at.text_input[0].value == BURST_TOPIC
    assert chosen is not None
    at.text_input[1].set_value("three days")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert any("cannot read duration" in text for text in _texts(at.error))
    assert _rows(url, Silence) == 0

    at.text_input[1].set_value("2h")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert any(f"Silenced {BURST_TOPIC}" in text for text in _texts(at.success))
    assert _rows(url, Silence, Silence.scope == BURST_TOPIC) == 1


def _correct(at: Any, key: str, *, article: int, topic: str | None, sentiment: str | None) -> None:
    at.selectbox(key=f"correct_article_{key}").set_value(article)
    if topic:
        at.selectbox(key=f"correct_topic_{key}").set_value(topic)
    if sentiment:
        at.selectbox(key=f"correct_sent_{key}").set_value(sentiment)
    next(b for b in at.button if b.label == "Save correction").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_correction_on_the_articles_page_becomes_training_data(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any], tmp_path: Any
) -> None:
    from models.data import load_task_data
    from models.tasks import SENTIMENT, TOPIC

    url = seeded_sqlite["url"]
    article = seeded_sqlite["xss_script_id"]
    at = _page(app(), "articles")
    _correct(at, "articles", article=article, topic="Markets", sentiment="neutral")
    assert any(f"Saved for article #{article}" in text for text in _texts(at.success))
    assert _rows(url, Correction, Correction.article_id == article) == 2
    # The model's own labels are untouched.
    assert _rows(url, Score, Score.article_id == article, Score.sentiment == "negative") == 1

    # Correcting again replaces the earlier correction (one per article and field).
    _correct(at, "articles", article=article, topic=None, sentiment="positive")
    assert _rows(url, Correction, Correction.article_id == article) == 2
    assert _rows(url, Correction, Correction.label == "positive") == 1

    # "Corrected only" shows exactly the corrected article.
    at.toggle(key="articles_corrected").set_value(True).run()
    table = at.dataframe[0].value
    assert list(table["id"]) == [article]
    assert list(table["corrected sentiment"]) == ["positive"]

    out = tmp_path / "corrections.csv"
    from typer.testing import CliRunner

    from pipeline.cli import app as cli

    result = CliRunner().invoke(cli, ["corrections", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 1 corrected article" in result.output
    topics = load_task_data(out, TOPIC)
    sentiments = load_task_data(out, SENTIMENT)
    assert [TOPIC.labels[i] for i in topics.labels] == ["Markets"]
    assert [SENTIMENT.labels[i] for i in sentiments.labels] == ["positive"]
    # The text is the article as the model reads it: title and summary, cleaned.
    assert topics.texts == sentiments.texts
    assert "details of story" in topics.texts[0]


def test_a_correction_from_an_alerts_article_list(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    url = seeded_sqlite["url"]
    at = _page(app(), "alerts")
    chosen = at.selectbox(key="alert_choice").value
    key = f"alert_{chosen}"
    article = at.selectbox(key=f"correct_article_{key}").options[0]
    article_id = int(str(article).split(" ")[0].lstrip("#"))
    _correct(at, key, article=article_id, topic=None, sentiment="neutral")
    assert _rows(url, Correction, Correction.article_id == article_id) == 1


def test_adding_a_feed_from_the_page_uses_the_cli_checks_and_the_ssrf_guard(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    url = seeded_sqlite["url"]
    at = _page(app(), "feeds")

    def add(feed_url: str) -> Any:
        at.text_input[0].set_value(feed_url)
        next(b for b in at.button if b.label == "Add feed").click().run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    add("http://127.0.0.1:8080/rss")
    assert any("not public (loopback)" in text for text in _texts(at.error))
    add("http://[::ffff:10.0.0.1]/rss")
    assert any("not public" in text for text in _texts(at.error))
    add("javascript:alert(1)")
    assert any("unsupported URL scheme" in text for text in _texts(at.error))
    add("file:///etc/passwd")
    assert any("FINSENT_ALLOW_PRIVATE_NETWORKS" in text for text in _texts(at.error))
    assert _rows(url, Feed) == 4  # nothing refused was stored

    add("https://news.invalid/markets.rss")  # .invalid never resolves: a warning, kept
    assert any("added anyway" in text for text in _texts(at.warning))
    assert any("Feed 5 added" in text for text in _texts(at.success))
    assert _rows(url, Feed, Feed.url == "https://news.invalid/markets.rss") == 1


def test_the_password_is_asked_before_any_page(
    seeded_sqlite: dict[str, Any],
    app: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.settings import get_settings

    monkeypatch.setenv("FINSENT_DASHBOARD_PASSWORD", "correct horse battery")
    get_settings.cache_clear()
    at = app()
    assert [t.value for t in at.title] == ["finsent"]
    assert not at.metric and not at.dataframe  # no data before the password
    at.text_input[0].set_value("wrong horse")
    at.button[0].click().run()
    assert "Wrong password." in _texts(at.error)
    assert not at.metric
    at.text_input[0].set_value("correct horse battery")
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert {m.label for m in at.metric} >= {"Articles", "Open alerts"}
    _page(at, "articles")  # the session stays signed in across pages
    assert at.dataframe


def test_with_oidc_configured_st_login_is_used(
    seeded_sqlite: dict[str, Any], app: Callable[..., Any]
) -> None:
    from dashboard_helpers import APP
    from streamlit.testing.v1 import AppTest

    auth = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-long-random-test-cookie-secret",
        "client_id": "finsent",
        "client_secret": "test-secret",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.secrets["auth"] = auth
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert not at.metric and not at.dataframe
    # Authlib (Streamlit's OIDC client) comes with the dashboard extra: signed out, the
    # page offers only the sign-in.
    assert [b.label for b in at.button] == ["Sign in"]

    signed_in = AppTest.from_file(str(APP), default_timeout=120)
    signed_in.secrets["auth"] = auth
    signed_in.user = {"is_logged_in": True, "email": "analyst@example.com"}
    signed_in.run()
    assert not signed_in.exception
    assert [t.value for t in signed_in.title] == ["Overview"]
    assert signed_in.session_state["_finsent_user"] == "analyst@example.com"


def test_an_unreachable_database_is_one_line(
    use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    use_database("postgresql+psycopg://postgres@127.0.0.1:1/finsent")
    at = app()
    assert not at.exception
    errors = _texts(at.error)
    assert len(errors) == 1 and "\n" not in errors[0]
    assert "127.0.0.1" in errors[0]
    _page(at, "model")  # the Model page needs no database
    assert any(m.label == "Topic macro-F1" for m in at.metric)


def test_a_missing_migration_says_to_upgrade(
    tmp_path: Any, use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, "0003")
    use_database(url)
    at = app()
    assert not at.exception
    assert _texts(at.error) == [
        "the database is at migration 0003, the dashboard needs 0004; run `finsent db upgrade`"
    ]


def test_no_database_file_is_one_line(
    tmp_path: Any, use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    use_database(f"sqlite:///{tmp_path / 'missing.db'}")
    at = app()
    assert not at.exception
    assert any("finsent db upgrade" in text for text in _texts(at.error))
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.slow
def test_trying_the_shipped_model_on_the_model_page(
    sqlite_url: str, use_database: Callable[[str], None], app: Callable[..., Any]
) -> None:
    use_database(sqlite_url)
    at = _page(app(), "model")
    # The shipped card is a distilled run's soup: its data sources and its teachers both show.
    assert any("news_sentiment" in str(frame.value) for frame in at.dataframe)
    card = json.loads((SHIPPED_MODEL_DIR / "model_card.json").read_text(encoding="utf-8"))
    teachers = ", ".join(t["version"] for t in card["data"]["teachers"])
    captions = [c.value.replace("\\", "") for c in at.caption]  # plain() escapes Markdown
    assert f"Distilled from the average of: {teachers}" in captions
    at.text_area[0].set_value("Bank shares plunge after a surprise loss and a dividend cut")
    next(b for b in at.button if b.label == "Score it").click()
    at.run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sentiment"] == "negative"
    from models import TOPIC_LABELS

    assert metrics["Topic"] in TOPIC_LABELS
