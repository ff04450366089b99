"""The ingest stage: feeds → articles.

Read the modules in this order, which is the data path:

1. :mod:`~pipeline.ingest.urls` — which feed URLs are accepted, their stored form,
   and how one is shown (credentials redacted).
2. :mod:`~pipeline.ingest.feeds` — the registry: add, list, remove, enable/disable;
   :mod:`~pipeline.ingest.opml` imports a reader's feed list into it.
3. :mod:`~pipeline.ingest.schedule` — which feeds a run polls and when a feed is due
   (back-off, Retry-After, minimum interval).
4. :mod:`~pipeline.ingest.fetch` — one HTTP(S) or file fetch, defensively, through the
   SSRF guard of :mod:`~pipeline.ingest.netguard`; returns a ``FetchResult``.
5. :mod:`~pipeline.ingest.parse` — a body to entries (feedparser, entity tricks
   defused), each made plain and keyed by :mod:`~pipeline.ingest.normalize`.
6. :mod:`~pipeline.ingest.store` — one transaction per feed: new articles
   (deduplicated), the feed's state, its attempt row.
7. :mod:`~pipeline.ingest.report` — ``FeedOutcome`` (what a feed did in the run, which
   is also its ``fetch_attempts`` row) and ``IngestReport``.
8. :mod:`~pipeline.ingest.poll` — :func:`ingest_feeds`, one run over all of the above.
"""

from pipeline.ingest.feeds import enabled_feed_ids
from pipeline.ingest.poll import ingest_feeds
from pipeline.ingest.report import FeedOutcome, FeedStatus, IngestReport

__all__ = ["FeedOutcome", "FeedStatus", "IngestReport", "enabled_feed_ids", "ingest_feeds"]
