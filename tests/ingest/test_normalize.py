"""Unit tests: plain text, times, canonical URLs, hashes, GUIDs, DOCTYPE defusing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.normalize import (
    canonical_url,
    choose_published,
    content_hash,
    html_to_text,
    stable_guid,
    struct_time_to_utc,
)
from pipeline.ingest.parse import NotAFeed, strip_doctypes

FETCHED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Shares <b>fell</b> 5%</p>", "Shares fell 5%"),
        ("Q3&nbsp;loss &amp; &#8364;2bn &#x2014; &lt;b&gt;", "Q3 loss & €2bn — <b>"),
        ("one<br>two<br/>three</p><p>four", "one two three four"),
        ("<script>alert('x')</script>Real <style>p{}</style>text", "Real text"),
        ("  lots \n\t of   space  ", "lots of space"),
        ("S&P 500 < 4000 and AT&T", "S&P 500 < 4000 and AT&T"),
        ("nul\x00 and \x07bell", "nul and bell"),
        ("<unclosed tag", "<unclosed tag"),
        ("", ""),
        (None, ""),
    ],
)
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


def test_html_to_text_truncates_with_an_ellipsis() -> None:
    text = html_to_text("word " * 100, max_chars=20)
    assert len(text) <= 20 and text.endswith("…")


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://News.Example.COM/a/b", "https://news.example.com/a/b"),
        ("https://x.com:443/a", "https://x.com/a"),
        ("http://x.com:80/a", "http://x.com/a"),
        ("http://x.com:8080/a", "http://x.com:8080/a"),
        ("https://x.com", "https://x.com/"),
        ("https://x.com/a#comments", "https://x.com/a"),
        ("https://x.com/a?utm_source=rss&utm_MEDIUM=feed", "https://x.com/a"),
        ("https://x.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&id=7", "https://x.com/a?id=7"),
        ("https://x.com/a?b=2&a=1&a=0", "https://x.com/a?a=0&a=1&b=2"),
        # `ref` and `src` can select content: kept.
        ("https://x.com/a?ref=abc&src=x", "https://x.com/a?ref=abc&src=x"),
        ("https://x.com/a?q=hello%20world", "https://x.com/a?q=hello+world"),
        ("  https://x.com/a  ", "https://x.com/a"),
        ("/relative/path", None),
        ("mailto:desk@x.com", None),
        ("javascript:alert(1)", None),
        ("http://x.com:99999/", None),
        ("https://" + "a" * 3000 + ".com/", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_content_hash_ignores_case_and_whitespace_but_not_words() -> None:
    base = content_hash("Acme cuts guidance", "Shares fall 10%.")
    assert content_hash("  ACME  cuts\nguidance ", "shares fall 10%.") == base
    assert content_hash("Acme cuts guidance", "Shares fall 11%.") != base
    # Title and summary are separate fields: moving text across them is another story.
    assert content_hash("Acme cuts", "guidance Shares fall 10%.") != base
    assert len(base) == 64


def test_published_time_from_the_feed_in_utc() -> None:
    when = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert choose_published(when, fetched_at=FETCHED) == (when, True)
    # A little clock skew is fine.
    soon = FETCHED + timedelta(minutes=5)
    assert choose_published(soon, fetched_at=FETCHED) == (soon, True)


@pytest.mark.parametrize(
    "candidate",
    [
        None,
        FETCHED + timedelta(days=2),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_published_time_falls_back_to_fetch_time(candidate: datetime | None) -> None:
    assert choose_published(candidate, fetched_at=FETCHED) == (FETCHED, False)


def test_struct_time_conversion_survives_impossible_values() -> None:
    assert struct_time_to_utc((2026, 11, 28, 10, 0, 0, 0, 0, 0)) == datetime(
        2026, 11, 28, 10, tzinfo=UTC
    )
    assert struct_time_to_utc((2026, 2, 30, 10, 0, 0, 0, 0, 0)) is None
    assert struct_time_to_utc((0, 0, 0, 0, 0, 0, 0, 0, 0)) is None
    assert struct_time_to_utc(None) is None


def test_stable_guid() -> None:
    assert stable_guid("https://x.com/a", feed_id=3) == "https://x.com/a"
    assert stable_guid("urn:uuid:1234", feed_id=3) == "urn:uuid:1234"
    # Bare ids are only unique within their feed.
    assert stable_guid("1234", feed_id=3) == "feed:3:1234"
    assert stable_guid("1234", feed_id=4) != stable_guid("1234", feed_id=3)
    assert stable_guid("  ", feed_id=3) is None
    assert stable_guid(None, feed_id=3) is None
    long = stable_guid("tag:" + "x" * 5000, feed_id=3)
    assert long is not None and long.startswith("sha256:") and len(long) < 100


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<rss version="2.0"><channel><title>&lol2;</title></channel></rss>"""


def test_strip_doctypes_removes_internal_subsets() -> None:
    stripped = strip_doctypes(BILLION_LAUGHS)
    assert b"DOCTYPE" not in stripped and b"ENTITY" not in stripped
    assert stripped.startswith(b'<?xml version="1.0"?>\n\n<rss version="2.0">')


def test_strip_doctypes_handles_brackets_and_quotes_inside_the_subset() -> None:
    tricky = (
        b"<?xml version='1.0'?><!DOCTYPE rss [ <!-- ] > ' --> "
        b"<!ENTITY a 'x]>y'> <!ENTITY b \"<rss>\"> <?pi ]> ?> ]><rss version='2.0'/>"
    )
    assert strip_doctypes(tricky) == b"<?xml version='1.0'?><rss version='2.0'/>"


def test_strip_doctypes_removes_external_dtds_and_keeps_plain_documents() -> None:
    netscape = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"/>'
    )
    assert strip_doctypes(netscape) == b'<?xml version="1.0"?><rss version="0.91"/>'
    plain = b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>'
    assert strip_doctypes(plain) == plain


@pytest.mark.parametrize(
    "hostile",
    [
        b'<?xml version="1.0"?><!DOCTYPE rss [ <!ENTITY a "never closed',
        b'<?xml version="1.0"?><!ENTITY a "stray declaration"><rss/>',
    ],
)
def test_strip_doctypes_refuses_what_it_cannot_defuse(hostile: bytes) -> None:
    with pytest.raises(NotAFeed):
        strip_doctypes(hostile)
