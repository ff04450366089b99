"""Normalisation of feed entries: plain text, UTC times, canonical links, content hashes.

Pure functions, no I/O: the dedup keys of an article (GUID, canonical URL,
content hash) are computed here, so they must be stable across runs and
across feeds carrying the same story.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipeline.ingest.urls import WEB_SCHEMES, host_and_port

# Dates more than this far ahead of the fetch time are feed errors, not scoops.
FUTURE_SKEW = timedelta(minutes=10)
# Before web feeds existed: such a date is a placeholder (0001-01-01, 1970-01-01), not news.
EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)

MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 5_000
MAX_KEY_CHARS = 2_048  # the width of the guid / canonical_url / link columns

# Well-known click trackers only: parameters such as `ref` or `src` select content on some sites.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt.mc_id",
    }
)

_WHITESPACE = re.compile(r"\s+")
# C0/C1 controls except tab/newline/CR; PostgreSQL text refuses NUL outright.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Elements whose text is never shown to a reader.
_INVISIBLE = frozenset({"script", "style", "template"})
# Elements that separate words when rendered; without a space "one<br>two" would read "onetwo".
_BREAKING = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment; entities are decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._invisible_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._invisible_depth += 1
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._invisible_depth = max(0, self._invisible_depth - 1)
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._invisible_depth:
            self.parts.append(data)


def collapse_whitespace(text: str) -> str:
    """``text`` without control characters, with every whitespace run turned into one space."""
    return _WHITESPACE.sub(" ", _CONTROL_CHARS.sub("", text)).strip()


def html_to_text(fragment: str | None, *, max_chars: int | None = None) -> str:
    """The visible plain text of an HTML fragment: tags stripped, entities decoded,
    script/style contents dropped, whitespace collapsed.

    >>> html_to_text("<p>Shares <b>fell</b> 5%&nbsp;&amp; more</p><script>x()</script>")
    'Shares fell 5% & more'
    """
    if not fragment:
        return ""
    if "<" in fragment or "&" in fragment:
        extractor = _TextExtractor()
        extractor.feed(fragment)
        extractor.close()
        fragment = "".join(extractor.parts)
    text = collapse_whitespace(fragment)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def struct_time_to_utc(value: time.struct_time | tuple | None) -> datetime | None:
    """A feedparser ``*_parsed`` value (a UTC struct_time) as an aware datetime, or None."""
    if value is None:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def choose_published(candidate: datetime | None, *, fetched_at: datetime) -> tuple[datetime, bool]:
    """The published time to store and whether it came from the feed.

    Missing, implausibly old, or future (beyond a small clock skew) times fall
    back to the fetch time.
    """
    if candidate is None:
        return fetched_at, False
    if candidate.tzinfo is None:
        candidate = candidate.replace(tzinfo=UTC)
    if candidate < EARLIEST_PLAUSIBLE or candidate > fetched_at + FUTURE_SKEW:
        return fetched_at, False
    return candidate.astimezone(UTC), True


def canonical_url(url: str | None) -> str | None:
    """The link that identifies a story: lowercase scheme and host, no default port,
    no fragment, no tracking parameters, remaining query parameters sorted.

    Only absolute http(s) URLs have one; anything else gives None.

    >>> canonical_url("HTTPS://News.Example.com:443/a?utm_source=rss&b=2&a=1#top")
    'https://news.example.com/a?a=1&b=2'
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES or not (parts.hostname or "").rstrip("."):
        return None
    netloc = host_and_port(parts)
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMS
    )
    result = urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))
    return result if len(result) <= MAX_KEY_CHARS else None


def content_hash(title: str, summary: str) -> str:
    """sha256 of the normalised title and summary (case-folded, whitespace collapsed)."""
    text = collapse_whitespace(title).casefold() + "\n" + collapse_whitespace(summary).casefold()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_guid(guid: str | None, *, feed_id: int) -> str | None:
    """The GUID to dedup on, or None.

    Globally unique ids (URLs, ``urn:``, ``tag:``) are kept as they are, so one
    story in two feeds is one article; bare ids such as ``"1234"`` are only
    unique within their feed and get the feed id as a prefix. Over-long ids are
    hashed to fit the column.
    """
    if guid is None:
        return None
    guid = collapse_whitespace(guid)
    if not guid:
        return None
    if ":" not in guid:
        guid = f"feed:{feed_id}:{guid}"
    if len(guid) > MAX_KEY_CHARS:
        guid = "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()
    return guid
