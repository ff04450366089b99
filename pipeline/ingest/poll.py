"""One ingest run: fetch every due feed once, store its new stories as articles.

Fetching runs in a bounded thread pool (``fetch_concurrency``, and at most
``fetch_per_host`` requests per host); parsing and the database writes run in
the calling thread as fetches complete, one transaction per feed, so a broken
feed records its error and never stops the others. Every feed of the run ends in
exactly one :class:`~pipeline.ingest.report.FeedStatus`.

Runs may overlap (two schedulers, or Airflow tasks given overlapping feed ids):
each feed's write locks its row first and every insert is deduplicated, so
nothing is stored twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

from sqlalchemy import Engine

from pipeline.db import utcnow
from pipeline.ingest.fetch import Fetcher, FetchResult, FetchStatus
from pipeline.ingest.parse import ParsedFeed, parse_feed_or_reason
from pipeline.ingest.report import FeedOutcome, FeedStatus, IngestReport
from pipeline.ingest.schedule import FeedSnapshot, skip_reason, snapshot_enabled_feeds
from pipeline.ingest.store import store_feed_run, store_skipped
from pipeline.ingest.urls import redact_text, redact_url, url_secrets
from pipeline.settings import Settings


def _fetch(
    fetcher: Fetcher, feed: FeedSnapshot, *, now: datetime, backlog: threading.Semaphore
) -> FetchResult:
    """Runs in a fetch thread. Takes a ``backlog`` slot, which the writer gives back once
    the body is stored: at most that many bodies wait in memory."""
    backlog.acquire()
    return fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified, now=now)


def _outcome(
    feed: FeedSnapshot, result: FetchResult, *, now: datetime
) -> tuple[FeedOutcome, ParsedFeed | None]:
    """What the feed did, before anything is stored: a fetched body is parsed here (in
    the writer thread: see :func:`ingest_feeds`)."""
    outcome = FeedOutcome(
        feed_id=feed.id,
        url=redact_url(feed.url),
        status=FeedStatus.ERROR,
        http_status=result.http_status,
        duration_ms=result.duration_ms,
    )
    if result.status is FetchStatus.ERROR:
        outcome.error = result.error or "unknown fetch error"
        return outcome, None
    if result.status is FetchStatus.NOT_MODIFIED:
        outcome.status = FeedStatus.NOT_MODIFIED
        return outcome, None
    started = time.perf_counter()
    parsed = parse_feed_or_reason(
        result.body,
        url=result.url,
        content_type=result.content_type,
        feed_id=feed.id,
        fetched_at=now,
    )
    outcome.duration_ms += int((time.perf_counter() - started) * 1000)
    if isinstance(parsed, str):
        outcome.error = redact_text(parsed, secrets=url_secrets(feed.url))
        return outcome, None
    outcome.status = FeedStatus.FETCHED
    outcome.entries_seen = parsed.entries_seen
    return outcome, parsed


def ingest_feeds(
    *,
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
    feed_ids: Collection[int] | None = None,
) -> IngestReport:
    """Fetch every enabled feed once and store new articles; see the module docstring.

    ``feed_ids`` limits the run to those feeds (the enabled ones among them; an
    Airflow task gets one batch of :func:`~pipeline.ingest.feeds.enabled_feed_ids`);
    None polls every enabled feed. ``now`` fixes the run's clock (tests);
    ``fetcher`` replaces the default one built from ``settings`` (tests inject an
    address guard through it).
    """
    started = time.perf_counter()
    now = now or utcnow()
    feeds = snapshot_enabled_feeds(engine=engine, feed_ids=feed_ids)
    report = IngestReport(feeds=len(feeds))
    due: list[FeedSnapshot] = []
    skipped: list[FeedOutcome] = []
    for feed in feeds:
        reason = skip_reason(feed, now=now, settings=settings)
        if reason is None:
            due.append(feed)
        else:
            skipped.append(
                FeedOutcome(
                    feed_id=feed.id,
                    url=redact_url(feed.url),
                    status=FeedStatus.SKIPPED,
                    error=reason,
                )
            )
    store_skipped(engine=engine, outcomes=skipped, now=now)
    for outcome in skipped:
        report.add(outcome)
    own_fetcher = fetcher is None
    active = fetcher or Fetcher(settings)
    try:
        workers = max(1, min(settings.fetch_concurrency, len(due)))
        backlog = threading.Semaphore(2 * workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finsent-fetch") as pool:
            futures = {
                pool.submit(_fetch, active, feed, now=now, backlog=backlog): feed for feed in due
            }
            # Parsing happens here, between the writes, not in the fetch threads: a
            # CPU-bound thread would hold the interpreter lock each time the writer
            # waits on the database, and every round trip would queue for it.
            try:
                for future in as_completed(futures):
                    result = future.result()
                    outcome, parsed = _outcome(futures[future], result, now=now)
                    outcome = store_feed_run(
                        engine=engine,
                        outcome=outcome,
                        result=result,
                        items=parsed.items if parsed is not None else [],
                        now=now,
                        settings=settings,
                    )
                    report.add(outcome)
                    backlog.release()
            except BaseException:
                # The database failed for good: stop fetching, unblock waiting threads.
                for future in futures:
                    future.cancel()
                for _ in due:
                    backlog.release()
                raise
    finally:
        if own_fetcher:
            active.close()
    report.details.sort(key=lambda outcome: outcome.feed_id)
    report.seconds = time.perf_counter() - started
    return report
