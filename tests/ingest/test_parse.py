"""Unit tests: entry links. Only http(s) links are ever kept, and relative ones never
carry the feed URL's credentials."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from pipeline.ingest.parse import parse_feed

FETCHED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def rss_with_links(*links: str) -> bytes:
    items = "".join(
        f"<item><title>Story {index}</title><link>{escape(link)}</link></item>"
        for index, link in enumerate(links)
    )
    return f'<rss version="2.0"><channel><title>Links</title>{items}</channel></rss>'.encode()


def parsed_links(body: bytes, *, url: str = "https://feeds.example.com/news/rss") -> list:
    parsed = parse_feed(
        body, url=url, content_type="application/rss+xml", feed_id=1, fetched_at=FETCHED
    )
    return [(item.link, item.canonical_url) for item in parsed.items]


def test_only_http_links_are_kept() -> None:
    hostile = [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://files.example.com/story",
        "mailto:desk@example.com",
        "http://[::1/unclosed",
        "//[::1/unclosed",
    ]
    assert parsed_links(rss_with_links(*hostile)) == [(None, None)] * len(hostile)


def test_relative_and_absolute_http_links() -> None:
    links = parsed_links(
        rss_with_links(
            "https://news.example.com/a?utm_source=rss",
            "/markets/b",
            "c.html",
            "//cdn.example.com/d",
        )
    )
    assert links == [
        ("https://news.example.com/a?utm_source=rss", "https://news.example.com/a"),
        ("https://feeds.example.com/markets/b", "https://feeds.example.com/markets/b"),
        ("https://feeds.example.com/news/c.html", "https://feeds.example.com/news/c.html"),
        ("https://cdn.example.com/d", "https://cdn.example.com/d"),
    ]


def test_relative_links_do_not_carry_the_feed_credentials() -> None:
    links = parsed_links(
        rss_with_links("/private/story"), url="https://reader:hunter22@feeds.example.com/rss"
    )
    assert links == [
        ("https://feeds.example.com/private/story", "https://feeds.example.com/private/story")
    ]


def test_links_of_a_local_feed_are_dropped_unless_absolute_http() -> None:
    links = parsed_links(
        rss_with_links("story.html", "https://news.example.com/x"), url="file:///srv/feeds/a.xml"
    )
    assert links == [(None, None), ("https://news.example.com/x", "https://news.example.com/x")]
