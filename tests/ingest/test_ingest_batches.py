"""Runs over a subset of the feeds (issue 9: the DAG maps one task per batch of feed ids),
alone and two at once on PostgreSQL, on disjoint and on overlapping batches."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from ingest_helpers import FeedServer, RequestHandler, add_feeds, ingest_settings, run_ingest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import pipeline.ingest.store
from pipeline.db import make_engine
from pipeline.ingest import IngestReport, enabled_feed_ids
from pipeline.schema import Article, Feed, FetchAttempt
from pipeline.settings import Settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# How long a run waits for the other to reach the same point, where correct code never
# lets it: the cost, in seconds, of showing that it does not.
SERIAL_WAIT = 2.0


def rss(feed: int, *, shared: int = 0) -> bytes:
    """Three stories of this feed's own, and ``shared`` stories every such feed carries
    (same GUID, link and text, in the same order): one article each, whoever stores it."""
    own = [(f"https://batch.example.com/{feed}/{n}", f"Feed {feed} story {n}") for n in range(3)]
    common = [(f"https://wire.example.com/{n}", f"Wire story {n}") for n in range(shared)]
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid></item>"
        for link, title in common + own
    )
    return f'<rss version="2.0"><channel><title>{feed}</title>{items}</channel></rss>'.encode()


def disable(db_url: str, feed_id: int) -> None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session, session.begin():
            feed = session.get(Feed, feed_id)
            assert feed is not None
            feed.enabled = False
    finally:
        engine.dispose()


def counts(db_url: str) -> tuple[int, int, dict[int, int]]:
    """Articles, distinct links among them, and fetch attempts per feed."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            articles = session.scalar(select(func.count()).select_from(Article)) or 0
            links = session.scalar(select(func.count(func.distinct(Article.link)))) or 0
            attempts = dict(
                session.execute(
                    select(FetchAttempt.feed_id, func.count()).group_by(FetchAttempt.feed_id)
                ).all()
            )
    finally:
        engine.dispose()
    return articles, links, {int(k): int(v) for k, v in attempts.items()}


def test_enabled_feed_ids_and_a_run_over_some_of_them(
    sqlite_url: str, feed_server: FeedServer
) -> None:
    ids = add_feeds(sqlite_url, *(feed_server.feed(f"/{n}.xml", rss(n)) for n in range(5)))
    disable(sqlite_url, ids[3])
    engine = make_engine(sqlite_url)
    try:
        assert enabled_feed_ids(engine=engine) == [ids[0], ids[1], ids[2], ids[4]]
    finally:
        engine.dispose()
    settings = ingest_settings(sqlite_url)

    # A disabled feed and an id that is no feed are not polled; the order given is no matter.
    some = run_ingest(settings, now=NOW, feed_ids={ids[4], ids[1], ids[3], 10_000})
    nothing = run_ingest(settings, now=NOW, feed_ids=[])
    rest = run_ingest(settings, now=NOW, feed_ids=[ids[0], ids[2]])

    assert [d.feed_id for d in some.details] == [ids[1], ids[4]]
    assert (some.feeds, some.fetched, some.new_articles) == (2, 2, 6)
    assert sorted(feed_server.paths_requested()[:2]) == ["/1.xml", "/4.xml"]
    assert (nothing.feeds, nothing.details) == (0, [])
    assert [d.feed_id for d in rest.details] == [ids[0], ids[2]]
    assert counts(sqlite_url) == (12, 12, {ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[4]: 1})


