"""Dedup on the database: GUID, then canonical URL, then content hash; never a constraint error."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest_helpers import add_feeds
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.ingest.normalize import content_hash
from pipeline.ingest.parse import EntryItem
from pipeline.ingest.store import insert_new_articles
from pipeline.schema import Article

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def item(
    title: str, *, guid: str | None = None, url: str | None = None, summary: str = ""
) -> EntryItem:
    return EntryItem(
        guid=guid,
        canonical_url=url,
        content_hash=content_hash(title, summary),
        title=title,
        summary=summary,
        link=url,
        published_at=NOW,
        published_from_feed=True,
    )


def insert(db_url: str, items: list[EntryItem], feed_id: int) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session, session.begin():
            return insert_new_articles(
                session=session, items=items, feed_id=feed_id, fetched_at=NOW
            )
    finally:
        engine.dispose()


def count(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Article)) or 0
    finally:
        engine.dispose()


def test_dedup_by_each_key_and_across_keys(db_url: str) -> None:
    first_feed, second_feed = add_feeds(
        db_url, "https://a.example.com/rss", "https://b.example.com/rss"
    )
    existing = [
        item("Story A", guid="urn:a", url="https://x.com/a"),
        item("Story B", guid="urn:b", url="https://x.com/b"),
        item("Story C", summary="only a hash"),
    ]
    assert insert(db_url, existing, first_feed) == 3

    incoming = [
        item("Story A, retitled", guid="urn:a", url="https://x.com/a-new"),  # same GUID
        item("Story B, other GUID", guid="urn:b2", url="https://x.com/b"),  # same canonical URL
        item("story  c", summary="Only a  hash"),  # same normalised title + summary
        # GUID of A and URL of B: matches two different rows, still just a duplicate.
        item("Story D", guid="urn:a", url="https://x.com/b"),
        item("Story E", guid="urn:e", url="https://x.com/e"),  # new
        item("Story E again", guid="urn:e", url="https://x.com/e2"),  # duplicate within the batch
        item("Story F", url="https://x.com/e"),  # shares E's URL, within the batch
    ]
    assert insert(db_url, incoming, second_feed) == 1
    assert count(db_url) == 4
    # Re-running changes nothing.
    assert insert(db_url, existing + incoming, second_feed) == 0
    assert count(db_url) == 4


def test_many_items_in_one_batch(db_url: str) -> None:
    (feed_id,) = add_feeds(db_url, "https://many.example.com/rss")
    items = [item(f"Story {i}", guid=f"urn:{i}", url=f"https://x.com/{i}") for i in range(1_200)]
    assert insert(db_url, items[:700], feed_id) == 700
    # Lookups are chunked; the overlap is found across chunks.
    assert insert(db_url, items, feed_id) == 500
    assert count(db_url) == 1_200
