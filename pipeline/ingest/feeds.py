"""The feeds to poll: URL validation, add (an upsert on the URL), OPML import, list, remove.

Only ``http``/``https`` URLs are accepted, plus ``file://`` URLs and local paths
when private networks are allowed (``FINSENT_ALLOW_PRIVATE_NETWORKS``): a feed
on the local disk is as private as a server on the local network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.db import dialect_insert, utcnow
from pipeline.errors import FinsentError
from pipeline.schema import Feed

WEB_SCHEMES = ("http", "https")
MAX_URL_CHARS = 2048
MAX_OPML_BYTES = 10 * 1024 * 1024


def normalise_feed_url(url: str, *, allow_private: bool) -> str:
    """The URL to store for a feed, or a :class:`FinsentError` saying why it is refused.

    Local paths become absolute ``file://`` URLs.
    """
    url = url.strip()
    if not url:
        raise FinsentError("feed URL is empty")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    # A one-letter "scheme" is a Windows drive; no scheme at all is a path.
    is_path = not scheme or len(scheme) == 1
    if scheme in WEB_SCHEMES:
        try:
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError as exc:
            raise FinsentError(f"invalid feed URL {url!r}: {exc}") from None
        if not parts.hostname:
            raise FinsentError(f"invalid feed URL {url!r}: no host")
        normalised = parts._replace(scheme=scheme).geturl()
    elif scheme == "file" or is_path:
        if not allow_private:
            raise FinsentError(
                f"local feed {url!r} refused: file:// URLs and paths need "
                "FINSENT_ALLOW_PRIVATE_NETWORKS=1"
            )
        normalised = url if scheme == "file" else Path(url).expanduser().resolve().as_uri()
    else:
        raise FinsentError(f"unsupported URL scheme {scheme!r} in {url!r}; use http(s) or a file")
    if len(normalised) > MAX_URL_CHARS:
        raise FinsentError(f"feed URL longer than {MAX_URL_CHARS} characters")
    return normalised


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def add_feed(*, session: Session, url: str, name: str | None = None, allow_private: bool) -> Feed:
    """Add a feed, or update the name of the feed with this URL (an upsert on the URL)."""
    url = normalise_feed_url(url, allow_private=allow_private)
    insert = dialect_insert(Feed, dialect_name=_dialect(session)).values(
        url=url, name=name, enabled=True, consecutive_failures=0
    )
    if name is None:
        statement = insert.on_conflict_do_nothing(index_elements=["url"])
    else:
        statement = insert.on_conflict_do_update(index_elements=["url"], set_={"name": name})
    # created_at is a Python-side default, which the Core insert above does not apply.
    session.execute(statement.values(created_at=utcnow()))
    query = select(Feed).where(Feed.url == url).execution_options(populate_existing=True)
    return session.scalars(query).one()


def list_feeds(*, session: Session) -> list[Feed]:
    """Every feed, oldest first."""
    return list(session.scalars(select(Feed).order_by(Feed.id)))


def find_feed(*, session: Session, ref: str) -> Feed:
    """The feed with this id or URL; :class:`FinsentError` when there is none."""
    ref = ref.strip()
    feed = None
    if ref.isdigit():
        feed = session.get(Feed, int(ref))
    if feed is None:
        feed = session.scalars(select(Feed).where(Feed.url == ref)).one_or_none()
    if feed is None:
        raise FinsentError(f"no feed with id or URL {ref!r} (see `finsent feeds list`)")
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
    """The JSON shape of a feed in ``finsent feeds list --json``."""
    return {
        "id": feed.id,
        "url": feed.url,
        "name": feed.name,
        "enabled": feed.enabled,
        "last_success_at": _iso(feed.last_success_at),
        "consecutive_failures": feed.consecutive_failures,
        "next_attempt_at": _iso(feed.next_attempt_at),
        "last_error": feed.last_error,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