def both_at_once(
    settings: Settings, batches: tuple[list[int], list[int]]
) -> tuple[IngestReport, IngestReport]:
    """Two runs started together in two threads, each with its own engine (as two workers)."""
    start = threading.Barrier(2, timeout=30)
    reports: list[IngestReport | BaseException] = [RuntimeError("not run")] * 2

    def run(index: int) -> None:
        start.wait()
        try:
            reports[index] = run_ingest(settings, now=NOW, feed_ids=batches[index])
        except BaseException as exc:
            reports[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for report in reports:
        if isinstance(report, BaseException):
            raise report
    first, second = reports
    assert isinstance(first, IngestReport) and isinstance(second, IngestReport)
    return first, second


def concurrent_settings(pg_url: str) -> Settings:
    # Overlapping feeds are held at the server until both runs asked: enough room to wait.
    return ingest_settings(
        pg_url, fetch_read_timeout=20.0, fetch_total_timeout=30.0, fetch_per_host=16
    )


@pytest.mark.integration
def test_two_runs_on_disjoint_batches(
    pg_url: str, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_feeds(pg_url, *(feed_server.feed(f"/{n}.xml", rss(n, shared=4)) for n in range(10)))
    # Force the race the guarantees are for: each run's first write looks up the wire
    # stories, finds none, and only then do both insert them, in two open transactions.
    looked_up = threading.Barrier(2, timeout=15)
    first_write = threading.local()
    existing_keys = pipeline.ingest.store._existing_keys

    def existing_keys_then_wait(*args: Any) -> Any:
        found = existing_keys(*args)
        if not getattr(first_write, "done", False):
            first_write.done = True
            looked_up.wait()
        return found

    monkeypatch.setattr(pipeline.ingest.store, "_existing_keys", existing_keys_then_wait)

    first, second = both_at_once(concurrent_settings(pg_url), (ids[:5], ids[5:]))

    assert [d.feed_id for d in first.details] == ids[:5]
    assert [d.feed_id for d in second.details] == ids[5:]
    assert first.errors == second.errors == 0, first.details + second.details
    # 10 feeds x 3 own stories + 4 wire stories that every feed carries.
    assert first.new_articles + second.new_articles == 34
    assert first.duplicates + second.duplicates == 10 * 4 - 4
    assert counts(pg_url) == (34, 34, dict.fromkeys(ids, 1))


def held_until_both_asked(body: bytes, *, status: int = 200) -> Callable[[RequestHandler], None]:
    """Answer only once two requests for this feed are in: the two runs have then both
    fetched it before either stored it, and both write it."""
    both = threading.Barrier(2, timeout=15)

    def handle(request: RequestHandler) -> None:
        try:
            both.wait()
        except threading.BrokenBarrierError:
            request.reply(504, b"the runs did not overlap", content_type="text/plain")
            return
        request.reply(status, body if status == 200 else b"down", content_type="text/xml")

    return handle


@pytest.mark.integration
def test_two_runs_on_overlapping_batches(
    pg_url: str, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = []
    for n in range(8):
        if n in (3, 4):  # polled by both runs
            urls.append(feed_server.route(f"/{n}.xml", held_until_both_asked(rss(n, shared=4))))
        elif n == 5:  # polled by both, failing for both
            urls.append(feed_server.route(f"/{n}.xml", held_until_both_asked(b"", status=500)))
        else:
            urls.append(feed_server.feed(f"/{n}.xml", rss(n, shared=4)))
    ids = add_feeds(pg_url, *urls)
    # Both runs record feed 5's failure: the failure count is read and written back in one
    # transaction each. If both could read it before either wrote, they would meet here
    # and one count would be lost; with the row locked, the second waits at the read, so
    # the first gives up waiting (after SERIAL_WAIT) and goes on alone.
    counted = threading.Barrier(2, timeout=SERIAL_WAIT)
    backoff_delay = pipeline.ingest.store.backoff_delay

    def wait_for_the_other_failure(**kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait()
        return backoff_delay(**kwargs)

    monkeypatch.setattr(pipeline.ingest.store, "backoff_delay", wait_for_the_other_failure)

    first, second = both_at_once(concurrent_settings(pg_url), (ids[:6], ids[3:]))

    assert (first.fetched, first.errors, second.fetched, second.errors) == (5, 1, 4, 1)
    assert [d.error for d in first.details + second.details if d.error] == [
        "HTTP 500 Internal Server Error"
    ] * 2
    assert first.new_articles + second.new_articles == 7 * 3 + 4
    assert counts(pg_url) == (25, 25, {**dict.fromkeys(ids, 1), **dict.fromkeys(ids[3:6], 2)})
    engine = make_engine(pg_url)
    try:
        with Session(engine) as session:
            feeds = {feed.id: feed for feed in session.scalars(select(Feed))}
    finally:
        engine.dispose()
    for feed_id in ids[3:5]:
        assert (feeds[feed_id].consecutive_failures, feeds[feed_id].last_success_at) == (0, NOW)
    # Each run's failure counted.
    assert feeds[ids[5]].consecutive_failures == 2
