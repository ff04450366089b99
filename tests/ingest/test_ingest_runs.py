"""Ingest runs over time: conditional GET, back-off, Retry-After, minimum interval, disabling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import FeedServer, add_feeds, ingest_settings, run_ingest, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.schema import Article, Feed, FetchAttempt

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://runs.example.com/{title.replace(' ', '-')}"
        f"</link><pubDate>Sat, 28 Nov 2026 10:00:00 GMT</pubDate></item>"
        for title in titles
    )
    return f'<rss version="2.0"><channel><title>Runs</title>{items}</channel></rss>'.encode()


def feed_row(db_url: str, feed_id: int) -> Feed:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            feed = session.get(Feed, feed_id)
            assert feed is not None
            session.expunge(feed)
            return feed
    finally:
        engine.dispose()


def test_conditional_get_and_rerun(db_url: str, feed_server: FeedServer) -> None:
    url = feed_server.feed("/feed.xml", rss("Acme beats estimates", "Globex misses"))
    no_etag = feed_server.feed("/plain.xml", rss("Initech recalls printers"), etag=False)
    html_with_etag = feed_server.feed("/page.html", b"<html><body>hello</body></html>")
    good, plain, page = add_feeds(db_url, url, no_etag, html_with_etag)
    settings = ingest_settings(db_url)

    first = run_ingest(settings, now=T0)
    second = run_ingest(settings, now=T0 + timedelta(minutes=15))

    assert (first.fetched, first.errors, first.new_articles) == (2, 1, 3)
    assert (second.not_modified, second.fetched, second.errors) == (1, 1, 1)
    assert second.new_articles == 0 and second.duplicates == 1
    revisits = [r for r in feed_server.requests if r.path == "/feed.xml"]
    assert revisits[0].headers.get("If-None-Match") is None
    assert revisits[1].headers["If-None-Match"] == feed_row(db_url, good).etag
    assert feed_row(db_url, plain).etag is None
    # Validators are stored only after a 200 that was a feed.
    assert feed_row(db_url, page).etag is None
    assert feed_row(db_url, good).last_success_at == T0 + timedelta(minutes=15)


def test_back_off_grows_caps_and_resets(sqlite_url: str, feed_server: FeedServer) -> None:
    feed_server.route("/feed.xml", status(500))
    (feed_id,) = add_feeds(sqlite_url, feed_server.url("/feed.xml"))
    settings = ingest_settings(sqlite_url, backoff_base_seconds=60, backoff_max_seconds=200)

    def run_at(seconds: int) -> str:
        report = run_ingest(settings, now=T0 + timedelta(seconds=seconds))
        return report.details[0].status

    assert run_at(0) == "error"
    assert feed_row(sqlite_url, feed_id).next_attempt_at == T0 + timedelta(seconds=60)
    assert run_at(30) == "skipped"
    assert run_at(61) == "error"
    feed = feed_row(sqlite_url, feed_id)
    assert feed.consecutive_failures == 2
    assert feed.next_attempt_at == T0 + timedelta(seconds=61 + 120)
    assert run_at(200) == "error"  # 3 failures: 240 s, capped at 200 s
    assert feed_row(sqlite_url, feed_id).next_attempt_at == T0 + timedelta(seconds=400)

    feed_server.feed("/feed.xml", rss("Recovered story"))
    assert run_at(401) == "fetched"
    feed = feed_row(sqlite_url, feed_id)
    assert (feed.consecutive_failures, feed.last_error, feed.next_attempt_at) == (0, None, None)
    assert feed.last_success_at == T0 + timedelta(seconds=401)


def test_retry_after_and_minimum_interval(sqlite_url: str, feed_server: FeedServer) -> None:
    feed_server.route("/limited.xml", status(429, {"Retry-After": "120"}))
    ok_url = feed_server.feed("/ok.xml", rss("Steady story"))
    limited, _ok = add_feeds(sqlite_url, feed_server.url("/limited.xml"), ok_url)
    settings = ingest_settings(sqlite_url, feed_min_interval_seconds=300)

    first = run_ingest(settings, now=T0)
    assert [o.status for o in first.details] == ["error", "fetched"]
    assert feed_row(sqlite_url, limited).next_attempt_at == T0 + timedelta(seconds=120)
    soon = run_ingest(settings, now=T0 + timedelta(seconds=100))
    later = run_ingest(settings, now=T0 + timedelta(seconds=301))

    assert [o.status for o in soon.details] == ["skipped", "skipped"]
    assert "backing off" in (soon.details[0].error or "")
    assert "minimum interval" in (soon.details[1].error or "")
    assert [o.status for o in later.details] == ["error", "not_modified"]
    assert len(feed_server.requests) == 4  # skipped feeds were not contacted
    assert soon.skipped == 2 and soon.feeds == 2


def test_disabled_feeds_are_not_polled(sqlite_url: str, feed_server: FeedServer) -> None:
    on, off = add_feeds(
        sqlite_url,
        feed_server.feed("/on.xml", rss("Enabled story")),
        feed_server.feed("/off.xml", rss("Disabled story")),
    )
    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        feed = session.get(Feed, off)
        assert feed is not None
        feed.enabled = False
    engine.dispose()

    report = run_ingest(ingest_settings(sqlite_url), now=T0)

    assert report.feeds == 1 and report.fetched == 1
    assert feed_server.paths_requested() == ["/on.xml"]
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        assert session.scalars(select(Article.title)).all() == ["Enabled story"]
        assert [a.feed_id for a in session.scalars(select(FetchAttempt))] == [on]
    engine.dispose()


def test_a_failing_database_ends_the_run_without_hanging(
    sqlite_url: str, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More feeds than waiting slots for bodies: fetch threads must be released."""
    import pipeline.ingest.poll

    urls = [feed_server.feed(f"/f{i}.xml", rss(f"Story {i}")) for i in range(8)]
    add_feeds(sqlite_url, *urls)

    def broken_store(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline.ingest.poll, "store_feed_run", broken_store)
    with pytest.raises(RuntimeError, match="database went away"):
        run_ingest(ingest_settings(sqlite_url, fetch_concurrency=1), now=T0)
