"""Storing a feed's entries as articles: dedup by GUID, then canonical URL, then content hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, literal, select, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from pipeline.db import dialect_insert
from pipeline.ingest.parse import EntryItem
from pipeline.schema import Article

LOOKUP_CHUNK = 300  # items per lookup query: 900 bound keys, far below SQLite's limit


def _key_in(column: Any, keys: list[str], *, dialect: str) -> Any:
    if dialect == "postgresql":
        # One array parameter, which PostgreSQL treats as a constant it can hash or
        # look up in the index; fifty separate parameters are compared one by one per row.
        return column == any_(literal(keys, type_=postgresql.ARRAY(String)))
    return column.in_(keys)


def _existing_keys(session: Session, items: list[EntryItem]) -> tuple[set[str], set[str], set[str]]:
    """GUIDs, canonical URLs and content hashes of ``items`` already stored.

    One statement per chunk of items: a UNION ALL of one lookup per key column,
    so that each can use its column's unique index.
    """
    dialect = session.get_bind().dialect.name
    found: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    columns = (Article.guid, Article.canonical_url, Article.content_hash)
    for start in range(0, len(items), LOOKUP_CHUNK):
        chunk = items[start : start + LOOKUP_CHUNK]
        lookups = []
        for position, column in enumerate(columns):
            keys = [key for item in chunk if (key := item.keys()[position])]
            if keys:
                lookups.append(
                    select(literal(position).label("kind"), column.label("key")).where(
                        _key_in(column, keys, dialect=dialect)
                    )
                )
        if lookups:
            for kind, key in session.execute(union_all(*lookups)):
                if key is not None:
                    found[kind].add(key)
    return found


def insert_new_articles(
    *, session: Session, items: list[EntryItem], feed_id: int, fetched_at: datetime
) -> int:
    """Insert the items that are no article yet (by GUID, canonical URL or content hash).

    Returns how many rows were inserted. Existing keys are looked up in bulk
    first, so a story matching on one key but differing on another is a
    duplicate, not a constraint violation; ``ON CONFLICT DO NOTHING`` only
    guards against a concurrent run inserting the same story in between.
    """
    fresh: list[EntryItem] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        tagged = [(tag, key) for tag, key in zip("guh", item.keys(), strict=True) if key]
        if not any(key in seen for key in tagged):
            seen.update(tagged)
            fresh.append(item)
    guids, urls, hashes = _existing_keys(session, fresh)
    rows = [
        {
            "feed_id": feed_id,
            "guid": item.guid,
            "canonical_url": item.canonical_url,
            "content_hash": item.content_hash,
            "title": item.title,
            "summary": item.summary,
            "link": item.link,
            "published_at": item.published_at,
            "published_from_feed": item.published_from_feed,
            "fetched_at": fetched_at,
        }
        for item in fresh
        if item.guid not in guids
        and item.canonical_url not in urls
        and item.content_hash not in hashes
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    statement = (
        dialect_insert(Article.__table__, dialect_name=dialect)
        .on_conflict_do_nothing()
        .returning(Article.__table__.c.id)
    )
    return len(session.execute(statement, rows).all())
