"""Unit tests: feed URLs (one stored form, malformed ones refused) and credential redaction."""

from __future__ import annotations

import pytest

from pipeline.errors import FinsentError
from pipeline.ingest.urls import (
    is_web_url,
    normalise_feed_url,
    redact_text,
    redact_url,
    url_secrets,
    without_userinfo,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://EXAMPLE.com.:443/rss", "https://example.com/rss"),
        ("https://example.com/rss", "https://example.com/rss"),
        (" HTTPS://Example.COM/rss ", "https://example.com/rss"),
        ("http://example.com:80/rss", "http://example.com/rss"),
        ("http://example.com:443/rss", "http://example.com:443/rss"),  # not http's default
        ("https://example.com:8443/rss", "https://example.com:8443/rss"),
        ("http://[2001:DB8::1]:80/feed", "http://[2001:db8::1]/feed"),
        # The path and query are the server's business: their case is kept.
        ("https://Example.com/Feed.XML?Topic=Banks", "https://example.com/Feed.XML?Topic=Banks"),
        # Credentials are kept (fetching needs them), as written.
        ("https://Reader:PassWord@EXAMPLE.com.:443/rss", "https://Reader:PassWord@example.com/rss"),
    ],
)
def test_one_stored_form_per_feed(given: str, stored: str) -> None:
    assert normalise_feed_url(given, allow_private=False) == stored


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1/x", "Invalid IPv6 URL"),
        ("https://example.com:99999/rss", "Port out of range"),
        ("https://example.com:http/rss", "invalid feed URL"),
        ("http://exa mple.com/rss", "spaces or control characters"),
        ("http://example.com/a\nb", "spaces or control characters"),
        ("https://./rss", "no host"),
        ("https:///rss", "no host"),
    ],
)
def test_malformed_urls_are_one_line_errors(url: str, reason: str) -> None:
    with pytest.raises(FinsentError, match=reason) as raised:
        normalise_feed_url(url, allow_private=True)
    assert "\n" not in str(raised.value)


def test_credentials_never_in_a_refusal() -> None:
    for url in ["https://bob:hunter22@[::1/x", "gopher://bob:hunter22@example.com/"]:
        with pytest.raises(FinsentError) as raised:
            normalise_feed_url(url, allow_private=True)
        assert "hunter22" not in str(raised.value) and "bob" not in str(raised.value)
        assert "***@" in str(raised.value)


def test_redaction() -> None:
    assert redact_url("https://u:p@example.com/rss") == "https://***@example.com/rss"
    assert redact_url("https://token@example.com/rss") == "https://***@example.com/rss"
    assert redact_url("https://example.com/rss?u=a@b") == "https://example.com/rss?u=a@b"
    # A password with an unescaped "@": the userinfo runs to the host's "@".
    assert redact_url("https://u:p@ss@example.com/") == "https://***@example.com/"
    message = "ConnectError: cannot reach 'HTTP://Reader:Se%40cret@feeds.example.com/x' now"
    assert redact_text(message) == "ConnectError: cannot reach 'HTTP://***@feeds.example.com/x' now"
    secrets = url_secrets("https://reader:se%40cret@feeds.example.com/x")
    assert set(secrets) == {"reader", "se%40cret", "se@cret"}
    assert (
        redact_text("login as reader with se@cret failed", secrets=secrets)
        == "login as *** with *** failed"
    )
    # Pieces too short to be told from ordinary words are not replaced word by word.
    assert redact_text("a timeout", secrets=url_secrets("https://a:b@x.com/")) == "a timeout"
    assert url_secrets("https://example.com/") == []


def test_entry_link_helpers() -> None:
    assert without_userinfo("https://u:p@example.com/rss") == "https://example.com/rss"
    assert without_userinfo("https://example.com/rss") == "https://example.com/rss"
    for good in ["https://example.com/a", "HTTP://example.com"]:
        assert is_web_url(good)
    for bad in [
        None,
        "",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "ftp://example.com/a",
        "/relative",
        "http://[::1/x",
        "https:///nohost",
    ]:
        assert not is_web_url(bad), bad
