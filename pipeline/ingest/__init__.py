"""The ingest stage: feeds → articles.

Read in data-path order: :mod:`~pipeline.ingest.feeds` (the registry) and
:mod:`~pipeline.ingest.opml` (importing a reader's list), then one run of
:func:`ingest_feeds` (:mod:`~pipeline.ingest.poll`): :mod:`~pipeline.ingest.fetch`
through the SSRF guard of :mod:`~pipeline.ingest.netguard`,
:mod:`~pipeline.ingest.parse` and :mod:`~pipeline.ingest.normalize`, and
:mod:`~pipeline.ingest.store` for the deduplicated articles.
"""

from pipeline.ingest.poll import FeedOutcome, IngestReport, ingest_feeds

__all__ = ["FeedOutcome", "IngestReport", "ingest_feeds"]
