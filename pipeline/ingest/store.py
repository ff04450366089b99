"""Writing one feed's run: its new articles, its state and its attempt row, in one transaction.

Articles are deduplicated by GUID, then canonical URL, then content hash. The
feed's row is locked first, so two runs that poll the same feed at once write
it one after the other; a story that two feeds carry is inserted once, whichever
run gets there first (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, String, any_, literal, select, text, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from pipeline.db import dialect_insert
from pipeline.ingest.fetch import FetchResult
from pipeline.ingest.parse import EntryItem
from pipeline.ingest.report import FeedOutcome, FeedStatus
from pipeline.ingest.schedule import backoff_delay
from pipeline.ingest.urls import redact_text
from pipeline.schema import Article, Feed
from pipeline.settings import Settings

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


def _fitting(value: str | None, column: Any) -> str | None:
    """``value`` if it fits ``column``; a validator cut short would never match again."""
    return value if value is None or len(value) <= column.type.length else None


def _apply(
    session: Session,
    outcome: FeedOutcome,
    *,
    result: FetchResult,
    items: list[EntryItem],
    now: datetime,
    settings: Settings,
) -> FeedOutcome:
    """Write ``outcome`` (and, when fetched, ``items``) to the feed it belongs to."""
    # FOR UPDATE: a concurrent run on the same feed waits here, so failure counts add up.
    feed = session.get(Feed, outcome.feed_id, with_for_update=True)
    if feed is None:
        return replace(outcome, status=FeedStatus.ERROR, error="feed removed during the run")
    feed.last_attempt_at = now
    if outcome.status is FeedStatus.FETCHED:
        new = insert_new_articles(session=session, items=items, feed_id=feed.id, fetched_at=now)
        outcome = replace(outcome, new_articles=new, duplicates=len(items) - new)
        # Validators only after a 200 whose body was a feed.
        feed.etag = _fitting(result.etag, Feed.__table__.c.etag)
        feed.last_modified = _fitting(result.last_modified, Feed.__table__.c.last_modified)
    if outcome.status in (FeedStatus.FETCHED, FeedStatus.NOT_MODIFIED):
        feed.last_success_at = now
        feed.consecutive_failures = 0
        feed.next_attempt_at = None
        feed.last_error = None
    else:
        feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
        feed.last_error = outcome.error
        delay = backoff_delay(
            failures=feed.consecutive_failures,
            settings=settings,
            retry_after=result.retry_after_seconds,
        )
        feed.next_attempt_at = now + delay if delay else None
    session.add(outcome.attempt_row(started_at=now))
    return outcome


def _relax_commit_durability(session: Session) -> None:
    """On PostgreSQL, do not wait for this transaction's WAL flush at commit.

    A crash of the database server may then lose the last moments of commits,
    whole transactions only: a feed's articles, validators and attempt row go
    together, so the next run fetches that feed again and stores what was lost.
    Waiting for the flush of every feed's commit otherwise dominates the run.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def store_feed_run(
    *,
    engine: Engine,
    outcome: FeedOutcome,
    result: FetchResult,
    items: list[EntryItem],
    now: datetime,
    settings: Settings,
) -> FeedOutcome:
    """Write one feed's run in one transaction; returns the outcome as written (with its
    new-article count). If that transaction fails, the failure itself is recorded in
    another, so one feed's bad data never ends the run."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            _relax_commit_durability(session)
            return _apply(session, outcome, result=result, items=items, now=now, settings=settings)
    except Exception as exc:  # isolation: one feed's bad data must not end the run
        # The statement's parameters are in the message: no URL credentials in them.
        error = redact_text(f"storing failed: {type(exc).__name__}: {exc}")[:500]
    failed = replace(
        outcome, status=FeedStatus.ERROR, error=error, entries_seen=0, new_articles=0, duplicates=0
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return _apply(session, failed, result=result, items=[], now=now, settings=settings)


def store_skipped(*, engine: Engine, outcomes: list[FeedOutcome], now: datetime) -> None:
    """Record the feeds a run skipped (their attempt rows; their state is unchanged)."""
    if not outcomes:
        return
    with Session(engine) as session, session.begin():
        session.add_all(outcome.attempt_row(started_at=now) for outcome in outcomes)
