"""What an ingest run reports: one :class:`FeedOutcome` per feed, :class:`IngestReport` in all.

A feed's outcome is also its ``fetch_attempts`` row (:meth:`FeedOutcome.attempt_row`);
the report's :meth:`~IngestReport.as_dict` is the ``finsent ingest --json`` document
and what the ``finsent_ingest`` DAG passes on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pipeline.schema import FetchAttempt


class FeedStatus(StrEnum):
    """How a feed ended in a run; the values are the ``fetch_attempts.status`` strings."""

    FETCHED = "fetched"  # a feed body was parsed and its new entries stored
    NOT_MODIFIED = "not_modified"  # the server (or the file) said nothing changed
    SKIPPED = "skipped"  # not contacted: backing off, or polled too recently
    ERROR = "error"


@dataclass
class FeedOutcome:
    """What one feed did in one run."""

    feed_id: int
    url: str  # credentials redacted
    status: FeedStatus
    http_status: int | None = None
    entries_seen: int = 0
    new_articles: int = 0
    duplicates: int = 0
    error: str | None = None  # the error, or why the feed was skipped
    duration_ms: int = 0  # fetching and parsing

    def attempt_row(self, *, started_at: datetime) -> FetchAttempt:
        """This outcome as its ``fetch_attempts`` row."""
        return FetchAttempt(
            feed_id=self.feed_id,
            started_at=started_at,
            status=self.status.value,
            http_status=self.http_status,
            entries_seen=self.entries_seen,
            new_articles=self.new_articles,
            error=self.error,
            duration_ms=self.duration_ms,
        )


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
        if outcome.status is FeedStatus.FETCHED:
            self.fetched += 1
        elif outcome.status is FeedStatus.NOT_MODIFIED:
            self.not_modified += 1
        elif outcome.status is FeedStatus.SKIPPED:
            self.skipped += 1
        else:
            self.errors += 1
        self.new_articles += outcome.new_articles
        self.duplicates += outcome.duplicates
        self.details.append(outcome)

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["seconds"] = round(self.seconds, 3)
        for detail in result["details"]:
            detail["status"] = str(detail["status"])
        return result
