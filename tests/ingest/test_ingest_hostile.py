"""Ingestion against hostile servers and hostile feeds, on SQLite and PostgreSQL.

One run mixes good feeds with every kind of breakage: the run finishes, every
feed is accounted for, each error is recorded with its reason, and nothing
from the local disk reaches the database.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ingest_helpers import (
    FeedServer,
    add_feeds,
    endless_body,
    gzip_bomb,
    ingest_settings,
    never_answers,
    redirect_to,
    run_ingest,
    slow_then,
    status,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.schema import Article, Feed, FetchAttempt

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def rss(*titles: str, site: str = "good") -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://{site}.example.com/{index}</link>"
        f"<guid>https://{site}.example.com/{index}</guid></item>"
        for index, title in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Good</title>'
        f"<link>https://good.example.com/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def hostile_feeds(tmp_path: Path, marker: str) -> dict[str, bytes]:
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "{secret.as_uri()}">')
    marker_feed = tmp_path / "marker_feed.xml"
    marker_feed.write_bytes(rss(f"Headline carrying {marker}", site="path"))
    body = "<rss version='2.0'><channel><title>x</title><item><title>{t}</title>"
    body += "<link>https://evil.example.com/{n}</link><description>{t}</description></item>"
    body += "</channel></rss>"
    big_value = "A" * 50_000
    return {
        "xxe-internal": (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>'
            + body.format(t="Leak: &leak;", n=1)
        ).encode(),
        "xxe-external-dtd": (
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd.as_uri()}">'
            + body.format(t="Leak: &leak;", n=2)
        ).encode(),
        "xxe-parameter-entity": (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>'
            + body.format(t="Leak: &leak;", n=3)
        ).encode(),
        "billion-laughs": (
            '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">'
            + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
            + "]>"
            + body.format(t="Laugh &l9;", n=4)
        ).encode(),
        "quadratic-blowup": (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{big_value}">]>'
            + body.format(t="Blowup " + "&a;" * 20_000, n=5)
        ).encode(),
        # feedparser given bare bytes would open this "body" as a local path.
        "body-is-a-path": str(marker_feed).encode(),
    }


@pytest.mark.integration
def test_hostile_mix_is_contained(db_url: str, feed_server: FeedServer, tmp_path: Path) -> None:
    marker = f"FINSENT-MARKER-{uuid.uuid4().hex}"
    server = feed_server
    urls = {
        "good": server.feed("/good.xml", rss("Acme beats estimates", "Globex misses")),
        "bozo-with-entries": server.feed(
            "/bozo.xml", rss("Proseware & Wingtip merge", site="bozo")
        ),
        "404": server.url("/missing.xml"),
        "500": server.route("/broken.xml", status(500)),
        "429": server.route("/limited.xml", status(429, {"Retry-After": "120"})),
        "never-answers": server.route("/silent.xml", never_answers),
        "redirect-loop": server.route("/loop-a", redirect_to("/loop-b")),
        "oversized": server.route("/huge.xml", endless_body(declare_length=False)),
        "gzip-bomb": server.route("/bomb.xml", gzip_bomb),
        "html-page": server.feed("/page.html", b"<!DOCTYPE html><html><body>Hi</body></html>"),
        "empty-body": server.feed("/empty.xml", b""),
        "random-bytes": server.feed("/random.bin", random.Random(7).randbytes(4096)),
        "malformed-xml": server.feed(
            "/malformed.xml", b'<rss version="2.0"><channel><title>x</titl'
        ),
    }
    server.route("/loop-b", redirect_to("/loop-a"))
    for name, body in hostile_feeds(tmp_path, marker).items():
        urls[name] = server.feed(f"/{name}.xml", body)
    ids = dict(zip(urls, add_feeds(db_url, *urls.values()), strict=True))
    settings = ingest_settings(db_url, backoff_base_seconds=60)

    started = time.monotonic()
    report = run_ingest(settings, now=NOW)
    elapsed = time.monotonic() - started

    assert elapsed < 20  # the silent server costs one read timeout, concurrently with the rest
    assert report.feeds == len(urls)
    assert report.fetched + report.not_modified + report.skipped + report.errors == len(urls)
    by_id = {outcome.feed_id: outcome for outcome in report.details}
    outcome = {name: by_id[feed_id] for name, feed_id in ids.items()}
    fetched = {name for name, o in outcome.items() if o.status == "fetched"}
    assert fetched == {
        "good",
        "bozo-with-entries",
        "xxe-internal",
        "xxe-external-dtd",
        "xxe-parameter-entity",
        "billion-laughs",
        "quadratic-blowup",
    }
    expected_errors = {
        "404": "HTTP 404",
        "500": "HTTP 500",
        "429": "HTTP 429",
        "never-answers": "timeout",
        "redirect-loop": "redirect loop",
        "oversized": "limit",
        "gzip-bomb": "limit",
        "html-page": "HTML page",
        "empty-body": "empty response body",
        "random-bytes": "not a feed",
        "malformed-xml": "malformed rss20 feed",
        "body-is-a-path": "not a feed",
    }
    for name, reason in expected_errors.items():
        assert outcome[name].status == "error", name
        assert reason in (outcome[name].error or ""), (name, outcome[name].error)
    assert report.errors == len(expected_errors)

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            feeds = {feed.id: feed for feed in session.scalars(select(Feed))}
            attempts = list(session.scalars(select(FetchAttempt)))
            articles = list(session.scalars(select(Article)))
            # One attempt per feed, with the same status the report gives.
            assert sorted(a.feed_id for a in attempts) == sorted(ids.values())
            assert {a.feed_id: a.status for a in attempts} == {
                o.feed_id: o.status for o in report.details
            }
            for name in expected_errors:
                feed = feeds[ids[name]]
                assert feed.consecutive_failures == 1 and feed.last_error
                assert feed.etag is None
            assert feeds[ids["429"]].next_attempt_at == NOW + timedelta(seconds=120)
            assert feeds[ids["500"]].next_attempt_at == NOW + timedelta(seconds=60)
            assert feeds[ids["good"]].etag and feeds[ids["good"]].last_error is None
            texts = [
                f"{a.title}\n{a.summary}\n{a.link}\n{a.guid}\n{a.canonical_url}" for a in articles
            ]
            texts += [a.error or "" for a in attempts] + [
                f.last_error or "" for f in feeds.values()
            ]
            assert not [text for text in texts if marker in text]
            assert all(len(a.summary) <= 5_000 and len(a.title) <= 1_000 for a in articles)
            assert {"Acme beats estimates", "Proseware & Wingtip merge"} <= {
                a.title for a in articles
            }
    finally:
        engine.dispose()


@pytest.mark.integration
def test_ssrf_guard_in_a_run(sqlite_url: str, feed_server: FeedServer, tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_bytes(rss("Local story"))
    loopback = feed_server.feed("/feed.xml", rss("Should never be fetched"))
    named = loopback.replace("127.0.0.1", "localhost")
    add_feeds(sqlite_url, loopback, named, local.as_uri())
    settings = ingest_settings(sqlite_url, allow_private_networks=False)

    report = run_ingest(settings, now=NOW)

    assert report.errors == 3 and report.new_articles == 0
    errors = [outcome.error or "" for outcome in report.details]
    assert "not public (loopback)" in errors[0] and "not public (loopback)" in errors[1]
    assert "FINSENT_ALLOW_PRIVATE_NETWORKS" in errors[2]
    assert feed_server.requests == []


@pytest.mark.integration
def test_per_host_limit(sqlite_url: str, feed_server: FeedServer) -> None:
    urls = [feed_server.route(f"/f{i}.xml", slow_then(rss(f"Story {i}"), 0.3)) for i in range(8)]
    add_feeds(sqlite_url, *urls)
    settings = ingest_settings(sqlite_url, fetch_per_host=2, fetch_concurrency=8)

    report = run_ingest(settings, now=NOW)

    assert report.fetched == 8
    assert feed_server.max_in_flight == 2
