"""Which feeds a run polls, and when a feed is due: back-off, Retry-After, minimum interval.

A run reads a :class:`FeedSnapshot` of each enabled feed once, before any fetch;
the fetch threads work from the snapshot, never from a live database row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.backoff import exponential_backoff
from pipeline.schema import Feed
from pipeline.settings import Settings

# Ids per query when a run is given its feeds: far below any database's parameter limit.
ID_CHUNK = 500


@dataclass(frozen=True)
class FeedSnapshot:
    """What a run needs to know about an enabled feed, read before the run starts."""

    id: int
    url: str  # as stored: may carry credentials, never shown
    etag: str | None
    last_modified: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None


def snapshot_enabled_feeds(
    *, engine: Engine, feed_ids: Collection[int] | None = None
) -> list[FeedSnapshot]:
    """The enabled feeds (only those among ``feed_ids`` when given), by id."""
    query = select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id)
    if feed_ids is None:
        queries = [query]
    else:
        ids = sorted(set(feed_ids))
        queries = [
            query.where(Feed.id.in_(ids[start : start + ID_CHUNK]))
            for start in range(0, len(ids), ID_CHUNK)
        ]
    with Session(engine) as session:
        return [
            FeedSnapshot(
                id=feed.id,
                url=feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                last_attempt_at=feed.last_attempt_at,
                next_attempt_at=feed.next_attempt_at,
            )
            for chunk in queries
            for feed in session.scalars(chunk)
        ]


def skip_reason(feed: FeedSnapshot, *, now: datetime, settings: Settings) -> str | None:
    """Why a feed is not polled now (back-off, Retry-After, minimum interval), or None."""
    if feed.next_attempt_at is not None and feed.next_attempt_at > now:
        return f"backing off until {feed.next_attempt_at.isoformat()}"
    interval = timedelta(seconds=settings.feed_min_interval_seconds)
    if interval and feed.last_attempt_at is not None and now - feed.last_attempt_at < interval:
        return f"minimum interval of {settings.feed_min_interval_seconds}s not passed"
    return None


def backoff_delay(*, failures: int, settings: Settings, retry_after: float | None) -> timedelta:
    """How long a failing feed rests: ``Retry-After`` when the server gave one (capped at
    ``backoff_max``), otherwise :func:`~pipeline.backoff.exponential_backoff`."""
    if retry_after is not None:
        return timedelta(seconds=min(retry_after, settings.backoff_max_seconds))
    return exponential_backoff(
        attempt=failures,
        base_seconds=settings.backoff_base_seconds,
        max_seconds=settings.backoff_max_seconds,
    )
