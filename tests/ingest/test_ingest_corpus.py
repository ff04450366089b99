"""A corpus of real-world-style feeds in one run: every feed accounted for, a re-run adds nothing.

The corpus (tests/fixtures/feeds/corpus) holds RSS 0.91/0.92/2.0, Atom 1.0, RSS 1.0 (RDF),
CDATA, namespaces (dc:, content:, media:), odd and wrong encodings, ill-formed XML, entity
tricks, and responses that are no feed at all.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import FIXTURES, FeedServer, add_feeds, ingest_settings, run_ingest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.schema import Article

pytestmark = pytest.mark.integration

CORPUS = FIXTURES / "corpus"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NOT_FEEDS = {"empty.xml", "whitespace_only.xml", "json_feed.json", "not_a_feed.html", "random.bin"}


def serve_corpus(server: FeedServer, *, etag: bool = True) -> list[str]:
    urls = []
    for path in sorted(CORPUS.iterdir()):
        content_type = "text/html" if path.suffix == ".html" else "application/xml"
        urls.append(
            server.feed(f"/{path.name}", path.read_bytes(), content_type=content_type, etag=etag)
        )
    urls.append(server.feed("/random.bin", random.Random(3).randbytes(2048), etag=etag))
    return urls


def test_corpus_twice(db_url: str, feed_server: FeedServer) -> None:
    urls = serve_corpus(feed_server)
    assert len(urls) >= 25
    add_feeds(db_url, *urls)
    settings = ingest_settings(db_url)

    first = run_ingest(settings, now=NOW)

    assert first.feeds == len(urls)
    assert first.fetched + first.not_modified + first.skipped + first.errors == len(urls)
    errors = {o.url.rsplit("/", 1)[-1] for o in first.details if o.status == "error"}
    assert errors == NOT_FEEDS, [(o.url, o.error) for o in first.details if o.status == "error"]
    assert first.fetched == len(urls) - len(NOT_FEEDS)
    assert first.new_articles > 40

    # Unchanged feeds: 304 for every feed, nothing new.
    second = run_ingest(settings, now=NOW + timedelta(minutes=15))
    assert second.not_modified == first.fetched and second.new_articles == 0
    # A server without validators: everything is parsed again and deduplicated.
    feed_server.routes.clear()
    serve_corpus(feed_server, etag=False)
    third = run_ingest(settings, now=NOW + timedelta(minutes=30))
    assert third.fetched == first.fetched and third.new_articles == 0
    assert third.duplicates == first.new_articles + first.duplicates

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            articles = list(session.scalars(select(Article)))
    finally:
        engine.dispose()
    assert len(articles) == first.new_articles
    titles = Counter(article.title for article in articles)
    by_title = {article.title: article for article in articles}
    # The same story in two feeds (by GUID, by canonical URL) is one article.
    assert titles["Northwind Bank shares slide after surprise loan-loss provision"] == 1
    assert titles["Oil steadies as OPEC+ signals output discipline"] == 1
    assert titles["Insurer Fourth Coffee warns on storm losses"] == 1
    # Same normalised title + summary, different links: one article by content hash.
    assert titles["Same words, different link"] == 1
    # Encodings decoded, whatever the declaration said.
    assert "Nestlé relève ses prévisions; le franc grimpe à 0,95 CHF" in titles
    assert "“Turbulent” quarter for Margie’s Travel as costs hit €40m" in titles
    assert "Chipmaker VanArsdel posts record ¥ profit — 日本株" in titles
    # HTML stripped, script contents dropped, entities decoded.
    blue = by_title["Blue Yonder Airlines cuts capacity"]
    assert blue.summary == "Capacity falls 6% next quarter."
    assert "Fed’s Reyes: no rush to cut rates" in titles
    assert "Café chain Coho Winery delays results" in titles
    # Times in UTC; impossible or future dates fall back to the fetch time, flagged.
    copper = by_title["Copper hits two-year high on supply disruptions"]
    assert copper.published_at == datetime(2026, 11, 24, 10, 50, tzinfo=UTC)
    assert copper.published_from_feed
    dated = [a for a in articles if a.link and a.link.startswith("https://dates.example.com/")]
    assert len(dated) == 6
    assert all(a.published_at == NOW and not a.published_from_feed for a in dated)
    # Tracking parameters dropped from the canonical link, relative links resolved.
    globex = by_title["Globex raises full-year outlook"]
    assert globex.canonical_url == "https://relative.example.com/news/globex-outlook.html"
    assert by_title[
        "Northwind Bank shares slide after surprise loan-loss provision"
    ].canonical_url == ("https://markets-wire.example.com/banks/northwind-provision")
    # Nothing leaked or expanded from entity tricks.
    assert not any("root:" in f"{a.title} {a.summary}" for a in articles)
    assert all(len(a.title) <= 1_000 and len(a.summary) <= 5_000 for a in articles)
