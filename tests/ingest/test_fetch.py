"""The fetcher against real loopback servers: SSRF guard, redirects, limits, timeouts."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime

import pytest
from ingest_helpers import (
    FeedServer,
    drips,
    endless_body,
    gzip_bomb,
    ingest_settings,
    never_answers,
    redirect_to,
    start_server,
    status,
    stop_server,
)

from pipeline.ingest.fetch import Fetcher, parse_retry_after
from pipeline.ingest.netguard import (
    AddressGuard,
    RefusedAddress,
    UnresolvableHost,
    non_public_reason,
)

pytestmark = pytest.mark.integration

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str) -> None:
    found = non_public_reason(ipaddress.ip_address(address))
    assert found is not None and found.startswith(reason)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


def fake_resolver(table: dict[str, list[str]]):  # noqa: ANN201
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise UnresolvableHost(f"cannot resolve {host!r}")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_guard_checks_every_resolved_address() -> None:
    resolver = fake_resolver(
        {"public.test": ["93.184.215.14"], "split.test": ["93.184.215.14", "10.0.0.7"]}
    )
    guard = AddressGuard(allow_private=False, resolver=resolver)
    assert guard.addresses("public.test", 80) == ["93.184.215.14"]
    # One private answer among public ones is enough to refuse.
    with pytest.raises(RefusedAddress, match="10.0.0.7"):
        guard.addresses("split.test", 80)
    # IP literals are judged as they are, without a DNS query.
    with pytest.raises(RefusedAddress, match="loopback"):
        guard.addresses("[::1]", 80)
    assert resolver.calls == ["public.test", "split.test"]
    allowing = AddressGuard(allow_private=True, resolver=resolver)
    assert allowing.addresses("split.test", 80) == ["93.184.215.14", "10.0.0.7"]
    trusting = AddressGuard(allow_private=False, resolver=resolver, trusted={"10.0.0.7"})
    assert trusting.addresses("split.test", 80) == ["93.184.215.14", "10.0.0.7"]


def test_loopback_feed_refused_before_any_request(feed_server: FeedServer) -> None:
    url = feed_server.feed("/feed.xml", RSS)
    with Fetcher(ingest_settings("sqlite://", allow_private_networks=False)) as fetcher:
        result = fetcher.fetch(url)
        local = fetcher.fetch(url.replace("127.0.0.1", "localhost"))
    assert result.status == "error" and "loopback" in (result.error or "")
    assert local.status == "error" and "not public" in (local.error or "")
    assert feed_server.requests == []


def test_every_redirect_hop_is_checked(feed_server: FeedServer) -> None:
    """First hop on a trusted address; its redirect to another loopback address is refused."""
    inner = start_server("127.0.0.2")
    try:
        inner.feed("/secret.xml", RSS)
        url = feed_server.route("/feed.xml", redirect_to(inner.url("/secret.xml")))
        guard = AddressGuard(allow_private=False, trusted={"127.0.0.1"})
        settings = ingest_settings("sqlite://", allow_private_networks=False)
        with Fetcher(settings, guard=guard) as fetcher:
            result = fetcher.fetch(url)
        assert result.status == "error"
        assert "127.0.0.2" in (result.error or "") and "loopback" in (result.error or "")
        assert feed_server.paths_requested() == ["/feed.xml"]
        assert inner.requests == []
    finally:
        stop_server(inner)


def test_redirect_to_a_name_resolving_privately_is_refused(feed_server: FeedServer) -> None:
    port = feed_server.port
    resolver = fake_resolver({"news.example.test": ["127.0.0.1"], "intranet.test": ["10.0.0.5"]})
    feed_server.route("/feed.xml", redirect_to(f"http://intranet.test:{port}/x"))
    guard = AddressGuard(allow_private=False, resolver=resolver, trusted={"127.0.0.1"})
    with Fetcher(ingest_settings("sqlite://"), guard=guard) as fetcher:
        result = fetcher.fetch(f"http://news.example.test:{port}/feed.xml")
    assert result.status == "error" and "10.0.0.5" in (result.error or "")
    assert feed_server.paths_requested() == ["/feed.xml"]


def test_connection_goes_to_the_checked_address(feed_server: FeedServer) -> None:
    """The name only exists in the guard's resolver: the socket must use the checked address,
    not a second DNS lookup (which is what DNS rebinding exploits)."""
    feed_server.feed("/feed.xml", RSS)
    resolver = fake_resolver({"rebind.test": ["127.0.0.1"]})
    guard = AddressGuard(allow_private=False, resolver=resolver, trusted={"127.0.0.1"})
    with Fetcher(ingest_settings("sqlite://"), guard=guard) as fetcher:
        result = fetcher.fetch(f"http://rebind.test:{feed_server.port}/feed.xml")
    assert result.status == "ok" and result.body == RSS
    assert feed_server.requests[0].headers["Host"] == f"rebind.test:{feed_server.port}"
    assert resolver.calls == ["rebind.test"]


def test_redirect_to_a_file_url_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.route("/feed.xml", redirect_to("file:///etc/passwd"))
    with Fetcher(ingest_settings("sqlite://")) as fetcher:
        result = fetcher.fetch(url)
    assert result.status == "error" and "non-HTTP" in (result.error or "")


def test_redirects_followed_up_to_the_limit(feed_server: FeedServer) -> None:
    final = feed_server.feed("/final.xml", RSS)
    feed_server.route("/r3", redirect_to(final, 301))
    feed_server.route("/r2", redirect_to("/r3", 307))  # relative Location
    start = feed_server.route("/r1", redirect_to(feed_server.url("/r2"), 308))
    for hop in range(6):
        feed_server.route(f"/long{hop}", redirect_to(f"/long{hop + 1}"))
    feed_server.route("/loop-a", redirect_to("/loop-b"))
    feed_server.route("/loop-b", redirect_to("/loop-a"))
    with Fetcher(ingest_settings("sqlite://")) as fetcher:
        ok = fetcher.fetch(start)
        too_long = fetcher.fetch(feed_server.url("/long0"))
        loop = fetcher.fetch(feed_server.url("/loop-a"))
    assert ok.status == "ok" and ok.url == final and ok.body == RSS
    assert too_long.status == "error" and "too many redirects" in (too_long.error or "")
    assert loop.status == "error" and "redirect loop" in (loop.error or "")
    assert feed_server.paths_requested().count("/loop-a") == 1


def test_conditional_get_and_user_agent(feed_server: FeedServer) -> None:
    url = feed_server.feed("/feed.xml", RSS)
    settings = ingest_settings("sqlite://")
    with Fetcher(settings) as fetcher:
        first = fetcher.fetch(url)
        second = fetcher.fetch(url, etag=first.etag, last_modified="Sun, 29 Nov 2026 10:00:00 GMT")
    assert first.status == "ok" and first.etag
    assert second.status == "not_modified" and second.http_status == 304
    sent = feed_server.requests[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["If-Modified-Since"] == "Sun, 29 Nov 2026 10:00:00 GMT"
    assert sent["User-Agent"] == settings.user_agent


def test_timeouts(feed_server: FeedServer) -> None:
    silent = feed_server.route("/silent", never_answers)
    dripping = feed_server.route("/drip", drips)
    with Fetcher(ingest_settings("sqlite://")) as fetcher:
        started = time.monotonic()
        no_answer = fetcher.fetch(silent)
        after_silence = time.monotonic() - started
        trickle = fetcher.fetch(dripping)
        after_trickle = time.monotonic() - started - after_silence
    assert no_answer.status == "error" and "timeout" in (no_answer.error or "")
    assert after_silence < 3  # read timeout 1 s
    assert trickle.status == "error" and "too slow" in (trickle.error or "")
    assert after_trickle < 6  # whole-fetch deadline 3 s


@pytest.mark.parametrize(
    "handler",
    [endless_body(declare_length=True), endless_body(declare_length=False), gzip_bomb],
    ids=["declared", "streamed", "gzip-bomb"],
)
def test_oversized_bodies_are_cut_off(feed_server: FeedServer, handler) -> None:  # noqa: ANN001
    url = feed_server.route("/huge.xml", handler)
    with Fetcher(ingest_settings("sqlite://", fetch_max_bytes=1024 * 1024)) as fetcher:
        result = fetcher.fetch(url)
    assert result.status == "error" and "limit" in (result.error or "")
    assert result.body == b""


def test_http_errors_and_retry_after(feed_server: FeedServer) -> None:
    missing = feed_server.url("/missing")
    broken = feed_server.route("/broken", status(500))
    limited = feed_server.route("/limited", status(429, {"Retry-After": "120"}))
    with Fetcher(ingest_settings("sqlite://")) as fetcher:
        results = [fetcher.fetch(url) for url in (missing, broken, limited)]
    assert [r.http_status for r in results] == [404, 500, 429]
    assert all(r.status == "error" for r in results)
    assert results[0].error == "HTTP 404 Not Found"
    assert results[2].retry_after_seconds == 120


def test_retry_after_formats() -> None:
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after("Sun, 29 Nov 2026 10:05:00 GMT", now=now) == 300
    assert parse_retry_after("Sun, 29 Nov 2026 09:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_local_files_only_with_private_networks(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    with Fetcher(ingest_settings("sqlite://", allow_private_networks=False)) as fetcher:
        refused = fetcher.fetch(path.as_uri())
    with Fetcher(ingest_settings("sqlite://")) as fetcher:
        first = fetcher.fetch(path.as_uri())
        again = fetcher.fetch(path.as_uri(), etag=first.etag)
        missing = fetcher.fetch((tmp_path / "nope.xml").as_uri())
        directory = fetcher.fetch(tmp_path.as_uri())
    assert refused.status == "error" and "FINSENT_ALLOW_PRIVATE_NETWORKS" in (refused.error or "")
    assert first.status == "ok" and first.body == RSS
    assert again.status == "not_modified"
    assert missing.status == "error" and directory.status == "error"
