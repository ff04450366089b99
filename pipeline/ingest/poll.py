"""The ingest stage: fetch every enabled feed once, store its new stories as articles.

Fetching runs in a bounded thread pool (``fetch_concurrency``, and at most
``fetch_per_host`` requests per host); parsing and the database writes run in
the calling thread as fetches complete, one transaction per feed, so a broken
feed records its error and never stops the others. Every enabled feed ends in
exactly one of fetched / not_modified / skipped / errors.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from pipeline.db import utcnow
from pipeline.ingest.fetch import Fetcher, FetchResult
from pipeline.ingest.parse import ParsedFeed, parse_feed_or_reason
from pipeline.ingest.store import insert_new_articles
from pipeline.schema import Feed, FetchAttempt
from pipeline.settings import Settings


@dataclass
class FeedOutcome:
    """What one feed did in one run."""

    feed_id: int
    url: str
    status: str  # fetched | not_modified | skipped | error
    http_status: int | None = None
    entries_seen: int = 0
    new_articles: int = 0
    duplicates: int = 0
    error: str | None = None  # the error, or why the feed was skipped
    duration_ms: int = 0


@dataclass
class IngestReport:
    """Counts for one ingest run; ``as_dict`` is the ``finsent ingest --json`` document."""

    feeds: int = 0
    fetched: int = 0
    not_modified: int = 0
    skipped: int = 0
    new_articles: int = 0
    duplicates: int = 0
    errors: int = 0
    seconds: float = 0.0
    details: list[FeedOutcome] = field(default_factory=list)

    def add(self, outcome: FeedOutcome) -> None:
        counter = "errors" if outcome.status == "error" else outcome.status
        setattr(self, counter, getattr(self, counter) + 1)
        self.new_articles += outcome.new_articles
        self.duplicates += outcome.duplicates
        self.details.append(outcome)

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["seconds"] = round(self.seconds, 3)
        return result


@dataclass(frozen=True)
class _FeedState:
    """What the fetch workers need to know about a feed, read before the run."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None


@dataclass
class _Fetched:
    result: FetchResult
    parsed: ParsedFeed | None = None
    error: str | None = None
    duration_ms: int = 0


def skip_reason(state: _FeedState, *, now: datetime, settings: Settings) -> str | None:
    """Why a feed is not polled now (back-off, Retry-After, minimum interval), or None."""
    if state.next_attempt_at is not None and state.next_attempt_at > now:
        return f"backing off until {state.next_attempt_at.isoformat()}"
    interval = timedelta(seconds=settings.feed_min_interval_seconds)
    if interval and state.last_attempt_at is not None and now - state.last_attempt_at < interval:
        return f"minimum interval of {settings.feed_min_interval_seconds}s not passed"
    return None


def backoff_delay(*, failures: int, settings: Settings, retry_after: float | None) -> timedelta:
    """How long a failing feed rests: ``Retry-After`` when the server gave one, otherwise
    ``backoff_base * 2**(failures - 1)``; both capped at ``backoff_max``."""
    if retry_after is not None:
        seconds = retry_after
    else:
        seconds = settings.backoff_base_seconds * 2 ** min(max(failures - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.backoff_max_seconds))


def _fetch(
    fetcher: Fetcher, state: _FeedState, *, now: datetime, backlog: threading.Semaphore
) -> _Fetched:
    """Runs in a fetch thread; never raises. Takes a ``backlog`` slot, which the writer
    gives back once the body is stored: at most that many bodies wait in memory."""
    backlog.acquire()
    started = time.perf_counter()
    fetched = _Fetched(FetchResult("error", state.url))
    try:
        fetched.result = fetcher.fetch(
            state.url, etag=state.etag, last_modified=state.last_modified, now=now
        )
        fetched.error = fetched.result.error if fetched.result.status == "error" else None
    except Exception as exc:  # a bug on hostile input must not stop the run
        fetched.error = f"unexpected {type(exc).__name__}: {exc}"[:500]
    fetched.duration_ms = int((time.perf_counter() - started) * 1000)
    return fetched


def _parse(fetched: _Fetched, state: _FeedState, *, now: datetime) -> _Fetched:
    """Parse a fetched body (in the writer thread: see ``ingest_feeds``)."""
    result = fetched.result
    if fetched.error is None and result.status == "ok":
        started = time.perf_counter()
        parsed = parse_feed_or_reason(
            result.body,
            url=result.url,
            content_type=result.content_type,
            feed_id=state.id,
            fetched_at=now,
        )
        if isinstance(parsed, str):
            fetched.error = parsed
        else:
            fetched.parsed = parsed
        fetched.duration_ms += int((time.perf_counter() - started) * 1000)
    return fetched


