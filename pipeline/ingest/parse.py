"""From a fetched body to normalised entries: decode, defuse, parse with feedparser, normalise.

feedparser only ever sees bytes in a ``BytesIO``: given a bare ``bytes`` or
``str`` it may treat the value as a path or URL and read it, so a body such as
``/etc/passwd`` would be read from the local disk.

Entity tricks are stopped before parsing: the document is first decoded to
UTF-8 (feedparser's own encoding detection), then every ``<!DOCTYPE ...>``
declaration is removed (a feed never needs one, and it is where entity
declarations and external DTDs live). A document that still declares an
entity after that is refused. Without declarations, "billion laughs" and
quadratic blow-up have nothing to expand and XXE has nothing to include.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.encodings import convert_to_utf8

from pipeline.ingest.normalize import (
    MAX_KEY_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    canonical_url,
    choose_published,
    content_hash,
    html_to_text,
    stable_guid,
    struct_time_to_utc,
)
from pipeline.ingest.urls import is_web_url, without_userinfo

# Tokens that matter while looking for the end of a DOCTYPE: quoted strings,
# comments and processing instructions (which may contain brackets), brackets, '>'.
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|<\?.*?\?>|[\[\]>]", re.DOTALL)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# feedparser's non-fatal complaints: the document still parsed as what it is.
_SOFT_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
    feedparser.UndeclaredNamespace,
)


class NotAFeed(Exception):
    """The body is no usable feed; the message says why."""


@dataclass(frozen=True)
class EntryItem:
    """One entry, normalised and keyed for dedup: what becomes an article row."""

    guid: str | None
    canonical_url: str | None
    content_hash: str
    title: str
    summary: str
    link: str | None
    published_at: datetime
    published_from_feed: bool

    def keys(self) -> tuple[str | None, str | None, str]:
        return self.guid, self.canonical_url, self.content_hash


@dataclass
class ParsedFeed:
    """The usable entries of a feed, and how many entries it had in all."""

    entries_seen: int
    items: list[EntryItem] = field(default_factory=list)


def _doctype_end(data: bytes, start: int) -> int | None:
    """The index just past the DOCTYPE starting at ``start``, or None if it never ends."""
    in_subset = False
    position = start + len(b"<!DOCTYPE")
    while True:
        token = _DOCTYPE_TOKEN.search(data, position)
        if token is None:
            return None
        text = token.group()
        position = token.end()
        if text == b"[":
            in_subset = True
        elif text == b"]":
            in_subset = False
        elif text == b">" and not in_subset:
            return position


def strip_doctypes(data: bytes) -> bytes:
    """``data`` (UTF-8) without any DOCTYPE declaration; :class:`NotAFeed` if entities remain."""
    if _DOCTYPE_START.search(data) is not None:
        pieces: list[bytes] = []
        position = 0
        while (match := _DOCTYPE_START.search(data, position)) is not None:
            end = _doctype_end(data, match.start())
            if end is None:
                raise NotAFeed("unterminated DOCTYPE declaration")
            pieces.append(data[position : match.start()])
            position = end
        pieces.append(data[position:])
        data = b"".join(pieces)
    if _ENTITY_DECLARATION.search(data) is not None:
        raise NotAFeed("entity declaration outside a DOCTYPE refused")
    return data


def _describe_non_feed(body: bytes, bozo: Exception | None) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not a feed: the response is an HTML page"
    if b"\x00" in body[:1024] or sum(byte < 9 for byte in body[:1024]) > 8:
        return "not a feed: the response is binary data"
    if bozo is not None:
        return f"not a feed: {type(bozo).__name__}: {bozo}"[:500]
    return "not a feed: no RSS, Atom or RDF structure found"


def _entry_link(value: Any, *, base_url: str) -> str | None:
    """The entry's link, absolute, if it is an http(s) URL that fits the column.

    Links leave finsent in alerts (webhooks, email, the dashboard), so a
    ``javascript:`` or ``data:`` link, or any other scheme, is never stored.
    """
    link = value.strip() if isinstance(value, str) else None
    if not link:
        return None
    if not link.startswith(("http://", "https://")):
        try:
            link = urljoin(base_url, link)
        except ValueError:  # a malformed link, such as an unclosed IPv6 bracket
            return None
    if len(link) > MAX_KEY_CHARS or not is_web_url(link):
        return None
    return link


def _entry_item(
    entry: Any, *, base_url: str, feed_id: int, fetched_at: datetime
) -> EntryItem | None:
    title = html_to_text(entry.get("title"), max_chars=MAX_TITLE_CHARS)
    summary_html = entry.get("summary")
    if not summary_html:
        contents = entry.get("content") or []
        summary_html = contents[0].get("value") if contents else None
    summary = html_to_text(summary_html, max_chars=MAX_SUMMARY_CHARS)
    if not title and not summary:
        return None  # nothing to read, nothing to score
    link = _entry_link(entry.get("link"), base_url=base_url)
    published = None
    for parsed in (entry.get("published_parsed"), entry.get("updated_parsed")):
        published = struct_time_to_utc(parsed)
        if published is not None:
            break
    published_at, from_feed = choose_published(published, fetched_at=fetched_at)
    guid = entry.get("id")
    return EntryItem(
        guid=stable_guid(guid if isinstance(guid, str) else None, feed_id=feed_id),
        canonical_url=canonical_url(link),
        content_hash=content_hash(title, summary),
        title=title,
        summary=summary,
        link=link,
        published_at=published_at,
        published_from_feed=from_feed,
    )


def parse_feed(
    body: bytes, *, url: str, content_type: str | None, feed_id: int, fetched_at: datetime
) -> ParsedFeed:
    """The normalised entries of a fetched feed body; :class:`NotAFeed` when there is no feed."""
    if not body.strip():
        raise NotAFeed("empty response body")
    headers = {"content-type": content_type or "application/xml"}
    detected: dict[str, Any] = {}
    utf8 = convert_to_utf8(headers, body, detected)
    utf8 = strip_doctypes(utf8)
    parsed = feedparser.parse(
        io.BytesIO(utf8),
        # No Content-Location: feedparser would resolve every URI in the feed against it,
        # a fifth of the parse time; relative entry links are resolved below instead.
        response_headers={"content-type": "application/xml; charset=utf-8"},
        # Summaries become plain text here, and relative links inside HTML are never shown.
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries:
        if not version:
            raise NotAFeed(_describe_non_feed(body, bozo))
        if bozo is not None and not isinstance(bozo, _SOFT_BOZO):
            raise NotAFeed(f"malformed {version} feed: {bozo}"[:500])
    result = ParsedFeed(entries_seen=len(entries))
    # Relative links resolve against the feed's URL, never carrying its credentials.
    base_url = without_userinfo(url)
    for entry in entries:
        item = _entry_item(entry, base_url=base_url, feed_id=feed_id, fetched_at=fetched_at)
        if item is not None:
            result.items.append(item)
    return result


def parse_feed_or_reason(
    body: bytes, *, url: str, content_type: str | None, feed_id: int, fetched_at: datetime
) -> ParsedFeed | str:
    """:func:`parse_feed`, with why the body is no feed as a string instead of an
    exception; an unexpected parser failure on hostile input becomes such a reason too."""
    try:
        return parse_feed(
            body, url=url, content_type=content_type, feed_id=feed_id, fetched_at=fetched_at
        )
    except NotAFeed as exc:
        return str(exc)
    except Exception as exc:  # a parser bug on hostile input is this feed's error
        return f"unexpected {type(exc).__name__}: {exc}"[:500]
