"""The feeds registry: add (an upsert on the URL), find, list, remove, enable/disable.

URLs are checked and brought to their stored form by :mod:`pipeline.ingest.urls`;
only ``http``/``https`` URLs are accepted, plus ``file://`` URLs and local paths
when private networks are allowed (``FINSENT_ALLOW_PRIVATE_NETWORKS``): a feed
on the local disk is as private as a server on the local network.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.db import dialect_insert, iso, utcnow
from pipeline.errors import FinsentError
from pipeline.ingest.urls import normalise_feed_url, redact_text, redact_url, url_secrets
from pipeline.schema import Feed

MAX_NAME_CHARS = 512  # the width of feeds.name


def upsert_feed(
    *, session: Session, url: str, name: str | None = None, allow_private: bool
) -> tuple[Feed, bool]:
    """Add a feed, or update the name of the feed with this URL; returns the feed and
    whether it is new."""
    url = normalise_feed_url(url, allow_private=allow_private)
    if name is not None:
        name = name[:MAX_NAME_CHARS]
    known = session.scalar(select(Feed.id).where(Feed.url == url)) is not None
    insert = dialect_insert(Feed, dialect_name=session.get_bind().dialect.name).values(
        url=url, name=name, enabled=True, consecutive_failures=0
    )
    if name is None:
        statement = insert.on_conflict_do_nothing(index_elements=["url"])
    else:
        statement = insert.on_conflict_do_update(index_elements=["url"], set_={"name": name})
    # created_at is a Python-side default, which the Core insert above does not apply.
    session.execute(statement.values(created_at=utcnow()))
    query = select(Feed).where(Feed.url == url).execution_options(populate_existing=True)
    return session.scalars(query).one(), not known


def add_feed(*, session: Session, url: str, name: str | None = None, allow_private: bool) -> Feed:
    """Add a feed, or update the name of the feed with this URL (an upsert on the URL)."""
    feed, _added = upsert_feed(session=session, url=url, name=name, allow_private=allow_private)
    return feed


def list_feeds(*, session: Session) -> list[Feed]:
    """Every feed, oldest first."""
    return list(session.scalars(select(Feed).order_by(Feed.id)))


def enabled_feed_ids(*, engine: Engine) -> list[int]:
    """The ids of the feeds an ingest run polls, ascending (the DAG batches them)."""
    with Session(engine) as session:
        return list(
            session.scalars(select(Feed.id).where(Feed.enabled.is_(True)).order_by(Feed.id))
        )


def find_feed(*, session: Session, ref: str) -> Feed:
    """The feed with this id or URL (as given or in its stored form); :class:`FinsentError`
    when there is none."""
    ref = ref.strip()
    feed = None
    if ref.isdigit():
        feed = session.get(Feed, int(ref))
    candidates = [ref]
    # A ref that is no URL finsent would store can only match literally.
    with suppress(FinsentError):
        candidates.append(normalise_feed_url(ref, allow_private=True))
    for url in candidates:
        if feed is None:
            feed = session.scalars(select(Feed).where(Feed.url == url)).one_or_none()
    if feed is None:
        shown = redact_text(ref, secrets=url_secrets(ref))
        raise FinsentError(f"no feed with id or URL {shown!r} (see `finsent feeds list`)")
    return feed


def remove_feed(*, session: Session, ref: str) -> Feed:
    """Delete a feed and its fetch attempts; its articles stay (their feed becomes unknown)."""
    feed = find_feed(session=session, ref=ref)
    session.delete(feed)
    return feed


def set_feed_enabled(*, session: Session, ref: str, enabled: bool) -> Feed:
    """Enable or disable a feed; enabling also clears its back-off so it is polled next run."""
    feed = find_feed(session=session, ref=ref)
    feed.enabled = enabled
    if enabled:
        feed.next_attempt_at = None
        feed.consecutive_failures = 0
    return feed


def feed_as_dict(feed: Feed) -> dict[str, Any]:
    """The JSON shape of a feed in ``finsent feeds list --json``; credentials redacted."""
    secrets = url_secrets(feed.url)
    return {
        "id": feed.id,
        "url": redact_url(feed.url),
        "name": feed.name,
        "enabled": feed.enabled,
        "last_success_at": iso(feed.last_success_at),
        "consecutive_failures": feed.consecutive_failures,
        "next_attempt_at": iso(feed.next_attempt_at),
        "last_error": redact_text(feed.last_error, secrets=secrets) if feed.last_error else None,
    }