def _record(
    session: Session, state: _FeedState, fetched: _Fetched, *, now: datetime, settings: Settings
) -> FeedOutcome:
    """Apply one feed's fetch to the database (articles, feed state, attempt row)."""
    result = fetched.result
    outcome = FeedOutcome(
        feed_id=state.id,
        url=state.url,
        status="error",
        http_status=result.http_status,
        duration_ms=fetched.duration_ms,
    )
    feed = session.get(Feed, state.id)
    if feed is None:
        outcome.error = "feed removed during the run"
        return outcome
    feed.last_attempt_at = now
    if fetched.error is None and result.status in ("ok", "not_modified"):
        if fetched.parsed is not None:
            outcome.status = "fetched"
            outcome.entries_seen = fetched.parsed.entries_seen
            outcome.new_articles = insert_new_articles(
                session=session, items=fetched.parsed.items, feed_id=state.id, fetched_at=now
            )
            outcome.duplicates = len(fetched.parsed.items) - outcome.new_articles
            # Validators only after a 200 whose body was a feed.
            feed.etag, feed.last_modified = result.etag, result.last_modified
        else:
            outcome.status = "not_modified"
        feed.last_success_at = now
        feed.consecutive_failures = 0
        feed.next_attempt_at = None
        feed.last_error = None
    else:
        outcome.error = fetched.error or result.error or "unknown fetch error"
        _note_failure(feed, outcome.error, result.retry_after_seconds, now=now, settings=settings)
    session.add(_attempt_row(outcome, now=now))
    return outcome


def _note_failure(
    feed: Feed, error: str, retry_after: float | None, *, now: datetime, settings: Settings
) -> None:
    feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
    feed.last_error = error
    delay = backoff_delay(
        failures=feed.consecutive_failures, settings=settings, retry_after=retry_after
    )
    feed.next_attempt_at = now + delay if delay else None


def _attempt_row(outcome: FeedOutcome, *, now: datetime) -> FetchAttempt:
    return FetchAttempt(
        feed_id=outcome.feed_id,
        started_at=now,
        status=outcome.status,
        http_status=outcome.http_status,
        entries_seen=outcome.entries_seen,
        new_articles=outcome.new_articles,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )


def _relax_commit_durability(session: Session) -> None:
    """On PostgreSQL, do not wait for this transaction's WAL flush at commit.

    A crash of the database server may then lose the last moments of commits,
    whole transactions only: a feed's articles, validators and attempt row go
    together, so the next run fetches that feed again and stores what was lost.
    Waiting for the flush of every feed's commit otherwise dominates the run.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _store(
    engine: Engine, state: _FeedState, fetched: _Fetched, *, now: datetime, settings: Settings
) -> FeedOutcome:
    """One transaction per feed; if it fails, the failure itself is recorded in another."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            _relax_commit_durability(session)
            return _record(session, state, fetched, now=now, settings=settings)
    except Exception as exc:  # isolation: one feed's bad data must not end the run
        error = f"storing failed: {type(exc).__name__}: {exc}"[:500]
    failed = _Fetched(fetched.result, error=error, duration_ms=fetched.duration_ms)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return _record(session, state, failed, now=now, settings=settings)


def _enabled_feeds(engine: Engine) -> list[_FeedState]:
    with Session(engine) as session:
        feeds = session.scalars(select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id))
        return [
            _FeedState(
                id=feed.id,
                url=feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                last_attempt_at=feed.last_attempt_at,
                next_attempt_at=feed.next_attempt_at,
            )
            for feed in feeds
        ]


def ingest_feeds(
    *,
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
) -> IngestReport:
    """Fetch every enabled feed once and store new articles; see the module docstring.

    ``now`` fixes the run's clock (tests); ``fetcher`` replaces the default one
    built from ``settings`` (tests inject an address guard through it).
    """
    started = time.perf_counter()
    now = now or utcnow()
    states = _enabled_feeds(engine)
    report = IngestReport(feeds=len(states))
    due: list[_FeedState] = []
    with Session(engine) as session, session.begin():
        for state in states:
            reason = skip_reason(state, now=now, settings=settings)
            if reason is None:
                due.append(state)
                continue
            outcome = FeedOutcome(feed_id=state.id, url=state.url, status="skipped", error=reason)
            session.add(_attempt_row(outcome, now=now))
            report.add(outcome)
    own_fetcher = fetcher is None
    active = fetcher or Fetcher(settings)
    try:
        workers = max(1, min(settings.fetch_concurrency, len(due)))
        backlog = threading.Semaphore(2 * workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finsent-fetch") as pool:
            futures = {
                pool.submit(_fetch, active, state, now=now, backlog=backlog): state for state in due
            }
            # Parsing happens here, between the writes, not in the fetch threads: a
            # CPU-bound thread would hold the interpreter lock each time the writer
            # waits on the database, and every round trip would queue for it.
            try:
                for future in as_completed(futures):
                    state = futures[future]
                    fetched = _parse(future.result(), state, now=now)
                    report.add(_store(engine, state, fetched, now=now, settings=settings))
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
